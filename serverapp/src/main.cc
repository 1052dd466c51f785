// The C++ `flwr-serverapp`: the ServerApp task of a run on the SuperLink's Runtime API, as the
// stock 1.36 executable (docs/flower-1.36-superlink-protocol.md §2, §3.4), for native
// ServerApps only (native_server_app.h says how a FAB selects one). Launched by a SuperExec:
//   flwr-serverapp --runtime-api-address HOST:PORT --token <token> --insecure --parent-pid <pid>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/app_runtime_client.h"
#include "flwr/core/fab.h"
#include "flwr/core/logging.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/user_config.h"
#include "flwr/serverapp/fedavg.h"
#include "flwr/serverapp/grid.h"
#include "flwr/serverapp/native_server_app.h"
#include "log_uploader.h"

namespace {

using flwr::core::AppRuntimeClient;
namespace exit_code = flwr::core::app_exit_code;

constexpr absl::string_view kProgram = "flwr-serverapp";

[[noreturn]] void Exit(int status) {
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(status);
}

struct TaskOutput {
  absl::Mutex mu;
  std::optional<flwr::core::Context> context ABSL_GUARDED_BY(mu);
  std::string sub_status ABSL_GUARDED_BY(mu) = "failed";
  std::string details ABSL_GUARDED_BY(mu) = "Task failed with unknown error.";
};

// The run config the ServerApp sees: the FAB's defaults fused with the run's overrides.
absl::StatusOr<flwr::core::UserConfig> RunConfig(const flwr::core::FabInfo& fab,
                                                 const flwr::proto::Run& run) {
  absl::StatusOr<flwr::core::UserConfig> overrides =
      flwr::core::UserConfigFromProto(run.override_config());
  if (!overrides.ok()) return overrides.status();
  return flwr::core::FuseRunConfig(fab.default_config, *overrides);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  flwr::core::AppArgsResult parsed = flwr::core::ParseAppArgs(kProgram, "127.0.0.1:8000", args);
  if (!parsed.args.has_value()) {
    std::fputs(parsed.output.c_str(), parsed.to_stdout ? stdout : stderr);
    return parsed.exit_status;
  }
  const flwr::core::AppArgs& app_args = *parsed.args;
  // Capture stdout/stderr for PushLogs before any other thread starts.
  absl::StatusOr<std::unique_ptr<flwr::serverapp::LogUploader>> captured =
      flwr::serverapp::LogUploader::CaptureOutput();
  std::unique_ptr<flwr::serverapp::LogUploader> logs =
      captured.ok() ? *std::move(captured) : nullptr;
  std::unique_ptr<flwr::core::AppSignalGuard> guard =
      flwr::core::AppSignalGuard::Install(app_args.parent_pid, "Task stopped by user.");
  flwr::core::LogInfo("Start `flwr-serverapp` process");
  if (!captured.ok()) {
    flwr::core::LogWarning(absl::StrCat("Output capture failed, `flwr log` will show nothing: ",
                                        captured.status().message()));
  }
  if (auto tls = flwr::core::CheckAppTls(app_args, kProgram); tls.has_value()) {
    Exit(flwr::core::LogAppExit(tls->first, tls->second));
  }

  flwr::core::AppRuntimeClientOptions options;
  options.address = app_args.runtime_api_address;
  options.token = app_args.token;
  options.component_name = std::string(kProgram);
  options.on_rejected = [] { ::kill(::getpid(), SIGINT); };
  absl::StatusOr<std::unique_ptr<AppRuntimeClient>> created =
      AppRuntimeClient::Create(std::move(options));
  if (!created.ok()) {
    flwr::core::LogError(
        absl::StrCat("ServerApp raised an exception\n", created.status().ToString()));
    Exit(flwr::core::LogAppExit(exit_code::kServerAppException, ""));
  }
  AppRuntimeClient& client = **created;

  TaskOutput output;
  bool uploading = false;
  guard->SetExitHandler([&] {
    client.SetMaxTries(1);
    if (logs != nullptr && uploading) logs->Flush(absl::Seconds(3));
    std::optional<flwr::core::Context> context;
    std::string sub_status, details;
    {
      absl::MutexLock lock(&output.mu);
      context = output.context;
      sub_status = output.sub_status;
      details = output.details;
    }
    if (absl::Status s = client.PushTaskOutput(context, sub_status, details); !s.ok()) {
      flwr::core::LogError(absl::StrCat("Failed to push task output: ", s.ToString()));
    }
    if (logs != nullptr) logs->Stop();
    client.StopHeartbeat();
  });
  (void)client.StartHeartbeat();

  auto run = [&]() -> absl::Status {
    absl::StatusOr<flwr::core::TaskInput> input = client.PullTaskInput();
    if (!input.ok()) return input.status();
    flwr::core::Context context = input->context;
    {
      absl::MutexLock lock(&output.mu);
      output.context = context;
    }
    if (logs != nullptr) {
      logs->Start(&client, input->run.run_id());
      uploading = true;
    }
    absl::StatusOr<flwr::core::FabInfo> fab = flwr::core::ParseFab(input->fab.content);
    if (!fab.ok()) return fab.status();
    absl::StatusOr<flwr::core::UserConfig> run_config = RunConfig(*fab, input->run);
    if (!run_config.ok()) return run_config.status();
    context.run_config = *std::move(run_config);
    absl::StatusOr<flwr::serverapp::NativeServerApp> app =
        flwr::serverapp::LoadNativeServerApp(flwr::serverapp::BuiltinServerApps(), *fab);
    if (!app.ok()) return app.status();
    flwr::core::LogInfo(absl::StrCat("Running native ServerApp '", *fab->native.Find("serverapp"),
                                     "' of ", fab->fab_id, " ", fab->version));
    flwr::serverapp::RuntimeGrid grid(&client, input->run.run_id());
    absl::Status status = (*app)(grid, context);
    absl::MutexLock lock(&output.mu);
    output.context = context;
    if (status.ok()) {
      // As stock: the resulting context is pushed with an empty state.
      output.context->state = flwr::core::RecordDict();
      output.sub_status = "completed";
      output.details = "";
    }
    return status;
  };
  int code = exit_code::kSuccess;
  if (absl::Status status = run(); !status.ok()) {
    flwr::core::LogError(absl::StrCat("ServerApp raised an exception\n", status.ToString()));
    code = flwr::serverapp::ServerAppExitCode(status);
    absl::MutexLock lock(&output.mu);
    output.sub_status = "failed";
    output.details = absl::StrCat("ServerApp failed with exception: ", status.message());
  }
  // As flwr_exit: the exit message first (so it reaches the run log), then the exit handler.
  const int exit_status = flwr::core::LogAppExit(code, "");
  guard->RunExitHandler();
  Exit(exit_status);
}
