// The ServerApp's view of the federation (flwr's `Grid`): which nodes are online, and
// messages out / replies back. RuntimeGrid is the stock HttpGrid over the SuperLink's Runtime
// API; tests substitute their own Grid.
#ifndef FLWR_SERVERAPP_GRID_H_
#define FLWR_SERVERAPP_GRID_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "flwr/core/app_runtime_client.h"
#include "flwr/core/message.h"

namespace flwr::serverapp {

class Grid {
 public:
  virtual ~Grid() = default;

  // The IDs of the online nodes of the run's federation.
  virtual absl::StatusOr<std::vector<uint64_t>> GetNodeIds() = 0;

  // Sends `messages` (instructions with content, message_type and dst_node_id set) and waits
  // up to `timeout` for their replies. Returns the replies that arrived (error replies
  // included), in arrival order; fewer than sent when the timeout passed first.
  virtual absl::StatusOr<std::vector<core::Message>> SendAndReceive(
      std::vector<core::Message> messages, absl::Duration timeout) = 0;
};

// flwr's HttpGrid: SendAndReceive sets each message's run_id, src_node_id (the SuperLink, 1),
// src_task_id (the ServerApp's task, where the Runtime API's line stamps it: Flower 1.42) and
// message_id, rejects invalid ones (InvalidArgument: a reply_to_message_id or ttl <= 0),
// pushes them in one PushMessages with their objects, then polls PullMessages for the
// outstanding IDs every `poll_interval`. Stock polls every 3 s; we poll every 250 ms (a
// PullMessages on the Runtime API costs well under a millisecond of SuperLink CPU), so a round
// ends as soon as its replies are in rather than up to 3 s later. IDs the SuperLink refused
// ("") are dropped with a WARNING. Not thread-safe.
class RuntimeGrid : public Grid {
 public:
  RuntimeGrid(core::AppRuntimeClient* client, uint64_t run_id, uint64_t task_id,
              absl::Duration poll_interval = absl::Milliseconds(250));

  absl::StatusOr<std::vector<uint64_t>> GetNodeIds() override;
  absl::StatusOr<std::vector<core::Message>> SendAndReceive(std::vector<core::Message> messages,
                                                            absl::Duration timeout) override;

 private:
  core::AppRuntimeClient* client_;
  uint64_t run_id_;
  uint64_t task_id_;
  absl::Duration poll_interval_;
};

}  // namespace flwr::serverapp

#endif  // FLWR_SERVERAPP_GRID_H_
