// flwr_exit (flwr/supercore/exit/exit.py): how a stock Flower process says why it exits, with
// its exit codes. Shared by the app processes and the servers.
#ifndef FLWR_CORE_FLWR_EXIT_H_
#define FLWR_CORE_FLWR_EXIT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace flwr::core {

// Stock exit codes (flwr/supercore/exit/exit_code.py) our components use.
namespace exit_code {
inline constexpr int kSuccess = 0;
inline constexpr int kGracefulExitSigint = 1;
inline constexpr int kGracefulExitSigquit = 2;
inline constexpr int kGracefulExitSigterm = 3;
inline constexpr int kSuperlinkInvalidArgs = 104;
inline constexpr int kServerAppStrategyPreconditionUnmet = 200;
inline constexpr int kServerAppException = 201;
inline constexpr int kServerAppStrategyAggregationError = 202;
inline constexpr int kClientAppCommunicationError = 250;
inline constexpr int kSupernodeInvalidTrustedEntities = 304;
inline constexpr int kSuperExecInvalidExecutorConfig = 402;
inline constexpr int kTlsRootCertificatesIncompatible = 603;
inline constexpr int kPathInvalid = 604;
inline constexpr int kTaskProcException = 800;
}  // namespace exit_code

// The text flwr_exit logs for `code` and `message`: "Exit Code: <code>\n" for error codes
// (100 and above), the message, the code's short help and the help URL.
std::string FlwrExitMessage(int code, absl::string_view message);
// Logs FlwrExitMessage (ERROR for error codes, INFO otherwise) and returns the process exit
// status flwr_exit uses: 1 for error codes, 0 otherwise.
int LogFlwrExit(int code, absl::string_view message);

}  // namespace flwr::core

#endif  // FLWR_CORE_FLWR_EXIT_H_
