// The SuperExec's request signature (flwr/supercore/auth/superexec.py, the same in Flower 1.36
// and 1.42): where a SuperNode or SuperLink runs with `--superexec-auth-secret-file`, the
// SuperExec signs its task-claiming Runtime calls with an HMAC of a shared master secret, and
// the server verifies them (flwr/supercore/dependencies/superexec.py). Only the method string
// differs between the lines: 1.36 signs "/flwr.proto.Runtime/PullPendingTasks" and
// ".../ClaimTask", 1.42 "/flwr.proto.Runtime/AcquireTask".
#ifndef FLWR_CORE_SUPEREXEC_AUTH_H_
#define FLWR_CORE_SUPEREXEC_AUTH_H_

#include <google/protobuf/message_lite.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

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

// The master secret in the file at `path` ("~" expanded), as exact bytes, as stock's
// load_superexec_auth_secret: InvalidArgument "Failed to read SuperExec auth secret from file
// '<path>': [Errno N] <reason>: '<path>'" if unreadable, "SuperExec auth secret must not be
// empty" if empty.
absl::StatusOr<std::string> LoadSuperExecAuthSecret(absl::string_view path);

// A server's check of SuperExec-signed requests (stock authenticate_superexec_request): each
// of the four headers exactly once and non-empty, the timestamp an integer within (-5 s,
// +305 s) of now (i.e. at most 5 s ahead of this clock, under 305 s old), the body hash that
// of `request`, the signature right, and the nonce unused in this method's namespace while
// the timestamp is in the window (replays are refused). Thread-safe.
class SuperExecAuthVerifier {
 public:
  explicit SuperExecAuthVerifier(absl::string_view master_secret);

  // OK if the request is authentic and its nonce was fresh (it is now used); else the Flower
  // error RUNTIME_AUTHENTICATION_FAILED (1008: 401 / UNAUTHENTICATED) "SuperExec
  // authentication failed for <method>.". A failed check does not use up the nonce.
  absl::Status Verify(absl::string_view method, const google::protobuf::MessageLite& request,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      absl::Time now = absl::Now());

 private:
  const std::string auth_secret_;  // derived from the master secret
  absl::Mutex mutex_;
  // "<method>\n<nonce>" -> Unix seconds after which the nonce may be forgotten.
  absl::flat_hash_map<std::string, int64_t> nonces_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace flwr::core

#endif  // FLWR_CORE_SUPEREXEC_AUTH_H_
