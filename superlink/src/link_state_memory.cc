// The in-memory LinkState (`--database :flwr-in-memory:`).
#include <algorithm>
#include <limits>
#include <map>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/iso_time.h"
#include "flwr/core/proto_convert.h"
#include "flwr/superlink/link_state.h"
#include "link_state_util.h"

namespace flwr::superlink {
namespace {

struct RunRecord {
  proto::Run run;  // status and timestamps live on the primary task
  proto::Context context;
  std::optional<proto::SimulationConfig> federation_config;
  uint64_t created = 0;  // creation order
};

struct SeriesRecord {
  proto::RunSeries series;  // without last_run_status
  absl::Time updated_at;
  uint64_t created = 0;  // creation order
};

struct AppRecord {
  proto::AppInfo info;
  std::string added_by;
  absl::Time added_at;
};

struct AutomationRecord {
  proto::Automation automation;
  proto::StartRunRequest request;
};

struct MessageRecord {
  proto::Message message;
  std::string delivered_at;  // ISO time, empty until handed out
};

struct PushSession {
  uint64_t run_id;
  absl::Time expires_at;
  absl::flat_hash_set<std::string> roots;
  absl::flat_hash_set<std::string> pending;
};

class InMemoryLinkState : public LinkState {
 public:
  InMemoryLinkState(std::unique_ptr<core::ObjectStore> store,
                    std::unique_ptr<core::TaskStore> tasks, Clock clock)
      : LinkState(std::move(tasks), clock), store_(std::move(store)), clock_(std::move(clock)) {}

  core::ObjectStore& object_store() override { return *store_; }

  // --- Nodes -------------------------------------------------------------------------------

  absl::StatusOr<uint64_t> CreateNode(absl::string_view public_key, double heartbeat_interval,
                                      const NodeDetails& details) override {
    absl::MutexLock lock(&mu_);
    if (node_by_key_.contains(public_key)) {
      return core::FlowerError(core::api_error::kPublicKeyAlreadyInUse,
                               "Public key already in use");
    }
    uint64_t node_id;
    do {
      node_id = RandomId();
    } while (node_id <= kSuperLinkNodeId || nodes_.contains(node_id));
    proto::NodeInfo& info = nodes_[node_id];
    info.set_node_id(node_id);
    info.set_owner_aid(std::string(kNoAccountId));
    info.set_owner_name(std::string(kNoAccountName));
    info.set_status(std::string(kNodeRegistered));
    info.set_registered_at(core::FormatIsoUtc(clock_()));
    info.set_heartbeat_interval(heartbeat_interval);
    info.set_public_key(std::string(public_key));
    if (details.name) info.set_name(*details.name);
    if (details.location) info.set_location(*details.location);
    node_by_key_[std::string(public_key)] = node_id;
    return node_id;
  }

  absl::StatusOr<uint64_t> ActivateNode(absl::string_view public_key,
                                        double heartbeat_interval) override {
    if (absl::Status s = CheckHeartbeatInterval(heartbeat_interval); !s.ok()) return s;
    absl::MutexLock lock(&mu_);
    auto it = node_by_key_.find(public_key);
    if (it == node_by_key_.end()) {
      return core::FlowerError(core::api_error::kFleetNodeActivationFailed, "Unknown public key");
    }
    proto::NodeInfo& info = nodes_[it->second];
    const absl::Time now = clock_();
    ExpireNode(info, now);
    if (info.status() != kNodeRegistered && info.status() != kNodeOffline) {
      return core::FlowerError(core::api_error::kFleetNodeActivationFailed,
                               absl::StrCat("Node ", info.node_id(), " is ", info.status()));
    }
    SetOnline(info, heartbeat_interval, now);
    return info.node_id();
  }

  absl::Status DeactivateNode(uint64_t node_id) override {
    absl::MutexLock lock(&mu_);
    auto it = nodes_.find(node_id);
    const absl::Time now = clock_();
    if (it != nodes_.end()) ExpireNode(it->second, now);
    if (it == nodes_.end() || it->second.status() != kNodeOnline) {
      return core::FlowerError(core::api_error::kFleetNodeDeactivationFailed,
                               absl::StrCat("Node ", node_id, " is not online"));
    }
    it->second.set_status(std::string(kNodeOffline));
    it->second.set_last_deactivated_at(core::FormatIsoUtc(now));
    it->second.set_online_until(core::ToEpochSeconds(now));
    return absl::OkStatus();
  }

  absl::Status UnregisterNode(uint64_t node_id) override {
    absl::MutexLock lock(&mu_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end() || it->second.status() == kNodeUnregistered) {
      return core::FlowerError(core::api_error::kFleetNodeUnregistrationFailed,
                               absl::StrCat("Node ", node_id, " not found"));
    }
    const absl::Time now = clock_();
    proto::NodeInfo& info = it->second;
    info.set_status(std::string(kNodeUnregistered));
    info.set_unregistered_at(core::FormatIsoUtc(now));
    const double now_s = core::ToEpochSeconds(now);
    info.set_online_until(info.has_online_until() ? std::min(info.online_until(), now_s) : now_s);
    return absl::OkStatus();
  }

  absl::StatusOr<bool> AcknowledgeNodeHeartbeat(uint64_t node_id,
                                                double heartbeat_interval) override {
    if (absl::Status s = CheckHeartbeatInterval(heartbeat_interval); !s.ok()) return s;
    absl::MutexLock lock(&mu_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end() || it->second.status() == kNodeUnregistered) return false;
    const absl::Time now = clock_();
    ExpireNode(it->second, now);
    SetOnline(it->second, heartbeat_interval, now);
    return true;
  }

  // Every Fleet call authenticates through here: a shared lock, so that hundreds of nodes
  // polling at once do not queue behind each other (a 400-node run convoyed ~800 gRPC threads
  // on this lookup and starved the ServerApp's Runtime API calls past their 30 s timeout).
  std::optional<uint64_t> GetNodeIdByPublicKey(absl::string_view public_key) override {
    absl::ReaderMutexLock lock(&mu_);
    auto it = node_by_key_.find(public_key);
    if (it == node_by_key_.end()) return std::nullopt;
    auto node = nodes_.find(it->second);
    if (node == nodes_.end() || node->second.status() == kNodeUnregistered) return std::nullopt;
    return it->second;
  }

  std::vector<proto::NodeInfo> ListNodes() override {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_();
    std::vector<proto::NodeInfo> out;
    for (auto& [id, info] : nodes_) {
      ExpireNode(info, now);
      out.push_back(info);
    }
    return out;
  }

  std::vector<uint64_t> GetOnlineNodeIds() override {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_();
    std::vector<uint64_t> out;
    for (auto& [id, info] : nodes_) {
      ExpireNode(info, now);
      if (info.status() == kNodeOnline) out.push_back(id);
    }
    return out;
  }

  // --- Runs --------------------------------------------------------------------------------

  absl::StatusOr<CreatedRun> InsertRun(const NewRun& spec, uint64_t task_id) override {
    absl::MutexLock lock(&mu_);
    uint64_t run_id;
    do {
      run_id = RandomId();
    } while (run_id == 0 || runs_.contains(run_id));
    absl::StatusOr<uint64_t> series_id = JoinSeries(spec, run_id);
    if (!series_id.ok()) return series_id.status();

    RunRecord& record = runs_[run_id];
    proto::Run& run = record.run;
    run.set_run_id(run_id);
    run.set_fab_id(spec.fab_id);
    run.set_fab_version(spec.fab_version);
    run.set_fab_hash(spec.fab_hash);
    if (absl::Status s =
            core::UserConfigToProto(spec.override_config, run.mutable_override_config());
        !s.ok()) {
      runs_.erase(run_id);
      return s;
    }
    run.set_flwr_aid(spec.flwr_aid);
    run.set_federation(spec.federation);
    run.set_primary_task_type(spec.primary_task_type);
    run.set_primary_task_id(task_id);
    run.set_series_id(*series_id);
    record.context = InitialContext(run_id, *series_id);
    // As flwr's _refresh_run_series_context: a run joining a series starts from the state of
    // the series' context, i.e. of its latest run before this one.
    const RunRecord* latest = nullptr;
    for (const auto& [id, other] : runs_) {
      if (id != run_id && other.run.series_id() == *series_id &&
          (latest == nullptr || other.created > latest->created)) {
        latest = &other;
      }
    }
    if (latest != nullptr) *record.context.mutable_state() = latest->context.state();
    record.federation_config = spec.federation_config;
    record.created = ++runs_created_;
    return CreatedRun{run_id, *series_id, task_id};
  }

  std::optional<proto::Run> LoadRun(uint64_t run_id) override {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(run_id);
    if (it == runs_.end()) return std::nullopt;
    return it->second.run;
  }

  std::vector<proto::Run> LoadRuns(absl::string_view flwr_aid) override {
    absl::MutexLock lock(&mu_);
    std::vector<const RunRecord*> found;
    for (const auto& [id, record] : runs_) {
      if (record.run.flwr_aid() == flwr_aid) found.push_back(&record);
    }
    std::sort(found.begin(), found.end(),
              [](const RunRecord* a, const RunRecord* b) { return a->created > b->created; });
    std::vector<proto::Run> out;
    for (const RunRecord* record : found) out.push_back(record->run);
    return out;
  }

  void CleanupRun(uint64_t run_id) override {
    {
      absl::MutexLock lock(&mu_);
      std::vector<std::string> ids;
      for (const auto& [id, record] : message_ins_) {
        if (record.message.metadata().run_id() == run_id) ids.push_back(id);
      }
      DeleteMessagesLocked(ids);
      for (auto it = sessions_.begin(); it != sessions_.end();) {
        if (it->second.run_id == run_id) {
          sessions_.erase(it++);
        } else {
          ++it;
        }
      }
    }
    store_->DeleteObjectsInRun(run_id);
  }

  void StoreTraffic(uint64_t run_id, uint64_t bytes_sent, uint64_t bytes_recv) override {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(run_id);
    if (it == runs_.end()) return;
    it->second.run.set_bytes_sent(it->second.run.bytes_sent() + bytes_sent);
    it->second.run.set_bytes_recv(it->second.run.bytes_recv() + bytes_recv);
  }

  void AddClientAppRuntime(uint64_t run_id, double seconds) override {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(run_id);
    if (it != runs_.end()) {
      it->second.run.set_clientapp_runtime(it->second.run.clientapp_runtime() + seconds);
    }
  }

  std::optional<proto::SimulationConfig> GetFederationConfig(uint64_t run_id) override {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(run_id);
    if (it == runs_.end()) return std::nullopt;
    return it->second.federation_config;
  }

  std::optional<proto::Context> GetRunContext(uint64_t run_id) override {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(run_id);
    if (it == runs_.end()) return std::nullopt;
    return it->second.context;
  }

  void SetRunContext(uint64_t run_id, const proto::Context& context) override {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(run_id);
    if (it != runs_.end()) it->second.context = context;
  }

  // --- FABs ----------------------------------------------------------------------------------

  // --- Run series --------------------------------------------------------------------------

  std::vector<proto::RunSeries> ListRunSeries() override {
    absl::ReaderMutexLock lock(&mu_);
    std::vector<const SeriesRecord*> found;
    for (const auto& [id, record] : series_) found.push_back(&record);
    std::sort(found.begin(), found.end(), [](const SeriesRecord* a, const SeriesRecord* b) {
      return a->updated_at != b->updated_at ? a->updated_at > b->updated_at
                                            : a->created < b->created;
    });
    std::vector<proto::RunSeries> out;
    for (const SeriesRecord* record : found) out.push_back(record->series);
    return out;
  }

  bool SetRunSeriesDescription(uint64_t series_id, absl::string_view description) override {
    absl::MutexLock lock(&mu_);
    auto it = series_.find(series_id);
    if (it == series_.end()) return false;
    it->second.series.set_description(std::string(description));
    return true;
  }

  // --- Apps --------------------------------------------------------------------------------

  void StoreApp(absl::string_view federation, const proto::AppInfo& app,
                absl::string_view added_by) override {
    absl::MutexLock lock(&mu_);
    auto [it, added] = apps_.try_emplace({std::string(federation), app.app_id()});
    if (added) {
      it->second.added_by = std::string(added_by);
      it->second.added_at = clock_();
    }
    it->second.info = app;
  }

  std::vector<proto::AppInfo> ListApps(absl::string_view federation,
                                       std::optional<size_t> limit) override {
    absl::ReaderMutexLock lock(&mu_);
    std::vector<const AppRecord*> found;
    for (const auto& [key, record] : apps_) {
      if (key.first == federation) found.push_back(&record);
    }
    std::sort(found.begin(), found.end(), [](const AppRecord* a, const AppRecord* b) {
      return a->added_at != b->added_at ? a->added_at > b->added_at
                                        : a->info.app_id() > b->info.app_id();
    });
    if (limit && found.size() > *limit) found.resize(*limit);
    std::vector<proto::AppInfo> out;
    for (const AppRecord* record : found) out.push_back(record->info);
    return out;
  }

  bool DeleteApp(absl::string_view federation, absl::string_view app_id) override {
    absl::MutexLock lock(&mu_);
    return apps_.erase({std::string(federation), std::string(app_id)}) > 0;
  }

  // --- Automations -------------------------------------------------------------------------

  uint64_t InsertAutomation(const proto::Automation& automation,
                            const proto::StartRunRequest& request) override {
    absl::MutexLock lock(&mu_);
    const uint64_t id = automations_.size() + 1;
    AutomationRecord& record = automations_[id];
    record.automation = automation;
    record.automation.set_automation_id(id);
    record.request = request;
    return id;
  }

  std::vector<proto::Automation> LoadAutomations() override {
    absl::ReaderMutexLock lock(&mu_);
    std::vector<proto::Automation> out;
    for (const auto& [id, record] : automations_) out.push_back(record.automation);
    return out;
  }

  bool UpdateAutomation(uint64_t automation_id, absl::FunctionRef<bool(proto::Automation&)> update,
                        proto::StartRunRequest* request) override {
    absl::MutexLock lock(&mu_);
    auto it = automations_.find(automation_id);
    if (it == automations_.end()) return false;
    proto::Automation automation = it->second.automation;
    if (!update(automation)) return false;
    it->second.automation = std::move(automation);
    if (request != nullptr) *request = it->second.request;
    return true;
  }

  void StoreFab(const proto::Fab& fab) override {
    absl::MutexLock lock(&mu_);
    fabs_[fab.hash_str()] = fab;
  }

  std::optional<proto::Fab> GetFab(absl::string_view fab_hash) override {
    absl::ReaderMutexLock lock(&mu_);
    auto it = fabs_.find(fab_hash);
    if (it == fabs_.end()) return std::nullopt;
    return it->second;
  }

  // --- Messages ------------------------------------------------------------------------------

  absl::StatusOr<std::string> StoreMessageIns(const proto::Message& message) override {
    const proto::Metadata& meta = message.metadata();
    std::optional<proto::Run> run = GetRun(meta.run_id());
    absl::MutexLock lock(&mu_);
    if (!run)
      return absl::FailedPreconditionError(absl::StrCat("Run ", meta.run_id(), " not found"));
    if (run->status().status() == kStatusFinished) {
      return absl::FailedPreconditionError(absl::StrCat("Run ", meta.run_id(), " is finished"));
    }
    auto node = nodes_.find(meta.dst_node_id());
    if (node != nodes_.end()) ExpireNode(node->second, clock_());
    if (meta.dst_node_id() != kSuperLinkNodeId &&
        (node == nodes_.end() ||
         (node->second.status() != kNodeOnline && node->second.status() != kNodeOffline))) {
      return absl::FailedPreconditionError(
          absl::StrCat("Destination node ", meta.dst_node_id(), " is not available"));
    }
    if (!message_ins_.contains(meta.message_id())) {
      // A deleted instruction stored again is new: it queues at the end.
      std::erase(ins_order_, meta.message_id());
      message_ins_[meta.message_id()] = MessageRecord{message, ""};
      ins_order_.push_back(meta.message_id());
    }
    return meta.message_id();
  }

  std::vector<proto::Message> GetMessageIns(uint64_t node_id, size_t limit) override {
    return TakeMessageIns(node_id, limit, std::nullopt);
  }

  std::vector<proto::Message> GetSuperLinkMessageIns(uint64_t run_id) override {
    return TakeMessageIns(kSuperLinkNodeId, std::numeric_limits<size_t>::max(), run_id);
  }

  // Up to `limit` undelivered instructions for `node_id` (of `run_id` only, if given), now
  // delivered; expired ones are deleted on the way.
  std::vector<proto::Message> TakeMessageIns(uint64_t node_id, size_t limit,
                                             std::optional<uint64_t> run_id) {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_();
    const double now_s = core::ToEpochSeconds(now);
    std::vector<std::string> expired;
    std::vector<proto::Message> out;
    for (const std::string& id : ins_order_) {
      auto it = message_ins_.find(id);
      if (it == message_ins_.end()) continue;
      const proto::Metadata& meta = it->second.message.metadata();
      if (meta.created_at() + meta.ttl() <= now_s) {
        expired.push_back(id);
        continue;
      }
      if (out.size() < limit && meta.dst_node_id() == node_id && it->second.delivered_at.empty() &&
          (!run_id || meta.run_id() == *run_id)) {
        it->second.delivered_at = core::FormatIsoUtc(now);
        out.push_back(it->second.message);
      }
    }
    DeleteMessagesLocked(expired);
    return out;
  }

  absl::StatusOr<std::string> StoreMessageRes(const proto::Message& message) override {
    const proto::Metadata& meta = message.metadata();
    std::optional<proto::Run> run = GetRun(meta.run_id());
    absl::MutexLock lock(&mu_);
    auto ins = message_ins_.find(meta.reply_to_message_id());
    if (ins == message_ins_.end()) {
      return absl::FailedPreconditionError("The instruction of this reply does not exist");
    }
    const proto::Metadata& ins_meta = ins->second.message.metadata();
    const double now_s = core::ToEpochSeconds(clock_());
    if (ins_meta.created_at() + ins_meta.ttl() <= now_s) {
      DeleteMessagesLocked({ins->first});
      return absl::FailedPreconditionError("The instruction of this reply has expired");
    }
    if (absl::Status s = CheckReplyMatchesInstruction(ins_meta, meta); !s.ok()) return s;
    if (!run || run->status().status() == kStatusFinished) {
      return absl::FailedPreconditionError(absl::StrCat("Run ", meta.run_id(), " is finished"));
    }
    if (message_res_.contains(meta.message_id())) return meta.message_id();
    if (reply_of_.contains(meta.reply_to_message_id())) {
      return absl::AlreadyExistsError("The instruction already has a reply");
    }
    message_res_[meta.message_id()] = MessageRecord{message, ""};
    reply_of_[meta.reply_to_message_id()] = meta.message_id();
    return meta.message_id();
  }

  std::vector<proto::Message> GetMessageRes(const std::vector<std::string>& ids) override {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_();
    const double now_s = core::ToEpochSeconds(now);
    std::vector<proto::Message> out;
    for (const std::string& id : ids) {
      auto ins = message_ins_.find(id);
      if (ins == message_ins_.end() ||
          ins->second.message.metadata().created_at() + ins->second.message.metadata().ttl() <
              now_s) {
        out.push_back(MessageUnavailableReply(id, now));
        continue;
      }
      const proto::Metadata& ins_meta = ins->second.message.metadata();
      auto node = nodes_.find(ins_meta.dst_node_id());
      if (node == nodes_.end() || node->second.status() == kNodeUnregistered ||
          !node->second.has_online_until() || node->second.online_until() < now_s) {
        out.push_back(ErrorReplyFor(ins_meta, ReplyError::kNodeUnavailable, now));
        continue;
      }
      auto res_id = reply_of_.find(id);
      if (res_id == reply_of_.end()) continue;
      MessageRecord& res = message_res_.at(res_id->second);
      if (!res.delivered_at.empty()) continue;
      const proto::Metadata& res_meta = res.message.metadata();
      res.delivered_at = core::FormatIsoUtc(now);
      if (res_meta.created_at() + res_meta.ttl() < now_s) {
        out.push_back(ErrorReplyFor(ins_meta, ReplyError::kReplyUnavailable, now));
      } else {
        out.push_back(res.message);
      }
    }
    return out;
  }

  void DeleteMessages(const std::vector<std::string>& instruction_ids) override {
    absl::MutexLock lock(&mu_);
    DeleteMessagesLocked(instruction_ids);
  }

  // --- Object push sessions ------------------------------------------------------------------

  std::string StartPushSession(uint64_t run_id) override {
    std::vector<std::string> expired_roots;
    std::string id;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = clock_();
      expired_roots = DropSessionsLocked([&](const PushSession& s) { return s.expires_at < now; });
      id = NewUuid4();
      sessions_[id] = PushSession{run_id, now + push_session_ttl(), {}, {}};
    }
    for (const std::string& root : expired_roots) store_->Delete(root);
    return id;
  }

  absl::StatusOr<std::vector<std::string>> PreregisterObjectTree(
      absl::string_view session_id, uint64_t run_id, const proto::ObjectTree& tree) override {
    {
      absl::MutexLock lock(&mu_);
      if (!sessions_.contains(session_id)) return absl::NotFoundError("Unknown push session");
    }
    auto missing = store_->Preregister(run_id, tree);
    if (!missing.ok()) return missing.status();
    absl::MutexLock lock(&mu_);
    auto session = sessions_.find(session_id);
    if (session == sessions_.end()) return absl::NotFoundError("Unknown push session");
    // A root pushed again belongs to the newest session only.
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (it != session && it->second.roots.contains(tree.object_id())) {
        sessions_.erase(it++);
      } else {
        ++it;
      }
    }
    session = sessions_.find(session_id);
    session->second.roots.insert(tree.object_id());
    session->second.pending.insert(missing->begin(), missing->end());
    return missing;
  }

  bool StoreObject(uint64_t run_id, absl::string_view session_id, absl::string_view object_id,
                   std::string content) override {
    std::vector<std::string> expired_roots;
    std::string session_key;
    bool pending = false;
    {
      absl::MutexLock lock(&mu_);
      auto session = sessions_.end();
      if (session_id.empty()) {
        session = std::find_if(sessions_.begin(), sessions_.end(), [&](const auto& s) {
          return s.second.run_id == run_id && s.second.pending.contains(object_id);
        });
      } else {
        session = sessions_.find(session_id);
      }
      pending = session != sessions_.end() && session->second.run_id == run_id &&
                session->second.pending.contains(object_id);
      if (pending && session->second.expires_at < clock_()) {
        expired_roots.assign(session->second.roots.begin(), session->second.roots.end());
        sessions_.erase(session);
        DropSessionMessagesLocked(expired_roots);
      } else if (pending) {
        session_key = session->first;
      }
    }
    // Not pending: a repeated push of an object already stored is "stored" (outside the lock).
    if (!pending) return core::HoldsObject(*store_, object_id, content);
    if (!expired_roots.empty() || session_key.empty()) {
      for (const std::string& root : expired_roots) store_->Delete(root);
      return false;
    }
    if (!store_->Put(object_id, std::move(content)).ok()) return false;
    absl::MutexLock lock(&mu_);
    auto session = sessions_.find(session_key);
    if (session == sessions_.end()) return true;
    session->second.pending.erase(object_id);
    session->second.expires_at = clock_() + push_session_ttl();
    if (session->second.pending.empty()) sessions_.erase(session);
    return true;
  }

  bool ExpirePushSessionsAwaiting(uint64_t run_id, absl::string_view object_id) override {
    std::vector<std::string> expired_roots;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = clock_();
      expired_roots = DropSessionsLocked([&](const PushSession& s) {
        return s.run_id == run_id && s.expires_at < now && s.pending.contains(object_id);
      });
    }
    for (const std::string& root : expired_roots) store_->Delete(root);
    // A session with a pending object has its root.
    return !expired_roots.empty();
  }

 private:
  // Adds the new run to the series `spec` names (updating it), or to a new series.
  absl::StatusOr<uint64_t> JoinSeries(const NewRun& spec, uint64_t run_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time now = clock_();
    if (spec.series_id) {
      auto it = series_.find(*spec.series_id);
      if (absl::Status s = CheckSeriesJoinable(
              *spec.series_id, it == series_.end() ? nullptr : &it->second.series.federation(),
              spec.federation);
          !s.ok()) {
        return s;
      }
      it->second.series.add_run_ids(run_id);
      it->second.series.set_updated_at(core::FormatIsoUtc(now));
      it->second.updated_at = now;
      return *spec.series_id;
    }
    uint64_t series_id;
    do {
      series_id = RandomId();
    } while (series_id == 0 || series_.contains(series_id));
    SeriesRecord& record = series_[series_id];
    record.series.set_series_id(series_id);
    record.series.set_federation(spec.federation);
    record.series.set_created_at(core::FormatIsoUtc(now));
    record.series.set_updated_at(record.series.created_at());
    record.series.add_run_ids(run_id);
    record.updated_at = now;
    record.created = runs_created_ + 1;
    return series_id;
  }

  // Erases the push sessions `drop` selects, with their messages; returns their roots, for the
  // caller to delete from the object store once it has let go of mu_.
  std::vector<std::string> DropSessionsLocked(absl::FunctionRef<bool(const PushSession&)> drop)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<std::string> roots;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (drop(it->second)) {
        roots.insert(roots.end(), it->second.roots.begin(), it->second.roots.end());
        sessions_.erase(it++);
      } else {
        ++it;
      }
    }
    DropSessionMessagesLocked(roots);
    return roots;
  }

  void DeleteMessagesLocked(const std::vector<std::string>& ids)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const std::string& id : ids) {
      message_ins_.erase(id);
      auto res = reply_of_.find(id);
      if (res != reply_of_.end()) {
        message_res_.erase(res->second);
        reply_of_.erase(res);
      }
    }
    if (message_ins_.size() * 2 < ins_order_.size()) {
      std::erase_if(ins_order_, [&](const std::string& id) { return !message_ins_.contains(id); });
    }
  }

  // An expired push session takes its messages (instructions or replies) with it.
  void DropSessionMessagesLocked(const std::vector<std::string>& roots)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    DeleteMessagesLocked(roots);
    for (const std::string& id : roots) {
      auto res = message_res_.find(id);
      if (res == message_res_.end()) continue;
      reply_of_.erase(res->second.message.metadata().reply_to_message_id());
      message_res_.erase(res);
    }
  }

  std::unique_ptr<core::ObjectStore> store_;
  Clock clock_;
  absl::Mutex mu_;
  std::map<uint64_t, proto::NodeInfo> nodes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint64_t> node_by_key_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, RunRecord> runs_ ABSL_GUARDED_BY(mu_);
  uint64_t runs_created_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, SeriesRecord> series_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, AppRecord> apps_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, AutomationRecord> automations_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, proto::Fab> fabs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, MessageRecord> message_ins_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> ins_order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, MessageRecord> message_res_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> reply_of_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, PushSession, std::less<>> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<LinkState> NewInMemoryLinkState(std::unique_ptr<core::ObjectStore> store,
                                                std::unique_ptr<core::TaskStore> tasks,
                                                Clock clock) {
  return std::make_unique<InMemoryLinkState>(std::move(store), std::move(tasks), std::move(clock));
}

}  // namespace flwr::superlink
