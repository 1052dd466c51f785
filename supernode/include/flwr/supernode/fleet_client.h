// The SuperNode's client of the SuperLink's Fleet API, behaving as the stock Flower SuperNode's
// connection: over HTTP (`/v1/fleet/*`) as 1.42 (flwr/supernode/fleet_http_connection.py), or
// over gRPC `flwr.proto.Fleet` as 1.36's grpc-rere (flwr/client/grpc_rere_client/connection.py;
// docs/flower-1.36-supernode-protocol.md §2 and docs/flower-1.36-superlink-protocol.md §4).
// The wire is a FleetTransport (fleet_transport.h); the logic here is shared.
//
// Every call carries the runtime version headers of component "SuperNode" and the node
// authentication headers (core/node_auth.h), freshly signed per attempt. Every call goes
// through one shared retry policy, as the stock `RetryInvoker`, on the transport's error
// categories (fleet_transport.h):
//   Unavailable        retried with exponential backoff (1, 2, 4, ... capped at 20 s) and full
//                      jitter (core/retry_invoker.h), at most `max_retries` retries and
//                      `max_wait_time` per call (unlimited when unset); waits of concurrent
//                      calls are serialised.
//                      Details containing "handshake failed" (TLS) are not retried.
//   PermissionDenied   returned at once: the run is not running (IsRunNotRunning).
//   Unauthenticated    returned at once: the SuperLink does not accept this node any more; the
//                      caller should shut down (IsNodeRejected). The stock SuperNode SIGINTs
//                      itself here.
//   anything else      returned at once.
// Flower errors keep their API code.
//
// Thread-safety: all public methods may be called from any thread; calls run concurrently
// (the heartbeat thread uses the same transport). Connect/Disconnect must not race each other.
#ifndef FLWR_SUPERNODE_FLEET_CLIENT_H_
#define FLWR_SUPERNODE_FLEET_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "flwr/core/heartbeat_sender.h"
#include "flwr/core/inflatable.h"
#include "flwr/core/message.h"
#include "flwr/core/node_auth.h"
#include "flwr/core/retry_invoker.h"
#include "flwr/proto/fab.pb.h"
#include "flwr/proto/message.pb.h"
#include "flwr/proto/run.pb.h"
#include "flwr/supernode/fleet_transport.h"

namespace flwr::supernode {

// Stock constants (flwr.supercore.inflatable).
inline constexpr int kMaxConcurrentObjectPulls = 2;
inline constexpr int kMaxConcurrentObjectPushes = 2;
inline constexpr absl::Duration kPullInitialBackoff = absl::Seconds(1);
inline constexpr absl::Duration kPullBackoffCap = absl::Seconds(10);
inline constexpr int kPullMaxTriesPerObject = 500;
inline constexpr absl::Duration kPullMaxTime = absl::Seconds(7200);

struct FleetClientOptions {
  // HTTP (Flower 1.42), gRPC grpc-rere (Flower 1.36), or the one the SuperLink serves.
  FleetTransportKind transport = FleetTransportKind::kHttp;
  // "host:port" of the SuperLink's Fleet API.
  std::string address;
  // Plain text. Otherwise TLS, verified against `root_certificates` (PEM), or the system
  // roots when empty.
  bool insecure = true;
  std::string root_certificates;
  // The node's key. Unset: a fresh SECP384R1 key is generated and the node registers itself
  // (RegisterNode/UnregisterNode). Set: the key must be pre-registered (Control RegisterNode,
  // `flwr supernode register`) and Connect/Disconnect skip Register/Unregister, as stock.
  std::optional<core::NodeKey> key;
  // Retry limits of the shared retry policy (`--max-retries`, `--max-wait-time`); unset means
  // unlimited.
  std::optional<int> max_retries;
  std::optional<absl::Duration> max_wait_time;
  // Start the heartbeat thread in Connect.
  bool heartbeat = true;
  // Concurrent PullObject/PushObject calls per message (1 = sequential).
  int max_concurrent_pulls = kMaxConcurrentObjectPulls;
  int max_concurrent_pushes = kMaxConcurrentObjectPushes;
  // Test hook: replaces the retry waits (default: sleep, interruptible by Disconnect for the
  // heartbeat thread).
  std::function<void(absl::Duration)> sleep;
};

// The instruction PullMessage returns.
struct PulledMessage {
  // The inflated message: content and metadata as the ServerApp sent them, with
  // `metadata.message_id` set to its object ID.
  core::Message message;
  // `metadata.run_id` of the message as it came over the wire.
  uint64_t run_id = 0;
  // The message's object tree, as PullMessages returned it.
  proto::ObjectTree object_tree;
  // The message as PullMessages returned it: metadata (with `message_id`) and an empty
  // RecordDict as content.
  proto::Message wire_message;
  // The bytes of every object of the tree, each verified against its ID.
  core::ObjectContents objects;
};

// True for the status of a call the SuperLink refused because the run is not `running`
// (PERMISSION_DENIED; the stock RunNotRunningException): ignore the message or reply.
bool IsRunNotRunning(const absl::Status& status);
// True for UNAUTHENTICATED: the SuperLink rejects this node (e.g. an in-memory SuperLink that
// restarted, or `Invalid node ID`). The stock SuperNode shuts down gracefully.
bool IsNodeRejected(const absl::Status& status);

class FleetClient {
 public:
  // Creates the transport (no connection is made yet) and, if `options.key` is unset, a fresh
  // key. Returns InvalidArgument for an empty or (HTTP) malformed address, Internal if key
  // generation fails.
  static absl::StatusOr<std::unique_ptr<FleetClient>> Create(FleetClientOptions options);

  // Stops the heartbeat thread; does not disconnect.
  ~FleetClient();

  FleetClient(const FleetClient&) = delete;
  FleetClient& operator=(const FleetClient&) = delete;

  // RegisterNode (unless the key was given), then ActivateNode(heartbeat_interval=30); starts
  // the heartbeat thread. Returns the first failing call's status. FailedPrecondition if
  // already connected.
  absl::Status Connect();

  // The node ID ActivateNode returned (0 before Connect).
  uint64_t node_id() const { return node_id_.load(); }
  const core::NodeKey& key() const { return key_; }

  // PullMessages; if an instruction came: every object of its tree pulled with PullObject
  // (post order, `max_concurrent_pulls` at once; `object_available=false` retried with the
  // stock backoff 1 s doubling to 10 s, ±20 %, 500 tries per object, 7200 s in all), inflated
  // (each object's hash verified), then ConfirmMessageReceived. Returns nullopt when there
  // is no instruction. Errors: FailedPrecondition if not connected; DataLoss if
  // `object_found=false` or the retries ran out (ObjectPullError); InvalidArgument /
  // NotFound from the inflater for a corrupt or incomplete tree; call errors as above. Like
  // stock, the SuperLink does not redeliver an instruction whose pull failed.
  // With `inflate` false, `message` is left empty: the objects are only checked against their
  // IDs (the SuperNode hands them on to the ClientApp as they are, as stock does).
  // `before_objects`, when set, is called with the message as PullMessages returned it, before
  // any object is pulled (where the stock SuperNode fetches the run and checks its FAB): false
  // returns the message at once, its objects neither pulled nor confirmed (`objects` empty).
  using BeforeObjects = std::function<bool(const proto::Message& message)>;
  absl::StatusOr<std::optional<PulledMessage>> PullMessage(
      bool inflate = true, const BeforeObjects& before_objects = nullptr);

  // GetRun, cached by run ID forever (stock never refreshes it).
  absl::StatusOr<proto::Run> GetRun(uint64_t run_id);
  // GetFab, not cached: as stock, each run's FAB comes with the verification records the
  // SuperLink holds for it now (`--trusted-entities`). The content's SHA-256 must equal
  // `hash_str` (else DataLoss).
  absl::StatusOr<proto::Fab> GetFab(absl::string_view hash_str, uint64_t run_id);

  // Deflates `reply`, sends PushMessages (the reply with an empty RecordDict as content, or
  // its error, plus its object tree and `clientapp_runtime` seconds), then PushObject for
  // exactly the IDs in `objects_to_push` (post order, `max_concurrent_pushes` at once) with
  // the response's session ID. `reply.metadata.message_id` is overwritten with its object
  // ID. Returns the reply's message ID. DataLoss if the SuperLink asks for an object the reply
  // does not have or answers `stored=false` (ObjectPushError).
  absl::StatusOr<std::string> PushReply(const core::Message& reply, double clientapp_runtime);

  // Gives the bytes of object `id` (appending to `*out`), or an error that aborts the push.
  // Called concurrently from the pushing threads; may block (e.g. while a ClientApp is still
  // uploading the object).
  using ObjectFetcher = std::function<absl::Status(const std::string& id, std::string* out)>;

  // Pushes an already deflated message: PushMessages with `message` (content-less, its
  // `message_id` the root of `tree`) and `tree`, then PushObject for exactly the requested
  // objects, fetched one by one from `fetch` (so no more than `max_concurrent_pushes` object
  // copies are in memory at once). Errors as PushReply.
  absl::Status PushMessageObjects(const proto::Message& message, const proto::ObjectTree& tree,
                                  double clientapp_runtime, const ObjectFetcher& fetch);

  // Stops the heartbeat thread, then DeactivateNode and (for self-registered nodes)
  // UnregisterNode. Both are attempted; returns the first error. OK if never connected.
  absl::Status Disconnect();

  // OK while the heartbeat thread runs (or never ran); otherwise why it stopped: the
  // SuperLink rejected the node (IsNodeRejected), answered `success=false`, or another error.
  absl::Status heartbeat_status() const;
  // Number of heartbeats the SuperLink acknowledged since Connect (for tests).
  int heartbeats_sent() const;

 private:
  FleetClient(FleetClientOptions options, core::NodeKey key,
              std::unique_ptr<FleetTransport> transport);

  absl::Status EnsureConnected() const;
  absl::StatusOr<std::string> PullObjectWithBackoff(uint64_t run_id, const std::string& object_id,
                                                    absl::Time start,
                                                    const std::atomic<bool>& stop);
  absl::Status SendHeartbeat(const core::StopSignal& stop);
  void StopHeartbeat();

  const FleetClientOptions options_;
  const core::NodeKey key_;
  const bool self_registered_;
  const std::unique_ptr<FleetTransport> transport_;
  std::atomic<uint64_t> node_id_{0};
  std::atomic<bool> connected_{false};

  // Every transport call runs under it.
  core::RetryInvoker retry_;

  mutable absl::Mutex mu_;
  // Replaced by each Connect; stopped, not destroyed, by Disconnect.
  std::unique_ptr<core::HeartbeatSender> heartbeat_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, proto::Run> runs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace flwr::supernode

#endif  // FLWR_SUPERNODE_FLEET_CLIENT_H_
