#include "flwr/serverapp/grid.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/logging.h"
#include "flwr/core/runtime_version.h"

namespace flwr::serverapp {

RuntimeGrid::RuntimeGrid(core::AppRuntimeClient* client, uint64_t run_id, uint64_t task_id,
                         absl::Duration poll_interval)
    : client_(client), run_id_(run_id), task_id_(task_id), poll_interval_(poll_interval) {}

absl::StatusOr<std::vector<uint64_t>> RuntimeGrid::GetNodeIds() { return client_->GetNodes(); }

absl::StatusOr<std::vector<core::Message>> RuntimeGrid::SendAndReceive(
    std::vector<core::Message> messages, absl::Duration timeout) {
  std::vector<core::Message> replies;
  if (messages.empty()) return replies;
  const bool stamp_task = core::RuntimeLineStampsTaskIds(client_->flower_version());
  for (core::Message& message : messages) {
    message.metadata.run_id = run_id_;
    message.metadata.src_node_id = core::kSuperLinkNodeId;
    if (stamp_task) message.metadata.src_task_id = task_id_;
    if (!message.metadata.reply_to_message_id.empty() || message.metadata.ttl <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Invalid message: an instruction needs an empty reply_to_message_id and a positive "
          "ttl (message_type '",
          message.metadata.message_type, "', dst_node_id ", message.metadata.dst_node_id, ")"));
    }
  }
  absl::StatusOr<std::vector<std::string>> ids =
      client_->PushMessages(absl::MakeSpan(messages), core::kSuperLinkNodeId, run_id_);
  if (!ids.ok()) return ids.status();
  absl::flat_hash_set<std::string> outstanding;
  for (std::string& id : *ids) {
    if (!id.empty()) outstanding.insert(std::move(id));
  }
  if (outstanding.size() < messages.size()) {
    core::LogWarning(
        "Not all messages could be pushed to the SuperLink. This could be due to a malformed "
        "message or a node that is no longer available.");
  }
  const absl::Time deadline = absl::Now() + timeout;
  while (!outstanding.empty()) {
    std::vector<std::string> wanted(outstanding.begin(), outstanding.end());
    absl::StatusOr<std::vector<core::Message>> pulled = client_->PullMessages(
        wanted, core::kSuperLinkNodeId, run_id_, /*unavailable_as_error_message=*/true);
    if (!pulled.ok()) return pulled.status();
    for (core::Message& reply : *pulled) {
      outstanding.erase(reply.metadata.reply_to_message_id);
      replies.push_back(std::move(reply));
    }
    if (outstanding.empty() || absl::Now() >= deadline) break;
    absl::SleepFor(std::min(poll_interval_, deadline - absl::Now()));
  }
  return replies;
}

}  // namespace flwr::serverapp
