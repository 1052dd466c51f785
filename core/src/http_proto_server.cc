#include "flwr/core/http_proto_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <thread>

#include "absl/base/call_once.h"
#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/python_compat.h"
#include "flwr/core/wire_errors.h"
#include "google/protobuf/descriptor.h"
#include "httplib_internal.h"

namespace flwr::core {
namespace {

constexpr const char* kJsonMediaType = "application/json";
constexpr uint64_t kMaxFrameBytes = 2147483647;  // flwr's MAX_PROTOBUF_STREAM_MESSAGE_LENGTH

// Pseudo headers httplib adds to every request; not part of what the client sent.
bool IsHttplibPseudoHeader(absl::string_view name) {
  return name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
         name == "LOCAL_PORT";
}

// `content_type.partition(";")[0].strip().lower()` of the Latin-1 header (as Starlette
// decodes it), UTF-8 encoded. Only ASCII is lowered: no Latin-1 letter lowers to ASCII, so
// comparisons with ASCII media types come out as in Python.
std::string MediaType(absl::string_view content_type) {
  const std::string media = DecodeLatin1(content_type.substr(0, content_type.find(';')));
  return absl::AsciiStrToLower(PythonStrip(media));
}

void SetJson(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), kJsonMediaType);
}

// Python's http.HTTPStatus(status).phrase for the errors httplib raises itself.
absl::string_view StatusPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request-URI Too Long";
    case 416:
      return "Requested Range Not Satisfiable";
    default:
      return status < 500 ? "Bad Request" : "Internal Server Error";
  }
}

time_t Seconds(absl::Duration d) { return static_cast<time_t>(absl::ToInt64Seconds(d)); }
time_t Micros(absl::Duration d) {
  return static_cast<time_t>(absl::ToInt64Microseconds(d) % 1000000);
}

// uvicorn never compresses, and Starlette's responses ignore Range. httplib would gzip JSON
// error bodies for clients that accept it and answer a Range header with a partial (or 416/412)
// response; dropping both from the request before the response is written keeps responses
// byte-identical. The Request is a non-const local of httplib's connection loop, so the cast is
// well-defined.
void MatchUvicornResponses(const httplib::Request& req) {
  auto& mutable_req = const_cast<httplib::Request&>(req);
  mutable_req.headers.erase("Accept-Encoding");
  mutable_req.ranges.clear();
}

// What the server needs of httplib's listening socket and connection loop, for either base.
class ServerInternals {
 public:
  virtual ~ServerInternals() = default;
  // httplib listens with a backlog of 5: a burst of new connections overflows it and the
  // dropped SYNs are retried a second later. Listening again raises the backlog.
  virtual void RaiseBacklog() = 0;
  // Serves one connection from `stream` as httplib's socket loop does (requests until the
  // client's bytes end, the connection closes or keep_alive_max_count requests were served),
  // minus the waits for more bytes. Without a listening socket, httplib takes the server for
  // one that is shutting down and cuts chunked responses short, so a placeholder stands in for
  // it meanwhile (never used as a socket; only compared with INVALID_SOCKET).
  virtual void ServeConnection(httplib::Stream& stream) = 0;
};

// httplib::Server (plain) or httplib::SSLServer (TLS) with access to its internals.
template <typename Base>
class Server : public Base, public ServerInternals {
 public:
  using Base::Base;

  void RaiseBacklog() override { ::listen(this->svr_sock_, SOMAXCONN); }

  void ServeConnection(httplib::Stream& stream) override {
    constexpr socket_t kPlaceholder = -2;
    socket_t expected = INVALID_SOCKET;
    const bool placeholder = this->svr_sock_.compare_exchange_strong(expected, kPlaceholder);
    const size_t max_requests = this->keep_alive_max_count_;
    for (size_t served = 0; served < max_requests && stream.is_readable(); ++served) {
      bool connection_closed = false;
      if (!this->process_request(stream, served + 1 == max_requests, connection_closed, nullptr) ||
          connection_closed) {
        break;
      }
    }
    if (placeholder) {
      expected = kPlaceholder;
      this->svr_sock_.compare_exchange_strong(expected, INVALID_SOCKET);
    }
  }
};

// A connection without a socket: reads come from a client's bytes, writes are collected.
class BytesStream : public httplib::Stream {
 public:
  explicit BytesStream(absl::string_view input) : input_(input) {}

  bool is_readable() const override { return position_ < input_.size(); }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, input_.size() - position_);
    std::memcpy(ptr, input_.data() + position_, n);
    position_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    output_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40000;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 9091;
  }
  socket_t socket() const override { return INVALID_SOCKET; }

  std::string TakeOutput() { return std::move(output_); }

 private:
  absl::string_view input_;
  size_t position_ = 0;
  std::string output_;
};

// One server-streaming response. The handler runs on its own thread and hands frames to the
// httplib worker one at a time: the worker waits for the first frame (or the handler's end)
// before it commits to a status, then drains frames through a chunked content provider.
struct StreamState {
  StreamState(std::unique_ptr<google::protobuf::Message> request, HttpRequestContext context,
              std::shared_ptr<std::atomic<bool>> cancelled)
      : request(std::move(request)), context(std::move(context)), cancelled(std::move(cancelled)) {}

  // Handler side: queues one framed message, waiting until the previous one was taken.
  bool Write(std::string message) {
    if (message.size() > kMaxFrameBytes) {
      Cancel();
      return false;
    }
    const auto size = static_cast<uint32_t>(message.size());
    std::string framed = {static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                          static_cast<char>(size >> 8), static_cast<char>(size)};
    framed.append(message);
    absl::MutexLock lock(&mu);
    while (frame.has_value() && !cancelled->load()) cv.Wait(&mu);
    if (cancelled->load()) return false;
    frame = std::move(framed);
    cv.SignalAll();
    return true;
  }

  void Finish(absl::Status status) {
    absl::MutexLock lock(&mu);
    done = true;
    result = std::move(status);
    cv.SignalAll();
  }

  void Cancel() {
    absl::MutexLock lock(&mu);
    cancelled->store(true);
    cv.SignalAll();
  }

  // Worker side, before the status is sent: true if a frame is ready, false if the handler
  // finished (or the stream was cancelled) without writing.
  bool WaitForFirstFrame() {
    absl::MutexLock lock(&mu);
    while (!frame.has_value() && !done && !cancelled->load()) cv.Wait(&mu);
    return frame.has_value();
  }

  // httplib's chunked content provider: sends one frame, or ends the stream.
  bool Provide(httplib::DataSink& sink) {
    std::optional<std::string> out;
    {
      absl::MutexLock lock(&mu);
      // Wake up now and then so that httplib can notice a server shutdown between calls.
      const absl::Time deadline = absl::Now() + absl::Seconds(1);
      while (!frame.has_value() && !done && !cancelled->load()) {
        if (cv.WaitWithDeadline(&mu, deadline)) return true;
      }
      if (frame.has_value()) {
        out = std::move(*frame);
        frame.reset();
        cv.SignalAll();
      } else if (cancelled->load() || !result.ok()) {
        return false;  // Aborts the connection: the client sees a truncated stream.
      } else {
        sink.done();
        return true;
      }
    }
    if (!sink.write(out->data(), out->size())) {
      Cancel();
      return false;
    }
    return true;
  }

  void Join() {
    if (handler_thread.joinable()) handler_thread.join();
  }

  const std::unique_ptr<google::protobuf::Message> request;
  const HttpRequestContext context;
  const std::shared_ptr<std::atomic<bool>> cancelled;
  std::thread handler_thread;

  absl::Mutex mu;
  absl::CondVar cv;
  std::optional<std::string> frame ABSL_GUARDED_BY(mu);
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::Status result ABSL_GUARDED_BY(mu);
};

}  // namespace

size_t CountFlowerMessages(const google::protobuf::Message& message) {
  const google::protobuf::FieldDescriptor* field =
      message.GetDescriptor()->FindFieldByName("messages_list");
  if (field == nullptr || !field->is_repeated()) return 0;
  return static_cast<size_t>(message.GetReflection()->FieldSize(message, field));
}

std::optional<absl::string_view> HttpRequestContext::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers_) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

size_t HttpRequestContext::HeaderCount(absl::string_view name) const {
  size_t count = 0;
  for (const auto& entry : headers_) count += absl::EqualsIgnoreCase(entry.first, name);
  return count;
}

class HttpProtoServer::Impl {
 public:
  explicit Impl(HttpProtoServerOptions options) : options_(std::move(options)) {
    if (options_.tls_cert_file.empty()) {
      auto server = std::make_unique<Server<httplib::Server>>();
      internals_ = server.get();
      server_ = std::move(server);
    } else {
      auto server = std::make_unique<Server<httplib::SSLServer>>(options_.tls_cert_file.c_str(),
                                                                 options_.tls_key_file.c_str());
      internals_ = server.get();
      server_ = std::move(server);
    }
  }

  void AddRoute(std::string path, Route route) { routes_[std::move(path)] = std::move(route); }

  void AddCheck(std::string prefix, RequestCheck check) {
    checks_.emplace_back(std::move(prefix), std::move(check));
  }

  // Serves `bytes` as one connection (see HttpProtoServer::ServeBytes).
  std::string ServeBytes(absl::string_view bytes) {
    Configure();
    BytesStream stream(bytes);
    internals_->ServeConnection(stream);
    return stream.TakeOutput();
  }

  absl::Status Start(absl::string_view host, int port) {
    if (started_) return absl::FailedPreconditionError("HttpProtoServer already started");
    started_ = true;
    if (!server_->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot use the TLS certificate ", options_.tls_cert_file, " with the private key ",
          options_.tls_key_file, " (unreadable, not PEM, or not a pair)"));
    }
    Configure();
    const std::string host_string(host);
    if (port == 0) {
      port_ = server_->bind_to_any_port(host_string);
      if (port_ < 0) port_ = 0;
    } else if (server_->bind_to_port(host_string, port)) {
      port_ = port;
    }
    if (port_ == 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", host, ":", port, " (address in use or invalid)"));
    }
    internals_->RaiseBacklog();
    listener_ = std::thread([this] {
      server_->listen_after_bind();
      listener_exited_ = true;
    });
    // stop() is a no-op until the accept loop runs; wait for it so that Stop() cannot race.
    while (!server_->is_running() && !listener_exited_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (listener_exited_) {
      listener_.join();
      return absl::UnavailableError(absl::StrCat("cannot accept on ", host, ":", port_));
    }
    return absl::OkStatus();
  }

  int port() const { return port_; }

  void Stop() {
    if (!listener_.joinable()) return;
    {
      absl::MutexLock lock(&streams_mu_);
      stopping_ = true;
      for (StreamState* stream : streams_) stream->Cancel();
    }
    server_->stop();
    listener_.join();
  }

 private:
  // Applies the options and installs the dispatcher, once.
  void Configure() {
    absl::call_once(configured_, [this] {
      // httplib's default also sets SO_REUSEPORT, which would let a second server share a
      // port that is in use. SO_REUSEADDR alone still allows rebinding after a restart.
      server_->set_socket_options([](int sock) {
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      });
      const size_t threads = static_cast<size_t>(std::max(1, options_.num_threads));
      server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
      server_->set_payload_max_length(options_.max_request_bytes);
      server_->set_tcp_nodelay(true);  // headers and body go out in separate writes
      server_->set_keep_alive_timeout(std::max<time_t>(1, Seconds(options_.keep_alive_timeout)));
      // One request per connection ("Connection: close"): cpp-httplib 0.11 watches an idle
      // keep-alive connection by waking its worker every ~10 ms until the next request or the
      // timeout. A ServerApp or ClientApp keeps such connections open all the time, and the wakeups
      // cost a SuperLink serving one ServerApp ~10 ms of CPU per second, more than a new loopback
      // connection per request does.
      if (!options_.keep_alive) server_->set_keep_alive_max_count(1);
      server_->set_read_timeout(Seconds(options_.read_timeout), Micros(options_.read_timeout));
      server_->set_write_timeout(Seconds(options_.write_timeout), Micros(options_.write_timeout));
      const auto dispatch = [this](const httplib::Request& req, httplib::Response& res) {
        Dispatch(req, res);
      };
      server_->Get(".*", dispatch);
      server_->Post(".*", dispatch);
      server_->Put(".*", dispatch);
      server_->Patch(".*", dispatch);
      server_->Delete(".*", dispatch);
      server_->Options(".*", dispatch);
      // Errors httplib raises itself (malformed request, body too large) get a JSON detail.
      server_->set_error_handler(httplib::Server::HandlerWithResponse(
          [](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
            MatchUvicornResponses(req);
            SetJson(res, res.status,
                    absl::StrCat("{\"detail\":\"", StatusPhrase(res.status), "\"}"));
            return httplib::Server::HandlerResponse::Handled;
          }));
      server_->set_exception_handler(
          [](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
            MatchUvicornResponses(req);
            const HttpError error = ToHttpError(absl::InternalError("handler threw"));
            SetJson(res, error.status, error.body);
          });
    });
  }

  void SendError(const HttpRequestContext* context, httplib::Response& res,
                 const absl::Status& status) {
    if (context != nullptr && options_.on_error) options_.on_error(*context, status);
    const HttpError error = ToHttpError(status);
    for (const auto& [name, value] : error.headers) res.set_header(name, value);
    SetJson(res, error.status, error.body);
  }

  static HttpRequestContext MakeContext(const httplib::Request& req,
                                        std::shared_ptr<std::atomic<bool>> cancelled) {
    std::vector<std::pair<std::string, std::string>> headers;
    headers.reserve(req.headers.size());
    for (const auto& [name, value] : req.headers) {
      if (IsHttplibPseudoHeader(name)) continue;
      headers.emplace_back(absl::AsciiStrToLower(name), value);
    }
    return HttpRequestContext(req.path, std::move(headers), req.remote_addr, req.remote_port,
                              std::move(cancelled));
  }

  void Dispatch(const httplib::Request& req, httplib::Response& res) {
    MatchUvicornResponses(req);
    if (req.path == kHealthPath) {  // flwr/supercore/routers/health: an empty 200
      if (req.method == "GET" || req.method == "HEAD") return;
      res.set_header("allow", "GET");
      return SetJson(res, 405, R"({"detail":"Method Not Allowed"})");
    }
    const auto it = routes_.find(req.path);
    if (it == routes_.end()) return SetJson(res, 404, R"({"detail":"Not Found"})");
    if (req.method != "POST") {
      res.set_header("allow", "POST");
      return SetJson(res, 405, R"({"detail":"Method Not Allowed"})");
    }
    const Route& route = it->second;
    auto cancelled = std::make_shared<std::atomic<bool>>(false);
    HttpRequestContext context = MakeContext(req, cancelled);
    HttpCall call;
    call.path = it->first;
    call.request_bytes = req.body.size();
    const absl::Time start = absl::Now();
    // Reports the call however Dispatch returns.
    const auto report = absl::MakeCleanup([&] {
      if (!options_.on_call) return;
      call.status = res.status;
      call.latency = absl::Now() - start;
      if (call.response_bytes == 0 && !res.body.empty()) call.response_bytes = res.body.size();
      options_.on_call(call);
    });

    const std::string content_type = req.get_header_value("Content-Type");
    if (MediaType(content_type) != kProtobufMediaType) {
      return SendError(&context, res,
                       FlowerError(api_error::kUnsupportedContentType,
                                   absl::StrCat("Unsupported Content-Type: '", content_type, "'")));
    }
    std::unique_ptr<google::protobuf::Message> request = route.new_request();
    if (!request->ParseFromString(req.body)) {
      return SendError(
          &context, res,
          FlowerError(api_error::kInvalidProtobufPayload,
                      absl::StrCat("Invalid protobuf payload for ", request->GetTypeName())));
    }
    call.request_messages = CountFlowerMessages(*request);
    // The parsed request holds its own copy; free the body now, not after the handler (a
    // PushObject of a 5 MiB chunk would otherwise hold it twice while it is stored). httplib's
    // Request is a non-const object handed out by const reference, so this is well defined.
    std::string().swap(const_cast<httplib::Request&>(req).body);
    for (const auto& [prefix, check] : checks_) {
      if (!absl::StartsWith(req.path, prefix)) continue;
      if (absl::Status status = check(context); !status.ok()) {
        return SendError(&context, res, status);
      }
    }
    if (route.unary) {
      absl::StatusOr<std::string> response =
          route.unary(*request, context, &call.response_messages);
      if (!response.ok()) return SendError(&context, res, response.status());
      res.status = 200;
      res.set_content(std::move(*response), std::string(kProtobufMediaType));
      return;
    }
    ServeStream(route, std::move(request), std::move(context), std::move(cancelled), res);
  }

  void ServeStream(const Route& route, std::unique_ptr<google::protobuf::Message> request,
                   HttpRequestContext context, std::shared_ptr<std::atomic<bool>> cancelled,
                   httplib::Response& res) {
    auto state =
        std::make_shared<StreamState>(std::move(request), std::move(context), std::move(cancelled));
    {
      absl::MutexLock lock(&streams_mu_);
      if (stopping_) return SendError(nullptr, res, absl::UnavailableError("Server stopping."));
      streams_.insert(state.get());
    }
    StreamState* raw = state.get();
    state->handler_thread = std::thread([raw, &route] {
      absl::Status status;
      try {
        status = route.stream(*raw->request, raw->context, [raw](std::string message) {
          return raw->Write(std::move(message));
        });
      } catch (...) {
        status = absl::InternalError("stream handler threw");
      }
      raw->Finish(std::move(status));
    });
    const auto release = [this, state](bool /*success*/) {
      state->Cancel();
      state->Join();
      absl::MutexLock lock(&streams_mu_);
      streams_.erase(state.get());
    };

    if (!state->WaitForFirstFrame()) {
      release(true);
      absl::Status result;
      {
        absl::MutexLock lock(&state->mu);
        result = state->done ? state->result : absl::UnavailableError("Server stopping.");
      }
      if (!result.ok()) return SendError(&state->context, res, result);
      res.status = 200;
      res.set_content("", std::string(kProtobufStreamMediaType));
      return;
    }
    res.status = 200;
    res.set_chunked_content_provider(
        std::string(kProtobufStreamMediaType),
        [state](size_t /*offset*/, httplib::DataSink& sink) { return state->Provide(sink); },
        release);
  }

  const HttpProtoServerOptions options_;
  absl::flat_hash_map<std::string, Route> routes_;
  std::vector<std::pair<std::string, RequestCheck>> checks_;
  std::unique_ptr<httplib::Server> server_;
  ServerInternals* internals_;  // server_'s
  std::thread listener_;
  std::atomic<bool> listener_exited_{false};
  absl::once_flag configured_;
  bool started_ = false;
  int port_ = 0;

  absl::Mutex streams_mu_;
  bool stopping_ ABSL_GUARDED_BY(streams_mu_) = false;
  absl::flat_hash_set<StreamState*> streams_ ABSL_GUARDED_BY(streams_mu_);
};

HttpProtoServer::HttpProtoServer(HttpProtoServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpProtoServer::~HttpProtoServer() { Stop(); }

void HttpProtoServer::AddRoute(std::string path, Route route) {
  impl_->AddRoute(std::move(path), std::move(route));
}

void HttpProtoServer::AddRequestCheck(std::string path_prefix, RequestCheck check) {
  impl_->AddCheck(std::move(path_prefix), std::move(check));
}

absl::Status HttpProtoServer::Start(absl::string_view host, int port) {
  return impl_->Start(host, port);
}

int HttpProtoServer::port() const { return impl_->port(); }

void HttpProtoServer::Stop() { impl_->Stop(); }

std::string HttpProtoServer::ServeBytes(absl::string_view bytes) {
  return impl_->ServeBytes(bytes);
}

}  // namespace flwr::core
