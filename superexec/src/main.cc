// flower-superexec: the C++ drop-in for the pinned Python `flower-superexec` with the
// subprocess executor. It polls a Runtime API (a SuperLink's for ServerApps, a SuperNode's for
// ClientApps) for pending tasks, claims them and starts `flwr-serverapp` / `flwr-clientapp` (or
// `flwr-simulation` for a simulation run) from PATH for each, with the stock argv — the same loop
// as the stock one (supercore/superexec/run_superexec.py), in a process of a few MiB instead of a
// Python interpreter. It speaks the Runtime API of either pinned Flower line: Flower 1.36's
// pull-pending-tasks + claim-task, or Flower 1.42's acquire-task, following the server's line.
// In our container images, PATH holds our native executables.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "flwr/core/app_launcher.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/flwr_exit.h"
#include "flwr/core/health_server.h"
#include "flwr/core/http_proto_client.h"
#include "flwr/core/logging.h"
#include "flwr/core/runtime_version.h"
#include "flwr/core/server_cli.h"
#include "flwr/core/superexec_auth.h"
#include "flwr/core/task.h"
#include "flwr/proto/runtime.pb.h"
#include "grpcpp/grpcpp.h"

namespace flwr::superexec {
namespace {

struct Flags {
  std::string runtime_api_address = "127.0.0.1:9091";
  std::string appio_api_address;  // its deprecated name
  std::string plugin_type;
  bool insecure = false;
  std::string root_certificates;
  std::optional<int> parent_pid;
  std::string executor = "subprocess";
  std::string executor_config;
  std::string health_server_address;
  bool allow_dependency_installation = false;
  std::string superexec_auth_secret_file;
};

// A route the server does not have (a bare 404, no Flower error): the task route of the other
// line.
bool IsMissingRoute(const absl::Status& status) {
  return status.code() == absl::StatusCode::kNotFound && !core::FlowerErrorCode(status);
}

// The first supported version whose Runtime API hands out tasks the other way than `version`'s.
std::optional<absl::string_view> OtherTaskLine(absl::string_view version) {
  for (absl::string_view other : core::SupportedFlowerVersions()) {
    if (core::RuntimeLineAcquiresTasks(other) != core::RuntimeLineAcquiresTasks(version)) {
      return other;
    }
  }
  return std::nullopt;
}

// The tasks of a remote Runtime API, claimed as the stock SuperExec of the server's line does:
// acquire-task (Flower 1.42) or pull-pending-tasks, then claim-task (Flower 1.36). The client
// announces the primary line; a server of the other line lacks that line's task route (404),
// or rejects its version headers (which the client follows): the source then speaks the
// server's line. Task states and FABs are not visible from here.
class RuntimeApiTaskSource final : public core::AppTaskSource {
 public:
  // `auth_secret`: the master secret the task-claiming calls are signed with
  // (superexec_auth.h); empty: unsigned.
  RuntimeApiTaskSource(const std::string& host, int port, core::HttpProtoClientOptions options,
                       std::string auth_secret)
      : client_(host, port, "SuperExec",
                [&options] {
                  options.follow_runtime_line = true;
                  return options;
                }()),
        auth_secret_(std::move(auth_secret)) {}

  std::optional<core::AcquiredTask> AcquireTask(const std::string& task_type) override {
    const absl::string_view line = client_.flower_version();
    absl::StatusOr<std::optional<core::AcquiredTask>> acquired = AcquireOnLine(task_type, line);
    if (IsMissingRoute(acquired.status())) {
      if (std::optional<absl::string_view> other = OtherTaskLine(line)) {
        // Concurrent launchers may all miss the route; the first to see it switches.
        if (client_.flower_version() == line) {
          core::LogInfo(absl::StrCat(
              "The Runtime API has no ",
              core::RuntimeLineAcquiresTasks(line) ? "acquire-task" : "pull-pending-tasks",
              " route: speaking Flower ", *other));
          client_.SetFlowerVersion(*other);
        }
        acquired = AcquireOnLine(task_type, *other);
      }
    }
    // Transport failures are logged once per outage; polling goes on.
    if (!acquired.ok()) {
      if (!failing_.exchange(true)) {
        core::LogWarning(absl::StrCat("Connection attempt failed: ", acquired.status().message()));
      }
      return std::nullopt;
    }
    if (failing_.exchange(false)) core::LogInfo("Connection successful.");
    return *std::move(acquired);
  }
  std::optional<proto::Task> GetTask(uint64_t) override { return std::nullopt; }
  void FailTask(uint64_t, const std::string&) override {}
  std::optional<proto::Fab> GetFab(absl::string_view) override { return std::nullopt; }

 private:
  // The oldest pending task of `task_type`, claimed the way `line` does.
  absl::StatusOr<std::optional<core::AcquiredTask>> AcquireOnLine(const std::string& task_type,
                                                                  absl::string_view line) {
    if (core::RuntimeLineAcquiresTasks(line)) {
      proto::AcquireTaskRequest request;
      request.add_supported_task_types(task_type);
      absl::StatusOr<proto::AcquireTaskResponse> response =
          client_.Call<proto::AcquireTaskRequest, proto::AcquireTaskResponse>(
              "/v1/runtime/acquire-task", request, Signed(core::kAcquireTaskMethod, request));
      if (!response.ok()) return response.status();
      if (!response->has_task() || response->token().empty()) return std::nullopt;
      return core::AcquiredTask{response->task(), response->token()};
    }
    const proto::PullPendingTasksRequest pull;
    absl::StatusOr<proto::PullPendingTasksResponse> pending =
        client_.Call<proto::PullPendingTasksRequest, proto::PullPendingTasksResponse>(
            "/v1/runtime/pull-pending-tasks", pull, Signed(core::kPullPendingTasksMethod, pull));
    if (!pending.ok()) return pending.status();
    for (const proto::Task& task : pending->tasks()) {
      if (task.type() != task_type) continue;
      proto::ClaimTaskRequest request;
      request.set_task_id(task.task_id());
      absl::StatusOr<proto::ClaimTaskResponse> claimed =
          client_.Call<proto::ClaimTaskRequest, proto::ClaimTaskResponse>(
              "/v1/runtime/claim-task", request, Signed(core::kClaimTaskMethod, request));
      if (claimed.ok() && claimed->has_token()) return core::AcquiredTask{task, claimed->token()};
    }
    return std::nullopt;
  }

  // The signature headers of a call of `method`, if this SuperExec signs its calls.
  core::HttpProtoClient::Headers Signed(absl::string_view method,
                                        const google::protobuf::MessageLite& request) const {
    if (auth_secret_.empty()) return {};
    return core::SuperExecAuthHeaders(auth_secret_, method, request);
  }

  core::HttpProtoClient client_;
  const std::string auth_secret_;
  std::atomic<bool> failing_{false};
};

void AddFlags(CLI::App& app, Flags& f) {
  core::AddVersionFlag(app);
  app.add_option("--runtime-api-address", f.runtime_api_address, "Address of the Runtime API");
  // Hidden, as stock's (argparse.SUPPRESS); main() refuses it beside --runtime-api-address.
  app.add_option("--appio-api-address", f.appio_api_address)->group("");
  app.add_option("--plugin-type", f.plugin_type,
                 "The type of plugin to use: the apps to launch (required by Flower 1.36, "
                 "ignored by Flower 1.42). Without it, this SuperExec launches ClientApps, "
                 "ServerApps and simulations, as the 1.42 one launches every task type it can.")
      ->check(CLI::IsMember({"clientapp", "serverapp", "simulation", "serverapp-ephemeral"}));
  app.add_flag("--insecure", f.insecure,
               "Connect to the Runtime API without TLS. Data transmitted between the client and "
               "server is not encrypted. Use this flag only if you understand the risks.");
  app.add_option("--root-certificates", f.root_certificates,
                 "Path to a PEM-encoded root CA certificate (or CA bundle) used to verify the "
                 "server's TLS certificate. This is not a client certificate for mTLS.");
  app.add_option("--parent-pid", f.parent_pid,
                 "The PID of the parent process. When set, the process will terminate when the "
                 "parent process exits.");
  app.add_option("--executor", f.executor,
                 "The executor used to run task processes, for example as local subprocesses.")
      ->check(CLI::IsMember({"subprocess", "kubernetes"}));
  app.add_option("--executor-config", f.executor_config,
                 "Path to a YAML config file for the selected executor.");
  app.add_option("--health-server-address", f.health_server_address,
                 "Health service gRPC server address (IPv4, IPv6, or a domain name) with no TLS. "
                 "If not set, the health server will not be started.");
  app.add_flag("--allow-runtime-dependency-installation", f.allow_dependency_installation,
               "Allow runtime installation of app dependencies via `uv sync`.");
  core::AddSuperExecAuthSecretFlag(app, f.superexec_auth_secret_file);
}

// "host:port" (IPv6 in brackets) -> host, port.
bool SplitAddress(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = address.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::SimpleAtoi(address.substr(colon + 1), port) && *port > 0 && *port < 65536;
}

// A launcher of the tasks of `task_type` (core/task.h) from `source`: `flwr-clientapp`,
// `flwr-serverapp` or `flwr-simulation` from PATH, the program named as the task type.
std::unique_ptr<core::AppLauncher> StartLauncher(core::AppTaskSource& source,
                                                 absl::string_view task_type, const Flags& f) {
  core::AppLauncherOptions options;
  options.task_type = std::string(task_type);
  options.native_key = std::string(absl::StripPrefix(task_type, "flwr-"));
  options.runtime_api_address = f.runtime_api_address;
  options.root_certificates = f.root_certificates;
  options.default_program = std::string(task_type);
  options.allow_runtime_dependency_installation = f.allow_dependency_installation;
  // As the stock plugins: ServerApp and simulation output is discarded (it reaches `flwr log`),
  // ClientApp output shows.
  options.discard_output = task_type != core::kClientAppTaskType;
  options.poll_interval = absl::Seconds(1);
  if (const char* env = std::getenv("FLWR_SUPEREXEC_TASK_POLL_INTERVAL")) {
    double seconds = 0;
    if (absl::SimpleAtod(env, &seconds) && seconds > 0) {
      options.poll_interval = absl::Seconds(seconds);
    }
  }
  auto launcher = std::make_unique<core::AppLauncher>(source, std::move(options));
  launcher->Start();
  return launcher;
}

int Run(Flags f) {
  if (!f.appio_api_address.empty()) {
    core::LogWarning(
        "The `--appio-api-address` argument has been renamed to `--runtime-api-address`. Please "
        "update your command; the old name will be removed in a future release.");
    f.runtime_api_address = f.appio_api_address;
  }
  if (f.plugin_type == "simulation") {
    // Flower 1.36's words; it then runs the ServerApp plugin, which runs simulations too.
    core::LogWarning(
        "The 'simulation' plugin type is deprecated and will be removed in a future release. "
        "Please use 'serverapp' instead, which supports both simulation and deployment.");
    f.plugin_type = "serverapp";
  }
  if (!f.plugin_type.empty() && f.plugin_type != "clientapp" && f.plugin_type != "serverapp") {
    std::cerr << "flower-superexec: --plugin-type " << f.plugin_type
              << " is not supported by this SuperExec\n";
    return 2;
  }
  if (f.executor != "subprocess") {
    std::cerr << "flower-superexec: --executor " << f.executor
              << " is not supported by this SuperExec\n";
    return 2;
  }
  if (f.insecure && !f.root_certificates.empty()) {
    std::cerr << "Conflicting options: The '--insecure' flag disables TLS, but "
                 "'--root-certificates' was also specified.\n";
    return 1;
  }
  // The apps get the CA file (--root-certificates) or --insecure: TLS with the system's roots
  // alone has no argv for them.
  if (!f.insecure && f.root_certificates.empty()) {
    std::cerr << "flower-superexec: TLS to the Runtime API needs --root-certificates (the CA "
                 "the apps verify it with); or use --insecure\n";
    return 2;
  }
  std::string host;
  int port = 0;
  if (!SplitAddress(f.runtime_api_address, &host, &port)) {
    std::cerr << "flower-superexec: cannot parse --runtime-api-address " << f.runtime_api_address
              << "\n";
    return 2;
  }
  core::HttpProtoClientOptions http;
  if (!f.insecure) {
    absl::StatusOr<std::string> pem = core::ReadFile(f.root_certificates);
    if (!pem.ok()) {
      std::cerr << "flower-superexec: cannot read --root-certificates: " << pem.status().message()
                << "\n";
      return 1;
    }
    http.tls = true;
    http.root_certificates = *std::move(pem);
  }
  // Stock's load_executor_config: the subprocess executor takes no config (the Kubernetes one,
  // which would, is refused above).
  if (!f.executor_config.empty()) {
    return core::LogFlwrExit(
        core::exit_code::kSuperExecInvalidExecutorConfig,
        absl::StrCat("Failed to load executor config from '", f.executor_config,
                     "': subprocess executor does not support "
                     "--executor-config."));
  }
  std::string auth_secret;
  if (!f.superexec_auth_secret_file.empty()) {
    absl::StatusOr<std::string> secret =
        core::LoadSuperExecAuthSecret(f.superexec_auth_secret_file);
    if (!secret.ok()) {
      std::cerr << "flower-superexec: Failed to load SuperExec authentication secret: "
                << secret.status().message() << "\n";
      return 1;
    }
    auth_secret = *std::move(secret);
  }
  core::LogInfo("Starting Flower SuperExec");

  const sigset_t signals = core::BlockShutdownSignals();

  std::optional<std::unique_ptr<grpc::Server>> health =
      core::StartHealthServerFlag(f.health_server_address);
  if (!health) return 1;

  RuntimeApiTaskSource source(host, port, std::move(http), std::move(auth_secret));
  // The task types of the stock plugin: the ClientApp one's, the ServerApp one's (ServerApps
  // and simulations), or (1.42, no plugin type) all of them.
  std::vector<std::unique_ptr<core::AppLauncher>> launchers;
  for (auto [plugin_type, task_type] : {std::pair{"clientapp", core::kClientAppTaskType},
                                        std::pair{"serverapp", core::kServerAppTaskType},
                                        std::pair{"serverapp", core::kSimulationTaskType}}) {
    if (f.plugin_type.empty() || f.plugin_type == plugin_type) {
      launchers.push_back(StartLauncher(source, task_type, f));
    }
  }

  // Runs until a signal, or until --parent-pid is gone (polled every 0.2 s, as stock).
  absl::Notification done;
  std::thread([&] {
    core::WaitForShutdownSignal(signals);
    done.Notify();
  }).detach();
  while (!done.WaitForNotificationWithTimeout(absl::Milliseconds(200))) {
    if (f.parent_pid && kill(*f.parent_pid, 0) != 0 && errno == ESRCH) break;
  }
  core::LogInfo("SuperExec terminated gracefully.");
  for (const std::unique_ptr<core::AppLauncher>& launcher : launchers) launcher->Stop();
  if (*health) (*health)->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}

}  // namespace
}  // namespace flwr::superexec

int main(int argc, char** argv) {
  CLI::App app("Run Flower SuperExec.", "flower-superexec");
  flwr::superexec::Flags flags;
  flwr::superexec::AddFlags(app, flags);
  if (std::optional<int> exit_status = flwr::core::ParseServerArgs(app, argc, argv)) {
    return *exit_status;
  }
  if (app.count("--runtime-api-address") > 0 && app.count("--appio-api-address") > 0) {
    // Stock's mutually exclusive argparse group.
    std::cerr << "flower-superexec: error: argument --appio-api-address: not allowed with "
                 "argument --runtime-api-address\n";
    return 2;
  }
  return flwr::superexec::Run(flags);
}
