// One suite for the TaskStore implementations (in memory, SQLite), with a fake clock.
#include "flwr/core/task_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "flwr/core/iso_time.h"
#include "../temp_path.h"

namespace flwr::core {
namespace {

const std::string kHash(64, 'a');

class TaskStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    now_ = absl::FromUnixSeconds(1767225600);  // 2026-01-01
    if (GetParam() == "sqlite") {
      path_ = flwr::testing::TempPath("state.db");
      Remove();
    }
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    Remove();
  }
  // Opens the store (again: the SQLite file survives).
  void Reopen() {
    store_.reset();
    store_ = Open();
    ASSERT_NE(store_, nullptr);
  }
  std::unique_ptr<TaskStore> Open() {
    auto listener = [this](const proto::Task& task) { finished_.push_back(task); };
    if (path_.empty()) return TaskStore::CreateInMemory([this] { return now_; }, listener);
    auto store = TaskStore::OpenSqlite(
        path_.string(), [this] { return now_; }, listener);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  void Remove() {
    if (path_.empty()) return;
    for (const char* suffix : {"", "-wal", "-shm"})
      std::filesystem::remove(path_.string() + suffix);
  }

  uint64_t NewTask(const std::string& type = std::string(kServerAppTaskType), uint64_t run = 7,
                   std::optional<std::string> fab_hash = kHash) {
    absl::StatusOr<uint64_t> id = store_->CreateTask(core::NewTask{type, run, fab_hash});
    EXPECT_TRUE(id.ok()) << id.status();
    return *id;
  }
  uint64_t RunningTask() {
    const uint64_t id = NewTask();
    EXPECT_TRUE(store_->ClaimTask(id).has_value());
    EXPECT_TRUE(store_->ActivateTask(id));
    return id;
  }
  std::vector<uint64_t> PendingIds() {
    std::vector<uint64_t> ids;
    for (const proto::Task& t : store_->GetPendingTasks()) ids.push_back(t.task_id());
    return ids;
  }

  absl::Time now_;
  std::filesystem::path path_;
  std::unique_ptr<TaskStore> store_;
  std::vector<proto::Task> finished_;
};

TEST_P(TaskStoreTest, task_goes_pending_starting_running_finished_with_a_token) {
  const uint64_t id = NewTask();
  proto::Task task = *store_->GetTask(id);
  EXPECT_EQ(task.type(), kServerAppTaskType);
  EXPECT_EQ(task.run_id(), 7u);
  EXPECT_EQ(task.status().status(), kStatusPending);
  EXPECT_EQ(task.pending_at(), FormatIsoUtc(now_));
  EXPECT_EQ(task.fab_hash(), kHash);
  EXPECT_FALSE(task.has_model_ref());

  std::optional<std::string> token = store_->ClaimTask(id);
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(token->size(), 256u);
  EXPECT_FALSE(store_->ClaimTask(id).has_value());
  EXPECT_TRUE(store_->GetPendingTasks().empty());
  EXPECT_EQ(store_->GetTaskByToken(*token)->status().status(), kStatusStarting);
  EXPECT_TRUE(store_->ActivateTask(id));
  EXPECT_FALSE(store_->ActivateTask(id));
  EXPECT_TRUE(store_->AcknowledgeTaskHeartbeat(id));
  EXPECT_EQ(store_->GetTask(id)->status().status(), kStatusRunning);
  EXPECT_FALSE(store_->FinishTask(id, "bogus", ""));
  EXPECT_TRUE(finished_.empty());
  ASSERT_TRUE(store_->FinishTask(id, kSubStatusCompleted, "done"));
  task = *store_->GetTask(id);
  EXPECT_EQ(task.status().sub_status(), kSubStatusCompleted);
  EXPECT_EQ(task.status().details(), "done");
  EXPECT_EQ(task.finished_at(), FormatIsoUtc(now_));
  EXPECT_FALSE(store_->GetTaskByToken(*token).has_value());  // revoked
  EXPECT_FALSE(store_->AcknowledgeTaskHeartbeat(id));
  EXPECT_FALSE(store_->FinishTask(id, kSubStatusFailed, ""));
  ASSERT_EQ(finished_.size(), 1u);
  EXPECT_EQ(finished_[0].task_id(), id);
  EXPECT_EQ(finished_[0].status().status(), kStatusFinished);
  EXPECT_FALSE(store_->GetTask(4242).has_value());
}

TEST_P(TaskStoreTest, finish_rules_completed_only_from_running_failed_from_any_unfinished) {
  const uint64_t id = NewTask();
  EXPECT_FALSE(store_->FinishTask(id, kSubStatusCompleted, ""));  // not running
  EXPECT_FALSE(store_->FinishTask(4242, kSubStatusFailed, ""));
  EXPECT_FALSE(store_->AcknowledgeTaskHeartbeat(id));  // no token
  ASSERT_TRUE(store_->FinishTask(id, kSubStatusFailed, "boom"));
  EXPECT_EQ(store_->GetTask(id)->status().details(), "boom");
  EXPECT_FALSE(store_->ClaimTask(id).has_value());
  EXPECT_TRUE(store_->GetPendingTasks().empty());
  const uint64_t starting = NewTask();
  ASSERT_TRUE(store_->ClaimTask(starting).has_value());
  EXPECT_TRUE(store_->FinishTask(starting, kSubStatusStopped, ""));
}

TEST_P(TaskStoreTest, unactivated_claim_returns_to_pending_and_silent_task_fails) {
  const uint64_t id = NewTask();
  std::optional<std::string> token = store_->ClaimTask(id);
  now_ += absl::Seconds(31);
  EXPECT_FALSE(store_->GetTaskByToken(*token).has_value());
  EXPECT_EQ(PendingIds(), std::vector<uint64_t>{id});
  EXPECT_TRUE(store_->GetTask(id)->starting_at().empty());
  ASSERT_TRUE(store_->ClaimTask(id).has_value());
  ASSERT_TRUE(store_->ActivateTask(id));
  now_ += absl::Seconds(50);
  EXPECT_TRUE(store_->AcknowledgeTaskHeartbeat(id));
  now_ += absl::Seconds(50);
  EXPECT_EQ(store_->GetTask(id)->status().status(), kStatusRunning);
  EXPECT_TRUE(finished_.empty());
  now_ += absl::Seconds(20);
  store_->ExpireTasks();
  ASSERT_EQ(finished_.size(), 1u);
  const proto::Task failed = *store_->GetTask(id);
  EXPECT_EQ(failed.status().sub_status(), kSubStatusFailed);
  EXPECT_EQ(failed.status().details(), "No heartbeat received from the task");
  EXPECT_EQ(failed.finished_at(), FormatIsoUtc(now_ - absl::Seconds(10)));  // its deadline
  EXPECT_EQ(finished_[0].finished_at(), failed.finished_at());
}

TEST_P(TaskStoreTest, pending_tasks_are_oldest_first_then_in_creation_order) {
  const uint64_t a = NewTask();
  now_ += absl::Seconds(1);
  const uint64_t b = NewTask();
  now_ -= absl::Seconds(1);  // a clock step back: pending_at orders, not creation
  const uint64_t c = NewTask();
  const uint64_t d = NewTask();
  EXPECT_EQ(PendingIds(), (std::vector<uint64_t>{a, c, d, b}));
  ASSERT_TRUE(store_->ClaimTask(c).has_value());
  EXPECT_EQ(PendingIds(), (std::vector<uint64_t>{a, d, b}));
}

TEST_P(TaskStoreTest, a_task_gets_the_id_asked_for_unless_it_is_taken) {
  absl::StatusOr<uint64_t> id = store_->CreateTask({"flwr-clientapp", 3, std::nullopt, 99});
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, 99u);
  EXPECT_FALSE(store_->GetTask(99)->has_fab_hash());
  EXPECT_TRUE(absl::IsAlreadyExists(store_->CreateTask({"flwr-clientapp", 3, "h", 99}).status()));
  EXPECT_NE(NewTask(), 0u);
}

TEST_P(TaskStoreTest, acquire_claims_the_oldest_eligible_task) {
  const uint64_t server = NewTask(std::string(kServerAppTaskType), 1, "s");
  const uint64_t client = NewTask(std::string(kClientAppTaskType), 2, "c");
  const uint64_t agent = NewTask("flwr-agentapp", 3, "agent-fab");
  const std::vector<std::string> clientapp = {std::string(kClientAppTaskType)};
  EXPECT_FALSE(store_->AcquireTask({}, {}).has_value());
  EXPECT_FALSE(store_->AcquireTask({"flwr-simulation"}, {"other"}).has_value());

  std::optional<AcquiredTask> acquired = store_->AcquireTask(clientapp, {});
  ASSERT_TRUE(acquired.has_value());
  EXPECT_EQ(acquired->task.task_id(), client);
  EXPECT_EQ(acquired->task.status().status(), kStatusPending);  // as it was listed, as flwr
  EXPECT_EQ(store_->GetTaskByToken(acquired->token)->task_id(), client);
  EXPECT_EQ(store_->GetTask(client)->status().status(), kStatusStarting);
  EXPECT_FALSE(store_->AcquireTask(clientapp, {}).has_value());

  acquired = store_->AcquireTask(clientapp, {"agent-fab"});
  ASSERT_TRUE(acquired.has_value());
  EXPECT_EQ(acquired->task.task_id(), agent);
  acquired = store_->AcquireTask({std::string(kServerAppTaskType), "x"}, {});
  ASSERT_TRUE(acquired.has_value());
  EXPECT_EQ(acquired->task.task_id(), server);
  EXPECT_TRUE(store_->GetPendingTasks().empty());
}

TEST_P(TaskStoreTest, task_log_stays_strictly_ordered_and_ignores_unknown_tasks) {
  const uint64_t id = RunningTask();
  store_->AddTaskLog(id, "a");
  store_->AddTaskLog(id, "b");  // same instant
  store_->AddTaskLog(4242, "lost");
  now_ += absl::Milliseconds(10);
  store_->AddTaskLog(id, "c");
  std::vector<TaskLogEntry> log = store_->GetTaskLog(id, 0);
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].timestamp, ToEpochSeconds(now_ - absl::Milliseconds(10)));
  EXPECT_GT(log[1].timestamp, log[0].timestamp);
  std::vector<TaskLogEntry> rest = store_->GetTaskLog(id, log[1].timestamp);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].text, "c");
  EXPECT_TRUE(store_->GetTaskLog(id, log[2].timestamp).empty());
  EXPECT_TRUE(store_->GetTaskLog(4242, 0).empty());
}

TEST_P(TaskStoreTest, task_events_get_ids_and_times_and_invalid_batches_are_refused) {
  auto event = [](uint64_t run_id, uint64_t task_id, const std::string& data) {
    proto::TaskEvent e;
    e.set_run_id(run_id);
    e.set_task_id(task_id);
    e.set_event("message");
    e.set_data(data);
    return e;
  };
  EXPECT_FALSE(store_->StoreTaskEvents({}));
  EXPECT_FALSE(store_->StoreTaskEvents({event(1, 10, "{}"), event(1, 10, "[1]")}));
  EXPECT_FALSE(store_->StoreTaskEvents({event(1, 10, R"({"x": NaN})")}));
  EXPECT_TRUE(store_->StoreTaskEvents({event(1, 10, R"({"a": 1})"), event(2, 20, "{}")}));
  now_ += absl::Seconds(1);
  EXPECT_TRUE(store_->StoreTaskEvents({event(1, 11, "{}"), event(1, 10, R"({"b": 2})")}));

  std::vector<proto::TaskEvent> events = store_->GetTaskEvents({1}, {10}, 0);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].id(), 1u);
  EXPECT_EQ(events[0].data(), R"({"a": 1})");
  EXPECT_EQ(events[0].event(), "message");
  EXPECT_EQ(events[0].timestamp(), "2026-01-01T00:00:00+00:00");
  EXPECT_EQ(events[1].id(), 4u);
  EXPECT_EQ(events[1].timestamp(), "2026-01-01T00:00:01+00:00");
  EXPECT_EQ(store_->GetTaskEvents({1}, {10}, 1).size(), 1u);
  EXPECT_EQ(store_->GetTaskEvents({1, 2}, {10, 11, 20}, 0).size(), 4u);
  EXPECT_TRUE(store_->GetTaskEvents({}, {10}, 0).empty());
}

INSTANTIATE_TEST_SUITE_P(Implementations, TaskStoreTest, ::testing::Values("memory", "sqlite"),
                         [](const auto& info) { return info.param; });

// Tests of the SQLite store only: what survives the process, and sharing the file.
class SqliteTaskStoreTest : public TaskStoreTest {};

TEST_P(SqliteTaskStoreTest, tasks_logs_tokens_and_deadlines_survive_reopening) {
  const uint64_t running = RunningTask();
  const uint64_t pending = NewTask();
  std::optional<std::string> token = store_->ClaimTask(NewTask());
  store_->AddTaskLog(running, "one\n");
  const proto::Task before = *store_->GetTask(running);

  Reopen();
  EXPECT_EQ(store_->GetTask(running)->SerializeAsString(), before.SerializeAsString());
  EXPECT_EQ(PendingIds(), std::vector<uint64_t>{pending});
  EXPECT_TRUE(store_->GetTaskByToken(*token).has_value());
  EXPECT_EQ(store_->GetTaskLog(running, 0).at(0).text, "one\n");

  now_ += absl::Seconds(61);
  Reopen();
  EXPECT_EQ(store_->GetTask(running)->status().sub_status(), kSubStatusFailed);
  EXPECT_EQ(store_->GetTask(running)->finished_at(), FormatIsoUtc(now_ - absl::Seconds(1)));
  EXPECT_FALSE(store_->GetTaskByToken(*token).has_value());
  EXPECT_EQ(PendingIds().size(), 2u);
}

TEST_P(SqliteTaskStoreTest, two_stores_on_one_file_claim_each_task_once) {
  std::unique_ptr<TaskStore> other = Open();
  constexpr int kTasks = 40;
  std::vector<uint64_t> ids;
  for (int i = 0; i < kTasks; ++i) ids.push_back(NewTask());
  std::atomic<int> claimed{0};
  auto worker = [&](TaskStore* s) {
    for (uint64_t id : ids) {
      if (s->ClaimTask(id).has_value()) ++claimed;
    }
  };
  std::thread t1(worker, store_.get());
  std::thread t2(worker, other.get());
  std::thread t3(worker, store_.get());
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(claimed.load(), kTasks);
  EXPECT_TRUE(other->GetPendingTasks().empty());
}

INSTANTIATE_TEST_SUITE_P(Sqlite, SqliteTaskStoreTest, ::testing::Values("sqlite"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace flwr::core
