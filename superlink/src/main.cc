// flower-superlink: the C++ SuperLink, a drop-in for the pinned Python `flower-superlink`.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "flwr/core/app_launcher.h"
#include "flwr/core/health_server.h"
#include "flwr/core/logging.h"
#include "flwr/core/malloc_tuning.h"
#include "flwr/core/runtime_http_api.h"
#include "flwr/core/runtime_version.h"
#include "flwr/superlink/control_service.h"
#include "flwr/superlink/fleet_service.h"
#include "flwr/superlink/grpc_servicers.h"
#include "flwr/superlink/link_state.h"
#include "flwr/superlink/runtime_service.h"
#include "grpcpp/grpcpp.h"

namespace flwr::superlink {
namespace {

struct Flags {
  bool insecure = false;
  std::string ssl_certfile, ssl_keyfile, ssl_ca_certfile;
  std::string isolation = "subprocess";
  std::string database = std::string(core::kInMemoryDatabase);
  bool disable_dependency_installation = false;
  bool allow_dependency_installation = false;
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string fleet_api_type = "grpc-rere";
  std::string fleet_api_address = "0.0.0.0:9092";
  std::string control_api_address = "0.0.0.0:9093";
  std::string exec_api_address;
  std::string health_server_address;
};

// Flags of the Python SuperLink this one recognises but does not implement: using one is an
// error, never silently ignored.
const char* const kUnsupportedFlags[][2] = {
    {"--auth-list-public-keys",
     "This argument is deprecated and will be removed in a future release."},
    {"--log-file", "Path to the SuperLink log file (not supported by this SuperLink)."},
    {"--log-rotation-interval-hours", "Rotate SuperLink log files every N hours (not supported)."},
    {"--log-rotation-backup-count", "Maximum number of rotated log files to keep (not supported)."},
    {"--superexec-auth-secret-file", "SuperExec shared secret file (not supported)."},
    {"--appio-ssl-certfile", "Runtime API TLS certificate (not supported)."},
    {"--appio-ssl-keyfile", "Runtime API TLS private key (not supported)."},
    {"--appio-ssl-ca-certfile", "Runtime API TLS CA certificate (not supported)."},
    {"--executor", "This argument is deprecated and will be removed in a future release."},
    {"--executor-dir", "This argument is deprecated and will be removed in a future release."},
    {"--executor-config", "This argument is deprecated and will be removed in a future release."},
    {"--serverappio-api-address",
     "this option is no longer supported; use --host and --port instead"},
};
const char* const kUnsupportedSwitches[][2] = {
    {"--enable-supernode-auth", "Enable supernode authentication (not supported)."},
    {"--simulation", "Enable simulation runtime behavior (not supported)."},
};

void AddFlags(CLI::App& app, Flags& f) {
  app.set_version_flag("-V,--version",
                       absl::StrCat("Flower version: ", core::PinnedFlowerVersion()),
                       "show program's version number and exit");
  app.add_flag("--insecure", f.insecure,
               "Run the server without HTTPS, regardless of whether certificate paths are "
               "provided. Data transmitted between the gRPC client and server is not encrypted. "
               "By default, the server runs with HTTPS enabled. Use this flag only if you "
               "understand the risks.");
  app.add_option("--ssl-certfile", f.ssl_certfile,
                 "Server TLS certificate file for Fleet API and Control API (as a path str) to "
                 "create a secure connection.");
  app.add_option("--ssl-keyfile", f.ssl_keyfile,
                 "Server TLS private key file for Fleet API and Control API (as a path str) to "
                 "create a secure connection.");
  app.add_option("--ssl-ca-certfile", f.ssl_ca_certfile,
                 "Server TLS CA certificate file for Fleet API and Control API (as a path str) "
                 "to create a secure connection.");
  app.add_option("--isolation", f.isolation,
                 "Isolation mode when running a `ServerApp` (`subprocess` by default, possible "
                 "values: `subprocess`, `process`). Use `subprocess` to configure SuperLink to "
                 "run a `ServerApp` in a subprocess. Use `process` to indicate that a separate "
                 "independent process gets created outside of SuperLink.")
      ->check(CLI::IsMember({"subprocess", "process"}));
  app.add_option("--database", f.database,
                 "A string representing the path to the database file that will be opened. If "
                 "nothing is provided, Flower will just create a state in memory.");
  auto* disable =
      app.add_flag("--disable-runtime-dependency-installation", f.disable_dependency_installation,
                   "Disable runtime installation of app dependencies via `uv sync`. "
                   "By default, runtime dependency installation is enabled.");
  auto* allow =
      app.add_flag("--allow-runtime-dependency-installation", f.allow_dependency_installation,
                   "Deprecated. Runtime dependency installation is enabled by default. "
                   "Use `--disable-runtime-dependency-installation` to disable it.");
  disable->excludes(allow);
  app.add_option("--host", f.host,
                 "Host for the Runtime HTTP API. By default, it is set to 127.0.0.1.");
  app.add_option("--port", f.port, "Port for the Runtime HTTP API. By default, it is set to 8000.")
      ->check(CLI::Range(0, 65535));
  app.add_option("--fleet-api-type", f.fleet_api_type, "Start a Fleet API server.")
      ->check(CLI::IsMember({"grpc-rere", "grpc-adapter"}));
  app.add_option("--fleet-api-address", f.fleet_api_address,
                 "Fleet API server address (IPv4, IPv6, or a domain name).");
  auto* control = app.add_option("--control-api-address", f.control_api_address,
                                 "Control API server address (IPv4, IPv6, or a domain name) By "
                                 "default, it is set to 0.0.0.0:9093.");
  auto* exec = app.add_option("--exec-api-address", f.exec_api_address,
                              "This argument is deprecated and will be removed in a future "
                              "release. Use `--control-api-address` instead.");
  exec->excludes(control);
  app.add_option("--health-server-address", f.health_server_address,
                 "Health service gRPC server address (IPv4, IPv6, or a domain name). Disabled "
                 "when not set.");
  for (const auto& [name, help] : kUnsupportedFlags) {
    app.add_option_function<std::string>(
        name,
        [name = std::string(name), help = std::string(help)](const std::string&) {
          // The Python SuperLink's own words for an option it has retired.
          if (name == "--serverappio-api-address") throw CLI::ValidationError(name, help);
          throw CLI::ValidationError(name, "is not supported by this SuperLink");
        },
        help);
  }
  for (const auto& [name, help] : kUnsupportedSwitches) {
    app.add_flag_callback(
        name,
        [name = std::string(name)] {
          throw CLI::ValidationError(name, "is not supported by this SuperLink");
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

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const Flags& f) {
  if (f.insecure) return grpc::InsecureServerCredentials();
  if (f.ssl_certfile.empty() || f.ssl_keyfile.empty() || f.ssl_ca_certfile.empty()) {
    return absl::InvalidArgumentError(
        "Please provide either all of --ssl-certfile, --ssl-keyfile and --ssl-ca-certfile, or "
        "--insecure to run without TLS.");
  }
  grpc::SslServerCredentialsOptions options;
  auto cert = ReadFile(f.ssl_certfile);
  auto key = ReadFile(f.ssl_keyfile);
  auto ca = ReadFile(f.ssl_ca_certfile);
  for (const auto* s : {&cert, &key, &ca}) {
    if (!s->ok()) return s->status();
  }
  options.pem_root_certs = *ca;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(options);
}

// Blocks until SIGINT or SIGTERM.
void WaitForShutdownSignal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  int received = 0;
  sigwait(&signals, &received);
}

int Run(const Flags& f) {
  // Block the shutdown signals in every thread; the main thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = ServerCredentials(f);
  if (!credentials.ok()) {
    std::cerr << "flower-superlink: " << credentials.status().message() << "\n";
    return 2;
  }
  if (f.fleet_api_type != "grpc-rere") {
    std::cerr << "flower-superlink: --fleet-api-type " << f.fleet_api_type
              << " is not supported by this SuperLink\n";
    return 2;
  }
  if (f.insecure) {
    core::LogWarning(
        "Option `--insecure` was set. Starting insecure HTTP server with unencrypted "
        "communication (TLS disabled). Proceed only if you understand the risks.");
  }
  core::LogWarning(
      "SuperNode authentication is disabled. The SuperLink will accept connections from any "
      "SuperNode.");
  core::LogInfo("Starting Flower SuperLink");

  absl::StatusOr<std::unique_ptr<LinkState>> state = LinkState::Open(f.database);
  if (!state.ok()) {
    core::LogError(absl::StrCat("Cannot open the database: ", state.status().message()));
    return 1;
  }
  FleetService fleet(state->get());
  ControlService control(state->get());
  RuntimeService runtime(state->get());

  core::LogInfo(
      absl::StrCat("Starting the SuperLink Runtime HTTP API on ", f.host, ":", f.port, "."));
  absl::StatusOr<std::unique_ptr<core::RuntimeHttpApi<RuntimeService>>> http =
      core::RuntimeHttpApi<RuntimeService>::Start(&runtime, f.host, f.port, "SuperLink");
  if (!http.ok()) {
    core::LogError(std::string(http.status().message()));
    return 1;
  }

  const std::string control_address =
      f.exec_api_address.empty() ? f.control_api_address : f.exec_api_address;
  ControlGrpcServicer control_servicer(&control);
  FleetGrpcServicer fleet_servicer(&fleet);
  core::LogInfo(
      absl::StrCat("Flower Deployment Runtime: Starting Control API on ", control_address));
  core::LogInfo(absl::StrCat("Flower Deployment Runtime: Starting Fleet API (gRPC-rere) on ",
                             f.fleet_api_address));
  std::unique_ptr<grpc::Server> control_server;
  std::unique_ptr<grpc::Server> fleet_server;
  for (auto [address, service, server] :
       {std::tuple{&control_address, static_cast<grpc::Service*>(&control_servicer),
                   &control_server},
        std::tuple{&f.fleet_api_address, static_cast<grpc::Service*>(&fleet_servicer),
                   &fleet_server}}) {
    int bound_port = 0;
    grpc::ServerBuilder builder;
    builder.SetMaxReceiveMessageSize(INT32_MAX);
    builder.SetMaxSendMessageSize(INT32_MAX);
    builder.AddListeningPort(*address, *credentials, &bound_port);
    builder.RegisterService(service);
    *server = builder.BuildAndStart();
    if (!*server || bound_port == 0) {
      core::LogError(absl::StrCat("Port in server address ", *address, " is already in use."));
      return 1;
    }
  }

  std::optional<std::unique_ptr<grpc::Server>> health =
      core::StartHealthServerFlag(f.health_server_address);
  if (!health) return 1;

  // --isolation subprocess: the built-in executor starts each run's ServerApp (the stock
  // SuperLink starts a `flower-superexec --plugin-type serverapp` child for this).
  std::optional<core::AppLauncher> launcher;
  if (f.isolation == "subprocess") {
    LinkState* st = state->get();
    core::AppTaskSource source;
    source.pending_tasks = [st] { return st->GetPendingTasks(); };
    source.claim = [st](uint64_t id) { return st->ClaimTask(id); };
    source.finished = [st](const proto::Task& task) {
      std::optional<proto::Run> run = st->GetRun(task.run_id());
      return !run || run->status().status() == kStatusFinished;
    };
    source.fail = [st](const proto::Task& task, const std::string& details) {
      st->FinishTask(task.task_id(), kSubStatusFailed, details);
    };
    source.fab = [st](absl::string_view hash) { return st->GetFab(hash); };
    core::AppLauncherOptions options;
    options.task_type = std::string(kServerAppTaskType);
    options.native_key = "serverapp";
    options.runtime_api_address =
        absl::StrCat(f.host == "0.0.0.0" ? "127.0.0.1" : f.host, ":", (*http)->port());
    options.default_program = "flwr-serverapp";
    options.native_program_env = "FLWR_NATIVE_SERVERAPP";
    options.native_program =
        core::FindNativeProgram(options.native_program_env, "flwr-serverapp", "serverapp");
    const char* env = std::getenv("FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION");
    options.allow_runtime_dependency_installation =
        !(f.disable_dependency_installation || (env && std::string(env) == "1"));
    // As the stock ServerApp plugin: the ServerApp's output does not go to the SuperLink's
    // console (it reaches `flwr log` through PushLogs).
    options.discard_output = true;
    launcher.emplace(std::move(source), std::move(options));
    launcher->Start();
  }

  WaitForShutdownSignal();
  core::LogInfo("SuperLink shutting down");
  if (launcher) launcher->Stop();
  control_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  fleet_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  (*http)->Stop();
  if (*health) (*health)->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}

}  // namespace
}  // namespace flwr::superlink

int main(int argc, char** argv) {
  flwr::core::TuneMallocForServers();
  flwr::core::DisableMutexDeadlockDetection();
  CLI::App app("Start a Flower SuperLink", "flower-superlink");
  flwr::superlink::Flags flags;
  flwr::superlink::AddFlags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit with 2, as argparse does; --help and --version with 0.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return flwr::superlink::Run(flags);
}
