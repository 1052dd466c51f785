// The in-memory NodeState (the only one: stock 1.36 has no persistent NodeState either).
#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/ids.h"
#include "flwr/core/inflatable.h"
#include "flwr/core/iso_time.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/sha256.h"
#include "flwr/core/task.h"
#include "flwr/supernode/node_state.h"

namespace flwr::supernode {
namespace {

struct MessageRecord {
  proto::Message message;
  bool retrieved = false;
};

struct Timing {
  std::optional<absl::Time> start;
  std::optional<absl::Time> end;
};

struct PushSession {
  uint64_t run_id;
  absl::Time expires_at;
  absl::flat_hash_set<std::string> roots;
  absl::flat_hash_set<std::string> pending;
};

class InMemoryNodeState : public NodeState {
 public:
  InMemoryNodeState(std::unique_ptr<core::ObjectStore> store, Clock clock)
      : store_(std::move(store)),
        clock_(std::move(clock)),
        tasks_(core::TaskStore::CreateInMemory(
            clock_, [this](const proto::Task& task) { OnTaskFinished(task); })) {}

  core::ObjectStore& object_store() override { return *store_; }

  // --- Runs, FABs and contexts ----------------------------------------------------------------

  void StoreRun(const proto::Run& run) override {
    absl::MutexLock lock(&mu_);
    runs_[run.run_id()] = run;
  }

  std::optional<proto::Run> GetRun(uint64_t run_id) override {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(run_id);
    if (it == runs_.end()) return std::nullopt;
    return it->second;
  }

  absl::Status StoreFab(const proto::Fab& fab) override {
    if (core::Sha256Hex(fab.content()) != fab.hash_str()) {
      return absl::InvalidArgumentError("The FAB's content does not match its hash");
    }
    absl::MutexLock lock(&mu_);
    fabs_[fab.hash_str()] = fab;
    return absl::OkStatus();
  }

  std::optional<proto::Fab> GetFab(absl::string_view hash_str) override {
    absl::MutexLock lock(&mu_);
    auto it = fabs_.find(hash_str);
    if (it == fabs_.end()) return std::nullopt;
    return it->second;
  }

  std::optional<proto::Context> GetRunSeriesContext(uint64_t series_id) override {
    absl::MutexLock lock(&mu_);
    auto it = contexts_.find(series_id);
    if (it == contexts_.end()) return std::nullopt;
    return it->second;
  }

  void SetRunSeriesContext(uint64_t series_id, const proto::Context& context) override {
    absl::MutexLock lock(&mu_);
    contexts_[series_id] = context;
  }

  // --- Tasks -------------------------------------------------------------------------------

  core::TaskStore& tasks() override { return *tasks_; }

  uint64_t CreateTask(uint64_t run_id, absl::string_view fab_hash,
                      absl::string_view message_id) override {
    // The in-memory store cannot fail to create a task with a fresh ID.
    const uint64_t task_id = *tasks_->CreateTask(
        core::NewTask{std::string(core::kClientAppTaskType), run_id, std::string(fab_hash)});
    absl::MutexLock lock(&mu_);
    message_of_task_[task_id] = std::string(message_id);
    return task_id;
  }

  // --- Messages ------------------------------------------------------------------------------

  void StoreInstruction(const proto::Message& message) override {
    absl::MutexLock lock(&mu_);
    const std::string& id = message.metadata().message_id();
    if (!messages_.contains(id)) message_order_.push_back(id);
    messages_[id] = MessageRecord{message, false};
  }

  std::optional<proto::Message> RetrieveInstruction(const proto::Task& task) override {
    absl::MutexLock lock(&mu_);
    std::string message_id;
    if (auto t = message_of_task_.find(task.task_id()); t != message_of_task_.end()) {
      message_id = t->second;
    }
    auto it = messages_.find(message_id);
    if (it == messages_.end() || it->second.retrieved || IsReply(it->second.message)) {
      it = messages_.end();
      for (const std::string& id : message_order_) {
        auto m = messages_.find(id);
        if (m != messages_.end() && !m->second.retrieved && !IsReply(m->second.message) &&
            m->second.message.metadata().run_id() == task.run_id()) {
          it = m;
          break;
        }
      }
    }
    if (it == messages_.end()) return std::nullopt;
    it->second.retrieved = true;
    timings_[it->first].start = clock_();
    return it->second.message;
  }

  void StoreReply(const proto::Message& reply) override {
    absl::MutexLock lock(&mu_);
    // Only the first reply to an instruction counts (e.g. not a late one after a crash reply).
    if (replied_.contains(reply.metadata().reply_to_message_id())) return;
    StoreReplyLocked(reply);
    auto timing = timings_.find(reply.metadata().reply_to_message_id());
    if (timing != timings_.end()) timing->second.end = clock_();
  }

  std::vector<proto::Message> TakeReplies() override {
    tasks_->ExpireTasks();  // crash replies of lapsed tasks first
    absl::MutexLock lock(&mu_);
    std::vector<proto::Message> out;
    for (const std::string& id : message_order_) {
      auto it = messages_.find(id);
      if (it == messages_.end() || it->second.retrieved || !IsReply(it->second.message)) continue;
      it->second.retrieved = true;
      out.push_back(it->second.message);
    }
    return out;
  }

  void DeleteMessage(absl::string_view message_id) override {
    absl::MutexLock lock(&mu_);
    messages_.erase(message_id);
    timings_.erase(message_id);
    replied_.erase(message_id);
    if (messages_.size() * 2 < message_order_.size()) {
      std::erase_if(message_order_, [&](const std::string& id) { return !messages_.contains(id); });
    }
  }

  std::optional<double> ProcessingSeconds(absl::string_view instruction_id) override {
    absl::MutexLock lock(&mu_);
    auto it = timings_.find(instruction_id);
    if (it == timings_.end() || !it->second.start || !it->second.end) return std::nullopt;
    return absl::ToDoubleSeconds(*it->second.end - *it->second.start);
  }

  // --- Object push sessions ------------------------------------------------------------------

  std::string StartPushSession(uint64_t run_id) override {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_();
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (it->second.expires_at < now) {
        DropSessionLocked(it->second);
        sessions_.erase(it++);
      } else {
        ++it;
      }
    }
    std::string id = core::NewUuid4();
    sessions_[id] = PushSession{run_id, now + core::kPushSessionTtl, {}, {}};
    return id;
  }

  absl::StatusOr<std::vector<std::string>> PreregisterObjectTree(
      absl::string_view session_id, uint64_t run_id, const proto::ObjectTree& tree) override {
    absl::StatusOr<std::vector<std::string>> missing = store_->Preregister(run_id, tree);
    if (!missing.ok()) return missing.status();
    absl::MutexLock lock(&mu_);
    auto session = sessions_.find(session_id);
    if (session == sessions_.end()) return absl::NotFoundError("Unknown push session");
    session->second.roots.insert(tree.object_id());
    session->second.pending.insert(missing->begin(), missing->end());
    return missing;
  }

  bool StoreObject(uint64_t run_id, absl::string_view session_id, absl::string_view object_id,
                   std::string content) override {
    bool pending = false;
    {
      absl::MutexLock lock(&mu_);
      auto session = sessions_.find(session_id);
      pending = session != sessions_.end() && session->second.run_id == run_id &&
                session->second.pending.contains(object_id);
      if (pending && session->second.expires_at < clock_()) {
        DropSessionLocked(session->second);
        sessions_.erase(session);
        return false;
      }
    }
    // Not pending: a repeated push of an object already stored is "stored" (outside the lock).
    if (!pending) return core::HoldsObject(*store_, object_id, content);
    if (!store_->Put(object_id, std::move(content)).ok()) return false;
    absl::MutexLock lock(&mu_);
    auto session = sessions_.find(session_id);
    if (session == sessions_.end()) return true;
    session->second.pending.erase(object_id);
    session->second.expires_at = clock_() + core::kPushSessionTtl;
    if (session->second.pending.empty()) sessions_.erase(session);
    return true;
  }

 private:
  static bool IsReply(const proto::Message& m) {
    return !m.metadata().reply_to_message_id().empty();
  }

  void StoreReplyLocked(const proto::Message& reply) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string& id = reply.metadata().message_id();
    if (!messages_.contains(id)) message_order_.push_back(id);
    messages_[id] = MessageRecord{reply, false};
    replied_.insert(reply.metadata().reply_to_message_id());
  }

  // A task that ended without replying to its instruction: the crash reply.
  void OnTaskFinished(const proto::Task& task) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto message_id = message_of_task_.find(task.task_id());
    if (message_id == message_of_task_.end()) return;
    auto ins = messages_.find(message_id->second);
    if (ins == messages_.end() || replied_.contains(message_id->second)) return;
    StoreReplyLocked(ErrorReplyTo(ins->second.message.metadata(), kClientAppCrashedCode,
                                  kClientAppCrashedReason, clock_()));
    auto timing = timings_.find(message_id->second);
    if (timing != timings_.end() && !timing->second.end) timing->second.end = clock_();
  }

  // An expired push session takes its messages with it.
  void DropSessionLocked(const PushSession& session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const std::string& root : session.roots) {
      messages_.erase(root);
      store_->Delete(root);
    }
  }

  std::unique_ptr<core::ObjectStore> store_;
  Clock clock_;
  std::unique_ptr<core::TaskStore> tasks_;
  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, proto::Run> runs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, proto::Fab> fabs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, proto::Context> contexts_ ABSL_GUARDED_BY(mu_);
  // The instruction each task handles.
  absl::flat_hash_map<uint64_t, std::string> message_of_task_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, MessageRecord> messages_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> message_order_ ABSL_GUARDED_BY(mu_);
  // Instructions that have a reply (kept after the reply is deleted, so a late finish does
  // not produce a crash reply for an answered instruction).
  absl::flat_hash_set<std::string> replied_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Timing> timings_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, PushSession, std::less<>> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

proto::Message ErrorReplyTo(const proto::Metadata& ins, int64_t code, absl::string_view reason,
                            absl::Time now) {
  core::Message reply;
  const double now_s = core::ToEpochSeconds(now);
  reply.metadata.run_id = ins.run_id();
  reply.metadata.src_node_id = ins.dst_node_id();
  reply.metadata.dst_node_id = ins.src_node_id();
  reply.metadata.reply_to_message_id = ins.message_id();
  reply.metadata.group_id = ins.group_id();
  reply.metadata.message_type = ins.message_type();
  reply.metadata.created_at = now_s;
  reply.metadata.ttl = std::max(ins.created_at() + ins.ttl() - now_s, 0.0);
  if (ins.has_dst_task_id()) reply.metadata.src_task_id = ins.dst_task_id();
  if (ins.has_src_task_id()) reply.metadata.dst_task_id = ins.src_task_id();
  reply.error = core::Error{code, std::string(reason)};
  if (absl::StatusOr<std::string> id = core::ComputeMessageId(reply); id.ok()) {
    reply.metadata.message_id = *id;
  }
  // A message with an error and no content always converts.
  return *core::MessageToProto(reply);
}

std::unique_ptr<NodeState> NodeState::CreateInMemory(Clock clock) {
  absl::StatusOr<std::unique_ptr<core::ObjectStore>> store =
      core::ObjectStore::Open(core::kInMemoryDatabase);
  // The in-memory store cannot fail to open.
  return std::make_unique<InMemoryNodeState>(*std::move(store), std::move(clock));
}

}  // namespace flwr::supernode
