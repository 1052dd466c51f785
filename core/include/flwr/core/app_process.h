// The process skeleton of the app executables (`flwr-clientapp`, `flwr-serverapp`), as the
// stock ones run a task: parse the stock argv, install the signal and parent handling, check
// the TLS flags, connect to the Runtime API (HTTPS unless --insecure), heartbeat, run the task, and
// on every way out (the end, a signal, a vanished parent) push the task's output once, then exit
// with flwr_exit's status.
#ifndef FLWR_CORE_APP_PROCESS_H_
#define FLWR_CORE_APP_PROCESS_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "flwr/core/app_runtime_client.h"

namespace flwr::core {

// What the process pushes when it ends (PushTaskOutput): the task's context once known, and its
// outcome. Thread-safe: the exit handler may read it on the signal thread.
class AppTaskOutput {
 public:
  // Starts as "failed" with `failure_details` (the outcome of a task that never got one).
  explicit AppTaskOutput(std::string failure_details) : details_(std::move(failure_details)) {}

  void SetContext(Context context);
  // The outcome, and the context with it when given.
  void SetOutcome(std::string sub_status, std::string details,
                  std::optional<Context> context = std::nullopt);
  // Pushes the context and outcome (errors are logged).
  void Push(AppRuntimeClient& client);

 private:
  absl::Mutex mu_;
  std::optional<Context> context_ ABSL_GUARDED_BY(mu_);
  std::string sub_status_ ABSL_GUARDED_BY(mu_) = "failed";
  std::string details_ ABSL_GUARDED_BY(mu_);
};

struct AppProcess {
  std::string program;          // "flwr-clientapp"
  std::string default_address;  // of --runtime-api-address
  std::string app_name;         // "ClientApp": "ClientApp raised an exception"
  std::string stop_message;     // logged when a signal ends the process
  std::string failure_details;  // see AppTaskOutput
  // The exit code when the Runtime API client cannot be created.
  int client_error_code = exit_code::kTaskProcException;
  // Log the exit message before pushing the output (the ServerApp's order, so the message
  // reaches the run log), not after.
  bool log_exit_before_output = false;

  // Optional hooks, in the order they run: before any thread starts; after the "Start
  // `<program>` process" line; after the TLS check; in the exit handler before and after the
  // push; last, right before the process exits (also when it ends before its task starts).
  std::function<void()> before_threads;
  std::function<void()> after_start_line;
  std::function<void(const AppArgs&)> after_tls_check;
  std::function<void()> before_push;
  std::function<void()> after_push;
  std::function<void()> before_exit;
  // The task. Returns the flwr exit code; records the outcome in `output`.
  std::function<int(AppRuntimeClient& client, AppTaskOutput& output)> run;
};

// Runs `process` with argv. Returns only for --help and usage errors (the status to exit
// with); otherwise ends the process.
int RunAppProcess(const AppProcess& process, int argc, char** argv);

}  // namespace flwr::core

#endif  // FLWR_CORE_APP_PROCESS_H_
