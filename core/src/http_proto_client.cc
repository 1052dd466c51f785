#include "flwr/core/http_proto_client.h"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cstdint>
#include <limits>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/http_proto.h"
#include "flwr/core/logging.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/runtime_version.h"
#include "flwr/core/wire_errors.h"

namespace flwr::core {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using ErrorCode = boost::system::error_code;

constexpr size_t kFrameHeaderBytes = 4;
constexpr uint64_t kMaxFrameBytes = 2147483647;          // MAX_PROTOBUF_STREAM_MESSAGE_LENGTH
constexpr size_t kMaxErrorBodyBytes = size_t{64} << 10;  // as flwr's client buffers
constexpr size_t kMaxIdleConnections = 8;

// Splits a `application/flower-protobuf-stream` body into frames as they arrive.
class FrameDecoder {
 public:
  // Appends `data`, calling `on_frame` for each complete frame. Returns an error for an
  // oversized frame; sets `*stopped` if `on_frame` returned false.
  absl::Status Feed(absl::string_view data, const std::function<bool(absl::string_view)>& on_frame,
                    bool* stopped) {
    buffer_.append(data.data(), data.size());
    size_t pos = 0;
    while (buffer_.size() - pos >= kFrameHeaderBytes) {
      const auto byte = [&](size_t i) {
        return static_cast<uint64_t>(static_cast<unsigned char>(buffer_[pos + i]));
      };
      const uint64_t size = byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
      if (size > kMaxFrameBytes) {
        return absl::InternalError(
            absl::StrCat("Protobuf stream frame size ", size, " exceeds maximum ", kMaxFrameBytes));
      }
      if (buffer_.size() - pos - kFrameHeaderBytes < size) break;
      const absl::string_view frame(buffer_.data() + pos + kFrameHeaderBytes, size);
      pos += kFrameHeaderBytes + size;
      if (!on_frame(frame)) {
        *stopped = true;
        break;
      }
    }
    buffer_.erase(0, pos);
    return absl::OkStatus();
  }

  bool empty() const { return buffer_.empty(); }

 private:
  std::string buffer_;
};

// Reads of a response body in pieces of this size.
constexpr size_t kReadPieceBytes = size_t{64} << 10;

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(std::clamp(d, absl::ZeroDuration(), absl::Hours(7 * 24)));
}

// One keep-alive connection to the server, plain or TLS, used by one call at a time on the
// calling thread. Each step is an asynchronous Beast operation run to completion on the
// connection's own io_context under a deadline, which is how Asio bounds a blocking step:
// connecting, the TLS handshake, and each write or read of a piece (idle limits, as httpx's
// connect/read/write timeouts). Nothing here initialises OpenSSL for plain HTTP.
class Connection {
 public:
  explicit Connection(asio::ssl::context* tls) : tcp_(ioc_) {
    if (tls != nullptr) tls_.emplace(tcp_, *tls);
  }

  // Connects to the first reachable address of host:port; with TLS, verifies the server's
  // certificate chain and that it names `host`. `*tls_failed` says whether TLS failed.
  ErrorCode Connect(const std::string& host, int port, absl::Duration timeout, bool* tls_failed) {
    ErrorCode ec;
    asio::ip::tcp::resolver resolver(ioc_);
    const asio::ip::tcp::resolver::results_type endpoints =
        resolver.resolve(host, std::to_string(port), ec);
    if (ec) return ec;
    tcp_.expires_after(ToChrono(timeout));
    Run([&](auto done) { tcp_.async_connect(endpoints, [done](ErrorCode e, auto) { done(e); }); },
        ec);
    if (ec) return ec;
    tcp_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
    if (!tls_) return {};
    ErrorCode not_ip;
    asio::ip::make_address(host, not_ip);
    if (not_ip && !SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str())) {
      *tls_failed = true;
      return asio::error::invalid_argument;
    }
    tls_->set_verify_mode(asio::ssl::verify_peer);
    tls_->set_verify_callback(asio::ssl::host_name_verification(host));
    tcp_.expires_after(ToChrono(timeout));
    Run([&](auto done) { tls_->async_handshake(asio::ssl::stream_base::client, done); }, ec);
    *tls_failed = static_cast<bool>(ec);
    return ec;
  }

  // Writes `request`, each piece within `timeout`.
  ErrorCode Write(http::request<http::string_body>& request, absl::Duration timeout) {
    http::request_serializer<http::string_body> serializer(request);
    ErrorCode ec;
    while (!ec && !serializer.is_done()) {
      tcp_.expires_after(ToChrono(timeout));
      ec = RunOnStream(
          [&](auto& stream, auto handler) { http::async_write_some(stream, serializer, handler); });
    }
    return ec;
  }

  // Reads the response head into `parser`, then its body piece by piece, each piece within
  // `timeout`, handing each to `on_body` (false: stop reading; the connection is then not
  // reusable). `on_head` sees the status first.
  ErrorCode Read(http::response_parser<http::buffer_body>& parser, absl::Duration timeout,
                 const std::function<void(int)>& on_head,
                 const std::function<bool(absl::string_view)>& on_body, bool* stopped) {
    tcp_.expires_after(ToChrono(timeout));
    ErrorCode ec = RunOnStream([&](auto& stream, auto handler) {
      http::async_read_header(stream, buffer_, parser, handler);
    });
    if (ec) return ec;
    on_head(static_cast<int>(parser.get().result_int()));
    std::string piece(kReadPieceBytes, '\0');
    while (!parser.is_done()) {
      parser.get().body().data = piece.data();
      parser.get().body().size = piece.size();
      tcp_.expires_after(ToChrono(timeout));
      ec = RunOnStream([&](auto& stream, auto handler) {
        http::async_read_some(stream, buffer_, parser, handler);
      });
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return ec;
      const size_t size = piece.size() - parser.get().body().size;
      if (size > 0 && !on_body(absl::string_view(piece.data(), size))) {
        *stopped = true;
        return {};
      }
    }
    return {};
  }

  // Whether the server may still take a request here: connected, and nothing (data or its
  // close) is waiting to be read, as httplib checks a kept-alive socket.
  bool Reusable() {
    if (!tcp_.socket().is_open() || buffer_.size() > 0) return false;
    pollfd fd{tcp_.socket().native_handle(), POLLIN, 0};
    return ::poll(&fd, 1, 0) == 0;
  }

 private:
  // Starts an operation with a completion handler that stores its result in `ec`, and runs
  // the io_context until it completes (or its deadline cancels it).
  template <typename Start>
  void Run(Start start, ErrorCode& ec) {
    ec = asio::error::would_block;
    start([&ec](ErrorCode e) { ec = e; });
    ioc_.restart();
    ioc_.run();
  }

  // Run() of `op(stream, handler)` on the TLS stream, or the plain one.
  template <typename Op>
  ErrorCode RunOnStream(Op op) {
    ErrorCode ec;
    Run(
        [&](auto done) {
          auto handler = [done](ErrorCode e, size_t) { done(e); };
          if (tls_) {
            op(*tls_, handler);
          } else {
            op(tcp_, handler);
          }
        },
        ec);
    return ec;
  }

  asio::io_context ioc_{1};
  beast::tcp_stream tcp_;
  std::optional<beast::ssl_stream<beast::tcp_stream&>> tls_;
  beast::flat_buffer buffer_;
};

}  // namespace

absl::StatusOr<std::pair<std::string, int>> ParseHostPort(absl::string_view address) {
  std::string host;
  absl::string_view port_text;
  if (absl::StartsWith(address, "[")) {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("Invalid address: ", address));
    }
    host = std::string(address.substr(1, close - 1));
    port_text = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("Invalid address: ", address));
    }
    host = std::string(address.substr(0, colon));
    port_text = address.substr(colon + 1);
  }
  int port = 0;
  if (host.empty() || !absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("Invalid address: ", address));
  }
  return std::make_pair(std::move(host), port);
}

class HttpProtoClient::Impl {
 public:
  Impl(std::string host, int port, std::string component_name, HttpProtoClientOptions options)
      : host_(std::move(host)),
        port_(port),
        options_(options),
        component_name_(std::move(component_name)) {}

  absl::string_view flower_version() const { return SupportedFlowerVersions()[line_.load()]; }

  void SetFlowerVersion(absl::string_view version) {
    const absl::Span<const absl::string_view> versions = SupportedFlowerVersions();
    const auto it = std::find(versions.begin(), versions.end(), version);
    if (it != versions.end()) line_.store(static_cast<size_t>(it - versions.begin()));
  }

  // Whether `status`, the answer to a call that announced `announced`, is a version rejection
  // after which the call is worth sending once more: with `follow_runtime_line`, it names
  // another supported line, which this client speaks from now on. (Concurrent calls may all
  // be rejected; the first to see it switches.)
  bool FollowRuntimeLine(const absl::Status& status, absl::string_view announced) {
    if (!options_.follow_runtime_line || status.ok()) return false;
    const std::optional<absl::string_view> line = RuntimeLineFromRejection(status, announced);
    if (!line.has_value()) return false;
    if (flower_version() != *line) {
      LogInfo(absl::StrCat("The Runtime API at ", host_, ":", port_, " runs Flower ", *line,
                           ", not ", announced, ": speaking Flower ", *line, " from now on"));
      SetFlowerVersion(*line);
    }
    return true;
  }

  // An idle kept-alive connection, or a new one (connected within `connect_timeout`).
  absl::StatusOr<std::unique_ptr<Connection>> Acquire(absl::string_view path,
                                                      absl::Duration connect_timeout) {
    {
      absl::MutexLock lock(&mu_);
      while (!idle_.empty()) {
        std::unique_ptr<Connection> connection = std::move(idle_.back());
        idle_.pop_back();
        if (connection->Reusable()) return connection;
      }
    }
    return Connect(path, connect_timeout);
  }

  // A new connection to the server.
  absl::StatusOr<std::unique_ptr<Connection>> Connect(absl::string_view path,
                                                      absl::Duration timeout) {
    asio::ssl::context* tls = nullptr;
    if (options_.tls) {
      absl::StatusOr<asio::ssl::context*> context = TlsContext();
      if (!context.ok()) return context.status();
      tls = *context;
    }
    auto connection = std::make_unique<Connection>(tls);
    bool tls_failed = false;
    if (ErrorCode ec = connection->Connect(host_, port_, timeout, &tls_failed)) {
      return TransportError(path, ec, tls_failed);
    }
    return connection;
  }

  void Release(std::unique_ptr<Connection> connection) {
    absl::MutexLock lock(&mu_);
    if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(connection));
  }

  absl::Status DecodeError(int status, absl::string_view body) const {
    return options_.decode_error ? options_.decode_error(status, body)
                                 : FromHttpError(status, body);
  }

  // A POST of `body` to `path`, as flwr's client sends it.
  http::request<http::string_body> Request(absl::string_view path, absl::string_view accept,
                                           const Headers& extra, std::string body) const {
    http::request<http::string_body> request(http::verb::post,
                                             beast::string_view(path.data(), path.size()), 11);
    const std::string host = absl::StrContains(host_, ':') ? absl::StrCat("[", host_, "]") : host_;
    request.set(http::field::host, absl::StrCat(host, ":", port_));
    request.set(http::field::accept, std::string(accept));
    request.set(http::field::content_type, std::string(kProtobufMediaType));
    if (options_.send_runtime_version_headers) {
      for (const auto& [name, value] : RuntimeVersionHeaders(component_name_, flower_version())) {
        request.insert(name, value);
      }
    }
    for (const auto& [name, value] : extra) request.insert(name, value);
    request.body() = std::move(body);
    request.prepare_payload();
    return request;
  }

  absl::Status TransportError(absl::string_view path, const ErrorCode& ec,
                              bool tls_failed = false) const {
    const bool timeout = ec == beast::error::timeout;
    return absl::UnavailableError(absl::StrCat(options_.tls ? "HTTPS" : "HTTP", " request to ",
                                               host_, ":", port_, path,
                                               " failed: ", timeout ? "timed out" : ec.message(),
                                               tls_failed ? " (TLS handshake failed)" : ""));
  }

  const std::string host_;
  const int port_;
  const HttpProtoClientOptions options_;
  const std::string component_name_;
  // The index in SupportedFlowerVersions() of the version announced.
  std::atomic<size_t> line_{0};

 private:
  // The TLS settings of every connection: the system's roots and `root_certificates`.
  absl::StatusOr<asio::ssl::context*> TlsContext() {
    absl::MutexLock lock(&mu_);
    if (tls_ == nullptr) {
      auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
      ErrorCode ec;
      context->set_default_verify_paths(ec);
      if (!options_.root_certificates.empty()) {
        // Invalid PEM adds nothing: the server's certificate then fails verification.
        context->add_certificate_authority(
            asio::buffer(options_.root_certificates.data(), options_.root_certificates.size()), ec);
      }
      tls_ = std::move(context);
    }
    return tls_.get();
  }

  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<asio::ssl::context> tls_ ABSL_GUARDED_BY(mu_);
};

HttpProtoClient::HttpProtoClient(std::string host, int port, std::string component_name,
                                 HttpProtoClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(host), port, std::move(component_name), options)) {}

HttpProtoClient::~HttpProtoClient() = default;

absl::string_view HttpProtoClient::flower_version() const { return impl_->flower_version(); }

void HttpProtoClient::SetFlowerVersion(absl::string_view version) {
  impl_->SetFlowerVersion(version);
}

absl::StatusOr<std::string> HttpProtoClient::Post(absl::string_view path,
                                                  const google::protobuf::Message& request,
                                                  const Headers& extra_headers,
                                                  std::optional<absl::Duration> timeout) {
  const absl::Duration call_timeout = timeout.value_or(impl_->options_.timeout);
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      impl_->Acquire(path, timeout.value_or(impl_->options_.connect_timeout));
  if (!connection.ok()) return connection.status();
  http::request<http::string_body> req =
      impl_->Request(path, kProtobufMediaType, extra_headers, SerializeDeterministic(request));
  if (ErrorCode ec = (*connection)->Write(req, call_timeout)) {
    return impl_->TransportError(path, ec);
  }
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  int status = 0;
  std::string body;
  bool stopped = false;
  const ErrorCode ec = (*connection)
                           ->Read(
                               parser, call_timeout, [&](int s) { status = s; },
                               [&](absl::string_view piece) {
                                 body.append(piece.data(), piece.size());
                                 return true;
                               },
                               &stopped);
  if (ec) return impl_->TransportError(path, ec);
  if (parser.get().keep_alive()) impl_->Release(*std::move(connection));
  if (status < 200 || status >= 300) return impl_->DecodeError(status, body);
  return body;
}

absl::Status HttpProtoClient::CallInto(absl::string_view path,
                                       const google::protobuf::Message& request,
                                       google::protobuf::Message* response,
                                       const Headers& extra_headers,
                                       std::optional<absl::Duration> timeout) {
  const absl::string_view announced = impl_->flower_version();
  absl::StatusOr<std::string> body = Post(path, request, extra_headers, timeout);
  if (impl_->FollowRuntimeLine(body.status(), announced)) {
    body = Post(path, request, extra_headers, timeout);
  }
  if (!body.ok()) return body.status();
  if (!response->ParseFromString(*body)) {
    return absl::InternalError("Invalid protobuf response payload");
  }
  return absl::OkStatus();
}

absl::Status HttpProtoClient::PostStream(absl::string_view path,
                                         const google::protobuf::Message& request,
                                         const std::function<bool(absl::string_view)>& on_frame,
                                         const Headers& extra_headers) {
  // A connection of its own: the read timeout is the stream's, and it is not reused.
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      impl_->Connect(path, impl_->options_.connect_timeout);
  if (!connection.ok()) return connection.status();
  http::request<http::string_body> req = impl_->Request(
      path, kProtobufStreamMediaType, extra_headers, SerializeDeterministic(request));
  req.set(http::field::accept_encoding, "identity");
  if (ErrorCode ec = (*connection)->Write(req, impl_->options_.timeout)) {
    return impl_->TransportError(path, ec);
  }
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  int status = 0;
  std::string error_body;
  FrameDecoder decoder;
  absl::Status frame_error;
  bool stopped = false;
  const ErrorCode ec =
      (*connection)
          ->Read(
              parser, impl_->options_.stream_read_timeout, [&](int s) { status = s; },
              [&](absl::string_view piece) {
                if (status < 200 || status >= 300) {
                  error_body.append(piece.data(),
                                    std::min(piece.size(), kMaxErrorBodyBytes - error_body.size()));
                  return error_body.size() < kMaxErrorBodyBytes;
                }
                bool frame_stop = false;
                frame_error = decoder.Feed(piece, on_frame, &frame_stop);
                return frame_error.ok() && !frame_stop;
              },
              &stopped);
  if (!frame_error.ok()) return frame_error;
  if (status != 0 && (status < 200 || status >= 300)) return impl_->DecodeError(status, error_body);
  if (stopped) return absl::OkStatus();
  if (ec) return impl_->TransportError(path, ec);
  if (!decoder.empty()) return absl::InternalError("Truncated protobuf stream frame");
  return absl::OkStatus();
}

}  // namespace flwr::core
