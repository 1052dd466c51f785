// Server: a running SuperLink — its LinkState, the Fleet and Control APIs (gRPC), the Runtime
// API (HTTP), the optional health server, the automation scheduler and, with
// `launch_server_apps`, the built-in executor that starts each run's ServerApp. What
// `flower-superlink` runs, and what tests start in process (port 0 everywhere, bound ports read
// back after Start).
#ifndef FLWR_SUPERLINK_SERVER_H_
#define FLWR_SUPERLINK_SERVER_H_

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "flwr/core/app_launcher.h"
#include "flwr/core/metrics.h"
#include "flwr/core/object_store.h"
#include "flwr/core/runtime_http_api.h"
#include "flwr/core/task.h"
#include "flwr/superlink/control_service.h"
#include "flwr/superlink/fleet_service.h"
#include "flwr/superlink/grpc_servicers.h"
#include "flwr/superlink/link_state.h"
#include "flwr/superlink/runtime_service.h"
#include "grpcpp/grpcpp.h"

namespace flwr::superlink {

// The gRPC Fleet API of Flower 1.36 peers (`--fleet-api-type`): `flwr.proto.Fleet` (grpc-rere),
// or `flwr.proto.GrpcAdapter` (grpc-adapter: each Fleet message wrapped in a MessageContainer,
// without node authentication; a SuperLink on it does not fetch apps from Flower Hub).
enum class FleetApiType { kGrpcRere, kGrpcAdapter };

struct ServerOptions {
  // `--database`: core::kInMemoryDatabase or an SQLite file.
  std::string database = std::string(core::kInMemoryDatabase);
  // Of the Fleet and Control APIs; null: insecure.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // The HTTP port (`--host`, `--port`; port 0: any free port): the Runtime API, and Flower
  // 1.42's Control and Fleet APIs.
  std::string runtime_host = "127.0.0.1";
  int runtime_port = 8000;
  // TLS on the HTTP port (`--ssl-certfile`, `--ssl-keyfile`, as stock 1.42); empty: plain
  // HTTP. The ServerApps it starts then verify it with `http_tls_ca_file` (`--ssl-ca-certfile`).
  std::string http_tls_cert_file;
  std::string http_tls_key_file;
  std::string http_tls_ca_file;
  // The gRPC Fleet and Control APIs of Flower 1.36 peers; empty: not served (Flower 1.42
  // peers use the HTTP port). With `simulation` no gRPC Fleet API is served.
  std::string fleet_api_address = "0.0.0.0:9092";
  FleetApiType fleet_api_type = FleetApiType::kGrpcRere;
  std::string control_api_address = "0.0.0.0:9093";
  // Empty: no health server.
  std::string health_server_address;
  // `--isolation subprocess`: start each run's ServerApp here (with `simulation`, each run's
  // stock `flwr-simulation`).
  bool launch_server_apps = true;
  // `--simulation`: the federation is a simulation one (ControlService), whose runs the stock
  // `flwr-simulation` runs on simulated SuperNodes; as the stock SuperLink, no gRPC Fleet API
  // (no SuperNode has anything to do).
  bool simulation = false;
  // `--metrics-address` (HOST:PORT, port 0: any free port): Prometheus metrics at /metrics.
  // Empty: none.
  std::string metrics_address;
  bool allow_runtime_dependency_installation = true;
  // `--enable-supernode-auth`: only SuperNodes registered with `flwr supernode register` may
  // join (see FleetService).
  bool enable_supernode_auth = false;
  // `--superexec-auth-secret-file`'s bytes (with `--isolation process`): the Runtime API's
  // task-claiming routes require the SuperExec's signature. Empty: open.
  std::string superexec_auth_secret;
  // How long an object push session lives after its last object (stock: 180 s, a constant).
  // Only tests change it, through FLWR_TEST_PUSH_SESSION_TTL_S (see main.cc).
  absl::Duration push_session_ttl = core::kPushSessionTtl;
  // The state's and the Control API's clock (tests move it).
  Clock clock = absl::Now;
  // How often the automation scheduler starts the runs of due automations (stock does it
  // whenever a SuperExec asks for a task, about once a second).
  absl::Duration automation_interval = absl::Seconds(1);
};

class Server {
 public:
  // Opens the state and starts every server, logging flwr's "Starting ..." lines. The error
  // says what failed (the health server logs its own failure): the database cannot be opened,
  // or an address is taken.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options);
  ~Server();  // Stop()

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int runtime_port() const { return http_->port(); }
  // 0 where that gRPC API is not served.
  int fleet_port() const { return fleet_port_; }
  int control_port() const { return control_port_; }
  // 0 without `metrics_address`.
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }
  LinkState& state() { return *state_; }

  // Stops the ServerApps, then the servers. Idempotent.
  void Stop();

 private:
  explicit Server(ServerOptions options) : options_(std::move(options)) {}
  absl::Status StartAll();
  void StartLauncher();

  void AddMetrics();
  // Runs ControlService::ProcessDueAutomations every options_.automation_interval until Stop.
  void RunAutomationScheduler();

  const ServerOptions options_;
  std::unique_ptr<LinkState> state_;
  std::unique_ptr<core::ServerMetrics> metrics_;  // before the servers that record into it
  std::unique_ptr<FleetService> fleet_;
  std::unique_ptr<ControlService> control_;
  std::unique_ptr<RuntimeService> runtime_;
  std::unique_ptr<core::RuntimeHttpApi> http_;
  std::unique_ptr<ControlGrpcServicer> control_servicer_;
  // The gRPC Fleet API's servicer, of `fleet_api_type`; GrpcAdapter serves its own
  // FleetService, without SuperNode authentication (stock's `enable_supernode_auth=False`).
  std::unique_ptr<FleetService> adapter_fleet_;
  std::unique_ptr<grpc::Service> fleet_servicer_;
  std::unique_ptr<grpc::Server> control_server_;
  std::unique_ptr<grpc::Server> fleet_server_;
  int control_port_ = 0;
  int fleet_port_ = 0;
  std::unique_ptr<grpc::Server> health_;
  std::optional<core::LocalAppTaskSource> launcher_source_;
  std::optional<core::AppLauncher> launcher_;
  absl::Notification stopping_;
  std::thread automation_scheduler_;
  bool stopped_ = false;
};

}  // namespace flwr::superlink

#endif  // FLWR_SUPERLINK_SERVER_H_
