// NodeState: what a SuperNode remembers, as flwr's NodeState (flwr/supernode/nodestate): the
// runs, FABs and run-series contexts of the work it received, one `flwr-clientapp` task per
// instruction, the instructions and replies in flight, object push sessions of the ClientApps,
// and the object store the ClientApps pull from and push to.
//
// Unlike stock, a task that finishes (or lapses) while its instruction still has no reply
// produces a CLIENT_APP_CRASHED error reply at once, also when the ClientApp never pulled the
// instruction: the stock SuperNode waits forever in that case (docs/flower-1.36-supernode-
// protocol.md §5.4).
//
// All methods are thread-safe. Time comes from the injected clock, so tests can move it.
#ifndef FLWR_SUPERNODE_NODE_STATE_H_
#define FLWR_SUPERNODE_NODE_STATE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "flwr/core/object_store.h"
#include "flwr/core/task_store.h"
#include "flwr/proto/fab.pb.h"
#include "flwr/proto/message.pb.h"
#include "flwr/proto/run.pb.h"
#include "flwr/proto/task.pb.h"

namespace flwr::supernode {

using Clock = std::function<absl::Time()>;

// The error a SuperNode replies with when a ClientApp ends without replying
// (flwr's CLIENT_APP_CRASHED, in_memory_nodestate.py).
inline constexpr int64_t kClientAppCrashedCode = 8;
inline constexpr absl::string_view kClientAppCrashedReason = "ClientApp stopped responding.";
// flwr's LOAD_CLIENT_APP_EXCEPTION: the ClientApp could not be loaded.
inline constexpr int64_t kLoadClientAppCode = 1;
// flwr's INVALID_FAB, with the stock SuperNode's FAB_VERIFICATION_ERROR reason: the run's FAB
// failed `--trusted-entities` verification.
inline constexpr int64_t kInvalidFabCode = 7;
inline constexpr absl::string_view kFabVerificationErrorReason = "The FAB could not be verified.";

// An error reply from this node to instruction `ins`, as flwr's
// `Message(Error(code, reason), reply_to=ins)`, with its message ID set.
proto::Message ErrorReplyTo(const proto::Metadata& ins, int64_t code, absl::string_view reason,
                            absl::Time now);

class NodeState {
 public:
  virtual ~NodeState() = default;

  static std::unique_ptr<NodeState> CreateInMemory(Clock clock = absl::Now);

  virtual core::ObjectStore& object_store() = 0;

  // --- Runs, FABs and contexts (kept for the node's lifetime, as stock) -----------------------

  virtual void StoreRun(const proto::Run& run) = 0;
  virtual std::optional<proto::Run> GetRun(uint64_t run_id) = 0;
  // InvalidArgument if the content's SHA-256 is not `hash_str`.
  virtual absl::Status StoreFab(const proto::Fab& fab) = 0;
  virtual std::optional<proto::Fab> GetFab(absl::string_view hash_str) = 0;
  // The context of a run series: built when its first message arrives, replaced by what each
  // ClientApp pushes back, so `context.state` carries over from round to round.
  virtual std::optional<proto::Context> GetRunSeriesContext(uint64_t series_id) = 0;
  virtual void SetRunSeriesContext(uint64_t series_id, const proto::Context& context) = 0;

  // --- Tasks (one `flwr-clientapp` task per instruction) -------------------------------------

  // The node's tasks. One that finishes (or lapses) while its instruction is still here
  // without a reply gets a CLIENT_APP_CRASHED reply.
  virtual core::TaskStore& tasks() = 0;
  // A pending task for the instruction `message_id` of `run_id`; returns its ID.
  virtual uint64_t CreateTask(uint64_t run_id, absl::string_view fab_hash,
                              absl::string_view message_id) = 0;

  // --- Messages ------------------------------------------------------------------------------

  // Stores an instruction received from the SuperLink (content-less, `message_id` set).
  virtual void StoreInstruction(const proto::Message& message) = 0;
  // The task's instruction if not yet handed out (else any other one of its run, as stock),
  // now marked retrieved; starts its processing timer.
  virtual std::optional<proto::Message> RetrieveInstruction(const proto::Task& task) = 0;
  // Stores a ClientApp's reply (keyed by `metadata.message_id`); stops the processing timer
  // of the instruction it answers.
  virtual void StoreReply(const proto::Message& reply) = 0;
  // Replies not handed out yet, now marked retrieved (lapsed tasks are applied first, so this
  // is where crash replies appear).
  virtual std::vector<proto::Message> TakeReplies() = 0;
  // Deletes a message (instruction or reply).
  virtual void DeleteMessage(absl::string_view message_id) = 0;
  // Seconds between the ClientApp pulling the instruction and pushing its reply; nullopt if
  // unknown.
  virtual std::optional<double> ProcessingSeconds(absl::string_view instruction_id) = 0;

  // --- Object push sessions (ClientApp -> SuperNode) ------------------------------------------

  virtual std::string StartPushSession(uint64_t run_id) = 0;
  // Preregisters `tree` under `run_id` and records its missing objects as pending in the
  // session. Returns the missing IDs (post order).
  virtual absl::StatusOr<std::vector<std::string>> PreregisterObjectTree(
      absl::string_view session_id, uint64_t run_id, const proto::ObjectTree& tree) = 0;
  // Stores an object pending in the session. False if the session is unknown, expired, of
  // another run, the object is not pending, or its bytes are invalid.
  virtual bool StoreObject(uint64_t run_id, absl::string_view session_id,
                           absl::string_view object_id, std::string content) = 0;
};

}  // namespace flwr::supernode

#endif  // FLWR_SUPERNODE_NODE_STATE_H_
