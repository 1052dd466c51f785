// The in-memory ObjectStore (`--database :flwr-in-memory:`).
#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/inflatable.h"
#include "flwr/core/object_store.h"
#include "object_store_internal.h"

namespace flwr::core {
namespace {

struct Entry {
  std::string content;
  bool available = false;
  std::vector<std::string> children;
  int64_t ref_count = 0;  // stored objects that list this one as a child
  absl::flat_hash_set<uint64_t> runs;
};

class InMemoryObjectStore : public ObjectStore {
 public:
  absl::StatusOr<std::vector<std::string>> Preregister(uint64_t run_id,
                                                       const proto::ObjectTree& tree) override {
    std::vector<const proto::ObjectTree*> nodes = PostOrderNodes(tree);
    if (absl::Status s = CheckTreeIds(nodes); !s.ok()) return s;
    std::vector<std::string> missing;
    absl::MutexLock lock(&mu_);
    auto& run_objects = run_objects_[run_id];
    for (const proto::ObjectTree* node : nodes) {
      const std::string& id = node->object_id();
      auto [it, inserted] = store_.try_emplace(id);
      Entry& entry = it->second;
      if (inserted) {
        for (const auto& child : node->children()) {
          entry.children.push_back(child.object_id());
          store_[child.object_id()].ref_count++;
        }
      }
      if (!entry.available) missing.push_back(id);
      entry.runs.insert(run_id);
      run_objects.insert(id);
    }
    return missing;
  }

  absl::StatusOr<proto::ObjectTree> GetObjectTree(absl::string_view object_id) override {
    absl::MutexLock lock(&mu_);
    proto::ObjectTree tree;
    if (absl::Status s = FillTree(object_id, &tree); !s.ok()) return s;
    return tree;
  }

  absl::Status Put(absl::string_view object_id, std::string content) override {
    if (absl::Status s = CheckObjectContent(object_id, content); !s.ok()) return s;
    absl::MutexLock lock(&mu_);
    auto it = store_.find(object_id);
    if (it == store_.end()) return NotPreregistered(object_id);
    if (!it->second.available) {
      it->second.content = std::move(content);
      it->second.available = true;
    }
    return absl::OkStatus();
  }

  std::optional<std::string> Get(absl::string_view object_id) override {
    absl::MutexLock lock(&mu_);
    auto it = store_.find(object_id);
    if (it == store_.end()) return std::nullopt;
    return it->second.content;
  }

  bool Read(absl::string_view object_id,
            const std::function<void(absl::string_view)>& read) override {
    absl::MutexLock lock(&mu_);
    auto it = store_.find(object_id);
    if (it == store_.end()) return false;
    read(it->second.content);
    return true;
  }

  std::optional<std::string> TakeForForwarding(absl::string_view object_id) override {
    absl::MutexLock lock(&mu_);
    auto it = store_.find(object_id);
    if (it == store_.end()) return std::nullopt;
    if (!it->second.available) return std::string();
    std::string taken = std::move(it->second.content);
    it->second.content = std::string();
    it->second.available = false;
    return taken;
  }

  void Delete(absl::string_view object_id) override {
    absl::MutexLock lock(&mu_);
    DeleteLocked(std::string(object_id));
  }

  void DeleteObjectsInRun(uint64_t run_id) override {
    absl::MutexLock lock(&mu_);
    auto run = run_objects_.find(run_id);
    if (run == run_objects_.end()) return;
    const absl::flat_hash_set<std::string> ids = std::move(run->second);
    run_objects_.erase(run);
    for (const std::string& id : ids) {
      auto it = store_.find(id);
      if (it == store_.end()) continue;
      it->second.runs.erase(run_id);
      if (it->second.ref_count == 0) DeleteLocked(id);
    }
  }

  bool Contains(absl::string_view object_id) override {
    absl::MutexLock lock(&mu_);
    return store_.contains(object_id);
  }

  size_t Size() override {
    absl::MutexLock lock(&mu_);
    return store_.size();
  }

 private:
  absl::Status FillTree(absl::string_view object_id, proto::ObjectTree* tree)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = store_.find(object_id);
    if (it == store_.end()) return NotPreregistered(object_id);
    tree->set_object_id(std::string(object_id));
    for (const std::string& child : it->second.children) {
      if (absl::Status s = FillTree(child, tree->add_children()); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  void DeleteLocked(const std::string& object_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = store_.find(object_id);
    if (it == store_.end() || it->second.ref_count > 0) return;
    Entry entry = std::move(it->second);
    store_.erase(it);
    for (uint64_t run_id : entry.runs) {
      auto run = run_objects_.find(run_id);
      if (run != run_objects_.end()) run->second.erase(object_id);
    }
    for (const std::string& child : entry.children) {
      auto child_it = store_.find(child);
      if (child_it == store_.end()) continue;
      child_it->second.ref_count--;
      DeleteLocked(child);
    }
  }

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> store_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<std::string>> run_objects_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<ObjectStore> NewInMemoryObjectStore() {
  return std::make_unique<InMemoryObjectStore>();
}

}  // namespace flwr::core
