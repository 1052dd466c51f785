#include "link_state_util.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/inflatable.h"
#include "flwr/core/iso_time.h"
#include "flwr/core/proto_convert.h"

namespace flwr::superlink {
namespace {

constexpr double kMessageTtlTolerance = 0.1;
constexpr int kErrorMessageUnavailable = 3;
constexpr int kErrorReplyMessageUnavailable = 4;
constexpr int kErrorNodeUnavailable = 5;
constexpr absl::string_view kSystemMessageType = "system";
constexpr absl::string_view kMessageUnavailableReason =
    "Error: Message Unavailable - The requested message could not be found in the database. It "
    "may have expired due to its TTL, been deleted because the destination SuperNode was removed "
    "from the federation, or never existed.";
constexpr absl::string_view kReplyUnavailableReason =
    "Error: Reply Message Unavailable - The reply message has expired.";
constexpr absl::string_view kNodeUnavailableReason =
    "Error: Node Unavailable \xe2\x80\x94 The destination node failed to report a heartbeat within "
    "2 \xc3\x97 its expected interval.";

// Sets message_id to the message's object ID, as flwr does for the replies it generates.
proto::Message WithMessageId(proto::Message message) {
  absl::StatusOr<core::Message> value = core::MessageFromProto(message);
  if (value.ok()) {
    absl::StatusOr<std::string> id = core::ComputeMessageId(*value);
    if (id.ok()) message.mutable_metadata()->set_message_id(*id);
  }
  return message;
}

}  // namespace

absl::Status CheckHeartbeatInterval(double heartbeat_interval) {
  // Written so that NaN is refused too.
  if (!(heartbeat_interval >= kMinHeartbeatInterval &&
        heartbeat_interval <= kMaxHeartbeatInterval)) {
    return core::FlowerError(
        core::api_error::kFleetInvalidHeartbeatInterval,
        absl::StrFormat("Heartbeat interval %g is outside [%g, %g]", heartbeat_interval,
                        kMinHeartbeatInterval, kMaxHeartbeatInterval));
  }
  return absl::OkStatus();
}

absl::Status CheckSeriesJoinable(uint64_t series_id, const std::string* series_federation,
                                 absl::string_view federation) {
  if (series_federation == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("Run series ", series_id, " not found"));
  }
  if (*series_federation != federation) {
    return absl::FailedPreconditionError(
        absl::StrCat("Run series ", series_id, " belongs to federation '", *series_federation,
                     "', not '", federation, "'"));
  }
  return absl::OkStatus();
}

bool ExpireNode(proto::NodeInfo& info, absl::Time now) {
  if (info.status() != kNodeOnline || info.online_until() > core::ToEpochSeconds(now)) {
    return false;
  }
  info.set_status(std::string(kNodeOffline));
  info.set_last_deactivated_at(core::FormatIsoUtc(core::FromEpochSeconds(info.online_until())));
  return true;
}

void SetOnline(proto::NodeInfo& info, double heartbeat_interval, absl::Time now) {
  if (info.status() != kNodeOnline) info.set_last_activated_at(core::FormatIsoUtc(now));
  info.set_status(std::string(kNodeOnline));
  info.set_heartbeat_interval(heartbeat_interval);
  info.set_online_until(core::ToEpochSeconds(now) + 2 * heartbeat_interval);
}

proto::Context InitialContext(uint64_t run_id, uint64_t series_id) {
  proto::Context context;
  context.set_run_id(run_id);
  context.set_node_id(kSuperLinkNodeId);
  context.mutable_state();
  context.set_series_id(series_id);
  return context;
}

absl::Status CheckReplyMatchesInstruction(const proto::Metadata& instruction,
                                          const proto::Metadata& reply) {
  if (instruction.dst_node_id() != reply.src_node_id()) {
    return absl::FailedPreconditionError("The reply does not come from the instruction's node");
  }
  const double max_ttl = instruction.created_at() + instruction.ttl() - reply.created_at();
  if (reply.ttl() != 0 && reply.ttl() - max_ttl > kMessageTtlTolerance) {
    return absl::FailedPreconditionError(
        absl::StrFormat("Received Message with TTL %.2f exceeding the allowed maximum TTL %.2f.",
                        reply.ttl(), max_ttl));
  }
  if (instruction.run_id() != reply.run_id()) {
    return absl::FailedPreconditionError("`metadata.run_id` is invalid");
  }
  return absl::OkStatus();
}

proto::Message MessageUnavailableReply(const std::string& instruction_id, absl::Time now) {
  proto::Message message;
  proto::Metadata* meta = message.mutable_metadata();
  meta->set_src_node_id(kSuperLinkNodeId);
  meta->set_dst_node_id(kSuperLinkNodeId);
  meta->set_reply_to_message_id(instruction_id);
  meta->set_message_type(std::string(kSystemMessageType));
  meta->set_created_at(core::ToEpochSeconds(now));
  meta->set_ttl(0);
  message.mutable_error()->set_code(kErrorMessageUnavailable);
  message.mutable_error()->set_reason(std::string(kMessageUnavailableReason));
  return WithMessageId(std::move(message));
}

proto::Message ErrorReplyFor(const proto::Metadata& instruction, ReplyError error, absl::Time now) {
  const double now_s = core::ToEpochSeconds(now);
  proto::Message message;
  proto::Metadata* meta = message.mutable_metadata();
  meta->set_run_id(instruction.run_id());
  meta->set_src_node_id(kSuperLinkNodeId);
  meta->set_dst_node_id(kSuperLinkNodeId);
  meta->set_reply_to_message_id(instruction.message_id());
  meta->set_group_id(instruction.group_id());
  meta->set_message_type(instruction.message_type());
  meta->set_created_at(now_s);
  meta->set_ttl(std::max(instruction.ttl() - (now_s - instruction.created_at()), 0.0));
  if (instruction.has_dst_task_id()) meta->set_src_task_id(instruction.dst_task_id());
  if (instruction.has_src_task_id()) meta->set_dst_task_id(instruction.src_task_id());
  const bool node = error == ReplyError::kNodeUnavailable;
  message.mutable_error()->set_code(node ? kErrorNodeUnavailable : kErrorReplyMessageUnavailable);
  message.mutable_error()->set_reason(
      std::string(node ? kNodeUnavailableReason : kReplyUnavailableReason));
  return WithMessageId(std::move(message));
}

}  // namespace flwr::superlink
