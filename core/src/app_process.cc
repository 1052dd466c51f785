#include "flwr/core/app_process.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "flwr/core/file_util.h"
#include "flwr/core/logging.h"

namespace flwr::core {
namespace {

[[noreturn]] void Exit(const AppProcess& process, int status) {
  if (process.before_exit) process.before_exit();
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(status);
}

}  // namespace

void AppTaskOutput::SetContext(Context context) {
  absl::MutexLock lock(&mu_);
  context_ = std::move(context);
}

void AppTaskOutput::SetOutcome(std::string sub_status, std::string details,
                               std::optional<Context> context) {
  absl::MutexLock lock(&mu_);
  sub_status_ = std::move(sub_status);
  details_ = std::move(details);
  if (context.has_value()) context_ = *std::move(context);
}

void AppTaskOutput::Push(AppRuntimeClient& client) {
  std::optional<Context> context;
  std::string sub_status, details;
  {
    absl::MutexLock lock(&mu_);
    context = context_;
    sub_status = sub_status_;
    details = details_;
  }
  if (absl::Status s = client.PushTaskOutput(context, sub_status, details); !s.ok()) {
    LogError(absl::StrCat("Failed to push task output: ", s.ToString()));
  }
}

int RunAppProcess(const AppProcess& process, int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  AppArgsResult parsed = ParseAppArgs(process.program, process.default_address, args);
  if (!parsed.args.has_value()) {
    std::fputs(parsed.output.c_str(), parsed.to_stdout ? stdout : stderr);
    return parsed.exit_status;
  }
  const AppArgs& app_args = *parsed.args;
  if (process.before_threads) process.before_threads();
  std::unique_ptr<AppSignalGuard> guard =
      AppSignalGuard::Install(app_args.parent_pid, process.stop_message);
  LogInfo(absl::StrCat("Start `", process.program, "` process"));
  if (process.after_start_line) process.after_start_line();
  if (auto tls = CheckAppTls(app_args); tls.has_value()) {
    Exit(process, LogFlwrExit(tls->first, tls->second));
  }
  AppRuntimeClientOptions options;
  options.http.tls = !app_args.insecure;
  if (const std::string path = AppRootCertificatesPath(app_args); !path.empty()) {
    absl::StatusOr<std::string> pem = ReadFile(path);
    if (!pem.ok()) {
      Exit(process, LogFlwrExit(exit_code::kPathInvalid,
                                absl::StrCat("Failed to read root certificates from '", path,
                                             "': ", pem.status().message())));
    }
    options.http.root_certificates = *std::move(pem);
  }
  if (process.after_tls_check) process.after_tls_check(app_args);

  options.address = app_args.runtime_api_address;
  options.token = app_args.token;
  options.component_name = process.program;
  options.on_rejected = [] { ::kill(::getpid(), SIGINT); };
  absl::StatusOr<std::unique_ptr<AppRuntimeClient>> created =
      AppRuntimeClient::Create(std::move(options));
  if (!created.ok()) {
    LogError(absl::StrCat(process.app_name, " raised an exception\n", created.status().ToString()));
    Exit(process, LogFlwrExit(process.client_error_code, ""));
  }
  AppRuntimeClient& client = **created;

  AppTaskOutput output(process.failure_details);
  guard->SetExitHandler([&] {
    client.SetMaxTries(1);
    if (process.before_push) process.before_push();
    output.Push(client);
    if (process.after_push) process.after_push();
    client.StopHeartbeat();
  });
  (void)client.StartHeartbeat();

  const int code = process.run(client, output);
  if (process.log_exit_before_output) {
    const int exit_status = LogFlwrExit(code, "");
    guard->RunExitHandler();
    Exit(process, exit_status);
  }
  guard->RunExitHandler();
  Exit(process, LogFlwrExit(code, ""));
}

}  // namespace flwr::core
