// The HTTP Fleet transport: the routes of the stock 1.42 FleetHttpClient on
// core::HttpProtoClient, with the NodeAuthHttpInterceptor's headers.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "fleet_transport_internal.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/http_proto_client.h"
#include "flwr/core/wire_errors.h"

namespace flwr::supernode {
namespace {

class HttpFleetTransport : public FleetTransport {
 public:
  HttpFleetTransport(std::string host, int port, core::HttpProtoClientOptions options,
                     core::NodeKey key)
      : http_(std::move(host), port, "SuperNode", std::move(options)), key_(std::move(key)) {}

 protected:
  // One POST of `request` with freshly signed node-auth headers.
  absl::Status CallRpc(const FleetRpc& rpc, const google::protobuf::Message& request,
                       google::protobuf::Message* response,
                       std::optional<absl::Duration> timeout) override {
    absl::StatusOr<core::SignedRequestMetadata> auth = core::SignRequest(key_, absl::Now());
    if (!auth.ok()) return auth.status();
    return http_.CallInto(rpc.http_path, request, response, FleetHttpAuthHeaders(*auth), timeout);
  }

 private:
  core::HttpProtoClient http_;
  const core::NodeKey key_;
};

// `status` with `code` in place of its own; message and payloads kept.
absl::Status WithCode(const absl::Status& status, absl::StatusCode code) {
  absl::Status out(code, status.message());
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> FleetHttpAuthHeaders(
    const core::SignedRequestMetadata& signed_request) {
  return {
      {std::string(core::kHttpPublicKeyHeader), absl::Base64Escape(signed_request.public_key_pem)},
      {std::string(core::kTimestampHeader), signed_request.timestamp},
      {std::string(core::kHttpSignatureHeader), absl::Base64Escape(signed_request.signature)},
  };
}

absl::Status FleetHttpError(int http_status, absl::string_view body) {
  const absl::Status status = core::FromHttpError(http_status, body);
  switch (http_status) {
    case 401:
      return WithCode(status, absl::StatusCode::kUnauthenticated);
    case 403:
      // Connector authorization does not mean the run has stopped (stock comment).
      return WithCode(
          status, core::FlowerErrorCode(status) == core::api_error::kRuntimeConnectorNotAvailable
                      ? absl::StatusCode::kFailedPrecondition
                      : absl::StatusCode::kPermissionDenied);
    case 502:
    case 503:
    case 504:
      return WithCode(status, absl::StatusCode::kUnavailable);
    default:
      break;
  }
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return WithCode(status, absl::StatusCode::kUnknown);
    default:
      return status;
  }
}

absl::StatusOr<std::unique_ptr<FleetTransport>> NewHttpFleetTransport(
    const FleetTransportOptions& options, core::NodeKey key) {
  // As flwr's parse_address: "host:port" without a URL prefix.
  absl::StatusOr<std::pair<std::string, int>> address =
      absl::StrContains(options.address, "://") ? absl::InvalidArgumentError("URL prefix given")
                                                : core::ParseHostPort(options.address);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SuperLink address (", options.address, ") cannot be parsed."));
  }
  core::HttpProtoClientOptions http;
  http.tls = !options.insecure;
  http.root_certificates = options.root_certificates;
  http.decode_error = FleetHttpError;
  return std::make_unique<HttpFleetTransport>(std::move(address->first), address->second,
                                              std::move(http), std::move(key));
}

}  // namespace flwr::supernode
