#include "flwr/core/flwr_exit.h"

#include "absl/strings/str_cat.h"
#include "flwr/core/logging.h"
#include "flwr/core/runtime_version.h"

namespace flwr::core {

namespace {

absl::string_view ExitCodeHelp(int code) {
  switch (code) {
    case exit_code::kSuperlinkInvalidArgs:
      return "Invalid arguments provided to SuperLink. Use `--help` check for the correct usage. "
             "Alternatively, check the documentation.";
    case exit_code::kServerAppStrategyPreconditionUnmet:
      return "The strategy received replies that cannot be aggregated. Please ensure all "
             "replies returned by ClientApps have one `ArrayRecord` (none when replies are "
             "from a round of federated evaluation, i.e. when message type is "
             "`MessageType.EVALUATE`) and one `MetricRecord`. The records in all replies "
             "must use identical keys. In addition, if the strategy expects a key to "
             "perform weighted average (e.g. in FedAvg) please ensure the returned "
             "MetricRecord from ClientApps do include this key.";
    case exit_code::kServerAppException:
      return "An unhandled exception occurred in the ServerApp.";
    case exit_code::kServerAppStrategyAggregationError:
      return "The strategy encountered an error during aggregation. Please check the logs "
             "for more details.";
    case exit_code::kClientAppCommunicationError:
      return "The ClientApp could not communicate with the Runtime API.";
    case exit_code::kSupernodeInvalidTrustedEntities:
      return "Failed to read the trusted entities YAML file. Please ensure that a valid file is "
             "provided using the `--trusted-entities` option.";
    case exit_code::kSuperExecInvalidExecutorConfig:
      return "Failed to select, load, or apply the SuperExec executor configuration.";
    case exit_code::kTlsRootCertificatesIncompatible:
      return "The '--root-certificates' option cannot be used together with '--insecure'.";
    case exit_code::kPathInvalid:
      return "The provided path is invalid or does not point to the expected file.";
    case exit_code::kTaskProcException:
      return "An unhandled exception occurred in a task process.";
    default:
      return "";
  }
}

bool IsErrorExitCode(int code) { return !(code >= 0 && code < 100); }

}  // namespace

std::string FlwrExitMessage(int code, absl::string_view message) {
  const bool is_error = IsErrorExitCode(code);
  std::string text = is_error ? absl::StrCat("Exit Code: ", code, "\n") : "";
  absl::StrAppend(&text, message);
  if (absl::string_view help = ExitCodeHelp(code); !help.empty()) {
    absl::StrAppend(&text, "\n", help);
  }
  if (is_error) {
    // "<major>.<minor>" of the pinned version, as flwr's _get_code_url.
    absl::string_view version = PinnedFlowerVersion();
    const size_t first_dot = version.find('.');
    const size_t second_dot =
        first_dot == absl::string_view::npos ? first_dot : version.find('.', first_dot + 1);
    absl::StrAppend(&text, "\n\nFor more information, visit: <https://flower.ai/docs/framework/",
                    version.substr(0, second_dot), "/en/ref-exit-codes/", code, ".html>");
  }
  return text;
}

int LogFlwrExit(int code, absl::string_view message) {
  const std::string text = FlwrExitMessage(code, message);
  if (IsErrorExitCode(code)) {
    LogError(text);
    return 1;
  }
  LogInfo(text);
  return 0;
}

}  // namespace flwr::core
