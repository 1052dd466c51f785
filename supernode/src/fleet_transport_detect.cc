// The Fleet transport of a SuperNode started without a transport flag: the stock SuperNode of
// each pinned line takes the same flags and speaks its own line's Fleet API (1.42: HTTP,
// 1.36: gRPC grpc-rere, both without a flag), so this one asks the SuperLink which it serves.
// HTTP first; when that gets no HTTP answer, gRPC; the first wire that gets an answer of its
// own protocol is kept for good.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "fleet_transport_internal.h"
#include "flwr/core/logging.h"

namespace flwr::supernode {
namespace {

// The gRPC attempt's limit before a wire is chosen: the HTTP client's default per call.
constexpr absl::Duration kProbeTimeout = absl::Seconds(30);

// No answer of the wire's protocol: refused, dropped, timed out, or (HTTP) a gateway error.
// A gRPC channel to an HTTP/1.1 server ends in UNAVAILABLE ("Trying to connect an http1.x
// server"), and an HTTP request to a gRPC server in a dropped connection (Unavailable).
bool NoAnswer(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded;
}

class DetectingFleetTransport : public FleetTransport {
 public:
  DetectingFleetTransport(std::string address, std::unique_ptr<FleetTransport> http,
                          std::unique_ptr<FleetTransport> grpc)
      : address_(std::move(address)), http_(std::move(http)), grpc_(std::move(grpc)) {}

 protected:
  absl::Status CallRpc(const FleetRpc&, const google::protobuf::Message& request,
                       google::protobuf::Message* response,
                       std::optional<absl::Duration> timeout) override {
    if (FleetTransport* chosen = chosen_.load()) return chosen->Call(request, response, timeout);
    const absl::Status http = http_->Call(request, response, timeout);
    if (!NoAnswer(http)) return Choose(http_.get(), http);
    // Nothing reached an HTTP handler: the request may be sent again over gRPC, within the
    // HTTP call's default limit (a gRPC call without a deadline waits for as long as it takes).
    response->Clear();
    const absl::Status grpc = grpc_->Call(request, response, timeout.value_or(kProbeTimeout));
    if (!NoAnswer(grpc)) {
      return Choose(grpc_.get(), grpc);
    }
    return http;
  }

 private:
  absl::Status Choose(FleetTransport* transport, absl::Status status) {
    FleetTransport* expected = nullptr;
    if (chosen_.compare_exchange_strong(expected, transport) && transport == grpc_.get()) {
      core::LogInfo(absl::StrCat("The SuperLink at ", address_,
                                 " serves the gRPC Fleet API (Flower 1.36): using grpc-rere"));
    }
    return status;
  }

  const std::string address_;
  const std::unique_ptr<FleetTransport> http_;
  const std::unique_ptr<FleetTransport> grpc_;
  std::atomic<FleetTransport*> chosen_{nullptr};
};

}  // namespace

absl::StatusOr<std::unique_ptr<FleetTransport>> NewDetectingFleetTransport(
    const FleetTransportOptions& options, core::NodeKey key) {
  absl::StatusOr<std::unique_ptr<FleetTransport>> http = NewHttpFleetTransport(options, key);
  if (!http.ok()) return http.status();
  return std::make_unique<DetectingFleetTransport>(options.address, *std::move(http),
                                                   NewGrpcFleetTransport(options, std::move(key)));
}

}  // namespace flwr::supernode
