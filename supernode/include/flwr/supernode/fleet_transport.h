// The wire under the SuperNode's FleetClient: the 12 Fleet RPCs, one attempt each, request in,
// response out, the RPC chosen by the request's type. Four implementations:
//   gRPC  `flwr.proto.Fleet` (grpc-rere), as the stock Flower 1.36 SuperNode
//         (flwr/client/grpc_rere_client/connection.py); node-auth metadata as raw bytes
//         (`flwr-public-key-bin`, `flwr-signature-bin`).
//   GrpcAdapter  the gRPC one's channel and metadata, each call a `flwr.proto.GrpcAdapter`
//         SendReceive of the request in a MessageContainer (flwr/core/grpc_adapter.h), as the
//         stock 1.36 SuperNode's `--grpc-adapter` (flwr/client/grpc_rere_client/
//         grpc_adapter.py). A response marked "should-exit" makes the process SIGTERM itself
//         and the call fail (IsExitRequested); one of another type than the RPC's is Unknown.
//   HTTP  `POST /v1/fleet/<kebab-name>` (protobuf over HTTP/1.1, core/http_proto_client.h),
//         as the stock Flower 1.42 SuperNode (flwr/supernode/fleet_http_client.py); node-auth
//         headers base64-encoded (`flwr-public-key`, `flwr-signature`).
//   detect  HTTP or gRPC, whichever the SuperLink answers (FleetTransportKind::kDetect).
// Every call carries the runtime version headers of component "SuperNode" and the node-auth
// headers (core/node_auth.h), signed afresh per call. Retries are the caller's (FleetClient).
//
// Errors come as absl::Status in the categories FleetClient acts on:
//   Unavailable       transient: retry. gRPC UNAVAILABLE; HTTP 502/503/504 and transport
//                     errors. A failed TLS handshake is Unavailable too, with "handshake
//                     failed" in its message, and is not to be retried (stock gives up).
//   PermissionDenied  the run is not running. gRPC PERMISSION_DENIED; HTTP 403, except Flower
//                     code 3010 (connector not available), which is FailedPrecondition.
//   Unauthenticated   the SuperLink rejects this node: shut down. gRPC UNAUTHENTICATED; HTTP 401.
//   anything else     give up.
// Flower errors keep their API code and public details (core/flower_error.h).
//
// Thread-safety: every method may be called concurrently.
#ifndef FLWR_SUPERNODE_FLEET_TRANSPORT_H_
#define FLWR_SUPERNODE_FLEET_TRANSPORT_H_

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "flwr/core/node_auth.h"

namespace flwr::supernode {

// Which Fleet API the SuperNode speaks: 1.42's HTTP, 1.36's gRPC (`--grpc-rere`), or the one
// the SuperLink serves (`flower-supernode` without a transport flag, taking the stock args of
// either line): HTTP first and, when no HTTP answer comes, gRPC; the first wire that gets an
// answer of its own protocol (any status but Unavailable and DeadlineExceeded) is kept.
// `--grpc-adapter` (1.36) speaks GrpcAdapter, never detected.
enum class FleetTransportKind { kHttp, kGrpcRere, kGrpcAdapter, kDetect };

// The SuperLink's default Fleet address for each transport (1.42: the one HTTP port of the
// SuperLink; 1.36: FLEETAPI_GRPC_RERE_DEFAULT_ADDRESS).
inline constexpr absl::string_view kDefaultHttpSuperLink = "127.0.0.1:8000";
inline constexpr absl::string_view kDefaultGrpcRereSuperLink = "0.0.0.0:9092";

struct FleetTransportOptions {
  FleetTransportKind kind = FleetTransportKind::kHttp;
  // "host:port" (or "[v6]:port") of the SuperLink's Fleet API, without a scheme.
  std::string address;
  // Plain text. Otherwise TLS, verified against `root_certificates` (PEM), or the system
  // roots when empty.
  bool insecure = true;
  std::string root_certificates;
  // GrpcAdapter: what a "should-exit" answer does before its call fails. Null: stock's
  // SIGTERM to this process (the SuperNode then shuts down as on any SIGTERM). Tests replace it.
  std::function<void()> on_should_exit;
};

// A GrpcAdapter call's failure after the SuperLink's "should-exit" answer (the process is
// shutting down).
bool IsExitRequested(const absl::Status& status);

// One RPC of `flwr.proto.Fleet`, as each wire names it.
struct FleetRpc {
  size_t index = 0;         // position in FleetRpcs()
  std::string name;         // "RegisterNode"
  std::string grpc_method;  // "/flwr.proto.Fleet/RegisterNode"
  std::string http_path;    // "/v1/fleet/register-node"
  const google::protobuf::Descriptor* request_type = nullptr;
  const google::protobuf::Descriptor* response_type = nullptr;
};

// The 12 RPCs of the Fleet service, read from its descriptor in the pinned schema, in its
// order. Each takes a request type of its own.
const std::vector<FleetRpc>& FleetRpcs();

class FleetTransport {
 public:
  // A transport of `options.kind` signing with `key`. No connection is made yet.
  // InvalidArgument for an empty address, or (HTTP) one that is not "host:port".
  static absl::StatusOr<std::unique_ptr<FleetTransport>> Create(
      const FleetTransportOptions& options, core::NodeKey key);

  virtual ~FleetTransport() = default;

  // One attempt of the Fleet RPC that takes `request`'s type, its answer parsed into
  // `*response`. With `timeout`, the call ends after that long (gRPC DeadlineExceeded, HTTP
  // Unavailable); otherwise gRPC waits as long as it takes, HTTP 30 s per read or write.
  // InvalidArgument if no Fleet RPC takes `request`, or `response` is not its response type.
  absl::Status Call(const google::protobuf::Message& request, google::protobuf::Message* response,
                    std::optional<absl::Duration> timeout = std::nullopt);

 protected:
  // Call() on the wire, with the RPC and the message types checked.
  virtual absl::Status CallRpc(const FleetRpc& rpc, const google::protobuf::Message& request,
                               google::protobuf::Message* response,
                               std::optional<absl::Duration> timeout) = 0;
};

// The HTTP transport's wire details, exposed for tests.

// The node-auth headers of one HTTP Fleet call (stock NodeAuthHttpInterceptor):
// `flwr-public-key` = base64(PEM), `flwr-timestamp`, `flwr-signature` = base64(DER).
std::vector<std::pair<std::string, std::string>> FleetHttpAuthHeaders(
    const core::SignedRequestMetadata& signed_request);

// The status of a non-2xx HTTP Fleet response, in the categories above (stock
// make_simple_http_retry_invoker): 401 Unauthenticated, 403 PermissionDenied (Flower code
// 3010: FailedPrecondition), 502/503/504 Unavailable; otherwise core::FromHttpError's status,
// with Unknown in place of any of those three codes. Message and payloads are
// core::FromHttpError's.
absl::Status FleetHttpError(int http_status, absl::string_view body);

}  // namespace flwr::supernode

#endif  // FLWR_SUPERNODE_FLEET_TRANSPORT_H_
