// ControlService: the Control API logic (the `flwr` CLI <-> SuperLink) of flwr's control
// handlers, transport-free. Without account authentication every caller is the "<id:none>"
// account of the single federation "@none/default", as the stock SuperLink's NoOp plugins.
#ifndef FLWR_SUPERLINK_CONTROL_SERVICE_H_
#define FLWR_SUPERLINK_CONTROL_SERVICE_H_

#include <functional>

#include "absl/status/statusor.h"
#include "flwr/proto/control.pb.h"
#include "flwr/superlink/link_state.h"

namespace flwr::superlink {

class ControlService {
 public:
  // How often StreamLogs looks for new log lines.
  static constexpr absl::Duration kLogPollInterval = absl::Milliseconds(500);

  ControlService(LinkState* state, Clock clock = absl::Now) : state_(state), clock_(clock) {}

  // Stores the FAB and creates a pending run with its ServerApp task. InvalidArgument for a
  // FAB whose declared hash is not its SHA-256; FlowerError 15 for a FAB that is not a valid
  // Flower App or an override key the app does not define; 2 for an unknown federation. A FAB
  // above 10 MiB gets an empty response, as flwr answers.
  absl::StatusOr<proto::StartRunResponse> StartRun(const proto::StartRunRequest& request);

  // Streams the log of the run's ServerApp after `request.after_timestamp` until the run has
  // finished (then cleans the run up) or `cancelled()` returns true, polling every
  // kLogPollInterval. `write` returns false when the client went away. FlowerError 16 for an
  // unknown run.
  absl::Status StreamLogs(const proto::StreamLogsRequest& request,
                          const std::function<bool(const proto::StreamLogsResponse&)>& write,
                          const std::function<bool()>& cancelled);

  // One run (FlowerError 16 if unknown) or the caller's runs, newest first, at most `limit`.
  // A caller of the 1.42 line (`caller_line`, a pinned version) gets at most 20 runs without
  // a `limit`, after skipping `skip`; a 1.36 caller all of them. Finished runs in the result
  // are cleaned up, as flwr does.
  absl::StatusOr<proto::ListRunsResponse> ListRuns(const proto::ListRunsRequest& request,
                                                   absl::string_view caller_line);

  // FlowerError 16 for an unknown run, 18 for a finished one.
  absl::StatusOr<proto::StopRunResponse> StopRun(const proto::StopRunRequest& request);

  // `flwr supernode register`: a node for the request's public key, owned by the caller's
  // account, registered but not online until it activates over Fleet. FlowerError 22 for a
  // key that is not a PEM EC key on a NIST curve, 23 for a key already in use. A caller of the
  // 1.42 line (`caller_line`) may also give the node a name and a location, FlowerError 45 for
  // a location that is not "<latitude>,<longitude>" in range; a 1.36 caller's are ignored, as
  // 1.36 knows neither. What the state returns for other failures.
  absl::StatusOr<proto::RegisterNodeResponse> RegisterNode(
      const proto::RegisterNodeRequest& request, absl::string_view caller_line);
  // `flwr supernode unregister`: the node is unregistered (its key stays used). FlowerError 24
  // if the caller owns no such node or it is already unregistered; what the state returns
  // otherwise (an SQLite state that cannot be read).
  absl::StatusOr<proto::UnregisterNodeResponse> UnregisterNode(
      const proto::UnregisterNodeRequest& request);
  // `flwr supernode list`: the caller's nodes, stale online ones marked offline first.
  absl::StatusOr<proto::ListNodesResponse> ListNodes(const proto::ListNodesRequest& request);
  absl::StatusOr<proto::ListFederationsResponse> ListFederations(
      const proto::ListFederationsRequest& request);
  // Without account authentication, the stock NoOp plugin's details (authn_type "noop").
  absl::StatusOr<proto::GetLoginDetailsResponse> GetLoginDetails(
      const proto::GetLoginDetailsRequest& request);

 private:
  LinkState* state_;
  Clock clock_;
};

}  // namespace flwr::superlink

#endif  // FLWR_SUPERLINK_CONTROL_SERVICE_H_
