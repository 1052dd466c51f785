// The C++ `flwr-clientapp`: one task of a SuperNode's Runtime API, as the stock 1.36
// executable (docs/flower-1.36-supernode-protocol.md §6), for native ClientApps only
// (native_client_app.h says how a FAB selects one). Launched by a SuperExec with
//   flwr-clientapp --runtime-api-address HOST:PORT --token <token> --insecure --parent-pid <pid>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "flwr/clientapp/native_client_app.h"
#include "flwr/core/app_process.h"
#include "flwr/core/logging.h"

namespace {

using flwr::core::AppRuntimeClient;
using flwr::core::AppTaskOutput;
namespace exit_code = flwr::core::exit_code;

// flwr's reason for an exception raised outside the ClientApp call (RuntimeError).
std::string RuntimeErrorReason(const absl::Status& status) {
  return absl::StrCat("<class 'RuntimeError'>:<'", status.message(), "'>");
}

// Pulls the instruction, runs the native ClientApp on it and pushes its reply.
int RunTask(AppRuntimeClient& client, AppTaskOutput& output) {
  auto raised = [&](const absl::Status& status) {
    flwr::core::LogError(absl::StrCat("ClientApp raised an exception\n", status.ToString()));
    output.SetOutcome("failed", RuntimeErrorReason(status));
    return exit_code::kTaskProcException;
  };
  absl::StatusOr<flwr::core::TaskInput> input = client.PullTaskInput();
  if (!input.ok()) return raised(input.status());
  flwr::core::Context context = input->context;
  output.SetContext(context);
  absl::StatusOr<std::vector<flwr::core::Message>> messages =
      client.PullMessages({}, context.node_id, context.run_id,
                          /*unavailable_as_error_message=*/false);
  if (!messages.ok()) return raised(messages.status());
  if (messages->empty())
    return raised(absl::InternalError("No messages received from Runtime API"));
  flwr::clientapp::ClientAppOutcome outcome = flwr::clientapp::RunNativeClientApp(
      flwr::clientapp::BuiltinClientApps(), input->fab.content, messages->front(), context);
  output.SetOutcome(std::move(outcome.sub_status), std::move(outcome.details), context);
  absl::StatusOr<std::vector<std::string>> pushed =
      client.PushMessages(absl::MakeSpan(&outcome.reply, 1), context.node_id, context.run_id);
  if (!pushed.ok()) {
    flwr::core::LogError(
        absl::StrCat("Failed to push reply message\n", pushed.status().ToString()));
    return exit_code::kClientAppCommunicationError;
  }
  return outcome.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  flwr::core::AppProcess process;
  process.program = "flwr-clientapp";
  process.default_address = "127.0.0.1:9094";
  process.app_name = "ClientApp";
  process.stop_message = "Task stopped.";
  process.failure_details = "ClientApp task failed due to unknown reason";
  process.client_error_code = exit_code::kTaskProcException;
  process.after_tls_check = [](const flwr::core::AppArgs& args) {
    if (args.allow_runtime_dependency_installation) {
      flwr::core::LogDebug(
          "[flwr-clientapp] Native ClientApps have no Python dependencies to install.");
    }
  };
  process.run = RunTask;
  return flwr::core::RunAppProcess(process, argc, argv);
}
