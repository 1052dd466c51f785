// flwr's task system, shared by the SuperLink and the SuperNode (flwr/supercore/corestate):
// a task is a unit of work an executor process claims with a token; its statuses, their
// allowed transitions and the timing rules.
#ifndef FLWR_CORE_TASK_H_
#define FLWR_CORE_TASK_H_

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace flwr::core {

// Task and run statuses as `flwr ls` shows them.
inline constexpr absl::string_view kStatusPending = "pending";
inline constexpr absl::string_view kStatusStarting = "starting";
inline constexpr absl::string_view kStatusRunning = "running";
inline constexpr absl::string_view kStatusFinished = "finished";
inline constexpr absl::string_view kSubStatusCompleted = "completed";
inline constexpr absl::string_view kSubStatusFailed = "failed";
inline constexpr absl::string_view kSubStatusStopped = "stopped";

inline constexpr absl::string_view kServerAppTaskType = "flwr-serverapp";
inline constexpr absl::string_view kClientAppTaskType = "flwr-clientapp";
// A run of a simulation federation (`flower-superlink --simulation`): `flwr-simulation` runs
// its ServerApp and ClientApps in one process, the ClientApps on simulated SuperNodes.
inline constexpr absl::string_view kSimulationTaskType = "flwr-simulation";
// An AgentApp's task type (flwr's TaskType.AGENT_APP), also the type of its app.
inline constexpr absl::string_view kAgentAppTaskType = "flwr-agentapp";

// A claimed task must start (or heartbeat) within this time, else it is pending again.
inline constexpr absl::Duration kTaskClaimTimeout = absl::Seconds(30);
// A running task fails when it has not sent a heartbeat for this long.
inline constexpr absl::Duration kTaskHeartbeatTimeout = absl::Seconds(60);
// An object push session expires this long after its last use.
inline constexpr absl::Duration kPushSessionTtl = absl::Seconds(180);

// Whether a task in `status` may finish with `sub_status`: completed only from running; failed
// or stopped from any unfinished status.
bool IsAllowedFinish(absl::string_view status, absl::string_view sub_status);

}  // namespace flwr::core

#endif  // FLWR_CORE_TASK_H_
