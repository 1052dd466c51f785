// HttpProtoServer: "protobuf over HTTP/1.1" as the pinned flwr's Runtime API and Control
// mirror serve it (`flwr/supercore/protobuf/translation.py`, docs/flower-1.36-superlink-
// protocol.md §3.1), over plain HTTP or TLS (HttpProtoServerOptions). cpp-httplib parses the
// requests and writes the responses; the connections are ours: the worker threads all wait on
// one epoll set that watches the listening socket and every idle connection, and the worker
// woken for a connection with bytes to read serves its request(s) itself, then puts it back
// under watch. Connections are kept alive as uvicorn keeps them; an idle one costs no thread
// (cpp-httplib's own loop would keep a worker polling it every 10 ms), and a request costs no
// hand-over between threads.
//
// Per request, in flwr's order:
//   0. `/health` (flwr/supercore/routers/health): GET and HEAD get an empty 200, other methods
//      405 with `allow: GET`;
//   1. unknown path (any method): 404 `{"detail":"Not Found"}`;
//   2. a method other than POST: 405 `{"detail":"Method Not Allowed"}`, `allow: POST`;
//   3. media type (content-type up to ";", stripped, lowercased) not
//      "application/protobuf": Flower error 1002 (415);
//   4. body not a valid request message: Flower error 1003 (400);
//   5. the request checks whose prefix the path starts with, in the order added (e.g. the
//      runtime version check): the first error is the response;
//   6. the handler. OK: 200, `content-type: application/protobuf`, the serialized response.
//      Errors: ToHttpError (wire_errors.h).
// Server streams answer `content-type: application/flower-protobuf-stream`, chunked, each
// message framed by its 4-byte big-endian length (`supercore/protobuf/framing.py`). Bodies
// over HttpProtoServerOptions::max_request_bytes get 413 `{"detail":"Request Entity Too
// Large"}`. Responses are never content-encoded, as uvicorn's.
//
// Known differences from uvicorn, from cpp-httplib 0.11.4's header parsing (stock clients
// send none of these): a header field with an empty value is dropped, header values are
// percent-decoded ("%2e" arrives as "."), and a malformed Range header gets 416 (a valid one is
// ignored, as Starlette does). tests/transport/test_http_interop.py pins both.
#ifndef FLWR_CORE_HTTP_PROTO_SERVER_H_
#define FLWR_CORE_HTTP_PROTO_SERVER_H_

#include <google/protobuf/message.h>

#include <atomic>
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
#include "flwr/core/http_proto.h"

namespace flwr::core {

inline constexpr absl::string_view kHealthPath = "/health";

// What a handler or request check knows about its request. Valid for the handler call only.
class HttpRequestContext {
 public:
  HttpRequestContext(std::string path, std::vector<std::pair<std::string, std::string>> headers,
                     std::string remote_addr, int remote_port,
                     std::shared_ptr<const std::atomic<bool>> cancelled = nullptr)
      : path_(std::move(path)),
        headers_(std::move(headers)),
        remote_addr_(std::move(remote_addr)),
        remote_port_(remote_port),
        cancelled_(std::move(cancelled)) {}

  const std::string& path() const { return path_; }
  // Request headers with lowercase names; values of one name in arrival order.
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
  // The first value of header `name` (any case), or nullopt if absent.
  std::optional<absl::string_view> Header(absl::string_view name) const;
  // The number of values of header `name` (any case).
  size_t HeaderCount(absl::string_view name) const;
  // Peer IP address and port.
  const std::string& remote_addr() const { return remote_addr_; }
  int remote_port() const { return remote_port_; }
  // Server streams: true once the stream cannot continue (the client went away, detected on
  // the next write, or the server is stopping). Long-lived stream handlers must poll it
  // (flwr's `ProtobufStreamContext.is_active()`, negated). Always false for unary calls.
  bool cancelled() const { return cancelled_ != nullptr && cancelled_->load(); }

 private:
  std::string path_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string remote_addr_;
  int remote_port_;
  std::shared_ptr<const std::atomic<bool>> cancelled_;
};

// The number of Flower Messages a request or response carries: the size of its repeated
// message field `messages_list` (PushMessages requests, PullMessages responses), else 0.
size_t CountFlowerMessages(const google::protobuf::Message& message);

// What HttpProtoServerOptions::on_call learns about one call to a known route.
struct HttpCall {
  absl::string_view path;
  int status = 0;          // HTTP status of the response
  absl::Duration latency;  // until the response was ready (a stream: its status was known)
  size_t request_bytes = 0;
  size_t response_bytes = 0;  // 0 for a stream (its frames are not counted)
  size_t request_messages = 0;
  size_t response_messages = 0;
};

struct HttpProtoServerOptions {
  // TLS (HTTPS) with this PEM certificate (chain) and private key, as uvicorn's
  // `ssl_certfile`/`ssl_keyfile`; clients are not asked for certificates. Empty: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Larger request bodies get 413. gRPC servers accept 2 GiB - 1 but each body is buffered
  // here, so the default is 512 MiB: far above any Flower message (objects travel one by one).
  size_t max_request_bytes = size_t{512} << 20;
  // Worker threads. A connection holds one while it has a request to serve; each open stream
  // holds one, plus a thread of its own for the handler. Idle connections hold none: epoll
  // watches them all.
  int num_threads = 32;
  // Connections are kept alive, as uvicorn keeps them (any number of requests, pipelined ones
  // included, unless a request says `Connection: close`); one idle for this long is closed
  // (uvicorn's default: 5 s), as is one that sends nothing this long after it was opened.
  absl::Duration keep_alive_timeout = absl::Seconds(5);
  // Limits for each socket read and write.
  absl::Duration read_timeout = absl::Seconds(30);
  absl::Duration write_timeout = absl::Seconds(30);
  // Called with the status of every error response to a known route (e.g. to log
  // "[path][ApiError:code] message" as flwr does). Runs on the request's thread; must be
  // thread-safe.
  std::function<void(const HttpRequestContext&, const absl::Status&)> on_error;
  // Called after every call to a known route (not for unknown paths: their number is
  // unbounded), e.g. for metrics. Runs on the request's thread; must be thread-safe.
  std::function<void(const HttpCall&)> on_call;
};

// Routes and checks must be added before Start(); afterwards the server is thread-safe.
// Handlers run concurrently on the worker threads and must be thread-safe.
class HttpProtoServer {
 public:
  // A check that runs on every request under a path prefix (step 5 above).
  using RequestCheck = std::function<absl::Status(const HttpRequestContext&)>;

  explicit HttpProtoServer(HttpProtoServerOptions options = {});
  ~HttpProtoServer();  // Stops the server.

  HttpProtoServer(const HttpProtoServer&) = delete;
  HttpProtoServer& operator=(const HttpProtoServer&) = delete;

  // Serves `path` (exact match, e.g. "/v1/runtime/send-task-heartbeat") with a unary
  // handler. Types are explicit: AddUnary<proto::XRequest, proto::XResponse>(path, fn).
  template <typename Req, typename Resp>
  // The handler may move fields out of the request (it is the server's, parsed for this call).
  void AddUnary(std::string path,
                std::function<absl::StatusOr<Resp>(Req&, const HttpRequestContext&)> handler);

  // As AddUnary, for a handler that returns the response already serialized (a Resp's bytes).
  template <typename Req>
  void AddUnarySerialized(
      std::string path,
      std::function<absl::StatusOr<std::string>(Req&, const HttpRequestContext&)> handler);

  // Serves `path` with a server-streaming handler. `write` sends one message and returns
  // false once the stream is cancelled (then the handler should return). If the handler
  // fails before its first write, the client gets an ordinary error response; after that,
  // the status is already 200 and a failure aborts the connection mid-stream (the client
  // sees a truncated stream), as a failing generator does in flwr.
  template <typename Req, typename Resp>
  void AddServerStream(std::string path,
                       std::function<absl::Status(const Req&, const HttpRequestContext&,
                                                  std::function<bool(const Resp&)> write)>
                           handler);

  // Applies `check` to every route whose path starts with `path_prefix`.
  void AddRequestCheck(std::string path_prefix, RequestCheck check);

  // Listens on host:port (port 0: an ephemeral port, see port()). Unavailable if the
  // address cannot be bound (e.g. the port is in use); FailedPrecondition if started before.
  absl::Status Start(absl::string_view host, int port);

  // The bound port; 0 before Start().
  int port() const;

  // Stops accepting, closes idle connections, cancels open streams and waits for in-flight
  // requests and stream handlers to finish (their connections then close). Idempotent.
  void Stop();

  // Serves one connection without a socket: `bytes` is everything a client sent before it
  // closed its side, and the result everything the server wrote back — the responses to the
  // requests in `bytes`, in order, as a socket connection would get them (up to one with
  // `Connection: close`). Routes and checks must have been added; Start() need not
  // have been called, but must not run concurrently. For fuzzing the request framing
  // (tests/fuzz/fuzz_http.cc).
  std::string ServeBytes(absl::string_view bytes);

 private:
  // A route with its message types erased.
  struct Route {
    std::function<std::unique_ptr<google::protobuf::Message>()> new_request;
    // Unary: the serialized response.
    // Sets *response_messages to CountFlowerMessages(response) where it knows the response.
    std::function<absl::StatusOr<std::string>(google::protobuf::Message&, const HttpRequestContext&,
                                              size_t* response_messages)>
        unary;
    // Server stream: `write` takes a serialized message.
    std::function<absl::Status(const google::protobuf::Message&, const HttpRequestContext&,
                               const std::function<bool(std::string)>& write)>
        stream;
  };
  class Impl;

  void AddRoute(std::string path, Route route);

  std::unique_ptr<Impl> impl_;
};

template <typename Req, typename Resp>
void HttpProtoServer::AddUnary(
    std::string path,
    std::function<absl::StatusOr<Resp>(Req&, const HttpRequestContext&)> handler) {
  Route route;
  route.new_request = [] { return std::make_unique<Req>(); };
  route.unary = [handler = std::move(handler)](
                    google::protobuf::Message& request, const HttpRequestContext& context,
                    size_t* response_messages) -> absl::StatusOr<std::string> {
    absl::StatusOr<Resp> response = handler(static_cast<Req&>(request), context);
    if (!response.ok()) return response.status();
    *response_messages = CountFlowerMessages(*response);
    return response->SerializeAsString();
  };
  AddRoute(std::move(path), std::move(route));
}

template <typename Req>
void HttpProtoServer::AddUnarySerialized(
    std::string path,
    std::function<absl::StatusOr<std::string>(Req&, const HttpRequestContext&)> handler) {
  Route route;
  route.new_request = [] { return std::make_unique<Req>(); };
  route.unary = [handler = std::move(handler)](google::protobuf::Message& request,
                                               const HttpRequestContext& context, size_t*) {
    return handler(static_cast<Req&>(request), context);
  };
  AddRoute(std::move(path), std::move(route));
}

template <typename Req, typename Resp>
void HttpProtoServer::AddServerStream(
    std::string path, std::function<absl::Status(const Req&, const HttpRequestContext&,
                                                 std::function<bool(const Resp&)> write)>
                          handler) {
  Route route;
  route.new_request = [] { return std::make_unique<Req>(); };
  route.stream = [handler = std::move(handler)](
                     const google::protobuf::Message& request, const HttpRequestContext& context,
                     const std::function<bool(std::string)>& write) -> absl::Status {
    return handler(static_cast<const Req&>(request), context,
                   [&write](const Resp& message) { return write(message.SerializeAsString()); });
  };
  AddRoute(std::move(path), std::move(route));
}

}  // namespace flwr::core

#endif  // FLWR_CORE_HTTP_PROTO_SERVER_H_
