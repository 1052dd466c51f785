// flower-supernode: the C++ SuperNode, a drop-in for the pinned Python `flower-supernode`.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "flwr/core/app_launcher.h"
#include "flwr/core/health_server.h"
#include "flwr/core/logging.h"
#include "flwr/core/malloc_tuning.h"
#include "flwr/core/runtime_http_api.h"
#include "flwr/core/runtime_version.h"
#include "flwr/core/task.h"
#include "flwr/core/user_config.h"
#include "flwr/supernode/fleet_client.h"
#include "flwr/supernode/node_runtime_service.h"
#include "flwr/supernode/node_state.h"
#include "flwr/supernode/supernode.h"
#include "grpcpp/grpcpp.h"

namespace flwr::supernode {
namespace {

struct Flags {
  bool insecure = false;
  std::string root_certificates;
  bool grpc_rere = false;
  bool grpc_adapter = false;
  std::string superlink = "0.0.0.0:9092";
  std::optional<int> max_retries;
  std::optional<double> max_wait_time;
  std::string auth_private_key;
  std::string auth_public_key;
  std::string node_config;
  std::string isolation = "subprocess";
  std::string host = "127.0.0.1";
  int port = 9094;
  bool allow_dependency_installation = false;
  std::string health_server_address;
};

// Flags of the Python SuperNode this one recognises but does not implement: using one is an
// error, never silently ignored.
const char* const kUnsupportedFlags[][2] = {
    {"--appio-ssl-certfile", "Runtime API TLS certificate (not supported)."},
    {"--appio-ssl-keyfile", "Runtime API TLS private key (not supported)."},
    {"--appio-ssl-ca-certfile", "Runtime API TLS CA certificate (not supported)."},
    {"--trusted-entities", "YAML file of trusted entities for FAB verification (not supported)."},
    {"--superexec-auth-secret-file", "SuperExec shared secret file (not supported)."},
    {"--clientappio-api-address",
     "this option is no longer supported; use `--host` and `--port` instead"},
};

void AddFlags(CLI::App& app, Flags& f) {
  app.set_version_flag("-V,--version",
                       absl::StrCat("Flower version: ", core::PinnedFlowerVersion()),
                       "show program's version number and exit");
  app.add_flag("--insecure", f.insecure,
               "Run the client without HTTPS. By default, the client runs with HTTPS enabled. "
               "Use this flag only if you understand the risks.");
  app.add_option("--root-certificates", f.root_certificates,
                 "Specifies the path to the PEM-encoded root certificate file for establishing "
                 "secure HTTPS connections.");
  auto* rere = app.add_flag("--grpc-rere", f.grpc_rere,
                            "Use grpc-rere as a transport layer for the client.");
  auto* adapter = app.add_flag("--grpc-adapter", f.grpc_adapter,
                               "Use grpc-adapter as a transport layer for the client.");
  rere->excludes(adapter);
  app.add_option("--superlink", f.superlink,
                 "SuperLink Fleet API address (IPv4, IPv6, or a domain name). If using the REST "
                 "(experimental) transport, ensure your address is in the form `http://...` or "
                 "`https://...` when `--rest` is set.");
  app.add_option("--max-retries", f.max_retries,
                 "The maximum number of times the client will try to reconnect to the SuperLink "
                 "before giving up in case of a connection error. By default, it is set to None, "
                 "meaning there is no limit to the number of tries.")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-wait-time", f.max_wait_time,
                 "The maximum duration before the client stops trying to connect to the "
                 "SuperLink in case of connection error. By default, it is set to None, meaning "
                 "there is no limit to the total time.")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--auth-supernode-private-key", f.auth_private_key,
                 "Path to the SuperNode's private key to enable authentication.");
  app.add_option("--auth-supernode-public-key", f.auth_public_key,
                 "This argument is deprecated and will be removed in a future release.");
  app.add_option("--node-config", f.node_config,
                 "A space separated list of key/value pairs (separated by `=`) to configure the "
                 "SuperNode. E.g. --node-config 'key1=\"value1\" partition-id=0 "
                 "num-partitions=100'");
  app.add_option("--isolation", f.isolation,
                 "Isolation mode when running a `ClientApp` (`subprocess` by default, possible "
                 "values: `subprocess`, `process`). Use `subprocess` to configure SuperNode to "
                 "run a `ClientApp` in a subprocess. Use `process` to indicate that a separate "
                 "independent process gets created outside of SuperNode.")
      ->check(CLI::IsMember({"subprocess", "process"}));
  app.add_option("--host", f.host,
                 "Host for the SuperNode Runtime HTTP API. By default, it is set to 127.0.0.1.");
  app.add_option("--port", f.port,
                 "Port for the SuperNode Runtime HTTP API. By default, it is set to 9094.")
      ->check(CLI::Range(1, 65535));
  app.add_flag("--allow-runtime-dependency-installation", f.allow_dependency_installation,
               "Allow runtime installation of app dependencies via `uv sync`.");
  app.add_option("--health-server-address", f.health_server_address,
                 "Health service gRPC server address (IPv4, IPv6, or a domain name). Disabled "
                 "when not set.");
  for (const auto& [name, help] : kUnsupportedFlags) {
    app.add_option_function<std::string>(
        name,
        [name = std::string(name), help = std::string(help)](const std::string&) {
          // The Python SuperNode's own words for an option it has retired.
          if (name == "--clientappio-api-address") throw CLI::ValidationError(name, help);
          throw CLI::ValidationError(name, "is not supported by this SuperNode");
        },
        help);
  }
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The address children reach the Runtime API on (flwr's resolve_bind_address).
std::string ChildAddress(const std::string& host, int port) {
  if (host == "0.0.0.0") return absl::StrCat("127.0.0.1:", port);
  if (host == "::" || host == "[::]") return absl::StrCat("[::1]:", port);
  if (absl::StrContains(host, ':') && !absl::StartsWith(host, "[")) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

int Run(const Flags& f) {
  if (f.grpc_adapter) {
    std::cerr << "flower-supernode: --grpc-adapter is not supported by this SuperNode\n";
    return 2;
  }
  if (f.insecure && !f.root_certificates.empty()) {
    std::cerr << "Conflicting options: The '--insecure' flag disables HTTPS, but "
                 "'--root-certificates' was also specified. Please remove the "
                 "'--root-certificates' option when running in insecure mode, or omit "
                 "'--insecure' to use HTTPS with the provided certificates.\n";
    return 1;
  }
  absl::StatusOr<core::UserConfig> node_config = core::ParseConfigArgs(f.node_config);
  if (!node_config.ok()) {
    std::cerr << "flower-supernode: invalid --node-config: " << node_config.status().message()
              << "\n";
    return 2;
  }
  FleetClientOptions fleet_options;
  fleet_options.address = f.superlink;
  fleet_options.insecure = f.insecure;
  fleet_options.max_retries = f.max_retries;
  if (f.max_wait_time.has_value()) fleet_options.max_wait_time = absl::Seconds(*f.max_wait_time);
  if (!f.root_certificates.empty()) {
    absl::StatusOr<std::string> pem = ReadFile(f.root_certificates);
    if (!pem.ok()) {
      core::LogError(
          absl::StrCat("Failed to read the root certificates: ", pem.status().message()));
      return 1;
    }
    fleet_options.root_certificates = *std::move(pem);
  } else if (!f.insecure) {
    core::LogInfo("Using system certificates for TLS connection");
  }
  if (!f.auth_public_key.empty()) {
    core::LogWarning(
        "The `--auth-supernode-public-key` flag is deprecated and will be removed in a future "
        "release. The public key is now derived from the private key provided by "
        "`--auth-supernode-private-key`.");
  }
  if (!f.auth_private_key.empty()) {
    absl::StatusOr<std::string> text = ReadFile(f.auth_private_key);
    absl::StatusOr<core::NodeKey> key =
        text.ok() ? core::NodeKey::FromOpenSshPrivateKey(*text) : text.status();
    if (!key.ok()) {
      core::LogError("Unable to parse the private key file.");
      return 1;
    }
    fleet_options.key = *std::move(key);
  }
  if (f.insecure) {
    core::LogWarning(absl::StrCat("Option `--insecure` was set. Starting insecure HTTP channel to ",
                                  f.superlink, "."));
  }

  // Block the shutdown signals in every thread; a dedicated thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGQUIT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<NodeState> state = NodeState::CreateInMemory();
  NodeRuntimeService runtime(state.get());
  absl::StatusOr<std::unique_ptr<core::RuntimeHttpApi<NodeRuntimeService>>> http =
      // One ClientApp at a time, each with 2 object transfers and a heartbeat in flight (plus
      // an external executor's polling): 8 workers are plenty.
      core::RuntimeHttpApi<NodeRuntimeService>::Start(&runtime, f.host, f.port, "SuperNode",
                                                      /*num_threads=*/8);
  if (!http.ok()) {
    core::LogError(absl::StrCat("Cannot start the SuperNode Runtime HTTP API on ", f.host, ":",
                                f.port, ": ", http.status().message()));
    return 1;
  }
  core::LogInfo(absl::StrCat("SuperNode Runtime HTTP API running on http://",
                             ChildAddress(f.host, (*http)->port())));

  std::optional<std::unique_ptr<grpc::Server>> health =
      core::StartHealthServerFlag(f.health_server_address);
  if (!health) return 1;

  absl::StatusOr<std::unique_ptr<FleetClient>> fleet = FleetClient::Create(fleet_options);
  if (!fleet.ok()) {
    core::LogError(std::string(fleet.status().message()));
    return 1;
  }
  SuperNodeOptions node_options;
  node_options.node_config = *std::move(node_config);
  SuperNode node(state.get(), fleet->get(), std::move(node_options));

  // Shutdown: stop the loop; if the Fleet calls that follow hang (SuperLink gone), exit
  // anyway after 5 s, as the stock force-exit timer.
  absl::Notification signalled;
  std::thread signal_thread([&] {
    int received = 0;
    sigwait(&signals, &received);
    if (received == 0) return;
    signalled.Notify();
    core::LogInfo("SuperNode terminated gracefully.");
    node.Stop();
    std::thread([] {
      absl::SleepFor(absl::Seconds(5));
      std::_Exit(0);
    }).detach();
  });
  signal_thread.detach();

  std::optional<core::AppLauncher> launcher;
  if (f.isolation == "subprocess") {
    NodeState* st = state.get();
    core::AppTaskSource source;
    source.pending_tasks = [st] { return st->GetPendingTasks(); };
    source.claim = [st](uint64_t id) { return st->ClaimTask(id); };
    source.finished = [st](const proto::Task& task) {
      std::optional<proto::Task> now = st->GetTask(task.task_id());
      return !now || now->status().status() == core::kStatusFinished;
    };
    source.fail = [st](const proto::Task& task, const std::string& details) {
      st->FinishTask(task.task_id(), core::kSubStatusFailed, details);
    };
    source.fab = [st](absl::string_view hash) { return st->GetFab(hash); };
    core::AppLauncherOptions options;
    options.task_type = std::string(core::kClientAppTaskType);
    options.native_key = "clientapp";
    options.runtime_api_address = ChildAddress(f.host, (*http)->port());
    options.default_program = "flwr-clientapp";
    options.native_program_env = "FLWR_NATIVE_CLIENTAPP";
    options.native_program =
        core::FindNativeProgram(options.native_program_env, "flwr-clientapp", "clientapp/cli");
    options.allow_runtime_dependency_installation = f.allow_dependency_installation;
    launcher.emplace(std::move(source), std::move(options));
    launcher->Start();
  }

  int rc = 0;
  absl::Status status = (*fleet)->Connect();
  if (status.ok()) status = node.Run();
  if (!status.ok() && !signalled.HasBeenNotified()) {
    if (IsNodeRejected(status)) {
      core::LogError(absl::StrCat("The SuperLink rejected this SuperNode: ", status.message()));
      core::LogInfo("SuperNode terminated gracefully.");
    } else {
      core::LogError(status.message());
      rc = 1;
    }
  }
  // ClientApps first: stopping the HTTP API waits for their keep-alive connections.
  if (launcher) launcher->Stop();
  (*http)->Stop();
  (*fleet)->Disconnect().IgnoreError();
  if (*health) (*health)->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return rc;
}

}  // namespace
}  // namespace flwr::supernode

int main(int argc, char** argv) {
  flwr::core::TuneMallocForServers();
  flwr::core::DisableMutexDeadlockDetection();
  flwr::core::LogInfo("Starting Flower SuperNode");
  CLI::App app("Start a Flower SuperNode", "flower-supernode");
  flwr::supernode::Flags flags;
  flwr::supernode::AddFlags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit with 2, as argparse does; --help and --version with 0.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return flwr::supernode::Run(flags);
}
