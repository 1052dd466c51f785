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
// instead of leaving it to the 60 s heartbeat lease. A process that outlives its task (a hung
// app whose lease lapsed, a stopped run) is terminated: SIGTERM, then SIGKILL.
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
#include "flwr/core/native_program.h"
#include "flwr/core/subprocess.h"
#include "flwr/core/task_store.h"
#include "flwr/proto/fab.pb.h"
#include "flwr/proto/task.pb.h"

namespace flwr::core {

// Where the launcher takes its tasks from: the server's own TaskStore (LocalAppTaskSource) or
// a remote Runtime API (the SuperExec's). Implementations are thread-safe.
class AppTaskSource {
 public:
  virtual ~AppTaskSource() = default;
  // Claims the oldest pending task of `task_type`: the task and its token; nullopt if none.
  virtual std::optional<AcquiredTask> AcquireTask(const std::string& task_type) = 0;
  // The task as it is now; nullopt if unknown, or where task states cannot be seen (a remote
  // source): its processes are then only reaped.
  virtual std::optional<proto::Task> GetTask(uint64_t task_id) = 0;
  // Finishes the task as failed (nothing where task states cannot be seen).
  virtual void FailTask(uint64_t task_id, const std::string& details) = 0;
  // The FAB with this hash; nullopt if unknown (yet).
  virtual std::optional<proto::Fab> GetFab(absl::string_view fab_hash) = 0;
};

// A server's own tasks, and the FABs of its state (LinkState::GetFab, NodeState::GetFab).
class LocalAppTaskSource final : public AppTaskSource {
 public:
  using FabLookup = std::function<std::optional<proto::Fab>(absl::string_view fab_hash)>;
  LocalAppTaskSource(TaskStore& tasks, FabLookup fab) : tasks_(tasks), fab_(std::move(fab)) {}

  std::optional<AcquiredTask> AcquireTask(const std::string& task_type) override {
    return tasks_.AcquireTask({task_type}, {});
  }
  std::optional<proto::Task> GetTask(uint64_t task_id) override { return tasks_.GetTask(task_id); }
  void FailTask(uint64_t task_id, const std::string& details) override {
    tasks_.FinishTask(task_id, kSubStatusFailed, details);
  }
  std::optional<proto::Fab> GetFab(absl::string_view fab_hash) override { return fab_(fab_hash); }

 private:
  TaskStore& tasks_;
  const FabLookup fab_;
};

struct AppLauncherOptions {
  // The task type to launch ("flwr-serverapp", "flwr-clientapp", "flwr-simulation"); others
  // are left alone.
  std::string task_type;
  // The key of [tool.flwr.app.native] that selects the native executable ("serverapp",
  // "clientapp"); also what the launcher's messages call the app ("simulation").
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
  // `native_program_env`, the variable that sets it. Both empty: this launcher knows no native
  // executable (the SuperExec), and every task runs `default_program`, its FAB unread.
  std::string native_program;
  std::string native_program_env;
  bool allow_runtime_dependency_installation = false;
  // Send the apps' stdout/stderr to /dev/null (stock does for ServerApps).
  bool discard_output = false;
  absl::Duration poll_interval = absl::Milliseconds(100);
  // How long an app process may run on once its task has finished (or its claim lapsed), to
  // exit by itself, before it is terminated.
  absl::Duration orphan_grace = absl::Seconds(10);
};

class AppLauncher {
 public:
  // `source` outlives the launcher.
  AppLauncher(AppTaskSource& source, AppLauncherOptions options);
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
    // When its task was first seen finished, or pending again, while it ran.
    std::optional<absl::Time> orphaned_since;
  };

  absl::StatusOr<std::string> ProgramForFab(absl::string_view content) const;
  void Loop();
  void LaunchPending();
  void ReapChildren();
  // Whether `child` has run on for orphan_grace after its task ended.
  bool OutlivedItsTask(Child& child);

  AppTaskSource& source_;
  const AppLauncherOptions options_;
  // ProgramFor's answers by FAB hash (a FAB's content never changes), so a FAB is unzipped and
  // parsed once, not once per task. Only the loop thread uses it.
  absl::flat_hash_map<std::string, absl::StatusOr<std::string>> programs_;
  absl::Notification stop_;
  std::thread thread_;
  std::list<Child> children_;  // the loop thread's only
};

}  // namespace flwr::core

#endif  // FLWR_CORE_APP_LAUNCHER_H_
