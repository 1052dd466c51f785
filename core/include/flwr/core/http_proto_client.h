// HttpProtoClient: the client side of "protobuf over HTTP/1.1" (http_proto_server.h), as the
// pinned flwr's `flwr/supercore/protobuf/client.py` with its runtime-version interceptor:
// every call is a POST of the deterministically serialized request with
// `content-type: application/protobuf`, the runtime version headers (runtime_version.h) and
// the caller's extra headers (e.g. `flwr-task-token`). Plain HTTP only: TLS is out of scope
// for now. No retries: callers decide (flwr retries transport errors, 503 and 504).
#ifndef FLWR_CORE_HTTP_PROTO_CLIENT_H_
#define FLWR_CORE_HTTP_PROTO_CLIENT_H_

#include <google/protobuf/message.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace flwr::core {

struct HttpProtoClientOptions {
  // flwr's client uses 30 s for connecting and for each read and write.
  absl::Duration connect_timeout = absl::Seconds(30);
  absl::Duration timeout = absl::Seconds(30);
  // Read limit while a server stream is open (flwr has none; capped at 7 days).
  absl::Duration stream_read_timeout = absl::Hours(7 * 24);
  // Send flwr-package-name/-version/flwr-component-name (stock clients always do).
  bool send_runtime_version_headers = true;
};

// Thread-safe: concurrent calls use separate keep-alive connections from a small pool.
class HttpProtoClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // A client of http://host:port that announces itself as `component_name` (e.g.
  // "flwr-serverapp", "SuperExec").
  HttpProtoClient(std::string host, int port, std::string component_name,
                  HttpProtoClientOptions options = {});
  ~HttpProtoClient();

  HttpProtoClient(const HttpProtoClient&) = delete;
  HttpProtoClient& operator=(const HttpProtoClient&) = delete;

  // A unary call. Errors: a non-2xx response decoded by FromHttpError (Flower errors keep
  // their code and public details); Unavailable for transport failures (connection refused,
  // timeouts, a dropped connection); Internal if a 2xx body does not parse as `Resp`.
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Call(absl::string_view path, const Req& request,
                            const Headers& extra_headers = {});

  // A server-streaming call: `on_message` gets each message in order and may return false
  // to stop reading (the call then returns OK). Returns OK at the end of the stream; errors
  // as Call(), plus Internal for a malformed or truncated frame or unparsable message.
  template <typename Req, typename Resp>
  absl::Status CallServerStream(absl::string_view path, const Req& request,
                                const std::function<bool(const Resp&)>& on_message,
                                const Headers& extra_headers = {});

 private:
  class Impl;

  // The 2xx response body of a unary POST of `request`.
  absl::StatusOr<std::string> Post(absl::string_view path, const google::protobuf::Message& request,
                                   const Headers& extra_headers);
  // Streams the frames answering a POST of `request` to `on_frame` (false: stop reading).
  absl::Status PostStream(absl::string_view path, const google::protobuf::Message& request,
                          const std::function<bool(absl::string_view)>& on_frame,
                          const Headers& extra_headers);

  std::unique_ptr<Impl> impl_;
};

template <typename Req, typename Resp>
absl::StatusOr<Resp> HttpProtoClient::Call(absl::string_view path, const Req& request,
                                           const Headers& extra_headers) {
  absl::StatusOr<std::string> body = Post(path, request, extra_headers);
  if (!body.ok()) return body.status();
  Resp response;
  if (!response.ParseFromString(*body)) {
    return absl::InternalError("Invalid protobuf response payload");
  }
  return response;
}

template <typename Req, typename Resp>
absl::Status HttpProtoClient::CallServerStream(absl::string_view path, const Req& request,
                                               const std::function<bool(const Resp&)>& on_message,
                                               const Headers& extra_headers) {
  absl::Status parse_error;
  absl::Status status = PostStream(
      path, request,
      [&](absl::string_view frame) {
        Resp message;
        if (!message.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
          parse_error = absl::InternalError("Invalid protobuf stream payload");
          return false;
        }
        return on_message(message);
      },
      extra_headers);
  return parse_error.ok() ? status : parse_error;
}

}  // namespace flwr::core

#endif  // FLWR_CORE_HTTP_PROTO_CLIENT_H_
