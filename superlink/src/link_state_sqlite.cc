// The SQLite LinkState (`--database FILE`): the in-memory LinkState's behaviour, kept in a file.
//
// One connection behind a mutex. Every call is one transaction (IMMEDIATE when it may write, so
// a read-then-write never fails on a concurrent writer), and nothing is cached in memory, so
// another LinkState or process on the same file always sees consistent state. (What it keeps
// is which deliveries predate it, to redeliver those a killed process may have lost.) The object
// store and the task store live in the same file on connections of their own; like the
// in-memory state, which calls them outside its lock, this one calls them only outside its own
// transactions.
//
// uint64 IDs are stored bit for bit as int64. absl::Time values (push-session deadlines) are
// integer nanoseconds since the epoch (core/sqlite_util.h); ISO timestamps and epoch floats are
// stored exactly as the protos carry them. Protos with no queried field (a run's override_config,
// run contexts, FABs, messages) are serialized BLOBs.
#include <algorithm>
#include <limits>
#include <stdexcept>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/iso_time.h"
#include "flwr/core/logging.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/sqlite_util.h"
#include "flwr/superlink/link_state.h"
#include "link_state_util.h"

namespace flwr::superlink {
namespace {

// PRAGMA user_version of a database with this schema (0: a new database). The task tables
// are the TaskStore's (core/src/task_store_sqlite.cc). Version 2 added the node's name and
// location, version 3 the run's federation config, version 4 the run series, apps,
// automations and task events; an older database is migrated when opened.
constexpr int kSchemaVersion = 4;

// The LinkState's tables and the TaskStore's.
constexpr const char* kTables[] = {
    "node",        "run",         "task",         "task_log",          "fab",
    "message_ins", "message_res", "push_session", "push_session_root", "push_session_pending",
    "run_series",  "app",         "automation",   "task_event"};

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS node (
  node_id INTEGER PRIMARY KEY,
  public_key BLOB NOT NULL UNIQUE,
  owner_aid TEXT NOT NULL,
  owner_name TEXT NOT NULL,
  status TEXT NOT NULL,
  registered_at TEXT NOT NULL,
  last_activated_at TEXT,
  last_deactivated_at TEXT,
  unregistered_at TEXT,
  online_until REAL,
  heartbeat_interval REAL,
  name TEXT,
  location TEXT
);
CREATE INDEX IF NOT EXISTS node_online ON node (online_until) WHERE status = 'online';

CREATE TABLE IF NOT EXISTS run (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL UNIQUE,
  fab_id TEXT NOT NULL,
  fab_version TEXT NOT NULL,
  fab_hash TEXT NOT NULL,
  override_config BLOB NOT NULL,
  flwr_aid TEXT NOT NULL,
  federation TEXT NOT NULL,
  bytes_sent INTEGER NOT NULL DEFAULT 0,
  bytes_recv INTEGER NOT NULL DEFAULT 0,
  clientapp_runtime REAL DEFAULT 0,
  primary_task_type TEXT NOT NULL,
  primary_task_id INTEGER NOT NULL,
  series_id INTEGER NOT NULL,
  account_name TEXT NOT NULL,  -- always empty (as flwr's Run), kept so earlier files open
  context BLOB NOT NULL,
  federation_config BLOB
);
CREATE INDEX IF NOT EXISTS run_by_account ON run (flwr_aid);

CREATE TABLE IF NOT EXISTS fab (
  fab_hash TEXT PRIMARY KEY,
  fab BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS message_ins (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL UNIQUE,
  run_id INTEGER NOT NULL,
  dst_node_id INTEGER NOT NULL,
  created_at REAL,
  ttl REAL,
  delivered_at TEXT NOT NULL DEFAULT '',
  message BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS message_ins_undelivered ON message_ins (dst_node_id, seq)
  WHERE delivered_at = '';
CREATE INDEX IF NOT EXISTS message_ins_by_run ON message_ins (run_id);
CREATE INDEX IF NOT EXISTS message_ins_by_expiry ON message_ins (created_at + ttl);

CREATE TABLE IF NOT EXISTS message_res (
  message_id TEXT PRIMARY KEY,
  reply_to_message_id TEXT NOT NULL UNIQUE,
  run_id INTEGER NOT NULL,
  delivered_at TEXT NOT NULL DEFAULT '',
  message BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS push_session (
  session_id TEXT PRIMARY KEY,
  run_id INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS push_session_by_run ON push_session (run_id);
CREATE INDEX IF NOT EXISTS push_session_by_expiry ON push_session (expires_at);

CREATE TABLE IF NOT EXISTS push_session_root (
  session_id TEXT NOT NULL REFERENCES push_session (session_id) ON DELETE CASCADE,
  object_id TEXT NOT NULL,
  PRIMARY KEY (session_id, object_id)
);
CREATE INDEX IF NOT EXISTS push_session_root_by_object ON push_session_root (object_id);

CREATE TABLE IF NOT EXISTS push_session_pending (
  session_id TEXT NOT NULL REFERENCES push_session (session_id) ON DELETE CASCADE,
  object_id TEXT NOT NULL,
  PRIMARY KEY (session_id, object_id)
);
CREATE INDEX IF NOT EXISTS push_session_pending_by_object ON push_session_pending (object_id);
)sql"
                                R"sql(
CREATE INDEX IF NOT EXISTS run_by_series ON run (series_id);

-- updated_ns orders the series (nanoseconds since the epoch; a migrated series has its run's
-- seq, older than any other).
CREATE TABLE IF NOT EXISTS run_series (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  series_id INTEGER NOT NULL UNIQUE,
  federation TEXT NOT NULL,
  description TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  updated_ns INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS app (
  federation TEXT NOT NULL,
  app_id TEXT NOT NULL,
  info BLOB NOT NULL,
  added_by TEXT NOT NULL,
  added_ns INTEGER NOT NULL,
  PRIMARY KEY (federation, app_id)
);

CREATE TABLE IF NOT EXISTS automation (
  automation_id INTEGER PRIMARY KEY AUTOINCREMENT,
  automation BLOB NOT NULL,
  request BLOB NOT NULL
);
)sql";

// Version 4's run series for the runs of an older database: one per run.
constexpr const char* kMigrateRunSeries = R"sql(
INSERT OR IGNORE INTO run_series (series_id, federation, description, created_at, updated_at,
                                  updated_ns)
SELECT r.series_id, r.federation, '', COALESCE(t.pending_at, ''), COALESCE(t.pending_at, ''),
       r.seq
FROM run r LEFT JOIN task t ON t.task_id = r.primary_task_id ORDER BY r.seq;
)sql";

constexpr const char* kNodeColumns =
    "node_id, public_key, owner_aid, owner_name, status, registered_at, last_activated_at, "
    "last_deactivated_at, unregistered_at, online_until, heartbeat_interval, name, location";

constexpr const char* kRunSelect =
    "SELECT run_id, fab_id, fab_version, fab_hash, override_config, flwr_aid, federation, "
    "bytes_sent, bytes_recv, clientapp_runtime, primary_task_type, primary_task_id, series_id "
    "FROM run";

using core::sqlite::BindBlob;
using core::sqlite::BindId;
using core::sqlite::BindText;
using core::sqlite::Bytes;
using core::sqlite::Id;
using core::sqlite::kRead;
using core::sqlite::kWrite;
using core::sqlite::TimeFromSql;
using core::sqlite::TimeToSql;

[[noreturn]] void ThrowCorrupt(absl::string_view what) {
  throw std::runtime_error(absl::StrCat("corrupt ", what, " in the database"));
}

void BindOptionalText(SQLite::Statement& statement, int index, bool present,
                      const std::string& text) {
  if (present) {
    statement.bind(index, text);
  } else {
    statement.bind(index);
  }
}

template <typename Proto>
Proto ParseBlob(const SQLite::Column& column, absl::string_view what) {
  Proto proto;
  if (!proto.ParseFromString(Bytes(column))) ThrowCorrupt(what);
  return proto;
}

std::string Serialize(const google::protobuf::Message& proto) {
  std::string out;
  if (!proto.SerializeToString(&out)) throw std::runtime_error("cannot serialize a protobuf");
  return out;
}

proto::NodeInfo NodeFromRow(SQLite::Statement& q) {
  proto::NodeInfo info;
  info.set_node_id(Id(q.getColumn(0)));
  info.set_public_key(Bytes(q.getColumn(1)));
  info.set_owner_aid(Bytes(q.getColumn(2)));
  info.set_owner_name(Bytes(q.getColumn(3)));
  info.set_status(Bytes(q.getColumn(4)));
  info.set_registered_at(Bytes(q.getColumn(5)));
  if (!q.isColumnNull(6)) info.set_last_activated_at(Bytes(q.getColumn(6)));
  if (!q.isColumnNull(7)) info.set_last_deactivated_at(Bytes(q.getColumn(7)));
  if (!q.isColumnNull(8)) info.set_unregistered_at(Bytes(q.getColumn(8)));
  if (!q.isColumnNull(9)) info.set_online_until(q.getColumn(9).getDouble());
  info.set_heartbeat_interval(q.getColumn(10).getDouble());
  if (!q.isColumnNull(11)) info.set_name(Bytes(q.getColumn(11)));
  if (!q.isColumnNull(12)) info.set_location(Bytes(q.getColumn(12)));
  return info;
}

proto::Run RunFromRow(SQLite::Statement& q) {
  // The override config is the only field of the stored Run.
  proto::Run run = ParseBlob<proto::Run>(q.getColumn(4), "run override config");
  run.set_run_id(Id(q.getColumn(0)));
  run.set_fab_id(Bytes(q.getColumn(1)));
  run.set_fab_version(Bytes(q.getColumn(2)));
  run.set_fab_hash(Bytes(q.getColumn(3)));
  run.set_flwr_aid(Bytes(q.getColumn(5)));
  run.set_federation(Bytes(q.getColumn(6)));
  run.set_bytes_sent(Id(q.getColumn(7)));
  run.set_bytes_recv(Id(q.getColumn(8)));
  run.set_clientapp_runtime(q.getColumn(9).getDouble());
  run.set_primary_task_type(Bytes(q.getColumn(10)));
  run.set_primary_task_id(Id(q.getColumn(11)));
  run.set_series_id(Id(q.getColumn(12)));
  return run;
}

class SqliteLinkState : public LinkState {
 public:
  SqliteLinkState(std::unique_ptr<SQLite::Database> db, std::unique_ptr<core::ObjectStore> store,
                  std::unique_ptr<core::TaskStore> tasks, Clock clock)
      : LinkState(std::move(tasks), clock),
        store_(std::move(store)),
        clock_(std::move(clock)),
        db_(std::move(db)) {
    absl::MutexLock lock(&mu_);
    SQLite::Statement q(*db_,
                        "SELECT dst_node_id, message_id FROM message_ins WHERE delivered_at <> '' "
                        "AND message_id NOT IN (SELECT reply_to_message_id FROM message_res)");
    while (q.executeStep()) {
      delivered_before_open_[Id(q.getColumn(0))].push_back(Bytes(q.getColumn(1)));
    }
  }

  core::ObjectStore& object_store() override { return *store_; }

  // --- Nodes -------------------------------------------------------------------------------

  absl::StatusOr<uint64_t> CreateNode(absl::string_view public_key, double heartbeat_interval,
                                      const NodeDetails& details) override {
    return Checked<absl::StatusOr<uint64_t>>("CreateNode", [&]() -> absl::StatusOr<uint64_t> {
      SQLite::Statement used(*db_, "SELECT 1 FROM node WHERE public_key = ?");
      BindBlob(used, 1, public_key);
      if (used.executeStep()) {
        return core::FlowerError(core::api_error::kPublicKeyAlreadyInUse,
                                 "Public key already in use");
      }
      uint64_t node_id;
      do {
        node_id = RandomId();
      } while (node_id <= kSuperLinkNodeId ||
               Exists("SELECT 1 FROM node WHERE node_id = ?", node_id));
      SQLite::Statement insert(*db_,
                               "INSERT INTO node (node_id, public_key, owner_aid, owner_name, "
                               "status, registered_at, heartbeat_interval, name, location) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
      BindId(insert, 1, node_id);
      BindBlob(insert, 2, public_key);
      BindText(insert, 3, kNoAccountId);
      BindText(insert, 4, kNoAccountName);
      BindText(insert, 5, kNodeRegistered);
      insert.bind(6, core::FormatIsoUtc(clock_()));
      insert.bind(7, heartbeat_interval);
      if (details.name) BindText(insert, 8, *details.name);
      if (details.location) BindText(insert, 9, *details.location);
      insert.exec();
      return node_id;
    });
  }

  absl::StatusOr<uint64_t> ActivateNode(absl::string_view public_key,
                                        double heartbeat_interval) override {
    if (absl::Status s = CheckHeartbeatInterval(heartbeat_interval); !s.ok()) return s;
    return Checked<absl::StatusOr<uint64_t>>("ActivateNode", [&]() -> absl::StatusOr<uint64_t> {
      std::optional<proto::NodeInfo> info = LoadNodeByKey(public_key);
      if (!info) {
        return core::FlowerError(core::api_error::kFleetNodeActivationFailed, "Unknown public key");
      }
      const absl::Time now = clock_();
      if (ExpireNode(*info, now)) SaveNode(*info);
      if (info->status() != kNodeRegistered && info->status() != kNodeOffline) {
        return core::FlowerError(core::api_error::kFleetNodeActivationFailed,
                                 absl::StrCat("Node ", info->node_id(), " is ", info->status()));
      }
      SetOnline(*info, heartbeat_interval, now);
      SaveNode(*info);
      return info->node_id();
    });
  }

  absl::Status DeactivateNode(uint64_t node_id) override {
    return Checked<absl::Status>("DeactivateNode", [&]() -> absl::Status {
      std::optional<proto::NodeInfo> info = LoadNode(node_id);
      const absl::Time now = clock_();
      if (info && ExpireNode(*info, now)) SaveNode(*info);
      if (!info || info->status() != kNodeOnline) {
        return core::FlowerError(core::api_error::kFleetNodeDeactivationFailed,
                                 absl::StrCat("Node ", node_id, " is not online"));
      }
      info->set_status(std::string(kNodeOffline));
      info->set_last_deactivated_at(core::FormatIsoUtc(now));
      info->set_online_until(core::ToEpochSeconds(now));
      SaveNode(*info);
      return absl::OkStatus();
    });
  }

  absl::Status UnregisterNode(uint64_t node_id) override {
    return Checked<absl::Status>("UnregisterNode", [&]() -> absl::Status {
      std::optional<proto::NodeInfo> info = LoadNode(node_id);
      if (!info || info->status() == kNodeUnregistered) {
        return core::FlowerError(core::api_error::kFleetNodeUnregistrationFailed,
                                 absl::StrCat("Node ", node_id, " not found"));
      }
      const absl::Time now = clock_();
      info->set_status(std::string(kNodeUnregistered));
      info->set_unregistered_at(core::FormatIsoUtc(now));
      const double now_s = core::ToEpochSeconds(now);
      info->set_online_until(info->has_online_until() ? std::min(info->online_until(), now_s)
                                                      : now_s);
      SaveNode(*info);
      return absl::OkStatus();
    });
  }

  absl::StatusOr<bool> AcknowledgeNodeHeartbeat(uint64_t node_id,
                                                double heartbeat_interval) override {
    if (absl::Status s = CheckHeartbeatInterval(heartbeat_interval); !s.ok()) return s;
    return Checked<absl::StatusOr<bool>>("AcknowledgeNodeHeartbeat", [&]() -> absl::StatusOr<bool> {
      std::optional<proto::NodeInfo> info = LoadNode(node_id);
      if (!info || info->status() == kNodeUnregistered) return false;
      const absl::Time now = clock_();
      ExpireNode(*info, now);
      SetOnline(*info, heartbeat_interval, now);
      SaveNode(*info);
      return true;
    });
  }

  std::optional<uint64_t> GetNodeIdByPublicKey(absl::string_view public_key) override {
    return Quiet<std::optional<uint64_t>>(
        "GetNodeIdByPublicKey", std::nullopt,
        [&]() -> std::optional<uint64_t> {
          std::optional<proto::NodeInfo> info = LoadNodeByKey(public_key);
          if (!info || info->status() == kNodeUnregistered) return std::nullopt;
          return info->node_id();
        },
        kRead);
  }

  std::vector<proto::NodeInfo> ListNodes() override {
    return Quiet<std::vector<proto::NodeInfo>>("ListNodes", {}, [&] {
      ExpireNodes(clock_());
      // Ascending node ID as uint64: the non-negative int64 values first.
      SQLite::Statement q(
          *db_, absl::StrCat("SELECT ", kNodeColumns, " FROM node ORDER BY node_id < 0, node_id"));
      std::vector<proto::NodeInfo> out;
      while (q.executeStep()) out.push_back(NodeFromRow(q));
      return out;
    });
  }

  std::vector<uint64_t> GetOnlineNodeIds() override {
    return Quiet<std::vector<uint64_t>>("GetOnlineNodeIds", {}, [&] {
      ExpireNodes(clock_());
      SQLite::Statement q(*db_,
                          "SELECT node_id FROM node WHERE status = 'online' "
                          "ORDER BY node_id < 0, node_id");
      std::vector<uint64_t> out;
      while (q.executeStep()) out.push_back(Id(q.getColumn(0)));
      return out;
    });
  }

  // --- Runs --------------------------------------------------------------------------------

  absl::StatusOr<CreatedRun> InsertRun(const NewRun& spec, uint64_t task_id) override {
    return Checked<absl::StatusOr<CreatedRun>>("CreateRun", [&]() -> absl::StatusOr<CreatedRun> {
      uint64_t run_id;
      do {
        run_id = RandomId();
      } while (run_id == 0 || Exists("SELECT 1 FROM run WHERE run_id = ?", run_id));
      absl::StatusOr<uint64_t> series_id = JoinSeries(spec, run_id);
      if (!series_id.ok()) return series_id.status();

      proto::Run config;
      if (absl::Status s =
              core::UserConfigToProto(spec.override_config, config.mutable_override_config());
          !s.ok()) {
        return s;
      }
      SQLite::Statement run(*db_,
                            "INSERT INTO run (run_id, fab_id, fab_version, fab_hash, "
                            "override_config, flwr_aid, federation, primary_task_type, "
                            "primary_task_id, series_id, account_name, context, "
                            "federation_config) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      BindId(run, 1, run_id);
      run.bind(2, spec.fab_id);
      run.bind(3, spec.fab_version);
      run.bind(4, spec.fab_hash);
      BindBlob(run, 5, Serialize(config));
      run.bind(6, spec.flwr_aid);
      run.bind(7, spec.federation);
      run.bind(8, spec.primary_task_type);
      BindId(run, 9, task_id);
      BindId(run, 10, *series_id);
      run.bind(11, "");  // as flwr's Run: no account name stored (ListRuns names the caller's)
      // As flwr's _refresh_run_series_context: a run joining a series starts from the state of
      // the series' context, i.e. of its latest run before this one.
      proto::Context context = InitialContext(run_id, *series_id);
      {
        SQLite::Statement latest(
            *db_, "SELECT context FROM run WHERE series_id = ? ORDER BY seq DESC LIMIT 1");
        BindId(latest, 1, *series_id);
        if (latest.executeStep()) {
          *context.mutable_state() =
              ParseBlob<proto::Context>(latest.getColumn(0), "run context").state();
        }
      }
      BindBlob(run, 12, Serialize(context));
      if (spec.federation_config) {
        BindBlob(run, 13, Serialize(*spec.federation_config));
      } else {
        run.bind(13);
      }
      run.exec();
      return CreatedRun{run_id, *series_id, task_id};
    });
  }

  std::optional<proto::Run> LoadRun(uint64_t run_id) override {
    return Quiet<std::optional<proto::Run>>(
        "GetRun", std::nullopt,
        [&]() -> std::optional<proto::Run> {
          SQLite::Statement q(*db_, absl::StrCat(kRunSelect, " WHERE run_id = ?"));
          BindId(q, 1, run_id);
          if (!q.executeStep()) return std::nullopt;
          return RunFromRow(q);
        },
        kRead);
  }

  std::vector<proto::Run> LoadRuns(absl::string_view flwr_aid) override {
    return Quiet<std::vector<proto::Run>>(
        "ListRuns", {},
        [&] {
          SQLite::Statement q(*db_,
                              absl::StrCat(kRunSelect, " WHERE flwr_aid = ? ORDER BY seq DESC"));
          BindText(q, 1, flwr_aid);
          std::vector<proto::Run> out;
          while (q.executeStep()) out.push_back(RunFromRow(q));
          return out;
        },
        kRead);
  }

  void CleanupRun(uint64_t run_id) override {
    Quiet<bool>("CleanupRun", false, [&] {
      for (const char* sql : {"DELETE FROM message_res WHERE reply_to_message_id IN "
                              "(SELECT message_id FROM message_ins WHERE run_id = ?)",
                              "DELETE FROM message_ins WHERE run_id = ?",
                              "DELETE FROM push_session WHERE run_id = ?"}) {
        SQLite::Statement del(*db_, sql);
        BindId(del, 1, run_id);
        del.exec();
      }
      return true;
    });
    store_->DeleteObjectsInRun(run_id);
  }

  void StoreTraffic(uint64_t run_id, uint64_t bytes_sent, uint64_t bytes_recv) override {
    Quiet<bool>("StoreTraffic", false, [&] {
      SQLite::Statement q(*db_, "SELECT bytes_sent, bytes_recv FROM run WHERE run_id = ?");
      BindId(q, 1, run_id);
      if (!q.executeStep()) return false;
      // uint64 arithmetic (wrapping) as in memory; SQLite's own would overflow to REAL.
      const uint64_t sent = Id(q.getColumn(0)) + bytes_sent;
      const uint64_t recv = Id(q.getColumn(1)) + bytes_recv;
      SQLite::Statement update(*db_,
                               "UPDATE run SET bytes_sent = ?, bytes_recv = ? WHERE run_id = ?");
      BindId(update, 1, sent);
      BindId(update, 2, recv);
      BindId(update, 3, run_id);
      update.exec();
      return true;
    });
  }

  void AddClientAppRuntime(uint64_t run_id, double seconds) override {
    Quiet<bool>("AddClientAppRuntime", false, [&] {
      SQLite::Statement q(*db_, "SELECT clientapp_runtime FROM run WHERE run_id = ?");
      BindId(q, 1, run_id);
      if (!q.executeStep()) return false;
      const double runtime = q.getColumn(0).getDouble() + seconds;
      SQLite::Statement update(*db_, "UPDATE run SET clientapp_runtime = ? WHERE run_id = ?");
      update.bind(1, runtime);
      BindId(update, 2, run_id);
      update.exec();
      return true;
    });
  }

  std::optional<proto::SimulationConfig> GetFederationConfig(uint64_t run_id) override {
    return LoadRunProto<proto::SimulationConfig>("GetFederationConfig", run_id, "federation_config",
                                                 "run federation config");
  }

  std::optional<proto::Context> GetRunContext(uint64_t run_id) override {
    return LoadRunProto<proto::Context>("GetRunContext", run_id, "context", "run context");
  }

  void SetRunContext(uint64_t run_id, const proto::Context& context) override {
    Quiet<bool>("SetRunContext", false, [&] {
      SQLite::Statement update(*db_, "UPDATE run SET context = ? WHERE run_id = ?");
      BindBlob(update, 1, Serialize(context));
      BindId(update, 2, run_id);
      update.exec();
      return true;
    });
  }

  // --- FABs ----------------------------------------------------------------------------------

  // --- Run series --------------------------------------------------------------------------

  std::vector<proto::RunSeries> ListRunSeries() override {
    return Quiet<std::vector<proto::RunSeries>>(
        "ListRunSeries", {},
        [&] {
          SQLite::Statement q(*db_,
                              "SELECT series_id, federation, description, created_at, updated_at "
                              "FROM run_series ORDER BY updated_ns DESC, seq");
          SQLite::Statement runs(*db_, "SELECT run_id FROM run WHERE series_id = ? ORDER BY seq");
          std::vector<proto::RunSeries> out;
          while (q.executeStep()) {
            proto::RunSeries& series = out.emplace_back();
            series.set_series_id(Id(q.getColumn(0)));
            series.set_federation(Bytes(q.getColumn(1)));
            series.set_description(Bytes(q.getColumn(2)));
            series.set_created_at(Bytes(q.getColumn(3)));
            series.set_updated_at(Bytes(q.getColumn(4)));
            BindId(runs, 1, series.series_id());
            while (runs.executeStep()) series.add_run_ids(Id(runs.getColumn(0)));
            runs.reset();
          }
          return out;
        },
        kRead);
  }

  bool SetRunSeriesDescription(uint64_t series_id, absl::string_view description) override {
    return Quiet<bool>("SetRunSeriesDescription", false, [&] {
      SQLite::Statement update(*db_, "UPDATE run_series SET description = ? WHERE series_id = ?");
      BindText(update, 1, description);
      BindId(update, 2, series_id);
      return update.exec() > 0;
    });
  }

  // --- Apps --------------------------------------------------------------------------------

  void StoreApp(absl::string_view federation, const proto::AppInfo& app,
                absl::string_view added_by) override {
    Quiet<bool>("StoreApp", false, [&] {
      SQLite::Statement upsert(
          *db_,
          "INSERT INTO app (federation, app_id, info, added_by, added_ns) VALUES (?, ?, ?, ?, ?) "
          "ON CONFLICT (federation, app_id) DO UPDATE SET info = excluded.info");
      BindText(upsert, 1, federation);
      upsert.bind(2, app.app_id());
      BindBlob(upsert, 3, Serialize(app));
      BindText(upsert, 4, added_by);
      upsert.bind(5, TimeToSql(clock_()));
      upsert.exec();
      return true;
    });
  }

  std::vector<proto::AppInfo> ListApps(absl::string_view federation,
                                       std::optional<size_t> limit) override {
    return Quiet<std::vector<proto::AppInfo>>(
        "ListApps", {},
        [&] {
          SQLite::Statement q(*db_,
                              "SELECT info FROM app WHERE federation = ? "
                              "ORDER BY added_ns DESC, app_id DESC LIMIT ?");
          BindText(q, 1, federation);
          q.bind(2, limit ? static_cast<int64_t>(*limit) : int64_t{-1});
          std::vector<proto::AppInfo> out;
          while (q.executeStep()) out.push_back(ParseBlob<proto::AppInfo>(q.getColumn(0), "app"));
          return out;
        },
        kRead);
  }

  bool DeleteApp(absl::string_view federation, absl::string_view app_id) override {
    return Quiet<bool>("DeleteApp", false, [&] {
      SQLite::Statement del(*db_, "DELETE FROM app WHERE federation = ? AND app_id = ?");
      BindText(del, 1, federation);
      BindText(del, 2, app_id);
      return del.exec() > 0;
    });
  }

  // --- Automations -------------------------------------------------------------------------

  uint64_t InsertAutomation(const proto::Automation& automation,
                            const proto::StartRunRequest& request) override {
    return Quiet<uint64_t>("StoreAutomation", 0, [&] {
      SQLite::Statement insert(*db_, "INSERT INTO automation (automation, request) VALUES (?, ?)");
      BindBlob(insert, 1, Serialize(automation));
      BindBlob(insert, 2, Serialize(request));
      insert.exec();
      return static_cast<uint64_t>(db_->getLastInsertRowid());
    });
  }

  std::vector<proto::Automation> LoadAutomations() override {
    return Quiet<std::vector<proto::Automation>>(
        "ListAutomations", {},
        [&] {
          SQLite::Statement q(*db_,
                              "SELECT automation_id, automation FROM automation "
                              "ORDER BY automation_id");
          std::vector<proto::Automation> out;
          while (q.executeStep()) {
            proto::Automation& automation =
                out.emplace_back(ParseBlob<proto::Automation>(q.getColumn(1), "automation"));
            automation.set_automation_id(Id(q.getColumn(0)));
          }
          return out;
        },
        kRead);
  }

  bool UpdateAutomation(uint64_t automation_id, absl::FunctionRef<bool(proto::Automation&)> update,
                        proto::StartRunRequest* request) override {
    return Quiet<bool>("UpdateAutomation", false, [&] {
      SQLite::Statement q(*db_,
                          "SELECT automation, request FROM automation WHERE automation_id = ?");
      BindId(q, 1, automation_id);
      if (!q.executeStep()) return false;
      proto::Automation automation = ParseBlob<proto::Automation>(q.getColumn(0), "automation");
      automation.set_automation_id(automation_id);
      if (!update(automation)) return false;
      if (request != nullptr) {
        *request = ParseBlob<proto::StartRunRequest>(q.getColumn(1), "automation request");
      }
      q.reset();
      SQLite::Statement store(*db_, "UPDATE automation SET automation = ? WHERE automation_id = ?");
      BindBlob(store, 1, Serialize(automation));
      BindId(store, 2, automation_id);
      store.exec();
      return true;
    });
  }

  void StoreFab(const proto::Fab& fab) override {
    Quiet<bool>("StoreFab", false, [&] {
      SQLite::Statement insert(*db_, "INSERT OR REPLACE INTO fab (fab_hash, fab) VALUES (?, ?)");
      insert.bind(1, fab.hash_str());
      BindBlob(insert, 2, Serialize(fab));
      insert.exec();
      return true;
    });
  }

  std::optional<proto::Fab> GetFab(absl::string_view fab_hash) override {
    return Quiet<std::optional<proto::Fab>>(
        "GetFab", std::nullopt,
        [&]() -> std::optional<proto::Fab> {
          SQLite::Statement q(*db_, "SELECT fab FROM fab WHERE fab_hash = ?");
          BindText(q, 1, fab_hash);
          if (!q.executeStep()) return std::nullopt;
          return ParseBlob<proto::Fab>(q.getColumn(0), "FAB");
        },
        kRead);
  }

  // --- Messages ------------------------------------------------------------------------------

  absl::StatusOr<std::string> StoreMessageIns(const proto::Message& message) override {
    const proto::Metadata& meta = message.metadata();
    // Outside the transaction: the task store writes on a connection of its own.
    const std::optional<proto::Run> run = GetRun(meta.run_id());
    return Checked<absl::StatusOr<std::string>>(
        "StoreMessageIns", [&]() -> absl::StatusOr<std::string> {
          if (!run) {
            return absl::FailedPreconditionError(absl::StrCat("Run ", meta.run_id(), " not found"));
          }
          if (run->status().status() == kStatusFinished) {
            return absl::FailedPreconditionError(
                absl::StrCat("Run ", meta.run_id(), " is finished"));
          }
          std::optional<proto::NodeInfo> node = LoadNode(meta.dst_node_id());
          if (node && ExpireNode(*node, clock_())) SaveNode(*node);
          if (meta.dst_node_id() != kSuperLinkNodeId &&
              (!node || (node->status() != kNodeOnline && node->status() != kNodeOffline))) {
            return absl::FailedPreconditionError(
                absl::StrCat("Destination node ", meta.dst_node_id(), " is not available"));
          }
          SQLite::Statement insert(*db_,
                                   "INSERT OR IGNORE INTO message_ins (message_id, run_id, "
                                   "dst_node_id, created_at, ttl, message) "
                                   "VALUES (?, ?, ?, ?, ?, ?)");
          insert.bind(1, meta.message_id());
          BindId(insert, 2, meta.run_id());
          BindId(insert, 3, meta.dst_node_id());
          insert.bind(4, meta.created_at());
          insert.bind(5, meta.ttl());
          BindBlob(insert, 6, Serialize(message));
          insert.exec();
          return meta.message_id();
        });
  }

  std::vector<proto::Message> GetMessageIns(uint64_t node_id, size_t limit) override {
    return TakeMessageIns(node_id, limit, std::nullopt);
  }

  std::vector<proto::Message> GetSuperLinkMessageIns(uint64_t run_id) override {
    return TakeMessageIns(kSuperLinkNodeId, std::numeric_limits<size_t>::max(), run_id);
  }

  // Up to `limit` undelivered instructions for `node_id` (of `run_id` only, if given), now
  // delivered; expired ones (of any node) are deleted on the way.
  std::vector<proto::Message> TakeMessageIns(uint64_t node_id, size_t limit,
                                             std::optional<uint64_t> run_id) {
    // A node pulls its next instruction only once it confirmed the last one (which deletes its
    // message object) or gave up receiving it. So an instruction that a previous process
    // delivered and that the node never confirmed either died with that process before it was
    // sent, or could not be received: it is handed out once more.
    std::vector<std::string> unconfirmed = TakeDeliveredBeforeOpen(node_id);
    unconfirmed.erase(std::remove_if(unconfirmed.begin(), unconfirmed.end(),
                                     [&](const std::string& id) { return !store_->Contains(id); }),
                      unconfirmed.end());
    return Quiet<std::vector<proto::Message>>("GetMessageIns", {}, [&] {
      const absl::Time now = clock_();
      SQLite::Statement redeliver(*db_,
                                  "UPDATE message_ins SET delivered_at = '' WHERE message_id = ? "
                                  "AND message_id NOT IN "
                                  "(SELECT reply_to_message_id FROM message_res)");
      for (const std::string& id : unconfirmed) {
        redeliver.bind(1, id);
        redeliver.exec();
        redeliver.reset();
      }
      const double now_s = core::ToEpochSeconds(now);
      // Expired instructions go, with their replies (the same IEEE sum as in memory).
      for (const char* sql : {"DELETE FROM message_res WHERE reply_to_message_id IN "
                              "(SELECT message_id FROM message_ins WHERE created_at + ttl <= ?)",
                              "DELETE FROM message_ins WHERE created_at + ttl <= ?"}) {
        SQLite::Statement del(*db_, sql);
        del.bind(1, now_s);
        del.exec();
      }
      SQLite::Statement q(*db_,
                          "SELECT seq, message FROM message_ins WHERE dst_node_id = ? AND "
                          "delivered_at = '' AND (? OR run_id = ?) ORDER BY seq LIMIT ?");
      BindId(q, 1, node_id);
      q.bind(2, !run_id.has_value());
      BindId(q, 3, run_id.value_or(0));
      q.bind(4,
             static_cast<int64_t>(std::min<uint64_t>(limit, std::numeric_limits<int64_t>::max())));
      std::vector<int64_t> delivered;
      std::vector<proto::Message> out;
      while (q.executeStep()) {
        delivered.push_back(q.getColumn(0).getInt64());
        out.push_back(ParseBlob<proto::Message>(q.getColumn(1), "instruction"));
      }
      SQLite::Statement mark(*db_, "UPDATE message_ins SET delivered_at = ? WHERE seq = ?");
      const std::string delivered_at = core::FormatIsoUtc(now);
      for (int64_t seq : delivered) {
        mark.bind(1, delivered_at);
        mark.bind(2, seq);
        mark.exec();
        mark.reset();
      }
      return out;
    });
  }

  absl::StatusOr<std::string> StoreMessageRes(const proto::Message& message) override {
    const proto::Metadata& meta = message.metadata();
    const std::optional<proto::Run> run = GetRun(meta.run_id());
    return Checked<absl::StatusOr<std::string>>(
        "StoreMessageRes", [&]() -> absl::StatusOr<std::string> {
          std::optional<proto::Message> ins = LoadInstruction(meta.reply_to_message_id());
          if (!ins) {
            return absl::FailedPreconditionError("The instruction of this reply does not exist");
          }
          const proto::Metadata& ins_meta = ins->metadata();
          const double now_s = core::ToEpochSeconds(clock_());
          if (ins_meta.created_at() + ins_meta.ttl() <= now_s) {
            DeleteMessagesLocked({meta.reply_to_message_id()});
            return absl::FailedPreconditionError("The instruction of this reply has expired");
          }
          if (absl::Status s = CheckReplyMatchesInstruction(ins_meta, meta); !s.ok()) return s;
          if (!run || run->status().status() == kStatusFinished) {
            return absl::FailedPreconditionError(
                absl::StrCat("Run ", meta.run_id(), " is finished"));
          }
          if (Exists("SELECT 1 FROM message_res WHERE message_id = ?", meta.message_id())) {
            return meta.message_id();
          }
          if (Exists("SELECT 1 FROM message_res WHERE reply_to_message_id = ?",
                     meta.reply_to_message_id())) {
            return absl::AlreadyExistsError("The instruction already has a reply");
          }
          SQLite::Statement insert(*db_,
                                   "INSERT INTO message_res (message_id, reply_to_message_id, "
                                   "run_id, message) VALUES (?, ?, ?, ?)");
          insert.bind(1, meta.message_id());
          insert.bind(2, meta.reply_to_message_id());
          BindId(insert, 3, meta.run_id());
          BindBlob(insert, 4, Serialize(message));
          insert.exec();
          return meta.message_id();
        });
  }

  std::vector<proto::Message> GetMessageRes(const std::vector<std::string>& ids) override {
    return Quiet<std::vector<proto::Message>>("GetMessageRes", {}, [&] {
      const absl::Time now = clock_();
      const double now_s = core::ToEpochSeconds(now);
      std::vector<proto::Message> out;
      for (const std::string& id : ids) {
        std::optional<proto::Message> ins = LoadInstruction(id);
        if (!ins || ins->metadata().created_at() + ins->metadata().ttl() < now_s) {
          out.push_back(MessageUnavailableReply(id, now));
          continue;
        }
        const proto::Metadata& ins_meta = ins->metadata();
        std::optional<proto::NodeInfo> node = LoadNode(ins_meta.dst_node_id());
        if (!node || node->status() == kNodeUnregistered || !node->has_online_until() ||
            node->online_until() < now_s) {
          out.push_back(ErrorReplyFor(ins_meta, ReplyError::kNodeUnavailable, now));
          continue;
        }
        SQLite::Statement q(*db_,
                            "SELECT message_id, delivered_at, message FROM message_res "
                            "WHERE reply_to_message_id = ?");
        q.bind(1, id);
        if (!q.executeStep() || !Bytes(q.getColumn(1)).empty()) continue;
        const std::string res_id = Bytes(q.getColumn(0));
        proto::Message res = ParseBlob<proto::Message>(q.getColumn(2), "reply");
        SQLite::Statement mark(*db_,
                               "UPDATE message_res SET delivered_at = ? WHERE message_id = ?");
        mark.bind(1, core::FormatIsoUtc(now));
        mark.bind(2, res_id);
        mark.exec();
        const proto::Metadata& res_meta = res.metadata();
        if (res_meta.created_at() + res_meta.ttl() < now_s) {
          out.push_back(ErrorReplyFor(ins_meta, ReplyError::kReplyUnavailable, now));
        } else {
          out.push_back(std::move(res));
        }
      }
      return out;
    });
  }

  void DeleteMessages(const std::vector<std::string>& instruction_ids) override {
    Quiet<bool>("DeleteMessages", false, [&] {
      DeleteMessagesLocked(instruction_ids);
      return true;
    });
  }

  // --- Object push sessions ------------------------------------------------------------------

  std::string StartPushSession(uint64_t run_id) override {
    std::vector<std::string> expired_roots;
    std::string id = Quiet<std::string>("StartPushSession", "", [&] {
      const absl::Time now = clock_();
      expired_roots = DropSessionsLocked("SELECT session_id FROM push_session WHERE expires_at < ?",
                                         [&](SQLite::Statement& q) { q.bind(1, TimeToSql(now)); });
      std::string session_id = NewUuid4();
      SQLite::Statement insert(
          *db_, "INSERT INTO push_session (session_id, run_id, expires_at) VALUES (?, ?, ?)");
      insert.bind(1, session_id);
      BindId(insert, 2, run_id);
      insert.bind(3, TimeToSql(now + push_session_ttl()));
      insert.exec();
      return session_id;
    });
    if (id.empty()) expired_roots.clear();  // rolled back
    for (const std::string& root : expired_roots) store_->Delete(root);
    return id;
  }

  absl::StatusOr<std::vector<std::string>> PreregisterObjectTree(
      absl::string_view session_id, uint64_t run_id, const proto::ObjectTree& tree) override {
    absl::StatusOr<bool> known =
        Checked<absl::StatusOr<bool>>("PreregisterObjectTree", [&]() -> absl::StatusOr<bool> {
          return Exists("SELECT 1 FROM push_session WHERE session_id = ?", session_id);
        });
    if (!known.ok()) return known.status();
    if (!*known) return absl::NotFoundError("Unknown push session");
    auto missing = store_->Preregister(run_id, tree);
    if (!missing.ok()) return missing.status();
    return Checked<absl::StatusOr<std::vector<std::string>>>(
        "PreregisterObjectTree", [&]() -> absl::StatusOr<std::vector<std::string>> {
          if (!Exists("SELECT 1 FROM push_session WHERE session_id = ?", session_id)) {
            return absl::NotFoundError("Unknown push session");
          }
          // A root pushed again belongs to the newest session only.
          SQLite::Statement drop(*db_,
                                 "DELETE FROM push_session WHERE session_id <> ?1 AND session_id "
                                 "IN (SELECT session_id FROM push_session_root "
                                 "WHERE object_id = ?2)");
          BindText(drop, 1, session_id);
          drop.bind(2, tree.object_id());
          drop.exec();
          SQLite::Statement root(
              *db_,
              "INSERT OR IGNORE INTO push_session_root (session_id, object_id) VALUES (?, ?)");
          BindText(root, 1, session_id);
          root.bind(2, tree.object_id());
          root.exec();
          SQLite::Statement pending(*db_,
                                    "INSERT OR IGNORE INTO push_session_pending (session_id, "
                                    "object_id) VALUES (?, ?)");
          for (const std::string& object_id : *missing) {
            BindText(pending, 1, session_id);
            pending.bind(2, object_id);
            pending.exec();
            pending.reset();
          }
          return *missing;
        });
  }

  bool StoreObject(uint64_t run_id, absl::string_view session_id, absl::string_view object_id,
                   std::string content) override {
    std::vector<std::string> expired_roots;
    std::string session_key;
    const bool found = Quiet<bool>("StoreObject", false, [&] {
      std::optional<std::string> session;
      if (session_id.empty()) {
        // The first session, by ID, of the run in which the object is pending.
        SQLite::Statement q(*db_,
                            "SELECT s.session_id FROM push_session s JOIN push_session_pending p "
                            "ON p.session_id = s.session_id WHERE s.run_id = ? AND "
                            "p.object_id = ? ORDER BY s.session_id LIMIT 1");
        BindId(q, 1, run_id);
        BindText(q, 2, object_id);
        if (q.executeStep()) session = Bytes(q.getColumn(0));
      } else {
        SQLite::Statement q(*db_,
                            "SELECT s.session_id FROM push_session s JOIN push_session_pending p "
                            "ON p.session_id = s.session_id WHERE s.session_id = ? AND "
                            "s.run_id = ? AND p.object_id = ?");
        BindText(q, 1, session_id);
        BindId(q, 2, run_id);
        BindText(q, 3, object_id);
        if (q.executeStep()) session = Bytes(q.getColumn(0));
      }
      if (!session) return false;
      SQLite::Statement expires(*db_, "SELECT expires_at FROM push_session WHERE session_id = ?");
      expires.bind(1, *session);
      if (!expires.executeStep()) return false;
      if (TimeFromSql(expires.getColumn(0).getInt64()) < clock_()) {
        SQLite::Statement roots(*db_,
                                "SELECT object_id FROM push_session_root WHERE session_id = ?");
        roots.bind(1, *session);
        while (roots.executeStep()) expired_roots.push_back(Bytes(roots.getColumn(0)));
        SQLite::Statement drop(*db_, "DELETE FROM push_session WHERE session_id = ?");
        drop.bind(1, *session);
        drop.exec();
        DropSessionMessagesLocked(expired_roots);
      } else {
        session_key = *session;
      }
      return true;
    });
    if (!found) return core::HoldsObject(*store_, object_id, content);
    if (!expired_roots.empty() || session_key.empty()) {
      for (const std::string& root : expired_roots) store_->Delete(root);
      return false;
    }
    if (!store_->Put(object_id, std::move(content)).ok()) return false;
    Quiet<bool>("StoreObject", false, [&] {
      if (!Exists("SELECT 1 FROM push_session WHERE session_id = ?", session_key)) return true;
      SQLite::Statement done(*db_,
                             "DELETE FROM push_session_pending WHERE session_id = ? AND "
                             "object_id = ?");
      done.bind(1, session_key);
      BindText(done, 2, object_id);
      done.exec();
      SQLite::Statement extend(*db_, "UPDATE push_session SET expires_at = ? WHERE session_id = ?");
      extend.bind(1, TimeToSql(clock_() + push_session_ttl()));
      extend.bind(2, session_key);
      extend.exec();
      if (!Exists("SELECT 1 FROM push_session_pending WHERE session_id = ?", session_key)) {
        SQLite::Statement drop(*db_, "DELETE FROM push_session WHERE session_id = ?");
        drop.bind(1, session_key);
        drop.exec();
      }
      return true;
    });
    return true;
  }

  bool ExpirePushSessionsAwaiting(uint64_t run_id, absl::string_view object_id) override {
    std::vector<std::string> expired_roots;
    const bool committed = Quiet<bool>("ExpirePushSessionsAwaiting", false, [&] {
      const absl::Time now = clock_();
      expired_roots = DropSessionsLocked(
          "SELECT s.session_id FROM push_session s JOIN push_session_pending p ON p.session_id = "
          "s.session_id WHERE s.run_id = ?1 AND s.expires_at < ?2 AND p.object_id = ?3",
          [&](SQLite::Statement& q) {
            BindId(q, 1, run_id);
            q.bind(2, TimeToSql(now));
            BindText(q, 3, object_id);
          });
      return true;
    });
    if (!committed) return false;
    for (const std::string& root : expired_roots) store_->Delete(root);
    // A session with a pending object has its root.
    return !expired_roots.empty();
  }

 private:
  // Runs `fn` under the mutex in one transaction, committed whatever `fn` returns. A database
  // error rolls the transaction back and becomes an Internal status (R is absl::Status or
  // absl::StatusOr<T>).
  // Adds the new run `run_id` to the series `spec` names (updating it), or to a new series;
  // inside InsertRun's transaction.
  absl::StatusOr<uint64_t> JoinSeries(const NewRun& spec, uint64_t run_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time now = clock_();
    if (spec.series_id) {
      SQLite::Statement q(*db_, "SELECT federation FROM run_series WHERE series_id = ?");
      BindId(q, 1, *spec.series_id);
      std::optional<std::string> federation;
      if (q.executeStep()) federation = Bytes(q.getColumn(0));
      if (absl::Status s = CheckSeriesJoinable(*spec.series_id, federation ? &*federation : nullptr,
                                               spec.federation);
          !s.ok()) {
        return s;
      }
      SQLite::Statement update(
          *db_, "UPDATE run_series SET updated_at = ?, updated_ns = ? WHERE series_id = ?");
      update.bind(1, core::FormatIsoUtc(now));
      update.bind(2, TimeToSql(now));
      BindId(update, 3, *spec.series_id);
      update.exec();
      return *spec.series_id;
    }
    uint64_t series_id;
    do {
      series_id = RandomId();
    } while (series_id == 0 || Exists("SELECT 1 FROM run_series WHERE series_id = ?", series_id));
    SQLite::Statement insert(*db_,
                             "INSERT INTO run_series (series_id, federation, description, "
                             "created_at, updated_at, updated_ns) VALUES (?, ?, '', ?, ?, ?)");
    BindId(insert, 1, series_id);
    insert.bind(2, spec.federation);
    insert.bind(3, core::FormatIsoUtc(now));
    insert.bind(4, core::FormatIsoUtc(now));
    insert.bind(5, TimeToSql(now));
    insert.exec();
    return series_id;
  }

  template <typename R, typename Fn>
  R Checked(absl::string_view op, Fn fn, SQLite::TransactionBehavior behavior = kWrite) {
    return core::sqlite::InTransaction<R>(
        mu_, *db_, "LinkState", op, behavior, std::move(fn),
        [](const std::string& e) { return absl::InternalError(e); });
  }

  // As Checked, for operations without a status: a database error is logged and yields
  // `on_error`.
  template <typename T, typename Fn>
  T Quiet(absl::string_view op, T on_error, Fn fn, SQLite::TransactionBehavior behavior = kWrite) {
    return core::sqlite::InTransaction<T>(mu_, *db_, "LinkState", op, behavior, std::move(fn),
                                          [&](const std::string&) { return on_error; });
  }

  // The protobuf in the run's `column` (`what`, for a corrupt one's error); nullopt if the run
  // is unknown or the column NULL.
  template <typename Proto>
  std::optional<Proto> LoadRunProto(absl::string_view op, uint64_t run_id, const char* column,
                                    absl::string_view what) {
    return Quiet<std::optional<Proto>>(
        op, std::nullopt,
        [&]() -> std::optional<Proto> {
          SQLite::Statement q(*db_, absl::StrCat("SELECT ", column, " FROM run WHERE run_id = ?"));
          BindId(q, 1, run_id);
          if (!q.executeStep() || q.isColumnNull(0)) return std::nullopt;
          return ParseBlob<Proto>(q.getColumn(0), what);
        },
        kRead);
  }

  bool Exists(const char* sql, uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SQLite::Statement q(*db_, sql);
    BindId(q, 1, id);
    return q.executeStep();
  }
  bool Exists(const char* sql, absl::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SQLite::Statement q(*db_, sql);
    BindText(q, 1, key);
    return q.executeStep();
  }

  std::optional<proto::NodeInfo> LoadNode(uint64_t node_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SQLite::Statement q(*db_,
                        absl::StrCat("SELECT ", kNodeColumns, " FROM node WHERE node_id = ?"));
    BindId(q, 1, node_id);
    if (!q.executeStep()) return std::nullopt;
    return NodeFromRow(q);
  }

  std::optional<proto::NodeInfo> LoadNodeByKey(absl::string_view public_key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SQLite::Statement q(*db_,
                        absl::StrCat("SELECT ", kNodeColumns, " FROM node WHERE public_key = ?"));
    BindBlob(q, 1, public_key);
    if (!q.executeStep()) return std::nullopt;
    return NodeFromRow(q);
  }

  // Writes back what the node rules change.
  void SaveNode(const proto::NodeInfo& info) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SQLite::Statement update(*db_,
                             "UPDATE node SET status = ?, last_activated_at = ?, "
                             "last_deactivated_at = ?, unregistered_at = ?, online_until = ?, "
                             "heartbeat_interval = ? WHERE node_id = ?");
    update.bind(1, info.status());
    BindOptionalText(update, 2, info.has_last_activated_at(), info.last_activated_at());
    BindOptionalText(update, 3, info.has_last_deactivated_at(), info.last_deactivated_at());
    BindOptionalText(update, 4, info.has_unregistered_at(), info.unregistered_at());
    if (info.has_online_until()) {
      update.bind(5, info.online_until());
    } else {
      update.bind(5);
    }
    update.bind(6, info.heartbeat_interval());
    BindId(update, 7, info.node_id());
    update.exec();
  }

  // ExpireNode for every node (stale online nodes go offline).
  void ExpireNodes(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SQLite::Statement q(*db_,
                        "SELECT node_id, online_until FROM node "
                        "WHERE status = 'online' AND online_until <= ?");
    q.bind(1, core::ToEpochSeconds(now));
    std::vector<std::pair<uint64_t, double>> stale;
    while (q.executeStep()) stale.emplace_back(Id(q.getColumn(0)), q.getColumn(1).getDouble());
    SQLite::Statement update(*db_,
                             "UPDATE node SET status = ?, last_deactivated_at = ? "
                             "WHERE node_id = ?");
    for (const auto& [node_id, online_until] : stale) {
      BindText(update, 1, kNodeOffline);
      update.bind(2, core::FormatIsoUtc(core::FromEpochSeconds(online_until)));
      BindId(update, 3, node_id);
      update.exec();
      update.reset();
    }
  }

  std::optional<proto::Message> LoadInstruction(const std::string& message_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SQLite::Statement q(*db_, "SELECT message FROM message_ins WHERE message_id = ?");
    q.bind(1, message_id);
    if (!q.executeStep()) return std::nullopt;
    return ParseBlob<proto::Message>(q.getColumn(0), "instruction");
  }

  // The IDs in delivered_before_open_ for `node_id`, now forgotten (each is redelivered once).
  std::vector<std::string> TakeDeliveredBeforeOpen(uint64_t node_id) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = delivered_before_open_.find(node_id);
    if (it == delivered_before_open_.end()) return {};
    std::vector<std::string> ids = std::move(it->second);
    delivered_before_open_.erase(it);
    return ids;
  }

  // Deletes instructions and their replies.
  void DeleteMessagesLocked(const std::vector<std::string>& ids)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SQLite::Statement ins(*db_, "DELETE FROM message_ins WHERE message_id = ?");
    SQLite::Statement res(*db_, "DELETE FROM message_res WHERE reply_to_message_id = ?");
    for (const std::string& id : ids) {
      for (SQLite::Statement* del : {&ins, &res}) {
        del->bind(1, id);
        del->exec();
        del->reset();
      }
    }
  }

  // Deletes the push sessions whose IDs `select` lists (SQL; `bind` binds its parameters),
  // with their messages; returns their roots, for the caller to delete from the object store
  // once the transaction has committed.
  std::vector<std::string> DropSessionsLocked(absl::string_view select,
                                              absl::FunctionRef<void(SQLite::Statement&)> bind)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<std::string> roots;
    SQLite::Statement q(*db_, absl::StrCat("SELECT DISTINCT object_id FROM push_session_root "
                                           "WHERE session_id IN (",
                                           select, ")"));
    bind(q);
    while (q.executeStep()) roots.push_back(Bytes(q.getColumn(0)));
    SQLite::Statement drop(
        *db_, absl::StrCat("DELETE FROM push_session WHERE session_id IN (", select, ")"));
    bind(drop);
    drop.exec();
    DropSessionMessagesLocked(roots);
    return roots;
  }

  // An expired push session takes its messages (instructions or replies) with it.
  void DropSessionMessagesLocked(const std::vector<std::string>& roots)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    DeleteMessagesLocked(roots);
    SQLite::Statement res(*db_, "DELETE FROM message_res WHERE message_id = ?");
    for (const std::string& id : roots) {
      res.bind(1, id);
      res.exec();
      res.reset();
    }
  }

  std::unique_ptr<core::ObjectStore> store_;
  Clock clock_;
  absl::Mutex mu_;
  std::unique_ptr<SQLite::Database> db_ ABSL_GUARDED_BY(mu_);
  // Instructions without a reply that were already delivered when this state opened the file,
  // by destination node: the process that delivered them may have died before its answer
  // reached the node (kill -9 between the commit and the response).
  absl::flat_hash_map<uint64_t, std::vector<std::string>> delivered_before_open_
      ABSL_GUARDED_BY(mu_);
};

// Creates the schema in a new database, or checks that an existing one has it.
void PrepareSchema(SQLite::Database& db) {
  SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
  const int version = db.execAndGet("PRAGMA user_version").getInt();
  if (version == 0) {
    std::vector<std::string> quoted;
    for (const char* table : kTables) quoted.push_back(absl::StrCat("'", table, "'"));
    const int existing =
        db.execAndGet(absl::StrCat("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                                   "name IN (",
                                   absl::StrJoin(quoted, ", "), ")"))
            .getInt();
    if (existing > 0) {
      throw std::runtime_error(
          "it holds LinkState tables of another schema (not a database of this SuperLink)");
    }
    db.exec(kSchema);
    db.exec(absl::StrCat("PRAGMA user_version = ", kSchemaVersion));
  } else if (version < kSchemaVersion) {
    if (version < 2) {
      db.exec("ALTER TABLE node ADD COLUMN name TEXT; ALTER TABLE node ADD COLUMN location TEXT;");
    }
    if (version < 3) db.exec("ALTER TABLE run ADD COLUMN federation_config BLOB;");
    db.exec(kSchema);
    db.exec(kMigrateRunSeries);
    db.exec(absl::StrCat("PRAGMA user_version = ", kSchemaVersion));
  } else if (version != kSchemaVersion) {
    throw std::runtime_error(absl::StrCat("unsupported LinkState schema version ", version,
                                          " (expected ", kSchemaVersion, ")"));
  }
  txn.commit();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LinkState>> OpenSqliteLinkState(
    absl::string_view path, std::unique_ptr<core::ObjectStore> store, Clock clock) {
  try {
    auto db = std::make_unique<SQLite::Database>(std::string(path),
                                                 SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db->setBusyTimeout(10000);
    db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
    PrepareSchema(*db);
    absl::StatusOr<std::unique_ptr<core::TaskStore>> tasks =
        core::TaskStore::OpenSqlite(path, clock);
    if (!tasks.ok()) return tasks.status();
    return std::unique_ptr<LinkState>(
        new SqliteLinkState(std::move(db), std::move(store), *std::move(tasks), std::move(clock)));
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot open SuperLink database '", path, "': ", e.what()));
  }
}

}  // namespace flwr::superlink
