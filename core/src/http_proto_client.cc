#include "flwr/core/http_proto_client.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/http_proto_server.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/runtime_version.h"
#include "flwr/core/wire_errors.h"
#include "httplib_internal.h"

namespace flwr::core {
namespace {

constexpr size_t kFrameHeaderBytes = 4;
constexpr uint64_t kMaxFrameBytes = 2147483647;          // MAX_PROTOBUF_STREAM_MESSAGE_LENGTH
constexpr size_t kMaxErrorBodyBytes = size_t{64} << 10;  // as flwr's client buffers
constexpr size_t kMaxIdleConnections = 8;

void SetTimeout(absl::Duration d, const std::function<void(time_t, time_t)>& set) {
  const int64_t micros = absl::ToInt64Microseconds(std::max(d, absl::ZeroDuration()));
  set(static_cast<time_t>(micros / 1000000), static_cast<time_t>(micros % 1000000));
}

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

}  // namespace

class HttpProtoClient::Impl {
 public:
  Impl(std::string host, int port, std::string component_name, HttpProtoClientOptions options)
      : host_(std::move(host)), port_(port), options_(options) {
    if (options_.send_runtime_version_headers) {
      version_headers_ = RuntimeVersionHeaders(component_name);
    }
  }

  std::unique_ptr<httplib::Client> Acquire() {
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        std::unique_ptr<httplib::Client> client = std::move(idle_.back());
        idle_.pop_back();
        return client;
      }
    }
    auto client = std::make_unique<httplib::Client>(host_, port_);
    client->set_keep_alive(true);
    client->set_tcp_nodelay(true);
    SetTimeout(options_.connect_timeout,
               [&](time_t s, time_t us) { client->set_connection_timeout(s, us); });
    SetTimeout(options_.timeout, [&](time_t s, time_t us) { client->set_read_timeout(s, us); });
    SetTimeout(options_.timeout, [&](time_t s, time_t us) { client->set_write_timeout(s, us); });
    return client;
  }

  void Release(std::unique_ptr<httplib::Client> client) {
    absl::MutexLock lock(&mu_);
    if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(client));
  }

  httplib::Headers RequestHeaders(absl::string_view accept, const Headers& extra) const {
    httplib::Headers headers;
    headers.emplace("Accept", std::string(accept));
    for (const auto& [name, value] : version_headers_) headers.emplace(name, value);
    for (const auto& [name, value] : extra) headers.emplace(name, value);
    return headers;
  }

  absl::Status TransportError(absl::string_view path, httplib::Error error) const {
    return absl::UnavailableError(absl::StrCat("HTTP request to ", host_, ":", port_, path,
                                               " failed: ", httplib::to_string(error)));
  }

  const std::string host_;
  const int port_;
  const HttpProtoClientOptions options_;
  Headers version_headers_;

 private:
  absl::Mutex mu_;
  std::vector<std::unique_ptr<httplib::Client>> idle_ ABSL_GUARDED_BY(mu_);
};

HttpProtoClient::HttpProtoClient(std::string host, int port, std::string component_name,
                                 HttpProtoClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(host), port, std::move(component_name), options)) {}

HttpProtoClient::~HttpProtoClient() = default;

absl::StatusOr<std::string> HttpProtoClient::Post(absl::string_view path,
                                                  const google::protobuf::Message& request,
                                                  const Headers& extra_headers) {
  std::unique_ptr<httplib::Client> client = impl_->Acquire();
  httplib::Result result =
      client->Post(std::string(path), impl_->RequestHeaders(kProtobufMediaType, extra_headers),
                   SerializeDeterministic(request), std::string(kProtobufMediaType));
  if (!result) return impl_->TransportError(path, result.error());
  impl_->Release(std::move(client));
  if (result->status < 200 || result->status >= 300) {
    return FromHttpError(result->status, result->body);
  }
  return std::move(result->body);
}

absl::Status HttpProtoClient::PostStream(absl::string_view path,
                                         const google::protobuf::Message& request,
                                         const std::function<bool(absl::string_view)>& on_frame,
                                         const Headers& extra_headers) {
  // A connection of its own: the read timeout is the stream's, and it is not reused.
  httplib::Client client(impl_->host_, impl_->port_);
  client.set_tcp_nodelay(true);
  SetTimeout(impl_->options_.connect_timeout,
             [&](time_t s, time_t us) { client.set_connection_timeout(s, us); });
  SetTimeout(impl_->options_.timeout,
             [&](time_t s, time_t us) { client.set_write_timeout(s, us); });
  SetTimeout(std::min(impl_->options_.stream_read_timeout, absl::Hours(7 * 24)),
             [&](time_t s, time_t us) { client.set_read_timeout(s, us); });

  httplib::Request req;
  req.method = "POST";
  req.path = std::string(path);
  req.headers = impl_->RequestHeaders(kProtobufStreamMediaType, extra_headers);
  req.headers.emplace("Accept-Encoding", "identity");
  req.headers.emplace("Content-Type", std::string(kProtobufMediaType));
  req.body = SerializeDeterministic(request);

  int status = 0;
  std::string error_body;
  FrameDecoder decoder;
  absl::Status frame_error;
  bool stopped = false;
  req.response_handler = [&](const httplib::Response& response) {
    status = response.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (status < 200 || status >= 300) {
      error_body.append(data, std::min(size, kMaxErrorBodyBytes - error_body.size()));
      return error_body.size() < kMaxErrorBodyBytes;
    }
    frame_error = decoder.Feed(absl::string_view(data, size), on_frame, &stopped);
    return frame_error.ok() && !stopped;
  };

  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  const bool sent = client.send(req, response, error);
  if (!frame_error.ok()) return frame_error;
  if (stopped) return absl::OkStatus();
  if (status != 0 && (status < 200 || status >= 300)) return FromHttpError(status, error_body);
  if (!sent) return impl_->TransportError(path, error);
  if (!decoder.empty()) return absl::InternalError("Truncated protobuf stream frame");
  return absl::OkStatus();
}

}  // namespace flwr::core
