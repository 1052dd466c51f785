// The C++ `flwr-clientapp`: one task of a SuperNode's Runtime API, as the stock 1.36
// executable (docs/flower-1.36-supernode-protocol.md §6), for native ClientApps only
// (native_client_app.h says how a FAB selects one). Launched by a SuperExec with
//   flwr-clientapp --runtime-api-address HOST:PORT --token <token> --insecure --parent-pid <pid>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "flwr/clientapp/native_client_app.h"
#include "flwr/core/app_runtime_client.h"
#include "flwr/core/logging.h"

namespace {

using flwr::core::AppRuntimeClient;
namespace exit_code = flwr::core::app_exit_code;

constexpr absl::string_view kProgram = "flwr-clientapp";

[[noreturn]] void Exit(int status) {
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(status);
}

// What the exit handler pushes: the task's context once pulled, and its outcome.
struct TaskOutput {
  absl::Mutex mu;
  std::optional<flwr::core::Context> context ABSL_GUARDED_BY(mu);
  std::string sub_status ABSL_GUARDED_BY(mu) = "failed";
  std::string details ABSL_GUARDED_BY(mu) = "ClientApp task failed due to unknown reason";
};

// flwr's reason for an exception raised outside the ClientApp call (RuntimeError).
std::string RuntimeErrorReason(const absl::Status& status) {
  return absl::StrCat("<class 'RuntimeError'>:<'", status.message(), "'>");
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  flwr::core::AppArgsResult parsed = flwr::core::ParseAppArgs(kProgram, "127.0.0.1:9094", args);
  if (!parsed.args.has_value()) {
    std::fputs(parsed.output.c_str(), parsed.to_stdout ? stdout : stderr);
    return parsed.exit_status;
  }
  const flwr::core::AppArgs& app_args = *parsed.args;
  std::unique_ptr<flwr::core::AppSignalGuard> guard =
      flwr::core::AppSignalGuard::Install(app_args.parent_pid, "Task stopped.");
  flwr::core::LogInfo("Start `flwr-clientapp` process");
  if (auto tls = flwr::core::CheckAppTls(app_args, kProgram); tls.has_value()) {
    Exit(flwr::core::LogAppExit(tls->first, tls->second));
  }
  if (app_args.allow_runtime_dependency_installation) {
    flwr::core::LogDebug(
        "[flwr-clientapp] Native ClientApps have no Python dependencies to install.");
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
        absl::StrCat("ClientApp raised an exception\n", created.status().ToString()));
    Exit(flwr::core::LogAppExit(exit_code::kTaskProcException, ""));
  }
  AppRuntimeClient& client = **created;

  TaskOutput output;
  guard->SetExitHandler([&] {
    client.SetMaxTries(1);
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
    client.StopHeartbeat();
  });
  (void)client.StartHeartbeat();

  int code = exit_code::kSuccess;
  std::optional<flwr::core::Message> reply;
  std::optional<flwr::core::Context> context;
  auto raised = [&](const absl::Status& status) {
    flwr::core::LogError(absl::StrCat("ClientApp raised an exception\n", status.ToString()));
    absl::MutexLock lock(&output.mu);
    output.sub_status = "failed";
    output.details = RuntimeErrorReason(status);
    code = exit_code::kTaskProcException;
  };
  absl::StatusOr<flwr::core::TaskInput> input = client.PullTaskInput();
  if (!input.ok()) {
    raised(input.status());
  } else {
    context = input->context;
    {
      absl::MutexLock lock(&output.mu);
      output.context = context;
    }
    absl::StatusOr<std::vector<flwr::core::Message>> messages =
        client.PullMessages({}, context->node_id, context->run_id,
                            /*unavailable_as_error_message=*/false);
    if (!messages.ok()) {
      raised(messages.status());
    } else if (messages->empty()) {
      raised(absl::InternalError("No messages received from Runtime API"));
    } else {
      flwr::clientapp::ClientAppOutcome outcome = flwr::clientapp::RunNativeClientApp(
          flwr::clientapp::BuiltinClientApps(), input->fab.content, messages->front(), *context);
      reply = std::move(outcome.reply);
      code = outcome.exit_code;
      absl::MutexLock lock(&output.mu);
      output.context = context;
      output.sub_status = std::move(outcome.sub_status);
      output.details = std::move(outcome.details);
    }
  }
  if (reply.has_value() && context.has_value()) {
    absl::StatusOr<std::vector<std::string>> pushed =
        client.PushMessages(absl::MakeSpan(&*reply, 1), context->node_id, context->run_id);
    if (!pushed.ok()) {
      flwr::core::LogError(
          absl::StrCat("Failed to push reply message\n", pushed.status().ToString()));
      code = exit_code::kClientAppCommunicationError;
    }
  }
  guard->RunExitHandler();
  Exit(flwr::core::LogAppExit(code, ""));
}
