// TaskStore: flwr's task system (flwr/supercore/corestate), the one store of tasks that both
// the SuperLink (LinkState: one `flwr-serverapp` task per run) and the SuperNode (NodeState: one
// `flwr-clientapp` task per instruction) own. A task is claimed with a token, started, kept
// alive by heartbeats and finished; core/task.h holds its statuses and timing rules.
//
// Two implementations pass one test suite: in memory, and SQLite (the `task` and `task_log`
// tables of a SuperLink database, on the store's own connection). Every call applies lapsed
// claims and heartbeats first: an unactivated claim goes back to pending, a silent running task
// fails. All methods are thread-safe. Time comes from the injected clock, so tests can move it.
#ifndef FLWR_CORE_TASK_STORE_H_
#define FLWR_CORE_TASK_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "flwr/core/task.h"
#include "flwr/proto/task.pb.h"

namespace flwr::core {

struct NewTask {
  std::string type;  // kServerAppTaskType, kClientAppTaskType
  uint64_t run_id = 0;
  std::optional<std::string> fab_hash;
  // The ID the task gets; 0: a fresh random one.
  uint64_t task_id = 0;
};

// A task that AcquireTask claimed, as it was listed pending, and its token.
struct AcquiredTask {
  proto::Task task;
  std::string token;
};

struct TaskLogEntry {
  double timestamp;  // seconds since the Unix epoch
  std::string text;
};

class TaskStore {
 public:
  using Clock = std::function<absl::Time()>;
  // Sees every task that finishes (FinishTask, or a lapsed heartbeat), as finished, after the
  // store has released its lock (it may call the store).
  using FinishListener = std::function<void(const proto::Task& task)>;

  virtual ~TaskStore() = default;

  static std::unique_ptr<TaskStore> CreateInMemory(Clock clock = absl::Now,
                                                   FinishListener on_finish = nullptr);
  // The tasks in the SQLite file `path` (created, with the task tables, if missing), on a
  // connection of their own. Unavailable if the file cannot be opened.
  static absl::StatusOr<std::unique_ptr<TaskStore>> OpenSqlite(absl::string_view path,
                                                               Clock clock = absl::Now,
                                                               FinishListener on_finish = nullptr);

  // A pending task; returns its ID. AlreadyExists if `task.task_id` is taken.
  virtual absl::StatusOr<uint64_t> CreateTask(const NewTask& task) = 0;
  virtual std::optional<proto::Task> GetTask(uint64_t task_id) = 0;
  // Pending tasks, oldest first (by pending_at, then creation order).
  virtual std::vector<proto::Task> GetPendingTasks() = 0;
  // pending -> starting, returning a fresh 256-hex-digit token valid for kTaskClaimTimeout;
  // nullopt if the task is unknown or not pending (Flower 1.36's claim-task).
  virtual std::optional<std::string> ClaimTask(uint64_t task_id) = 0;
  // Claims the oldest pending task whose type is in `task_types` or whose FAB is in
  // `fab_hashes` (Flower 1.42's acquire-task); nullopt if none is eligible.
  std::optional<AcquiredTask> AcquireTask(absl::Span<const std::string> task_types,
                                          absl::Span<const std::string> fab_hashes);
  // The task a live token belongs to; nullopt for unknown, revoked or expired tokens.
  virtual std::optional<proto::Task> GetTaskByToken(absl::string_view token) = 0;
  // starting -> running, alive for kTaskHeartbeatTimeout; false otherwise.
  virtual bool ActivateTask(uint64_t task_id) = 0;
  // Extends a live task by kTaskHeartbeatTimeout; false if it is finished or has no token.
  virtual bool AcknowledgeTaskHeartbeat(uint64_t task_id) = 0;
  // Finishes a task (IsAllowedFinish: "completed" only from running) and revokes its token.
  // False for an unknown task or an invalid transition.
  virtual bool FinishTask(uint64_t task_id, absl::string_view sub_status,
                          absl::string_view details) = 0;
  // Applies lapsed claims and heartbeats now (every other call does so first).
  virtual void ExpireTasks() = 0;

  // Appends to the task's log (ignored for unknown tasks). Entries stay strictly ordered by
  // timestamp, so readers can resume after the last one they saw.
  virtual void AddTaskLog(uint64_t task_id, absl::string_view text) = 0;
  // Log entries of `task_id` strictly after `after` (epoch seconds).
  virtual std::vector<TaskLogEntry> GetTaskLog(uint64_t task_id, double after) = 0;

  // flwr's store_task_events: stores the events (their run_id, task_id, event and data) with
  // new IDs (1, 2, ... in store order) and the current time as timestamp. False, storing none,
  // if there are none or one's data is not a JSON object.
  bool StoreTaskEvents(std::vector<proto::TaskEvent> events);
  // The events of the runs `run_ids` produced by the tasks `task_ids`, with IDs above
  // `after_id`, in ID order.
  virtual std::vector<proto::TaskEvent> GetTaskEvents(absl::Span<const uint64_t> run_ids,
                                                      absl::Span<const uint64_t> task_ids,
                                                      uint64_t after_id) = 0;

 protected:
  // Stores valid events, setting their IDs and timestamps.
  virtual void InsertTaskEvents(std::vector<proto::TaskEvent>& events) = 0;
  // Whether GetTaskEvents(run_ids, task_ids, after_id) answers `event`.
  static bool EventMatches(const proto::TaskEvent& event, absl::Span<const uint64_t> run_ids,
                           absl::Span<const uint64_t> task_ids, uint64_t after_id);
};

}  // namespace flwr::core

#endif  // FLWR_CORE_TASK_STORE_H_
