// AppLauncher: the built-in executor of `--isolation subprocess`, doing what the stock
// SuperLink and SuperNode delegate to a `flower-superexec --plugin-type serverapp|clientapp`
// child: claim each pending task of one type and start one app process for it, with the stock
// argv (`--runtime-api-address A --token T --insecure --parent-pid P
// [--allow-runtime-dependency-installation]`).
//
// The program is chosen per task from its FAB: an app whose pyproject.toml names a native app
// for this component (`[tool.flwr.app.native] serverapp|clientapp = "<name>"`) runs in our C++
// executable (`flwr-serverapp` / `flwr-clientapp`); any other app in the stock Python one. A
// process that cannot be started, or exits without finishing its task, fails the task at once,
// instead of leaving it to the 60 s heartbeat lease.
#ifndef FLWR_CORE_APP_LAUNCHER_H_
#define FLWR_CORE_APP_LAUNCHER_H_

#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "flwr/core/subprocess.h"
#include "flwr/proto/fab.pb.h"
#include "flwr/proto/task.pb.h"

namespace flwr::core {

// The state the launcher works on (a LinkState or NodeState). All must be thread-safe.
struct AppTaskSource {
  // Pending tasks, oldest first.
  std::function<std::vector<proto::Task>()> pending_tasks;
  // pending -> starting; the task's token, or nullopt if someone else claimed it.
  std::function<std::optional<std::string>(uint64_t task_id)> claim;
  // Whether `task` has finished (completed, failed or stopped). Optional: without it (an
  // external executor, which cannot see task states) exited processes are only reaped.
  std::function<bool(const proto::Task& task)> finished;
  // Finishes `task` as failed with `details`. Optional, as `finished`.
  std::function<void(const proto::Task& task, const std::string& details)> fail;
  // The FAB with this hash, if known. Optional: without it every task runs `default_program`.
  std::function<std::optional<proto::Fab>(absl::string_view fab_hash)> fab;
};

struct AppLauncherOptions {
  // The task type to launch ("flwr-serverapp", "flwr-clientapp"); others are left alone.
  std::string task_type;
  // The key of [tool.flwr.app.native] that selects the native executable ("serverapp",
  // "clientapp").
  std::string native_key;
  // Address the apps reach the Runtime API on ("127.0.0.1:9094").
  std::string runtime_api_address;
  // A PEM file the apps verify the Runtime API's TLS certificate with (`--root-certificates`);
  // empty: the Runtime API is plain HTTP (`--insecure`).
  std::string root_certificates;
  // The executor for apps that select no native one: the stock Python `flwr-serverapp` /
  // `flwr-clientapp` (looked up in PATH).
  std::string default_program;
  // The executor for native apps; empty: native apps fail with a clear error naming
  // `native_program_env`, the variable that sets it.
  std::string native_program;
  std::string native_program_env;
  bool allow_runtime_dependency_installation = false;
  // Send the apps' stdout/stderr to /dev/null (stock does for ServerApps).
  bool discard_output = false;
  absl::Duration poll_interval = absl::Milliseconds(100);
};

class AppLauncher {
 public:
  AppLauncher(AppTaskSource source, AppLauncherOptions options);
  ~AppLauncher();  // Stop()

  AppLauncher(const AppLauncher&) = delete;
  AppLauncher& operator=(const AppLauncher&) = delete;

  void Start();
  // Stops polling and terminates running apps.
  void Stop();

 private:
  // The program for a task of the FAB with `fab_hash`, or why none can run it.
  absl::StatusOr<std::string> ProgramFor(absl::string_view fab_hash);
  struct Child {
    proto::Task task;
    Subprocess process;
  };

  absl::StatusOr<std::string> ProgramForFab(absl::string_view content) const;
  void Loop();
  void LaunchPending();
  void ReapChildren();

  const AppTaskSource source_;
  const AppLauncherOptions options_;
  // ProgramFor's answers by FAB hash (a FAB's content never changes), so a FAB is unzipped and
  // parsed once, not once per task. Only the loop thread uses it.
  absl::flat_hash_map<std::string, absl::StatusOr<std::string>> programs_;
  absl::Notification stop_;
  std::thread thread_;
  std::list<Child> children_;  // the loop thread's only
};

// Where our native executable `name` is: $`env_var` if set, else beside the running binary
// (an installation), else `<binary dir>/../<build_subdir>/<name>` (the build tree). Empty if
// none exists.
std::string FindNativeProgram(const std::string& env_var, const std::string& name,
                              const std::string& build_subdir);

}  // namespace flwr::core

#endif  // FLWR_CORE_APP_LAUNCHER_H_
