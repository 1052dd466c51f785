// The SQLite ObjectStore (`--database FILE`): embedded, WAL, one connection behind a mutex.
#include <SQLiteCpp/SQLiteCpp.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/object_store.h"
#include "object_store_internal.h"

namespace flwr::core {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS objects (
  object_id TEXT PRIMARY KEY,
  content BLOB NOT NULL DEFAULT x'',
  is_available INTEGER NOT NULL DEFAULT 0,
  ref_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS object_children (
  parent_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  child_id TEXT NOT NULL,
  PRIMARY KEY (parent_id, position)
);
CREATE INDEX IF NOT EXISTS object_children_by_child ON object_children (child_id);
CREATE TABLE IF NOT EXISTS run_objects (
  run_id INTEGER NOT NULL,
  object_id TEXT NOT NULL,
  PRIMARY KEY (run_id, object_id)
);
CREATE INDEX IF NOT EXISTS run_objects_by_object ON run_objects (object_id);
)sql";

// SQLite integers are signed: run IDs (uint64) are stored bit for bit as int64.
int64_t ToSql(uint64_t v) { return static_cast<int64_t>(v); }

class SqliteObjectStore : public ObjectStore {
 public:
  explicit SqliteObjectStore(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}

  absl::StatusOr<std::vector<std::string>> Preregister(uint64_t run_id,
                                                       const proto::ObjectTree& tree) override {
    std::vector<const proto::ObjectTree*> nodes = PostOrderNodes(tree);
    if (absl::Status s = CheckTreeIds(nodes); !s.ok()) return s;
    return Guard<std::vector<std::string>>([&] {
      SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
      std::vector<std::string> missing;
      SQLite::Statement insert(*db_, "INSERT OR IGNORE INTO objects (object_id) VALUES (?)");
      SQLite::Statement add_child(
          *db_, "INSERT INTO object_children (parent_id, position, child_id) VALUES (?, ?, ?)");
      SQLite::Statement ref(*db_,
                            "UPDATE objects SET ref_count = ref_count + 1 WHERE object_id = ?");
      SQLite::Statement available(*db_, "SELECT is_available FROM objects WHERE object_id = ?");
      SQLite::Statement add_run(
          *db_, "INSERT OR IGNORE INTO run_objects (run_id, object_id) VALUES (?, ?)");
      for (const proto::ObjectTree* node : nodes) {
        const std::string& id = node->object_id();
        insert.bind(1, id);
        const bool inserted = insert.exec() == 1;
        insert.reset();
        if (inserted) {
          int position = 0;
          for (const auto& child : node->children()) {
            add_child.bind(1, id);
            add_child.bind(2, position++);
            add_child.bind(3, child.object_id());
            add_child.exec();
            add_child.reset();
            ref.bind(1, child.object_id());
            ref.exec();
            ref.reset();
          }
        }
        available.bind(1, id);
        available.executeStep();
        if (available.getColumn(0).getInt() == 0) missing.push_back(id);
        available.reset();
        add_run.bind(1, ToSql(run_id));
        add_run.bind(2, id);
        add_run.exec();
        add_run.reset();
      }
      txn.commit();
      return missing;
    });
  }

  absl::StatusOr<proto::ObjectTree> GetObjectTree(absl::string_view object_id) override {
    return Guard<proto::ObjectTree>([&]() -> absl::StatusOr<proto::ObjectTree> {
      proto::ObjectTree tree;
      if (absl::Status s = FillTree(std::string(object_id), &tree); !s.ok()) return s;
      return tree;
    });
  }

  absl::Status Put(absl::string_view object_id, std::string content) override {
    if (absl::Status s = CheckObjectContent(object_id, content); !s.ok()) return s;
    return GuardStatus([&]() -> absl::Status {
      SQLite::Statement update(*db_,
                               "UPDATE objects SET content = ?, is_available = 1 "
                               "WHERE object_id = ? AND is_available = 0");
      update.bind(1, content.data(), static_cast<int>(content.size()));
      update.bind(2, std::string(object_id));
      if (update.exec() == 1) return absl::OkStatus();
      if (!Exists(object_id)) return NotPreregistered(object_id);
      return absl::OkStatus();  // already available
    });
  }

  std::optional<std::string> Get(absl::string_view object_id) override {
    auto out = Guard<std::optional<std::string>>([&]() -> std::optional<std::string> {
      SQLite::Statement query(*db_, "SELECT content FROM objects WHERE object_id = ?");
      query.bind(1, std::string(object_id));
      if (!query.executeStep()) return std::nullopt;
      const SQLite::Column column = query.getColumn(0);
      return std::string(static_cast<const char*>(column.getBlob()),
                         static_cast<size_t>(column.getBytes()));
    });
    return out.ok() ? *out : std::nullopt;
  }

  void Delete(absl::string_view object_id) override {
    GuardStatus([&] {
      SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
      DeleteLocked(std::string(object_id));
      txn.commit();
      return absl::OkStatus();
    }).IgnoreError();
  }

  void DeleteObjectsInRun(uint64_t run_id) override {
    GuardStatus([&] {
      SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
      std::vector<std::string> ids;
      SQLite::Statement query(*db_, "SELECT object_id FROM run_objects WHERE run_id = ?");
      query.bind(1, ToSql(run_id));
      while (query.executeStep()) ids.push_back(query.getColumn(0).getString());
      SQLite::Statement forget(*db_, "DELETE FROM run_objects WHERE run_id = ?");
      forget.bind(1, ToSql(run_id));
      forget.exec();
      for (const std::string& id : ids) DeleteLocked(id);
      txn.commit();
      return absl::OkStatus();
    }).IgnoreError();
  }

  bool Contains(absl::string_view object_id) override {
    auto out = Guard<bool>([&] { return Exists(object_id); });
    return out.ok() && *out;
  }

  size_t Size() override {
    auto out = Guard<size_t>([&] {
      return static_cast<size_t>(db_->execAndGet("SELECT COUNT(*) FROM objects").getInt64());
    });
    return out.ok() ? *out : 0;
  }

 private:
  // Runs `fn` under the connection mutex, turning SQLite exceptions into a status.
  template <typename T, typename Fn>
  absl::StatusOr<T> Guard(Fn fn) {
    absl::MutexLock lock(&mu_);
    try {
      return fn();
    } catch (const SQLite::Exception& e) {
      return absl::InternalError(absl::StrCat("object store database: ", e.what()));
    }
  }
  template <typename Fn>
  absl::Status GuardStatus(Fn fn) {
    absl::MutexLock lock(&mu_);
    try {
      return fn();
    } catch (const SQLite::Exception& e) {
      return absl::InternalError(absl::StrCat("object store database: ", e.what()));
    }
  }

  bool Exists(absl::string_view object_id) {
    SQLite::Statement query(*db_, "SELECT 1 FROM objects WHERE object_id = ?");
    query.bind(1, std::string(object_id));
    return query.executeStep();
  }

  absl::Status FillTree(const std::string& object_id, proto::ObjectTree* tree) {
    if (!Exists(object_id)) return NotPreregistered(object_id);
    tree->set_object_id(object_id);
    std::vector<std::string> children;
    SQLite::Statement query(
        *db_, "SELECT child_id FROM object_children WHERE parent_id = ? ORDER BY position");
    query.bind(1, object_id);
    while (query.executeStep()) children.push_back(query.getColumn(0).getString());
    for (const std::string& child : children) {
      if (absl::Status s = FillTree(child, tree->add_children()); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  void DeleteLocked(const std::string& object_id) {
    SQLite::Statement query(*db_, "SELECT ref_count FROM objects WHERE object_id = ?");
    query.bind(1, object_id);
    if (!query.executeStep() || query.getColumn(0).getInt64() > 0) return;
    std::vector<std::string> children;
    SQLite::Statement list(
        *db_, "SELECT child_id FROM object_children WHERE parent_id = ? ORDER BY position");
    list.bind(1, object_id);
    while (list.executeStep()) children.push_back(list.getColumn(0).getString());
    for (const char* sql : {"DELETE FROM objects WHERE object_id = ?",
                            "DELETE FROM object_children WHERE parent_id = ?",
                            "DELETE FROM run_objects WHERE object_id = ?"}) {
      SQLite::Statement del(*db_, sql);
      del.bind(1, object_id);
      del.exec();
    }
    SQLite::Statement unref(*db_,
                            "UPDATE objects SET ref_count = ref_count - 1 WHERE object_id = ?");
    for (const std::string& child : children) {
      unref.bind(1, child);
      unref.exec();
      unref.reset();
      DeleteLocked(child);
    }
  }

  absl::Mutex mu_;
  std::unique_ptr<SQLite::Database> db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<ObjectStore>> OpenSqliteObjectStore(absl::string_view path) {
  try {
    auto db = std::make_unique<SQLite::Database>(std::string(path),
                                                 SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    db->setBusyTimeout(10000);
    db->exec(kSchema);
    return std::unique_ptr<ObjectStore>(new SqliteObjectStore(std::move(db)));
  } catch (const SQLite::Exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot open object store database '", path, "': ", e.what()));
  }
}

}  // namespace flwr::core
