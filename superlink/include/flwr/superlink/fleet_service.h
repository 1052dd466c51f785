// FleetService: the Fleet API logic (SuperNodes <-> SuperLink) of flwr's fleet message
// handler, transport-free: each method takes and returns the protobuf messages. Errors are
// FlowerErrors (see flwr/core/flower_error.h) or plain statuses for malformed requests.
#ifndef FLWR_SUPERLINK_FLEET_SERVICE_H_
#define FLWR_SUPERLINK_FLEET_SERVICE_H_

#include <atomic>
#include <optional>

#include "absl/status/statusor.h"
#include "flwr/proto/fab.pb.h"
#include "flwr/proto/fleet.pb.h"
#include "flwr/proto/heartbeat.pb.h"
#include "flwr/proto/message.pb.h"
#include "flwr/proto/run.pb.h"
#include "flwr/superlink/link_state.h"

namespace flwr::superlink {

// The signed-request metadata every Fleet call carries (absent values are empty).
struct NodeCredentials {
  std::string public_key;  // PEM
  std::string timestamp;   // ISO 8601
  std::string signature;   // DER ECDSA-SHA256 over `timestamp`
};

class FleetService {
 public:
  // With `enable_supernode_auth` (`--enable-supernode-auth`), only SuperNodes registered
  // through the Control API (`flwr supernode register`) may join: RegisterNode and
  // UnregisterNode are refused, ActivateNode knows only the registered keys.
  FleetService(LinkState* state, bool enable_supernode_auth = false, Clock clock = absl::Now)
      : state_(state), enable_supernode_auth_(enable_supernode_auth), clock_(clock) {}

  // Checks a call's credentials as flwr's NodeAuthServerInterceptor: a valid signature over a
  // fresh timestamp, and, for calls that name a node (`claimed_node_id`), that the key is the
  // node's. Unauthenticated with flwr's plain-text message otherwise.
  absl::Status Authenticate(const NodeCredentials& credentials,
                            std::optional<uint64_t> claimed_node_id);
  // The signature checks Authenticate made so far and the CPU time they took on their threads:
  // the share of the SuperLink's CPU that no transport can save (the benchmark's floor).
  uint64_t signature_checks() const { return signature_checks_.load(); }
  absl::Duration signature_check_cpu() const {
    return absl::Nanoseconds(signature_check_cpu_ns_.load());
  }

  // A SuperNode registering itself: FlowerError 2001 with enable_supernode_auth, 23 for a key
  // already in use.
  absl::StatusOr<proto::RegisterNodeFleetResponse> RegisterNode(
      const proto::RegisterNodeFleetRequest& request);
  // FlowerError 2004 for an unknown or unregistered key, 2003 for a bad heartbeat interval.
  absl::StatusOr<proto::ActivateNodeResponse> ActivateNode(
      const proto::ActivateNodeRequest& request);
  absl::StatusOr<proto::DeactivateNodeResponse> DeactivateNode(
      const proto::DeactivateNodeRequest& request);
  // FlowerError 2002 with enable_supernode_auth, 2006 for an unknown or unregistered node.
  absl::StatusOr<proto::UnregisterNodeFleetResponse> UnregisterNode(
      const proto::UnregisterNodeFleetRequest& request);
  absl::StatusOr<proto::SendNodeHeartbeatResponse> SendNodeHeartbeat(
      const proto::SendNodeHeartbeatRequest& request);
  absl::StatusOr<proto::PullMessagesResponse> PullMessages(
      const proto::PullMessagesRequest& request);
  absl::StatusOr<proto::PushMessagesResponse> PushMessages(
      const proto::PushMessagesRequest& request);
  absl::StatusOr<proto::GetRunResponse> GetRun(const proto::GetRunRequest& request);
  absl::StatusOr<proto::GetFabResponse> GetFab(const proto::GetFabRequest& request);
  absl::StatusOr<proto::PushObjectResponse> PushObject(const proto::PushObjectRequest& request);
  absl::StatusOr<proto::PullObjectResponse> PullObject(const proto::PullObjectRequest& request);
  absl::StatusOr<proto::ConfirmMessageReceivedResponse> ConfirmMessageReceived(
      const proto::ConfirmMessageReceivedRequest& request);

 private:
  // The run of a Fleet call, if its status allows Fleet traffic (it must be running).
  absl::StatusOr<proto::Run> RunningRun(uint64_t run_id);

  LinkState* state_;
  bool enable_supernode_auth_;
  Clock clock_;
  std::atomic<uint64_t> signature_checks_{0};
  std::atomic<int64_t> signature_check_cpu_ns_{0};
};

}  // namespace flwr::superlink

#endif  // FLWR_SUPERLINK_FLEET_SERVICE_H_
