// A child process started with posix_spawn: used by the SuperLink to run the SuperExec and by
// the SuperNode to run ClientApps. Not copyable; the destructor terminates a live child.
#ifndef FLWR_CORE_SUBPROCESS_H_
#define FLWR_CORE_SUBPROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace flwr::core {

class Subprocess {
 public:
  // Starts argv[0] (looked up in PATH unless it contains a '/') with `argv`, in a new session
  // (its own process group) so that signals to ours do not reach it. stdin is /dev/null;
  // stdout/stderr are inherited, or /dev/null with `discard_output`. NotFound if the program
  // does not exist, Internal otherwise.
  static absl::StatusOr<Subprocess> Spawn(const std::vector<std::string>& argv,
                                          bool discard_output = false);

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  pid_t pid() const { return pid_; }

  // Reaps the child if it has exited; returns its exit status (or 128 + signal), nullopt while
  // it runs.
  std::optional<int> Poll();
  // Sends SIGTERM to the child's process group, waits up to `grace`, then SIGKILLs it.
  // Returns the exit status.
  int Terminate(absl::Duration grace = absl::Seconds(1));

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}

  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

// The absolute path of `program` found in PATH (or `program` itself if it has a '/'), or
// nullopt.
std::optional<std::string> FindProgram(const std::string& program);

}  // namespace flwr::core

#endif  // FLWR_CORE_SUBPROCESS_H_
