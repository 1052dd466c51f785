// SuperNode: the Fleet loop of `flower-supernode`, as the stock start_client_internal
// (docs/flower-1.36-supernode-protocol.md §2.4): one instruction at a time — pull it, on a run's
// first message fetch the run and FAB (verify it with `--trusted-entities`) and build the run's
// Context, then pull the instruction's objects, hand it to a ClientApp through NodeState (one
// task per message), wait for the reply and push it to the SuperLink.
#ifndef FLWR_SUPERNODE_SUPERNODE_H_
#define FLWR_SUPERNODE_SUPERNODE_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "flwr/core/message.h"
#include "flwr/supernode/fleet_client.h"
#include "flwr/supernode/node_state.h"
#include "flwr/supernode/trusted_entities.h"

namespace flwr::supernode {

struct SuperNodeOptions {
  // `--node-config`, given to every ClientApp in its Context.
  core::UserConfig node_config;
  // Idle period between empty PullMessages (stock: 3 s).
  absl::Duration poll_interval = absl::Seconds(3);
  // How often the reply wait looks at NodeState (stock: 0.5 s).
  absl::Duration reply_poll_interval = absl::Milliseconds(50);
  // How long a reply's objects may take to arrive from the ClientApp (its push session TTL).
  absl::Duration reply_objects_timeout = absl::Seconds(180);
  // `--trusted-entities`: when not empty, a run's FAB must verify (VerifyFab) before any of
  // its messages runs; otherwise each of its messages gets an INVALID_FAB error reply.
  TrustedEntities trusted_entities;
};

class SuperNode {
 public:
  // `fleet` must be connected; both must outlive this.
  SuperNode(NodeState* state, FleetClient* fleet, SuperNodeOptions options);

  // Runs the loop until Stop() (OK) or until the SuperLink rejects this node
  // (IsNodeRejected) or a Fleet call fails for good (that error).
  absl::Status Run();
  // Makes Run() return soon; a message being processed is abandoned. Thread-safe.
  void Stop();

 private:
  // Pulls one instruction and hands it to a ClientApp. Returns whether one came.
  absl::StatusOr<bool> ReceiveOne();
  // Makes sure the run, its FAB and its series Context are in NodeState. Sets `*fab_refused`
  // (and stores nothing) when the FAB fails `trusted_entities` verification.
  absl::Status PrepareRun(uint64_t run_id, bool* fab_refused);
  // Waits for the reply(ies) in NodeState and pushes them to the SuperLink.
  absl::Status ForwardReplies();
  absl::Status ForwardReply(const proto::Message& reply);
  // Sleeps `d` unless stopped; false if stopped.
  bool Sleep(absl::Duration d);

  NodeState* state_;
  FleetClient* fleet_;
  const SuperNodeOptions options_;
  absl::Notification stop_;
};

}  // namespace flwr::supernode

#endif  // FLWR_SUPERNODE_SUPERNODE_H_
