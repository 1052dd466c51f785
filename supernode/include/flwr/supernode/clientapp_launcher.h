// ClientAppLauncher: the SuperNode's built-in executor for `--isolation subprocess`, doing what
// the stock SuperNode delegates to a `flower-superexec --plugin-type clientapp` child: claim
// each pending `flwr-clientapp` task and start one ClientApp process for it with the stock
// argv (`--runtime-api-address A --token T --insecure --parent-pid P`).
//
// The program is chosen per task from its FAB: an app whose pyproject.toml names a native
// ClientApp (`[tool.flwr.app.native] clientapp = "..."`) runs in the C++ `flwr-clientapp`;
// any other app in the stock Python `flwr-clientapp`. A ClientApp that cannot be started, or
// exits without finishing its task, fails the task at once, so its instruction gets an error
// reply without waiting for the 60 s lease.
#ifndef FLWR_SUPERNODE_CLIENTAPP_LAUNCHER_H_
#define FLWR_SUPERNODE_CLIENTAPP_LAUNCHER_H_

#include <cstdint>
#include <list>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "flwr/core/subprocess.h"
#include "flwr/supernode/node_state.h"

namespace flwr::supernode {

struct ClientAppLauncherOptions {
  // Address the ClientApps reach the SuperNode's Runtime API on ("127.0.0.1:9094").
  std::string runtime_api_address;
  // The executor for Python apps (looked up in PATH).
  std::string python_clientapp = "flwr-clientapp";
  // The executor for native apps; empty: native apps fail with a clear error.
  std::string native_clientapp;
  bool allow_runtime_dependency_installation = false;
  absl::Duration poll_interval = absl::Milliseconds(100);
};

class ClientAppLauncher {
 public:
  ClientAppLauncher(NodeState* state, ClientAppLauncherOptions options);
  ~ClientAppLauncher();  // Stop()

  ClientAppLauncher(const ClientAppLauncher&) = delete;
  ClientAppLauncher& operator=(const ClientAppLauncher&) = delete;

  void Start();
  // Stops polling and terminates running ClientApps.
  void Stop();

  // The program for a task of the FAB with `fab_hash`, or why none can run it.
  absl::StatusOr<std::string> ProgramFor(absl::string_view fab_hash) const;

 private:
  struct Child {
    uint64_t task_id;
    core::Subprocess process;
  };

  void Loop();
  void LaunchPending();
  void ReapChildren();

  NodeState* state_;
  const ClientAppLauncherOptions options_;
  absl::Notification stop_;
  std::thread thread_;
  std::list<Child> children_;  // the loop thread's only
};

}  // namespace flwr::supernode

#endif  // FLWR_SUPERNODE_CLIENTAPP_LAUNCHER_H_
