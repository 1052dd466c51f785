// The SQLite TaskStore: the `task` and `task_log` tables of a SuperLink database (`--database
// FILE`), on a connection of its own beside the LinkState's. One connection behind a mutex;
// every call is one transaction, and nothing is cached in memory, so another store or process
// on the same file always sees consistent state. Times are stored as the protos carry them (ISO
// text), deadlines as integer nanoseconds (core/sqlite_util.h).
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/ids.h"
#include "flwr/core/iso_time.h"
#include "flwr/core/sqlite_util.h"
#include "flwr/core/task_store.h"

namespace flwr::core {
namespace {

using sqlite::BindBlob;
using sqlite::BindId;
using sqlite::BindText;
using sqlite::Bytes;
using sqlite::Id;
using sqlite::kRead;
using sqlite::kWrite;
using sqlite::TimeFromSql;
using sqlite::TimeToSql;

// The tables of LinkState schema version 1, unchanged, and task_event (version 4), created
// when missing.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS task (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id INTEGER NOT NULL UNIQUE,
  type TEXT NOT NULL,
  run_id INTEGER NOT NULL,
  status TEXT NOT NULL,
  sub_status TEXT NOT NULL DEFAULT '',
  details TEXT NOT NULL DEFAULT '',
  pending_at TEXT NOT NULL,
  starting_at TEXT NOT NULL DEFAULT '',
  running_at TEXT NOT NULL DEFAULT '',
  finished_at TEXT NOT NULL DEFAULT '',
  fab_hash TEXT,
  model_ref TEXT,
  connector_ref TEXT,
  token TEXT UNIQUE,
  active_until INTEGER
);
CREATE INDEX IF NOT EXISTS task_by_run ON task (run_id);
CREATE INDEX IF NOT EXISTS task_pending ON task (pending_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS task_live ON task (active_until) WHERE token IS NOT NULL;

CREATE TABLE IF NOT EXISTS task_log (
  task_id INTEGER NOT NULL,
  timestamp REAL NOT NULL,
  text BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS task_log_by_task ON task_log (task_id, timestamp);

CREATE TABLE IF NOT EXISTS task_event (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL,
  task_id INTEGER NOT NULL,
  timestamp TEXT NOT NULL,
  event TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS task_event_by_run ON task_event (run_id, id);
)sql";

constexpr const char* kTaskColumns =
    "task_id, type, run_id, status, sub_status, details, pending_at, starting_at, running_at, "
    "finished_at, fab_hash, model_ref, connector_ref";

proto::Task TaskFromRow(SQLite::Statement& q) {
  proto::Task task;
  task.set_task_id(Id(q.getColumn(0)));
  task.set_type(Bytes(q.getColumn(1)));
  task.set_run_id(Id(q.getColumn(2)));
  task.mutable_status()->set_status(Bytes(q.getColumn(3)));
  task.mutable_status()->set_sub_status(Bytes(q.getColumn(4)));
  task.mutable_status()->set_details(Bytes(q.getColumn(5)));
  task.set_pending_at(Bytes(q.getColumn(6)));
  task.set_starting_at(Bytes(q.getColumn(7)));
  task.set_running_at(Bytes(q.getColumn(8)));
  task.set_finished_at(Bytes(q.getColumn(9)));
  if (!q.isColumnNull(10)) task.set_fab_hash(Bytes(q.getColumn(10)));
  if (!q.isColumnNull(11)) task.set_model_ref(Bytes(q.getColumn(11)));
  if (!q.isColumnNull(12)) task.set_connector_ref(Bytes(q.getColumn(12)));
  return task;
}

class SqliteTaskStore : public TaskStore {
 public:
  SqliteTaskStore(std::unique_ptr<SQLite::Database> db, Clock clock, FinishListener on_finish)
      : clock_(std::move(clock)), on_finish_(std::move(on_finish)), db_(std::move(db)) {}

  absl::StatusOr<uint64_t> CreateTask(const NewTask& spec) override {
    return Run<absl::StatusOr<uint64_t>>(
        "CreateTask",
        [&]() -> absl::StatusOr<uint64_t> {
          uint64_t task_id = spec.task_id;
          if (task_id != 0 && Exists(task_id)) {
            return absl::AlreadyExistsError(absl::StrCat("Task ", task_id, " exists"));
          }
          while (task_id == 0 || Exists(task_id)) task_id = RandomId();
          SQLite::Statement insert(*db_,
                                   "INSERT INTO task (task_id, type, run_id, status, pending_at, "
                                   "fab_hash) VALUES (?, ?, ?, ?, ?, ?)");
          BindId(insert, 1, task_id);
          insert.bind(2, spec.type);
          BindId(insert, 3, spec.run_id);
          BindText(insert, 4, kStatusPending);
          insert.bind(5, FormatIsoUtc(clock_()));
          if (spec.fab_hash) {
            insert.bind(6, *spec.fab_hash);
          } else {
            insert.bind(6);
          }
          insert.exec();
          return task_id;
        },
        [](const std::string& error) { return absl::InternalError(error); });
  }

  std::optional<proto::Task> GetTask(uint64_t task_id) override {
    return Quiet<std::optional<proto::Task>>("GetTask", std::nullopt, [&] {
      return LoadTask("task_id = ?", [&](SQLite::Statement& q) { BindId(q, 1, task_id); });
    });
  }

  std::vector<proto::Task> GetPendingTasks() override {
    return Quiet<std::vector<proto::Task>>("GetPendingTasks", {}, [&] {
      SQLite::Statement q(*db_, absl::StrCat("SELECT ", kTaskColumns,
                                             " FROM task WHERE status = 'pending' "
                                             "ORDER BY pending_at, seq"));
      std::vector<proto::Task> out;
      while (q.executeStep()) out.push_back(TaskFromRow(q));
      return out;
    });
  }

  std::optional<std::string> ClaimTask(uint64_t task_id) override {
    return Quiet<std::optional<std::string>>(
        "ClaimTask", std::nullopt, [&]() -> std::optional<std::string> {
          SQLite::Statement q(*db_, "SELECT status, token IS NOT NULL FROM task WHERE task_id = ?");
          BindId(q, 1, task_id);
          if (!q.executeStep() || Bytes(q.getColumn(0)) != kStatusPending ||
              q.getColumn(1).getInt() != 0) {
            return std::nullopt;
          }
          const absl::Time now = clock_();
          std::string token = NewTaskToken();
          SQLite::Statement update(*db_,
                                   "UPDATE task SET status = ?, starting_at = ?, token = ?, "
                                   "active_until = ? WHERE task_id = ?");
          BindText(update, 1, kStatusStarting);
          update.bind(2, FormatIsoUtc(now));
          update.bind(3, token);
          update.bind(4, TimeToSql(now + kTaskClaimTimeout));
          BindId(update, 5, task_id);
          update.exec();
          return token;
        });
  }

  std::optional<proto::Task> GetTaskByToken(absl::string_view token) override {
    return Quiet<std::optional<proto::Task>>("GetTaskByToken", std::nullopt, [&] {
      return LoadTask("token = ?", [&](SQLite::Statement& q) { BindText(q, 1, token); });
    });
  }

  bool ActivateTask(uint64_t task_id) override {
    return Quiet<bool>("ActivateTask", false, [&] {
      SQLite::Statement q(*db_, "SELECT status FROM task WHERE task_id = ?");
      BindId(q, 1, task_id);
      if (!q.executeStep() || Bytes(q.getColumn(0)) != kStatusStarting) return false;
      const absl::Time now = clock_();
      SQLite::Statement update(
          *db_, "UPDATE task SET status = ?, running_at = ?, active_until = ? WHERE task_id = ?");
      BindText(update, 1, kStatusRunning);
      update.bind(2, FormatIsoUtc(now));
      update.bind(3, TimeToSql(now + kTaskHeartbeatTimeout));
      BindId(update, 4, task_id);
      update.exec();
      return true;
    });
  }

  bool AcknowledgeTaskHeartbeat(uint64_t task_id) override {
    return Quiet<bool>("AcknowledgeTaskHeartbeat", false, [&] {
      SQLite::Statement q(*db_, "SELECT status, token IS NOT NULL FROM task WHERE task_id = ?");
      BindId(q, 1, task_id);
      if (!q.executeStep() || q.getColumn(1).getInt() == 0 ||
          Bytes(q.getColumn(0)) == kStatusFinished) {
        return false;
      }
      SQLite::Statement update(*db_, "UPDATE task SET active_until = ? WHERE task_id = ?");
      update.bind(1, TimeToSql(clock_() + kTaskHeartbeatTimeout));
      BindId(update, 2, task_id);
      update.exec();
      return true;
    });
  }

  bool FinishTask(uint64_t task_id, absl::string_view sub_status,
                  absl::string_view details) override {
    return Quiet<bool>("FinishTask", false, [&] {
      SQLite::Statement q(*db_, "SELECT status FROM task WHERE task_id = ?");
      BindId(q, 1, task_id);
      if (!q.executeStep() || !IsAllowedFinish(Bytes(q.getColumn(0)), sub_status)) return false;
      Finish(task_id, sub_status, details, clock_());
      return true;
    });
  }

  void ExpireTasks() override {
    Quiet<bool>("ExpireTasks", false, [] { return true; });
  }

  void AddTaskLog(uint64_t task_id, absl::string_view text) override {
    Quiet<bool>(
        "AddTaskLog", false,
        [&] {
          if (!Exists(task_id)) return false;
          double ts = ToEpochSeconds(clock_());
          SQLite::Statement last(*db_,
                                 "SELECT timestamp FROM task_log WHERE task_id = ? "
                                 "ORDER BY timestamp DESC LIMIT 1");
          BindId(last, 1, task_id);
          if (last.executeStep()) {
            ts = std::max(ts, std::nextafter(last.getColumn(0).getDouble(), 1e300));
          }
          SQLite::Statement insert(
              *db_, "INSERT INTO task_log (task_id, timestamp, text) VALUES (?, ?, ?)");
          BindId(insert, 1, task_id);
          insert.bind(2, ts);
          BindBlob(insert, 3, text);
          insert.exec();
          return true;
        },
        /*expire=*/false);
  }

  std::vector<TaskLogEntry> GetTaskLog(uint64_t task_id, double after) override {
    return Quiet<std::vector<TaskLogEntry>>(
        "GetTaskLog", {},
        [&] {
          SQLite::Statement q(*db_,
                              "SELECT timestamp, text FROM task_log WHERE task_id = ? "
                              "AND timestamp > ? ORDER BY timestamp");
          BindId(q, 1, task_id);
          q.bind(2, after);
          std::vector<TaskLogEntry> out;
          while (q.executeStep()) {
            out.push_back({q.getColumn(0).getDouble(), Bytes(q.getColumn(1))});
          }
          return out;
        },
        /*expire=*/false, kRead);
  }

  std::vector<proto::TaskEvent> GetTaskEvents(absl::Span<const uint64_t> run_ids,
                                              absl::Span<const uint64_t> task_ids,
                                              uint64_t after_id) override {
    return Quiet<std::vector<proto::TaskEvent>>(
        "GetTaskEvents", {},
        [&] {
          SQLite::Statement q(*db_,
                              "SELECT id, run_id, task_id, timestamp, event, data FROM task_event "
                              "WHERE run_id = ? AND id > ? ORDER BY id");
          std::vector<proto::TaskEvent> out;
          for (uint64_t run_id : run_ids) {
            BindId(q, 1, run_id);
            BindId(q, 2, after_id);
            while (q.executeStep()) {
              proto::TaskEvent event;
              event.set_id(Id(q.getColumn(0)));
              event.set_run_id(Id(q.getColumn(1)));
              event.set_task_id(Id(q.getColumn(2)));
              event.set_timestamp(Bytes(q.getColumn(3)));
              event.set_event(Bytes(q.getColumn(4)));
              event.set_data(Bytes(q.getColumn(5)));
              if (EventMatches(event, run_ids, task_ids, after_id)) out.push_back(event);
            }
            q.reset();
          }
          std::sort(out.begin(), out.end(),
                    [](const auto& a, const auto& b) { return a.id() < b.id(); });
          return out;
        },
        /*expire=*/false, kRead);
  }

 protected:
  void InsertTaskEvents(std::vector<proto::TaskEvent>& events) override {
    Quiet<bool>(
        "StoreTaskEvents", false,
        [&] {
          SQLite::Statement insert(
              *db_,
              "INSERT INTO task_event (run_id, task_id, timestamp, event, data) "
              "VALUES (?, ?, ?, ?, ?)");
          const std::string now = FormatIsoUtc(clock_());
          for (proto::TaskEvent& event : events) {
            BindId(insert, 1, event.run_id());
            BindId(insert, 2, event.task_id());
            insert.bind(3, now);
            BindText(insert, 4, event.event());
            BindText(insert, 5, event.data());
            insert.exec();
            insert.reset();
            event.set_id(static_cast<uint64_t>(db_->getLastInsertRowid()));
            event.set_timestamp(now);
          }
          return true;
        },
        /*expire=*/false);
  }

 private:
  // Runs `fn` in one transaction, after applying lapsed claims and heartbeats (when `expire`),
  // then tells the listener about the tasks that finished in it.
  template <typename T, typename Fn, typename OnError>
  T Run(absl::string_view op, Fn fn, OnError on_error, bool expire = true,
        SQLite::TransactionBehavior behavior = kWrite) {
    std::vector<proto::Task> finished;
    T out = sqlite::InTransaction<T>(
        mu_, *db_, "TaskStore", op, behavior,
        [&] {
          finished_.clear();
          if (expire) Expire();
          T result = fn();
          for (uint64_t id : finished_) {
            std::optional<proto::Task> task =
                LoadTask("task_id = ?", [&](SQLite::Statement& q) { BindId(q, 1, id); });
            if (task) finished.push_back(*std::move(task));
          }
          return result;
        },
        on_error);
    if (on_finish_) {
      for (const proto::Task& task : finished) on_finish_(task);
    }
    return out;
  }

  // As Run, for operations without a status: a database error yields `on_error`.
  template <typename T, typename Fn>
  T Quiet(absl::string_view op, T on_error, Fn fn, bool expire = true,
          SQLite::TransactionBehavior behavior = kWrite) {
    return Run<T>(
        op, std::move(fn), [&](const std::string&) { return on_error; }, expire, behavior);
  }

  bool Exists(uint64_t task_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SQLite::Statement q(*db_, "SELECT 1 FROM task WHERE task_id = ?");
    BindId(q, 1, task_id);
    return q.executeStep();
  }

  template <typename Bind>
  std::optional<proto::Task> LoadTask(const char* where, Bind bind)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SQLite::Statement q(*db_, absl::StrCat("SELECT ", kTaskColumns, " FROM task WHERE ", where));
    bind(q);
    if (!q.executeStep()) return std::nullopt;
    return TaskFromRow(q);
  }

  // Applies lapsed claims and heartbeats, in task creation order.
  void Expire() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SQLite::Statement q(*db_,
                        "SELECT task_id, status, active_until FROM task "
                        "WHERE token IS NOT NULL AND active_until < ? ORDER BY seq");
    q.bind(1, TimeToSql(clock_()));
    std::vector<std::tuple<uint64_t, std::string, int64_t>> lapsed;
    while (q.executeStep()) {
      lapsed.emplace_back(Id(q.getColumn(0)), Bytes(q.getColumn(1)), q.getColumn(2).getInt64());
    }
    for (const auto& [id, status, active_until] : lapsed) {
      if (status == kStatusStarting) {
        SQLite::Statement update(*db_,
                                 "UPDATE task SET token = NULL, status = ?, starting_at = '' "
                                 "WHERE task_id = ?");
        BindText(update, 1, kStatusPending);
        BindId(update, 2, id);
        update.exec();
      } else if (status == kStatusRunning) {
        Finish(id, kSubStatusFailed, "No heartbeat received from the task",
               TimeFromSql(active_until));
      }
    }
  }

  void Finish(uint64_t task_id, absl::string_view sub_status, absl::string_view details,
              absl::Time at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SQLite::Statement update(*db_,
                             "UPDATE task SET status = ?, sub_status = ?, details = ?, "
                             "finished_at = ?, token = NULL WHERE task_id = ?");
    BindText(update, 1, kStatusFinished);
    BindText(update, 2, sub_status);
    BindText(update, 3, details);
    update.bind(4, FormatIsoUtc(at));
    BindId(update, 5, task_id);
    update.exec();
    finished_.push_back(task_id);
  }

  const Clock clock_;
  const FinishListener on_finish_;
  absl::Mutex mu_;
  std::unique_ptr<SQLite::Database> db_ ABSL_GUARDED_BY(mu_);
  // Tasks finished in the current transaction.
  std::vector<uint64_t> finished_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<TaskStore>> TaskStore::OpenSqlite(absl::string_view path,
                                                                 Clock clock,
                                                                 FinishListener on_finish) {
  try {
    auto db = std::make_unique<SQLite::Database>(std::string(path),
                                                 SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db->setBusyTimeout(10000);
    db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    SQLite::Transaction txn(*db, kWrite);
    db->exec(kSchema);
    txn.commit();
    return std::unique_ptr<TaskStore>(
        new SqliteTaskStore(std::move(db), std::move(clock), std::move(on_finish)));
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot open the task store '", path, "': ", e.what()));
  }
}

}  // namespace flwr::core
