#include "flwr/core/http_proto_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <list>
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
#include "http_connection_stream.h"
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

// The connection this thread serves requests of now, if any (for the post-routing handler,
// which httplib calls without the stream).
thread_local ConnectionStream* serving = nullptr;

// What the server needs of httplib's request parsing and response writing, for either base.
class ServerInternals {
 public:
  virtual ~ServerInternals() = default;
  // Serves the requests that `stream` holds now: one, then more while the stream already has
  // the bytes of the next one (pipelining; a connection is only handed over once it has bytes
  // to read, so the first request does not wait). Returns whether the connection stays open
  // for more: `keep_alive`, neither side closed it and no response asked to close it.
  virtual bool ServeRequests(httplib::Stream& stream, bool keep_alive) = 0;
  // Marks the server as running (or not) for httplib, and returns whether that changed it.
  // httplib takes a server whose listening socket is INVALID_SOCKET for one that is shutting
  // down and cuts chunked responses short; the accept loop is ours, so a placeholder stands in
  // for the socket while the server runs (never used as a socket; only compared with
  // INVALID_SOCKET).
  virtual bool MarkRunning(bool running) = 0;
};

// httplib::Server (plain) or httplib::SSLServer (TLS: it loads the certificate and key into
// the SSL_CTX that the connections use) with access to its internals.
template <typename Base>
class Server : public Base, public ServerInternals {
 public:
  using Base::Base;

  bool ServeRequests(httplib::Stream& stream, bool keep_alive) override {
    do {
      bool connection_closed = false;
      if (!this->process_request(stream, !keep_alive, connection_closed, nullptr) ||
          connection_closed || !keep_alive) {
        return false;
      }
    } while (stream.is_readable());
    return true;
  }

  bool MarkRunning(bool running) override {
    constexpr socket_t kPlaceholder = -2;
    socket_t expected = running ? INVALID_SOCKET : kPlaceholder;
    return this->svr_sock_.compare_exchange_strong(expected,
                                                   running ? kPlaceholder : INVALID_SOCKET);
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
      tls_ = server->ssl_context();
      internals_ = server.get();
      server_ = std::move(server);
    }
  }

  ~Impl() {
    for (const int fd : {listen_fd_, epoll_fd_, wake_fd_, timer_fd_}) {
      if (fd >= 0) close(fd);
    }
  }

  void AddRoute(std::string path, Route route) { routes_[std::move(path)] = std::move(route); }

  void AddCheck(std::string prefix, RequestCheck check) {
    checks_.emplace_back(std::move(prefix), std::move(check));
  }

  // Serves `bytes` as one connection (see HttpProtoServer::ServeBytes).
  std::string ServeBytes(absl::string_view bytes) {
    Configure();
    const bool marked = internals_->MarkRunning(true);
    BytesStream stream(bytes);
    internals_->ServeRequests(stream, /*keep_alive=*/true);
    if (marked) internals_->MarkRunning(false);
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
    listen_fd_ = Listen(std::string(host), port);
    if (listen_fd_ < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", host, ":", port, " (address in use or invalid)"));
    }
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.ss_family == AF_INET6
                      ? reinterpret_cast<const sockaddr_in6&>(address).sin6_port
                      : reinterpret_cast<const sockaddr_in&>(address).sin_port);
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    // The wake-up stays readable once written (nobody reads it): every worker sees it.
    epoll_event wake{EPOLLIN, {.u64 = kWakeTag}};
    if (epoll_fd_ < 0 || wake_fd_ < 0 || timer_fd_ < 0 ||
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake) != 0 ||
        !Arm(listen_fd_, kListenTag, EPOLL_CTL_ADD) || !Arm(timer_fd_, kTimerTag, EPOLL_CTL_ADD)) {
      return absl::UnavailableError(
          absl::StrCat("cannot accept on ", host, ":", port_, ": ", std::strerror(errno)));
    }
    internals_->MarkRunning(true);
    const int threads = std::max(1, options_.num_threads);
    workers_.reserve(static_cast<size_t>(threads));
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
    return absl::OkStatus();
  }

  int port() const { return port_; }

  void Stop() {
    if (workers_.empty()) return;
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      for (StreamState* stream : streams_) stream->Cancel();
    }
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
    close(listen_fd_);
    listen_fd_ = -1;
    {
      // Connections served when Stop() began closed when their worker was done with them;
      // the idle ones close now.
      absl::MutexLock lock(&mu_);
      idle_.clear();
      connections_.clear();
    }
    internals_->MarkRunning(false);
  }

 private:
  // What epoll reports: one of these, or a connection's id (never reused, so an event for a
  // connection that expired meanwhile finds nothing).
  static constexpr uint64_t kWakeTag = 0;
  static constexpr uint64_t kListenTag = 1;
  static constexpr uint64_t kTimerTag = 2;

  // A connection, from accept to close. Owned by connections_.
  struct Connection {
    Connection(uint64_t id, std::unique_ptr<ConnectionStream> stream)
        : id(id), stream(std::move(stream)) {}

    const uint64_t id;
    const std::unique_ptr<ConnectionStream> stream;
    // While idle (in idle_, watched by epoll): its place there and when it expires.
    std::list<Connection*>::iterator idle_position;
    absl::Time idle_deadline;
  };

  // A listening socket on host:port (port 0: an ephemeral one) as httplib would open it
  // (any address family; SO_REUSEADDR, but not httplib's default SO_REUSEPORT, which would let
  // a second server share a port in use), with a backlog of SOMAXCONN (httplib's 5 overflows
  // with a burst of new connections, whose dropped SYNs are retried a second later). -1 if none.
  static int Listen(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* addresses = nullptr;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &addresses) != 0) {
      return -1;
    }
    const auto free_addresses = absl::MakeCleanup([addresses] { freeaddrinfo(addresses); });
    for (const addrinfo* address = addresses; address != nullptr; address = address->ai_next) {
      const int fd =
          ::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   address->ai_protocol);
      if (fd < 0) continue;
      int yes = 1;
      int no = 0;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      if (address->ai_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof(no));
      }
      if (bind(fd, address->ai_addr, address->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
        return fd;
      }
      close(fd);
    }
    return -1;
  }

  // Watches `fd` for its next readable event, which one worker gets (EPOLLONESHOT: the fd is
  // watched again only once that worker re-arms it).
  bool Arm(int fd, uint64_t tag, int op) {
    epoll_event event{EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, {.u64 = tag}};
    return epoll_ctl(epoll_fd_, op, fd, &event) == 0;
  }

  // A worker: waits on the shared epoll set and handles what it gets itself: new connections,
  // a connection with bytes to read (its request(s), or its end), the idle-connection timer.
  // All workers wait in epoll_wait together, and the kernel wakes the one that waited last
  // (its stack and caches are the warmest), so a request costs no hand-over between threads;
  // an idle connection costs no thread.
  void Work() {
    for (;;) {
      epoll_event event;
      const int n = epoll_wait(epoll_fd_, &event, 1, -1);
      if (n <= 0) continue;  // EINTR
      const uint64_t tag = event.data.u64;
      if (tag == kWakeTag) return;  // Stop()
      if (tag == kListenTag) {
        AcceptAll();
        Arm(listen_fd_, kListenTag, EPOLL_CTL_MOD);
      } else if (tag == kTimerTag) {
        uint64_t expirations;
        (void)!::read(timer_fd_, &expirations, sizeof(expirations));
        CloseExpired();
        Arm(timer_fd_, kTimerTag, EPOLL_CTL_MOD);
      } else {
        Serve(tag);
      }
    }
  }

  void AcceptAll() {
    for (;;) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        // Out of descriptors: retry a little later, as httplib does.
        if (errno == EMFILE || errno == ENFILE) absl::SleepFor(absl::Milliseconds(1));
        return;
      }
      int yes = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
      auto stream = std::make_unique<ConnectionStream>(fd, tls_, options_.read_timeout,
                                                       options_.write_timeout);
      absl::MutexLock lock(&mu_);
      if (stopping_) return;  // closes it
      const uint64_t id = next_id_++;
      auto& connection = connections_[id];
      connection = std::make_unique<Connection>(id, std::move(stream));
      Watch(connection.get(), EPOLL_CTL_ADD);
    }
  }

  // Puts an idle connection under epoll's watch (until its next bytes, or its keep-alive
  // timeout).
  void Watch(Connection* connection, int op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    connection->idle_deadline = absl::Now() + options_.keep_alive_timeout;
    // idle_ is in deadline order (one timeout for all): the timer is set for its first entry.
    if (idle_.empty()) SetTimer(connection->idle_deadline);
    connection->idle_position = idle_.insert(idle_.end(), connection);
    if (!Arm(connection->stream->fd(), connection->id, op)) {
      idle_.erase(connection->idle_position);
      connections_.erase(connection->id);
    }
  }

  // On the worker that epoll woke: the TLS handshake, then the requests the connection has
  // sent; then the connection is watched again, or closed.
  void Serve(uint64_t id) {
    Connection* found;
    {
      absl::MutexLock lock(&mu_);
      const auto it = connections_.find(id);
      if (it == connections_.end()) return;  // expired as its bytes came
      found = it->second.get();
      idle_.erase(found->idle_position);  // no longer idle: it cannot expire now
    }
    Connection& connection = *found;
    ConnectionStream& stream = *connection.stream;
    bool open = !stopping_.load();
    if (open && !stream.ready()) {
      open = stream.Handshake();
      if (open && !stream.HasBufferedBytes()) return Rewatch(connection);
    }
    if (open) {
      serving = &stream;
      open = internals_->ServeRequests(stream, !stopping_.load());
      serving = nullptr;
      open = stream.Flush() && open;
    }
    if (open) return Rewatch(connection);
    absl::MutexLock lock(&mu_);
    connections_.erase(connection.id);
  }

  void Rewatch(Connection& connection) {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      connections_.erase(connection.id);
    } else {
      Watch(&connection, EPOLL_CTL_MOD);
    }
  }

  // Sets the idle timer to go off at `deadline` (at once if that has passed).
  void SetTimer(absl::Time deadline) {
    const absl::Duration left = std::max(deadline - absl::Now(), absl::Nanoseconds(1));
    itimerspec spec{};
    spec.it_value = absl::ToTimespec(left);
    timerfd_settime(timer_fd_, 0, &spec, nullptr);
  }

  // Closes the connections idle for keep_alive_timeout (idle_ is in deadline order), and sets
  // the timer for the next to expire.
  void CloseExpired() {
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&mu_);
    while (!idle_.empty() && idle_.front()->idle_deadline <= now) {
      // Closing the socket also removes it from the epoll set. A worker that got its bytes
      // just now finds its id gone.
      const uint64_t expired = idle_.front()->id;
      idle_.pop_front();
      connections_.erase(expired);
    }
    if (!idle_.empty()) SetTimer(idle_.front()->idle_deadline);
  }

  // Applies the options and installs the dispatcher, once.
  void Configure() {
    absl::call_once(configured_, [this] {
      server_->set_payload_max_length(options_.max_request_bytes);
      // uvicorn keeps connections alive without saying so; httplib would add
      // `Keep-Alive: timeout=..., max=...` (and its max is not ours: connections serve any
      // number of requests).
      server_->set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
        res.headers.erase("Keep-Alive");
        // A response written whole: its headers and body go out in one send.
        if (serving != nullptr && !res.content_provider_) serving->HoldNextWrite();
      });
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
      absl::MutexLock lock(&mu_);
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
      absl::MutexLock lock(&mu_);
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
  SSL_CTX* tls_ = nullptr;      // server_'s, for TLS
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;   // an eventfd: Stop() wakes the workers with it
  int timer_fd_ = -1;  // a timerfd: goes off when the first idle connection expires
  std::vector<std::thread> workers_;
  absl::once_flag configured_;
  bool started_ = false;
  int port_ = 0;

  absl::Mutex mu_;
  std::atomic<bool> stopping_{false};  // set under mu_
  absl::flat_hash_set<StreamState*> streams_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = kTimerTag + 1;
  // The idle connections, oldest first (so in the order they expire).
  std::list<Connection*> idle_ ABSL_GUARDED_BY(mu_);
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
