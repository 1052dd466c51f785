// Server: a running SuperNode — its NodeState, the Runtime API (HTTP) its ClientApps talk to,
// the optional health server, the Fleet loop (SuperNode) on its own thread and, with
// `launch_client_apps`, the built-in executor that starts a ClientApp per instruction. What
// `flower-supernode` runs, and what tests start in process (Runtime API port 0, bound port
// read back after Start).
#ifndef FLWR_SUPERNODE_SERVER_H_
#define FLWR_SUPERNODE_SERVER_H_

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "flwr/core/app_launcher.h"
#include "flwr/core/metrics.h"
#include "flwr/core/runtime_http_api.h"
#include "flwr/supernode/fleet_client.h"
#include "flwr/supernode/node_runtime_service.h"
#include "flwr/supernode/node_state.h"
#include "flwr/supernode/supernode.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace flwr::supernode {

struct ServerOptions {
  // The SuperLink to connect to, and how.
  FleetClientOptions fleet;
  // The Fleet loop's settings (`--node-config` among them).
  SuperNodeOptions node;
  // The Runtime HTTP API (`--host`, `--port`; port 0: any free port).
  std::string runtime_host = "127.0.0.1";
  int runtime_port = 9094;
  // TLS on the Runtime API (`--ssl-certfile`, `--ssl-keyfile`): PEM files; empty: plain HTTP.
  // The ClientApps started here verify it with `runtime_tls_ca_file` (`--ssl-ca-certfile`,
  // passed on as their --root-certificates).
  std::string runtime_tls_cert_file;
  std::string runtime_tls_key_file;
  std::string runtime_tls_ca_file;
  // Empty: no health server.
  std::string health_server_address;
  // `--isolation subprocess`: start each instruction's ClientApp here.
  bool launch_client_apps = true;
  // `--metrics-address` (HOST:PORT, port 0: any free port): Prometheus metrics at /metrics.
  // Empty: none.
  std::string metrics_address;
  bool allow_runtime_dependency_installation = false;
  // `--superexec-auth-secret-file`'s bytes (with `--isolation process`): the Runtime API's
  // task-claiming routes require the SuperExec's signature. Empty: open.
  std::string superexec_auth_secret;
};

// The address child processes reach a server bound to host:port on (flwr's
// resolve_bind_address): a wildcard host becomes the loopback address, IPv6 goes in brackets.
std::string ChildAddress(const std::string& host, int port);

class Server {
 public:
  // Starts the Runtime API (logging where it runs), the health server, the executor and the
  // Fleet loop, which connects to the SuperLink on its thread. The error says what failed.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options);
  ~Server();  // Stop()

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int runtime_port() const { return http_->port(); }
  // 0 without `metrics_address`.
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }
  NodeState& state() { return *state_; }

  // Blocks until the Fleet loop ends: OK after RequestStop(), else why it failed (the
  // SuperLink rejected this node, IsNodeRejected, or a Fleet call failed for good). Call once.
  absl::Status Wait();
  // Makes the Fleet loop end soon. Thread-safe, returns at once.
  void RequestStop();
  // RequestStop(), Wait(), then stops the ClientApps, the Runtime API, the Fleet connection
  // (Disconnect) and the health server. Idempotent; not concurrent with Wait().
  void Stop();

 private:
  explicit Server(ServerOptions options);
  absl::Status StartAll();
  void StartLauncher();
  // Creates metrics_ if asked for, and returns the Runtime API's hook into it.
  std::function<void(const core::HttpCall&)> MetricsRecorder();

  const ServerOptions options_;
  std::unique_ptr<core::ServerMetrics> metrics_;  // before the servers that record into it
  std::unique_ptr<NodeState> state_;
  std::unique_ptr<NodeRuntimeService> runtime_;
  std::unique_ptr<core::RuntimeHttpApi> http_;
  std::unique_ptr<grpc::Server> health_;
  std::unique_ptr<FleetClient> fleet_;
  std::unique_ptr<SuperNode> node_;
  std::optional<core::LocalAppTaskSource> launcher_source_;
  std::optional<core::AppLauncher> launcher_;
  std::thread loop_;
  absl::Status loop_status_;
  bool stopped_ = false;
};

}  // namespace flwr::supernode

#endif  // FLWR_SUPERNODE_SERVER_H_
