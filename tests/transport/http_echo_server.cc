// A tiny HttpProtoServer for tests/transport/test_http_interop.py: it prints "PORT <n>" on
// stdout once listening on 127.0.0.1 (ephemeral port) and serves until stdin closes.
//
//   POST /v1/runtime/send-task-heartbeat  SendTaskHeartbeatResponse{success: true}
//   POST /v1/runtime/push-logs            fails with FlowerError(int(logs[0]), ...,
//                                         public_details = logs[1] if present); no logs:
//                                         InvalidArgument "`logs` must not be empty"
//   POST /v1/control/stream-logs          streams run_id messages "line <i>"; then, if
//                                         after_timestamp < 0, fails with Flower error 16
// Every /v1/runtime/ route applies the Runtime API's version check (component "SuperLink").
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/http_proto_server.h"
#include "flwr/core/runtime_version.h"
#include "flwr/proto/control.pb.h"
#include "flwr/proto/log.pb.h"
#include "flwr/proto/runtime.pb.h"

namespace {

using flwr::core::HttpRequestContext;
namespace proto = flwr::proto;

absl::StatusOr<proto::SendTaskHeartbeatResponse> Heartbeat(const proto::SendTaskHeartbeatRequest&,
                                                           const HttpRequestContext&) {
  proto::SendTaskHeartbeatResponse response;
  response.set_success(true);
  return response;
}

absl::StatusOr<proto::PushLogsResponse> Fail(const proto::PushLogsRequest& request,
                                             const HttpRequestContext&) {
  int code;
  if (request.logs().empty() || !absl::SimpleAtoi(request.logs(0), &code)) {
    return absl::InvalidArgumentError("`logs` must not be empty");
  }
  std::optional<std::string> details;
  if (request.logs_size() > 1) details = request.logs(1);
  return flwr::core::FlowerError(code, absl::StrCat("internal message for ", code),
                                 std::move(details));
}

absl::Status StreamLogs(const proto::StreamLogsRequest& request, const HttpRequestContext&,
                        std::function<bool(const proto::StreamLogsResponse&)> write) {
  for (uint64_t i = 0; i < request.run_id(); ++i) {
    proto::StreamLogsResponse line;
    line.set_log_output(absl::StrCat("line ", i));
    line.set_latest_timestamp(static_cast<double>(i));
    if (!write(line)) return absl::CancelledError("client went away");
  }
  if (request.after_timestamp() < 0) {
    return flwr::core::FlowerError(flwr::core::api_error::kRunIdNotFound, "no such run");
  }
  return absl::OkStatus();
}

}  // namespace

// argv[1]: the Flower version the server checks peers against, as a SuperLink of that line
// (default: the primary pin).
int main(int argc, char** argv) {
  static const std::string local_version(argc > 1 ? argv[1] : flwr::core::PinnedFlowerVersion());
  flwr::core::HttpProtoServer server;
  server.AddUnary<proto::SendTaskHeartbeatRequest, proto::SendTaskHeartbeatResponse>(
      "/v1/runtime/send-task-heartbeat", Heartbeat);
  server.AddUnary<proto::PushLogsRequest, proto::PushLogsResponse>("/v1/runtime/push-logs", Fail);
  server.AddServerStream<proto::StreamLogsRequest, proto::StreamLogsResponse>(
      "/v1/control/stream-logs", StreamLogs);
  server.AddRequestCheck("/v1/runtime/", [](const HttpRequestContext& context) {
    return flwr::core::CheckRuntimeVersion(context.headers(), local_version, "SuperLink");
  });
  if (absl::Status status = server.Start("127.0.0.1", 0); !status.ok()) {
    std::cerr << status << std::endl;
    return 1;
  }
  std::cout << "PORT " << server.port() << std::endl;
  for (std::string line; std::getline(std::cin, line);) {
  }
  server.Stop();
  return 0;
}
