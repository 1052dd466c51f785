// The checks flwr's validate_message applies to messages entering the SuperLink.
#ifndef FLWR_SUPERLINK_MESSAGE_VALIDATOR_H_
#define FLWR_SUPERLINK_MESSAGE_VALIDATOR_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "flwr/proto/message.pb.h"

namespace flwr::superlink {

// Returns flwr's validation errors for `message` (empty when valid). Instructions come from
// the SuperLink (node 1) to a node; replies come back to node 1 and name their instruction.
std::vector<std::string> ValidateMessage(const proto::Message& message, bool is_reply,
                                         absl::Time now);

}  // namespace flwr::superlink

#endif  // FLWR_SUPERLINK_MESSAGE_VALIDATOR_H_
