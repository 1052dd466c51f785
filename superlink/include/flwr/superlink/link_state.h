// LinkState: everything a SuperLink remembers — nodes, runs and their tasks, messages in
// flight, FABs, run contexts, object push sessions, run series, the federation's apps and
// automations — as flwr's LinkState (flwr/server/superlink/linkstate) and CoreState
// (flwr/supercore/corestate) of the pinned version. Its tasks, their logs and their events
// live in the TaskStore it owns (tasks()): a run's status and timestamps are its primary task's.
//
// Two implementations pass one test suite: in memory (`:flwr-in-memory:`) and SQLite (a file).
// All methods are thread-safe. Time comes from the injected clock, so tests can move it.
#ifndef FLWR_SUPERLINK_LINK_STATE_H_
#define FLWR_SUPERLINK_LINK_STATE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "flwr/core/message.h"
#include "flwr/core/object_store.h"
#include "flwr/core/task.h"
#include "flwr/core/task_store.h"
#include "flwr/proto/control.pb.h"
#include "flwr/proto/fab.pb.h"
#include "flwr/proto/federation_config.pb.h"
#include "flwr/proto/message.pb.h"
#include "flwr/proto/node.pb.h"
#include "flwr/proto/run.pb.h"
#include "flwr/proto/runseries.pb.h"
#include "flwr/proto/task.pb.h"

namespace flwr::superlink {

// The SuperLink's own node ID: source of instructions, destination of replies.
inline constexpr uint64_t kSuperLinkNodeId = 1;
// The only federation of a SuperLink without federation management (flwr's NoOp manager).
inline constexpr absl::string_view kDefaultFederation = "@none/default";
inline constexpr absl::string_view kNoAccountId = "<id:none>";
inline constexpr absl::string_view kNoAccountName = "none";

// Task and run statuses as `flwr ls` shows them, and the task timing rules (core/task.h).
using core::kPushSessionTtl;
using core::kServerAppTaskType;
using core::kSimulationTaskType;
using core::kStatusFinished;
using core::kStatusPending;
using core::kStatusRunning;
using core::kStatusStarting;
using core::kSubStatusCompleted;
using core::kSubStatusFailed;
using core::kSubStatusStopped;
using core::TaskLogEntry;

// Node statuses.
inline constexpr absl::string_view kNodeRegistered = "registered";
inline constexpr absl::string_view kNodeOnline = "online";
inline constexpr absl::string_view kNodeOffline = "offline";
inline constexpr absl::string_view kNodeUnregistered = "unregistered";

inline constexpr double kMinHeartbeatInterval = 10;
inline constexpr double kMaxHeartbeatInterval = 1800;

using Clock = std::function<absl::Time()>;

// What Control.StartRun stores for a new run.
struct NewRun {
  std::string fab_id;
  std::string fab_version;
  std::string fab_hash;
  core::UserConfig override_config;
  std::string federation = std::string(kDefaultFederation);
  std::string flwr_aid = std::string(kNoAccountId);
  // The run config the run's ServerApp starts with (the FAB's defaults fused with overrides).
  core::UserConfig run_config;
  // The type of the run's primary task: kServerAppTaskType, or kSimulationTaskType in a
  // simulation federation.
  std::string primary_task_type = std::string(kServerAppTaskType);
  // A simulation run's federation config (the federation's, merged with the run's overrides),
  // which its `flwr-simulation` pulls with its inputs; none for other runs.
  std::optional<proto::SimulationConfig> federation_config;
  // The run series the run joins (StartRunRequest.series_id): it must exist and be of the
  // run's federation. Without one the run starts a new series.
  std::optional<uint64_t> series_id;
};

// Automation statuses (flwr's AutomationStatus).
inline constexpr absl::string_view kAutomationActive = "active";
inline constexpr absl::string_view kAutomationStopped = "stopped";
inline constexpr absl::string_view kAutomationCompleted = "completed";
inline constexpr absl::string_view kAutomationFailed = "failed";

// Which automations ListAutomations returns (flwr's list_automations filters): an unset
// filter matches all, a set one any of its values (an empty list none).
struct AutomationFilter {
  std::optional<std::vector<uint64_t>> automation_ids;
  std::optional<std::vector<std::string>> federations;
  std::optional<std::vector<std::string>> statuses;
  // Only automations due at or before this time that have runs left.
  std::optional<absl::Time> due_before;
  // Ascending next_run_at (the scheduler's order), else descending updated_at.
  bool order_by_next_run_at = false;
  std::optional<size_t> limit;
};

// What a SuperNode's registration through the Control API (`flwr supernode register`) may add
// to its public key (Flower 1.42): a display name and a "<latitude>,<longitude>" location.
struct NodeDetails {
  std::optional<std::string> name;
  std::optional<std::string> location;
};

struct CreatedRun {
  uint64_t run_id;
  uint64_t series_id;
  uint64_t task_id;
};

class LinkState {
 public:
  virtual ~LinkState() = default;

  // Opens in-memory state for core::kInMemoryDatabase, else SQLite state in the file
  // `database` (created if missing), with the object store in the same place.
  static absl::StatusOr<std::unique_ptr<LinkState>> Open(absl::string_view database,
                                                         Clock clock = absl::Now);

  virtual core::ObjectStore& object_store() = 0;

  // --- Nodes -------------------------------------------------------------------------------

  // Registers a node for `public_key` with `details` (in its NodeInfo); its ID is random, never
  // 0 or 1. FlowerError 23 if the key is already used by any node, even an unregistered one.
  virtual absl::StatusOr<uint64_t> CreateNode(absl::string_view public_key,
                                              double heartbeat_interval,
                                              const NodeDetails& details) = 0;
  // A node without details (a SuperNode registering itself over Fleet).
  absl::StatusOr<uint64_t> CreateNode(absl::string_view public_key, double heartbeat_interval) {
    return CreateNode(public_key, heartbeat_interval, NodeDetails());
  }
  // Marks the node of `public_key` online for 2 x `heartbeat_interval`. FlowerError 2003 for
  // an interval outside [10, 1800], 2004 if the key is unknown or the node is neither
  // registered nor offline.
  virtual absl::StatusOr<uint64_t> ActivateNode(absl::string_view public_key,
                                                double heartbeat_interval) = 0;
  // online -> offline. FlowerError 2005 otherwise.
  virtual absl::Status DeactivateNode(uint64_t node_id) = 0;
  // Marks the node unregistered (its key stays reserved). FlowerError 2006 if it is unknown
  // or already unregistered.
  virtual absl::Status UnregisterNode(uint64_t node_id) = 0;
  // Extends the node's liveness; false if it is unknown or unregistered. FlowerError 2003 for
  // an interval outside [10, 1800].
  virtual absl::StatusOr<bool> AcknowledgeNodeHeartbeat(uint64_t node_id,
                                                        double heartbeat_interval) = 0;
  // The node registered with `public_key`, unless unknown or unregistered.
  virtual std::optional<uint64_t> GetNodeIdByPublicKey(absl::string_view public_key) = 0;
  // Every node, stale online nodes marked offline first.
  virtual std::vector<proto::NodeInfo> ListNodes() = 0;
  // IDs of the nodes that are online now.
  virtual std::vector<uint64_t> GetOnlineNodeIds() = 0;

  // The tasks of the runs (one task per run, its primary task: `flwr-serverapp`, or
  // `flwr-simulation` in a simulation federation) and their logs.
  core::TaskStore& tasks() { return *tasks_; }

  // --- Runs ----------------------------------------------------------------------------------

  // A new run and its pending primary task.
  absl::StatusOr<CreatedRun> CreateRun(const NewRun& run);
  // The run with its status and timestamps taken from its primary task; nullopt if unknown.
  std::optional<proto::Run> GetRun(uint64_t run_id);
  // Runs of `flwr_aid`, most recently created first.
  std::vector<proto::Run> ListRuns(absl::string_view flwr_aid);
  // Finishes the run's primary task as stopped and cleans the run up. False if the run is
  // unknown or already finished.
  bool StopRun(uint64_t run_id);
  // Deletes the run's messages, push sessions and objects (not the run itself).
  virtual void CleanupRun(uint64_t run_id) = 0;
  virtual void StoreTraffic(uint64_t run_id, uint64_t bytes_sent, uint64_t bytes_recv) = 0;
  virtual void AddClientAppRuntime(uint64_t run_id, double seconds) = 0;

  // A simulation run's federation config (NewRun::federation_config); nullopt for other runs
  // and unknown ones.
  virtual std::optional<proto::SimulationConfig> GetFederationConfig(uint64_t run_id) = 0;

  // The context a run's ServerApp starts from, and its replacement when the ServerApp ends.
  virtual std::optional<proto::Context> GetRunContext(uint64_t run_id) = 0;
  virtual void SetRunContext(uint64_t run_id, const proto::Context& context) = 0;

  // --- Run series (flwr's CoreState run series) ----------------------------------------------

  // Every run series with its runs (oldest first), most recently updated first. A series is
  // created with its first run and updated when another run joins it.
  virtual std::vector<proto::RunSeries> ListRunSeries() = 0;
  // Sets the series' description; false if the series is unknown.
  virtual bool SetRunSeriesDescription(uint64_t series_id, absl::string_view description) = 0;

  // --- Apps (flwr's federation-app associations) -----------------------------------------------

  // Associates `app` (its FAB stored with StoreFab) with `federation`, replacing the app of
  // the same ID but keeping who added it first and when.
  virtual void StoreApp(absl::string_view federation, const proto::AppInfo& app,
                        absl::string_view added_by) = 0;
  // The federation's apps, most recently added first (ties: greater app ID first), at most
  // `limit`.
  virtual std::vector<proto::AppInfo> ListApps(absl::string_view federation,
                                               std::optional<size_t> limit) = 0;
  // Removes the association (the FAB stays); false if there was none.
  virtual bool DeleteApp(absl::string_view federation, absl::string_view app_id) = 0;

  // --- Automations (flwr's CoreState automations) ---------------------------------------------

  // Stores an active automation: `automation`'s federation, series_id, flwr_aid, next_run_at,
  // fixed_interval and remaining_runs, with a new ID (1, 2, ...) and the current time as
  // created_at and updated_at. `request` is the StartRun request each occurrence runs.
  proto::Automation StoreAutomation(proto::Automation automation,
                                    const proto::StartRunRequest& request);
  // Claims the occurrence due at `previous_next_run_at` of an active automation with runs left:
  // one run fewer left, next_run_at moved to `next_run_at` (kept if nullopt, allowed only for
  // the last run). Returns the StartRun request and the account to run it as; nullopt if the
  // claim failed (another claimed it first, the automation stopped, ...).
  std::optional<std::pair<proto::StartRunRequest, std::string>> ClaimAutomation(
      uint64_t automation_id, absl::string_view previous_next_run_at,
      std::optional<std::string> next_run_at);
  std::vector<proto::Automation> ListAutomations(const AutomationFilter& filter);
  // active -> stopped (with stopped_at). False otherwise.
  bool StopAutomation(uint64_t automation_id);
  // active -> kAutomationCompleted (only once no runs are left) or kAutomationFailed. False
  // otherwise.
  bool FinishAutomation(uint64_t automation_id, absl::string_view status);

  // --- FABs ----------------------------------------------------------------------------------

  virtual void StoreFab(const proto::Fab& fab) = 0;
  virtual std::optional<proto::Fab> GetFab(absl::string_view fab_hash) = 0;

  // --- Messages ------------------------------------------------------------------------------

  // Stores an instruction (already validated). Returns its ID, or FailedPrecondition if the
  // run is unknown or finished, or the destination is neither an online/offline node nor the
  // SuperLink itself (node 1, as flwr 1.42's store_message_ins allows).
  virtual absl::StatusOr<std::string> StoreMessageIns(const proto::Message& message) = 0;
  // Up to `limit` undelivered, unexpired instructions for `node_id`, oldest first, now marked
  // delivered (never handed out again). One exception, in the SQLite state: an instruction
  // delivered before the state opened the file, still without a reply and never confirmed by
  // the node (its message object is still in the object store), counts as undelivered once
  // more at the node's first pull: a SuperLink killed between marking it delivered and
  // answering the pull lost that delivery.
  virtual std::vector<proto::Message> GetMessageIns(uint64_t node_id, size_t limit) = 0;
  // The run's undelivered, unexpired instructions addressed to the SuperLink itself (node 1:
  // flwr 1.42's AgentApps send them), oldest first, now marked delivered. The Runtime API's
  // PullMessages hands them to the run's task and deletes them, as flwr's pull_messages does.
  virtual std::vector<proto::Message> GetSuperLinkMessageIns(uint64_t run_id) = 0;
  // Stores a reply (already validated) to a live instruction from its destination node.
  virtual absl::StatusOr<std::string> StoreMessageRes(const proto::Message& message) = 0;
  // For each instruction ID: its undelivered reply (now delivered), or an error reply when
  // the instruction is unknown or expired, its node unavailable, or the reply expired. IDs
  // still awaiting a reply produce nothing.
  virtual std::vector<proto::Message> GetMessageRes(const std::vector<std::string>& ids) = 0;
  // Deletes instructions and their replies.
  virtual void DeleteMessages(const std::vector<std::string>& instruction_ids) = 0;

  // --- Object push sessions ------------------------------------------------------------------

  // A new push session for `run_id`, expiring push_session_ttl() after its last use.
  virtual std::string StartPushSession(uint64_t run_id) = 0;
  // How long a push session lives after its last use: kPushSessionTtl (stock's 180 s) unless
  // set before the state is used (tests shorten it: ServerOptions::push_session_ttl).
  void set_push_session_ttl(absl::Duration ttl) { push_session_ttl_ = ttl; }
  absl::Duration push_session_ttl() const { return push_session_ttl_; }
  // Preregisters `tree` under `run_id` and records its missing objects as pending in the
  // session. Returns the missing IDs (post order).
  virtual absl::StatusOr<std::vector<std::string>> PreregisterObjectTree(
      absl::string_view session_id, uint64_t run_id, const proto::ObjectTree& tree) = 0;
  // Stores an object pending in the session (any session of the run if `session_id` is
  // empty). False if the session is unknown, expired (it is then cleaned up with its
  // messages), of another run, the object is not pending, or its bytes are invalid.
  virtual bool StoreObject(uint64_t run_id, absl::string_view session_id,
                           absl::string_view object_id, std::string content) = 0;
  // As flwr's get_object, for a PullObject of an object preregistered but not available yet:
  // cleans up the expired push sessions of `run_id` in which `object_id` is pending, with
  // their messages and objects, so that the object of a pusher that died mid-upload becomes
  // unknown and the puller stops waiting for it. Returns whether there was such a session.
  virtual bool ExpirePushSessionsAwaiting(uint64_t run_id, absl::string_view object_id) = 0;

  // --- Messages with their object trees ------------------------------------------------------

  // As flwr's store_message_and_object_tree: stores an instruction (a message without
  // reply_to_message_id) or a reply, then preregisters its object tree in the push session, as
  // one step for every reader holding message_tree_mutex(). Returns the IDs of the objects to
  // push (post order), or why the message was not stored (nothing is preregistered then).
  absl::StatusOr<std::vector<std::string>> StoreMessageWithObjectTree(absl::string_view session_id,
                                                                      const proto::Message& message,
                                                                      const proto::ObjectTree& tree)
      ABSL_LOCKS_EXCLUDED(message_tree_mu_);

  // Held shared by whoever reads messages and then their object trees (the Fleet and Runtime
  // PullMessages), held exclusively by StoreMessageWithObjectTree. flwr does both under its
  // state lock; without it a reader can get a message whose tree is not preregistered yet,
  // take it for broken and delete it (the ServerApp then gets "Message Unavailable").
  absl::Mutex& message_tree_mutex() ABSL_LOCK_RETURNED(message_tree_mu_) {
    return message_tree_mu_;
  }

 protected:
  LinkState(std::unique_ptr<core::TaskStore> tasks, Clock clock)
      : tasks_(std::move(tasks)), clock_(std::move(clock)) {}

  // Stores a new run whose primary task will be `task_id`; returns its IDs.
  virtual absl::StatusOr<CreatedRun> InsertRun(const NewRun& run, uint64_t task_id) = 0;
  // The stored run, without the status and timestamps of its primary task; nullopt if unknown.
  virtual std::optional<proto::Run> LoadRun(uint64_t run_id) = 0;
  // The stored runs of `flwr_aid`, most recently created first.
  virtual std::vector<proto::Run> LoadRuns(absl::string_view flwr_aid) = 0;

  // Stores a new automation as given (its automation_id unset) with its StartRun request;
  // returns its ID (1, 2, ...).
  virtual uint64_t InsertAutomation(const proto::Automation& automation,
                                    const proto::StartRunRequest& request) = 0;
  // Every stored automation, in ID order.
  virtual std::vector<proto::Automation> LoadAutomations() = 0;
  // Atomically reads the automation, applies `update` and stores the result if `update`
  // returns true. Returns what `update` returned, false for an unknown automation; `request`
  // (if given) receives the automation's StartRun request.
  virtual bool UpdateAutomation(uint64_t automation_id,
                                absl::FunctionRef<bool(proto::Automation&)> update,
                                proto::StartRunRequest* request) = 0;
  // The current time, from the state's clock.
  absl::Time Now() const { return clock_(); }

 private:
  // Sets the run's status and timestamps from its primary task; false while it has none (the
  // run is being created).
  bool AddPrimaryTaskStatus(proto::Run& run);

  const std::unique_ptr<core::TaskStore> tasks_;
  const Clock clock_;
  absl::Mutex message_tree_mu_;
  absl::Duration push_session_ttl_ = kPushSessionTtl;
};

}  // namespace flwr::superlink

#endif  // FLWR_SUPERLINK_LINK_STATE_H_
