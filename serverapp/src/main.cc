// The C++ `flwr-serverapp`: the ServerApp task of a run on the SuperLink's Runtime API, as the
// stock 1.36 executable (docs/flower-1.36-superlink-protocol.md §2, §3.4), for native
// ServerApps only (native_server_app.h says how a FAB selects one). Launched by a SuperExec:
//   flwr-serverapp --runtime-api-address HOST:PORT --token <token> --insecure --parent-pid <pid>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "flwr/core/app_process.h"
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
using flwr::core::AppTaskOutput;
using flwr::serverapp::LogUploader;

// The run config the ServerApp sees: the FAB's defaults fused with the run's overrides.
absl::StatusOr<flwr::core::UserConfig> RunConfig(const flwr::core::FabInfo& fab,
                                                 const flwr::proto::Run& run) {
  absl::StatusOr<flwr::core::UserConfig> overrides =
      flwr::core::UserConfigFromProto(run.override_config());
  if (!overrides.ok()) return overrides.status();
  return flwr::core::FuseRunConfig(fab.default_config, *overrides);
}

// Pulls the task input, starts uploading the output (`logs`, may be null; `uploading` says
// once it does) and runs the native ServerApp, recording the resulting context in `output`.
absl::Status RunServerApp(AppRuntimeClient& client, AppTaskOutput& output, LogUploader* logs,
                          bool& uploading) {
  absl::StatusOr<flwr::core::TaskInput> input = client.PullTaskInput();
  if (!input.ok()) return input.status();
  flwr::core::Context context = input->context;
  output.SetContext(context);
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
  flwr::serverapp::RuntimeGrid grid(&client, input->run.run_id(), input->task_id);
  absl::Status status = (*app)(grid, context);
  if (!status.ok()) {
    output.SetContext(context);
    return status;
  }
  // As stock: the resulting context is pushed with an empty state.
  context.state = flwr::core::RecordDict();
  output.SetOutcome("completed", "", context);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  // Captures stdout/stderr for PushLogs before any other thread starts.
  absl::StatusOr<std::unique_ptr<LogUploader>> captured =
      absl::FailedPreconditionError("not captured");
  std::unique_ptr<LogUploader> logs;
  bool uploading = false;

  flwr::core::AppProcess process;
  process.program = "flwr-serverapp";
  process.default_address = "127.0.0.1:8000";
  process.app_name = "ServerApp";
  process.stop_message = "Task stopped by user.";
  process.failure_details = "Task failed with unknown error.";
  process.client_error_code = flwr::core::exit_code::kServerAppException;
  process.log_exit_before_output = true;
  process.before_threads = [&] {
    captured = LogUploader::CaptureOutput();
    if (captured.ok()) logs = *std::move(captured);
  };
  process.after_start_line = [&] {
    if (!captured.ok()) {
      flwr::core::LogWarning(absl::StrCat("Output capture failed, `flwr log` will show nothing: ",
                                          captured.status().message()));
    }
  };
  process.before_push = [&] {
    if (logs != nullptr && uploading) logs->Flush(absl::Seconds(3));
  };
  process.after_push = [&] {
    if (logs != nullptr) logs->Stop();
  };
  process.before_exit = [&] {
    if (logs != nullptr) logs->RestoreOutput();
  };
  process.run = [&](AppRuntimeClient& client, AppTaskOutput& output) {
    absl::Status status = RunServerApp(client, output, logs.get(), uploading);
    if (status.ok()) return flwr::core::exit_code::kSuccess;
    flwr::core::LogError(absl::StrCat("ServerApp raised an exception\n", status.ToString()));
    output.SetOutcome("failed",
                      absl::StrCat("ServerApp failed with exception: ", status.message()));
    return flwr::serverapp::ServerAppExitCode(status);
  };
  return flwr::core::RunAppProcess(process, argc, argv);
}
