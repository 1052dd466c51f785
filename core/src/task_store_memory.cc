// The in-memory TaskStore (the SuperNode's, and the SuperLink's with `:flwr-in-memory:`).
#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/ids.h"
#include "flwr/core/iso_time.h"
#include "flwr/core/task_store.h"

namespace flwr::core {
namespace {

struct TaskRecord {
  proto::Task task;
  std::string token;  // empty when revoked or never claimed
  absl::Time active_until = absl::InfinitePast();
  std::vector<TaskLogEntry> log;
};

class InMemoryTaskStore : public TaskStore {
 public:
  InMemoryTaskStore(Clock clock, FinishListener on_finish)
      : clock_(std::move(clock)), on_finish_(std::move(on_finish)) {}

  absl::StatusOr<uint64_t> CreateTask(const NewTask& spec) override {
    absl::MutexLock lock(&mu_);
    uint64_t task_id = spec.task_id;
    if (task_id != 0 && tasks_.contains(task_id)) {
      return absl::AlreadyExistsError(absl::StrCat("Task ", task_id, " exists"));
    }
    while (task_id == 0 || tasks_.contains(task_id)) task_id = RandomId();
    proto::Task& task = tasks_[task_id].task;
    task.set_task_id(task_id);
    task.set_type(spec.type);
    task.set_run_id(spec.run_id);
    task.mutable_status()->set_status(std::string(kStatusPending));
    task.set_pending_at(FormatIsoUtc(clock_()));
    if (spec.fab_hash) task.set_fab_hash(*spec.fab_hash);
    task_order_.push_back(task_id);
    return task_id;
  }

  std::optional<proto::Task> GetTask(uint64_t task_id) override {
    return Locked<std::optional<proto::Task>>([&]() -> std::optional<proto::Task> {
      auto it = tasks_.find(task_id);
      if (it == tasks_.end()) return std::nullopt;
      return it->second.task;
    });
  }

  std::vector<proto::Task> GetPendingTasks() override {
    return Locked<std::vector<proto::Task>>([&] {
      std::vector<proto::Task> out;
      for (uint64_t id : task_order_) {
        const TaskRecord& t = tasks_.at(id);
        if (t.task.status().status() == kStatusPending) out.push_back(t.task);
      }
      std::stable_sort(out.begin(), out.end(), [](const proto::Task& a, const proto::Task& b) {
        return a.pending_at() < b.pending_at();
      });
      return out;
    });
  }

  std::optional<std::string> ClaimTask(uint64_t task_id) override {
    return Locked<std::optional<std::string>>([&]() -> std::optional<std::string> {
      auto it = tasks_.find(task_id);
      if (it == tasks_.end() || it->second.task.status().status() != kStatusPending ||
          !it->second.token.empty()) {
        return std::nullopt;
      }
      const absl::Time now = clock_();
      TaskRecord& t = it->second;
      t.task.mutable_status()->set_status(std::string(kStatusStarting));
      t.task.set_starting_at(FormatIsoUtc(now));
      t.token = NewTaskToken();
      t.active_until = now + kTaskClaimTimeout;
      token_to_task_[t.token] = task_id;
      return t.token;
    });
  }

  std::optional<proto::Task> GetTaskByToken(absl::string_view token) override {
    return Locked<std::optional<proto::Task>>([&]() -> std::optional<proto::Task> {
      auto it = token_to_task_.find(token);
      if (it == token_to_task_.end()) return std::nullopt;
      return tasks_.at(it->second).task;
    });
  }

  bool ActivateTask(uint64_t task_id) override {
    return Locked<bool>([&] {
      auto it = tasks_.find(task_id);
      if (it == tasks_.end() || it->second.task.status().status() != kStatusStarting) {
        return false;
      }
      const absl::Time now = clock_();
      it->second.task.mutable_status()->set_status(std::string(kStatusRunning));
      it->second.task.set_running_at(FormatIsoUtc(now));
      it->second.active_until = now + kTaskHeartbeatTimeout;
      return true;
    });
  }

  bool AcknowledgeTaskHeartbeat(uint64_t task_id) override {
    return Locked<bool>([&] {
      auto it = tasks_.find(task_id);
      if (it == tasks_.end() || it->second.token.empty() ||
          it->second.task.status().status() == kStatusFinished) {
        return false;
      }
      it->second.active_until = clock_() + kTaskHeartbeatTimeout;
      return true;
    });
  }

  bool FinishTask(uint64_t task_id, absl::string_view sub_status,
                  absl::string_view details) override {
    return Locked<bool>([&] {
      auto it = tasks_.find(task_id);
      if (it == tasks_.end() || !IsAllowedFinish(it->second.task.status().status(), sub_status)) {
        return false;
      }
      Finish(it->second, sub_status, details, clock_());
      return true;
    });
  }

  void ExpireTasks() override {
    Locked<bool>([] { return true; });
  }

  void AddTaskLog(uint64_t task_id, absl::string_view text) override {
    absl::MutexLock lock(&mu_);
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) return;
    std::vector<TaskLogEntry>& log = it->second.log;
    double ts = ToEpochSeconds(clock_());
    if (!log.empty()) ts = std::max(ts, std::nextafter(log.back().timestamp, 1e300));
    log.push_back({ts, std::string(text)});
  }

  std::vector<TaskLogEntry> GetTaskLog(uint64_t task_id, double after) override {
    absl::MutexLock lock(&mu_);
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) return {};
    const std::vector<TaskLogEntry>& log = it->second.log;
    auto first = std::upper_bound(log.begin(), log.end(), after,
                                  [](double t, const TaskLogEntry& e) { return t < e.timestamp; });
    return std::vector<TaskLogEntry>(first, log.end());
  }

  std::vector<proto::TaskEvent> GetTaskEvents(absl::Span<const uint64_t> run_ids,
                                              absl::Span<const uint64_t> task_ids,
                                              uint64_t after_id) override {
    absl::MutexLock lock(&mu_);
    std::vector<proto::TaskEvent> out;
    for (const proto::TaskEvent& event : events_) {
      if (EventMatches(event, run_ids, task_ids, after_id)) out.push_back(event);
    }
    return out;
  }

 protected:
  void InsertTaskEvents(std::vector<proto::TaskEvent>& events) override {
    absl::MutexLock lock(&mu_);
    const std::string now = FormatIsoUtc(clock_());
    for (proto::TaskEvent& event : events) {
      event.set_id(events_.size() + 1);
      event.set_timestamp(now);
      events_.push_back(event);
    }
  }

 private:
  // Runs `fn` under the lock after applying lapsed claims and heartbeats, then tells the
  // listener about the tasks that finished meanwhile.
  template <typename R, typename Fn>
  R Locked(Fn fn) ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<proto::Task> finished;
    std::optional<R> out;
    {
      absl::MutexLock lock(&mu_);
      Expire();
      out.emplace(fn());
      finished.swap(finished_);
    }
    if (on_finish_) {
      for (const proto::Task& task : finished) on_finish_(task);
    }
    return *std::move(out);
  }

  void Expire() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time now = clock_();
    for (uint64_t id : task_order_) {
      TaskRecord& t = tasks_.at(id);
      if (t.token.empty() || t.active_until >= now) continue;
      const std::string& status = t.task.status().status();
      if (status == kStatusStarting) {
        token_to_task_.erase(t.token);
        t.token.clear();
        t.task.mutable_status()->set_status(std::string(kStatusPending));
        t.task.clear_starting_at();
      } else if (status == kStatusRunning) {
        Finish(t, kSubStatusFailed, "No heartbeat received from the task", t.active_until);
      }
    }
  }

  void Finish(TaskRecord& t, absl::string_view sub_status, absl::string_view details, absl::Time at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    t.task.mutable_status()->set_status(std::string(kStatusFinished));
    t.task.mutable_status()->set_sub_status(std::string(sub_status));
    t.task.mutable_status()->set_details(std::string(details));
    t.task.set_finished_at(FormatIsoUtc(at));
    if (!t.token.empty()) token_to_task_.erase(t.token);
    t.token.clear();
    finished_.push_back(t.task);
  }

  const Clock clock_;
  const FinishListener on_finish_;
  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, TaskRecord> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> task_order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint64_t> token_to_task_ ABSL_GUARDED_BY(mu_);
  // Tasks finished under the lock, for the listener once it is released.
  std::vector<proto::Task> finished_ ABSL_GUARDED_BY(mu_);
  std::vector<proto::TaskEvent> events_ ABSL_GUARDED_BY(mu_);  // in ID order
};

}  // namespace

std::unique_ptr<TaskStore> TaskStore::CreateInMemory(Clock clock, FinishListener on_finish) {
  return std::make_unique<InMemoryTaskStore>(std::move(clock), std::move(on_finish));
}

}  // namespace flwr::core
