// NodeRuntimeService: the SuperNode's Runtime API logic (the old ClientAppIo: SuperExec and
// `flwr-clientapp` processes <-> SuperNode), transport-free, as flwr's supernode runtime
// handlers of the pinned version (docs/flower-1.36-supernode-protocol.md §3.2). Flower 1.36
// serves it as protobuf over HTTP (core/runtime_http_api.h); core/runtime_service.h is the
// interface.
#ifndef FLWR_SUPERNODE_NODE_RUNTIME_SERVICE_H_
#define FLWR_SUPERNODE_NODE_RUNTIME_SERVICE_H_

#include "absl/status/statusor.h"
#include "flwr/core/runtime_service.h"
#include "flwr/supernode/node_state.h"

namespace flwr::supernode {

class NodeRuntimeService final : public core::RuntimeService {
 public:
  explicit NodeRuntimeService(NodeState* state)
      : core::RuntimeService(state->tasks()), state_(state) {}

  FLWR_RUNTIME_SERVICE_OVERRIDES

 private:
  NodeState* state_;
};

}  // namespace flwr::supernode

#endif  // FLWR_SUPERNODE_NODE_RUNTIME_SERVICE_H_
