#include "flwr/superlink/message_validator.h"

#include "absl/strings/str_cat.h"
#include "flwr/core/iso_time.h"
#include "flwr/superlink/link_state.h"

namespace flwr::superlink {
namespace {

// 28 February 2025 00:00:00 UTC: flwr rejects messages that claim to be older.
constexpr double kMinCreatedAt = 1740700800.0;

}  // namespace

std::vector<std::string> ValidateMessage(const proto::Message& message, bool is_reply,
                                         absl::Time now) {
  std::vector<std::string> errors;
  const proto::Metadata& m = message.metadata();
  if (m.message_id().empty()) errors.push_back("empty `metadata.message_id`");
  if (m.created_at() < kMinCreatedAt) {
    errors.push_back(
        "`metadata.created_at` must be a float that records the unix timestamp in seconds when "
        "the message was created.");
  }
  if (m.ttl() <= 0) errors.push_back("`metadata.ttl` must be higher than zero");
  if (m.created_at() + m.ttl() <= core::ToEpochSeconds(now)) {
    errors.push_back("Message TTL has expired");
  }
  if (m.src_node_id() == 0) errors.push_back("`metadata.src_node_id` is not set.");
  if (m.dst_node_id() == 0) errors.push_back("`metadata.dst_node_id` is not set.");
  if (m.message_type().empty()) errors.push_back("`metadata.message_type` MUST be set");
  if (message.has_content() == message.has_error()) {
    errors.push_back("Either message `content` or `error` MUST be set (but not both)");
  }
  if (!is_reply) {
    if (!m.reply_to_message_id().empty()) {
      errors.push_back("`metadata.reply_to_message_id` MUST not be set.");
    }
    if (m.src_node_id() != kSuperLinkNodeId) {
      errors.push_back(
          absl::StrCat("`metadata.src_node_id` is not ", kSuperLinkNodeId, " (SuperLink node ID)"));
    }
    // Flower 1.42 lets instructions go to the SuperLink itself (its AgentApps' messages).
  } else {
    if (m.reply_to_message_id().empty()) {
      errors.push_back("`metadata.reply_to_message_id` MUST be set.");
    }
    if (m.src_node_id() == kSuperLinkNodeId) {
      errors.push_back(
          absl::StrCat("`metadata.src_node_id` is ", kSuperLinkNodeId, " (SuperLink node ID)"));
    }
    if (m.dst_node_id() != kSuperLinkNodeId) {
      errors.push_back(
          absl::StrCat("`metadata.dst_node_id` is not ", kSuperLinkNodeId, " (SuperLink node ID)"));
    }
  }
  return errors;
}

}  // namespace flwr::superlink
