// HttpProtoClient: the client side of "protobuf over HTTP/1.1" (http_proto_server.h), as the
// pinned flwr's `flwr/supercore/protobuf/client.py` with its runtime-version interceptor:
// every call is a POST of the deterministically serialized request with
// `content-type: application/protobuf`, the runtime version headers (runtime_version.h) and
// the caller's extra headers (e.g. `flwr-task-token`). HTTP, or HTTPS with the server's
// certificate and hostname verified (`client.py` with `insecure=False`). No retries: callers
// decide (flwr retries transport errors, 502, 503 and 504).
#ifndef FLWR_CORE_HTTP_PROTO_CLIENT_H_
#define FLWR_CORE_HTTP_PROTO_CLIENT_H_

#include <google/protobuf/message.h>

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

namespace flwr::core {

struct HttpProtoClientOptions {
  // flwr's client uses 30 s for connecting and for each read and write.
  absl::Duration connect_timeout = absl::Seconds(30);
  absl::Duration timeout = absl::Seconds(30);
  // Read limit while a server stream is open (flwr has none; capped at 7 days).
  absl::Duration stream_read_timeout = absl::Hours(7 * 24);
  // Send flwr-package-name/-version/flwr-component-name (stock clients always do), announcing
  // the primary pinned version (PinnedFlowerVersion()) until SetFlowerVersion().
  bool send_runtime_version_headers = true;
  // Speak the line of a Runtime API server of another supported line: when a call is rejected
  // with Flower error 1001 naming the server's version (RuntimeLineFromRejection), announce
  // that line from then on and retry the call once. Clients of the Runtime API set it.
  bool follow_runtime_line = false;
  // HTTPS instead of HTTP. The server's certificate must chain to `root_certificates` (PEM;
  // the system's roots are trusted as well, as OpenSSL's default paths) or, when that is
  // empty, to the system's roots; its name must match the host.
  bool tls = false;
  std::string root_certificates;
  // Turns a non-2xx response (status and body; a stream's body is cut at 64 KiB) into the
  // call's error. Unset:
  // FromHttpError (wire_errors.h). A client whose API gives statuses a meaning of its own
  // (the SuperNode's Fleet client) sets it.
  std::function<absl::Status(int http_status, absl::string_view body)> decode_error;
};

// Splits "host:port" or "[v6]:port" into host and port. InvalidArgument for an empty host or
// a port outside [1, 65535].
absl::StatusOr<std::pair<std::string, int>> ParseHostPort(absl::string_view address);

// Thread-safe: concurrent calls use separate keep-alive connections from a small pool.
class HttpProtoClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // A client of http://host:port (https:// with `options.tls`) that announces itself as
  // `component_name` (e.g. "flwr-serverapp", "SuperExec").
  HttpProtoClient(std::string host, int port, std::string component_name,
                  HttpProtoClientOptions options = {});
  ~HttpProtoClient();

  HttpProtoClient(const HttpProtoClient&) = delete;
  HttpProtoClient& operator=(const HttpProtoClient&) = delete;

  // The version the headers announce: one of SupportedFlowerVersions(), the line this client
  // speaks.
  absl::string_view flower_version() const;
  // Announces `version` (one of SupportedFlowerVersions(); others are ignored) from now on.
  void SetFlowerVersion(absl::string_view version);

  // A unary call; `timeout` replaces `options.timeout` and `options.connect_timeout` for this
  // call (as httpx's per-request timeout).
  // Errors: a non-2xx response decoded by `options.decode_error` (by default FromHttpError:
  // Flower errors keep their code and public details); Unavailable for transport failures
  // (connection refused, timeouts, a dropped connection; a failed TLS handshake or
  // certificate check says "TLS handshake failed"); Internal if a 2xx body does not parse as
  // `Resp`. With `follow_runtime_line`, a version rejection naming another supported line
  // switches to it and the call is sent once more.
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Call(absl::string_view path, const Req& request,
                            const Headers& extra_headers = {},
                            std::optional<absl::Duration> timeout = std::nullopt);

  // Call() for message types known at run time only: parses the 2xx body into `*response`.
  absl::Status CallInto(absl::string_view path, const google::protobuf::Message& request,
                        google::protobuf::Message* response, const Headers& extra_headers = {},
                        std::optional<absl::Duration> timeout = std::nullopt);

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
                                   const Headers& extra_headers,
                                   std::optional<absl::Duration> timeout);
  // Streams the frames answering a POST of `request` to `on_frame` (false: stop reading).
  absl::Status PostStream(absl::string_view path, const google::protobuf::Message& request,
                          const std::function<bool(absl::string_view)>& on_frame,
                          const Headers& extra_headers);

  std::unique_ptr<Impl> impl_;
};

template <typename Req, typename Resp>
absl::StatusOr<Resp> HttpProtoClient::Call(absl::string_view path, const Req& request,
                                           const Headers& extra_headers,
                                           std::optional<absl::Duration> timeout) {
  Resp response;
  absl::Status status = CallInto(path, request, &response, extra_headers, timeout);
  if (!status.ok()) return status;
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
