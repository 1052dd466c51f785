// Rules and helpers shared by the LinkState implementations; not a public API.
#ifndef FLWR_SUPERLINK_LINK_STATE_UTIL_H_
#define FLWR_SUPERLINK_LINK_STATE_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "flwr/core/ids.h"
#include "flwr/core/object_store.h"
#include "flwr/core/task.h"
#include "flwr/proto/message.pb.h"
#include "flwr/proto/node.pb.h"
#include "flwr/superlink/link_state.h"

namespace flwr::superlink {

std::unique_ptr<LinkState> NewInMemoryLinkState(std::unique_ptr<core::ObjectStore> store,
                                                std::unique_ptr<core::TaskStore> tasks,
                                                Clock clock);
// SQLite state in the file `path` (created if missing), beside `store` (the file's object
// store) and the file's TaskStore. Unavailable if the file cannot be opened or holds another
// schema.
absl::StatusOr<std::unique_ptr<LinkState>> OpenSqliteLinkState(
    absl::string_view path, std::unique_ptr<core::ObjectStore> store, Clock clock);

using core::NewUuid4;
using core::RandomId;

// FlowerError 2003 unless the interval is within [10, 1800] seconds.
absl::Status CheckHeartbeatInterval(double heartbeat_interval);

// The context a new run's ServerApp starts from: node 1, empty configs and state.
proto::Context InitialContext(uint64_t run_id, uint64_t series_id);

// FailedPrecondition unless the reply comes from the instruction's destination, in the same
// run, with a TTL that does not outlive the instruction (0.1 s tolerance).
absl::Status CheckReplyMatchesInstruction(const proto::Metadata& instruction,
                                          const proto::Metadata& reply);

// Whether a new run of `federation` may join the run series `series_id`, whose federation is
// `series_federation` (nullptr: no such series): FailedPrecondition saying why not, as flwr's
// store_run_in_series logs it.
absl::Status CheckSeriesJoinable(uint64_t series_id, const std::string* series_federation,
                                 absl::string_view federation);

// Marks an online node whose liveness lapsed (online_until <= now) offline. True if changed.
bool ExpireNode(proto::NodeInfo& info, absl::Time now);
// Marks a node online for 2 x `heartbeat_interval` from `now`.
void SetOnline(proto::NodeInfo& info, double heartbeat_interval, absl::Time now);

enum class ReplyError { kNodeUnavailable, kReplyUnavailable };

// The SuperLink's error reply when an instruction is unknown or expired.
proto::Message MessageUnavailableReply(const std::string& instruction_id, absl::Time now);
// The SuperLink's error reply to a live instruction whose node or reply is unavailable.
proto::Message ErrorReplyFor(const proto::Metadata& instruction, ReplyError error, absl::Time now);

}  // namespace flwr::superlink

#endif  // FLWR_SUPERLINK_LINK_STATE_UTIL_H_
