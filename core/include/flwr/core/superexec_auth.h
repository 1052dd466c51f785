// The SuperExec's request signature (flwr/supercore/auth/superexec.py, the same in Flower 1.36
// and 1.42): where a SuperNode or SuperLink runs with `--superexec-auth-secret-file`, the
// SuperExec signs its task-claiming Runtime calls with an HMAC of a shared master secret. Only
// the method string differs between the lines: 1.36 signs "/flwr.proto.Runtime/PullPendingTasks"
// and ".../ClaimTask", 1.42 "/flwr.proto.Runtime/AcquireTask".
#ifndef FLWR_CORE_SUPEREXEC_AUTH_H_
#define FLWR_CORE_SUPEREXEC_AUTH_H_

#include <google/protobuf/message_lite.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace flwr::core {

// The gRPC-style method name a Runtime route is signed as ("/flwr.proto.Runtime/<Pascal>").
inline constexpr absl::string_view kPullPendingTasksMethod = "/flwr.proto.Runtime/PullPendingTasks";
inline constexpr absl::string_view kClaimTaskMethod = "/flwr.proto.Runtime/ClaimTask";
inline constexpr absl::string_view kAcquireTaskMethod = "/flwr.proto.Runtime/AcquireTask";

// The headers of a request signed at `timestamp` (Unix seconds) with `nonce` (32 hex digits):
// flwr-superexec-ts, flwr-superexec-nonce, flwr-superexec-body-sha256 (hex SHA-256 of the
// deterministic serialization of `request`) and flwr-superexec-signature = hex
// HMAC-SHA256(HMAC-SHA256(master_secret, "superexec-auth-v1"),
// "method=<method>\nts=<timestamp>\nnonce=<nonce>\nbody_sha256=<hex>").
std::vector<std::pair<std::string, std::string>> SuperExecAuthHeaders(
    absl::string_view master_secret, absl::string_view method,
    const google::protobuf::MessageLite& request, int64_t timestamp, absl::string_view nonce);

// SuperExecAuthHeaders now, with a fresh random nonce (as flwr's secrets.token_hex(16)).
std::vector<std::pair<std::string, std::string>> SuperExecAuthHeaders(
    absl::string_view master_secret, absl::string_view method,
    const google::protobuf::MessageLite& request);

}  // namespace flwr::core

#endif  // FLWR_CORE_SUPEREXEC_AUTH_H_
