#include "flwr/core/http_proto_client.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/http_proto.h"
#include "flwr/core/logging.h"
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

// A certificate store holding every certificate of `pem` (the caller owns it).
X509_STORE* NewCertificateStore(absl::string_view pem) {
  X509_STORE* store = X509_STORE_new();
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  STACK_OF(X509_INFO)* infos = PEM_X509_INFO_read_bio(bio.get(), nullptr, nullptr, nullptr);
  if (infos == nullptr) return store;
  for (int i = 0; i < sk_X509_INFO_num(infos); ++i) {
    X509_INFO* info = sk_X509_INFO_value(infos, i);
    if (info->x509 != nullptr) X509_STORE_add_cert(store, info->x509);
  }
  sk_X509_INFO_pop_free(infos, X509_INFO_free);
  return store;
}

bool IsTlsError(httplib::Error error) {
  return error == httplib::Error::SSLConnection || error == httplib::Error::SSLLoadingCerts ||
         error == httplib::Error::SSLServerVerification;
}

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

  std::unique_ptr<httplib::Client> Acquire() {
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        std::unique_ptr<httplib::Client> client = std::move(idle_.back());
        idle_.pop_back();
        return client;
      }
    }
    std::unique_ptr<httplib::Client> client = NewClient();
    client->set_keep_alive(true);
    return client;
  }

  // A client of the server with the connect timeout and TLS settings; read and write
  // timeouts are the caller's.
  std::unique_ptr<httplib::Client> NewClient() const {
    std::unique_ptr<httplib::Client> client;
    if (options_.tls) {
      const std::string host =
          absl::StrContains(host_, ':') ? absl::StrCat("[", host_, "]") : host_;
      client = std::make_unique<httplib::Client>(absl::StrCat("https://", host, ":", port_));
      client->enable_server_certificate_verification(true);
      if (!options_.root_certificates.empty()) {
        client->set_ca_cert_store(NewCertificateStore(options_.root_certificates));
      }
    } else {
      client = std::make_unique<httplib::Client>(host_, port_);
    }
    client->set_tcp_nodelay(true);
    SetTimeout(options_.connect_timeout,
               [&](time_t s, time_t us) { client->set_connection_timeout(s, us); });
    return client;
  }

  absl::Status DecodeError(int status, absl::string_view body) const {
    return options_.decode_error ? options_.decode_error(status, body)
                                 : FromHttpError(status, body);
  }

  void Release(std::unique_ptr<httplib::Client> client) {
    absl::MutexLock lock(&mu_);
    if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(client));
  }

  httplib::Headers RequestHeaders(absl::string_view accept, const Headers& extra) const {
    httplib::Headers headers;
    headers.emplace("Accept", std::string(accept));
    if (options_.send_runtime_version_headers) {
      for (auto& [name, value] : RuntimeVersionHeaders(component_name_, flower_version())) {
        headers.emplace(std::move(name), std::move(value));
      }
    }
    for (const auto& [name, value] : extra) headers.emplace(name, value);
    return headers;
  }

  absl::Status TransportError(absl::string_view path, httplib::Error error) const {
    return absl::UnavailableError(absl::StrCat(options_.tls ? "HTTPS" : "HTTP", " request to ",
                                               host_, ":", port_, path,
                                               " failed: ", httplib::to_string(error),
                                               IsTlsError(error) ? " (TLS handshake failed)" : ""));
  }

  const std::string host_;
  const int port_;
  const HttpProtoClientOptions options_;
  const std::string component_name_;
  // The index in SupportedFlowerVersions() of the version announced.
  std::atomic<size_t> line_{0};

 private:
  absl::Mutex mu_;
  std::vector<std::unique_ptr<httplib::Client>> idle_ ABSL_GUARDED_BY(mu_);
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
  std::unique_ptr<httplib::Client> client = impl_->Acquire();
  const absl::Duration call_timeout = timeout.value_or(impl_->options_.timeout);
  SetTimeout(timeout.value_or(impl_->options_.connect_timeout),
             [&](time_t s, time_t us) { client->set_connection_timeout(s, us); });
  SetTimeout(call_timeout, [&](time_t s, time_t us) { client->set_read_timeout(s, us); });
  SetTimeout(call_timeout, [&](time_t s, time_t us) { client->set_write_timeout(s, us); });
  httplib::Result result =
      client->Post(std::string(path), impl_->RequestHeaders(kProtobufMediaType, extra_headers),
                   SerializeDeterministic(request), std::string(kProtobufMediaType));
  if (!result) return impl_->TransportError(path, result.error());
  impl_->Release(std::move(client));
  if (result->status < 200 || result->status >= 300) {
    return impl_->DecodeError(result->status, result->body);
  }
  return std::move(result->body);
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
  std::unique_ptr<httplib::Client> client = impl_->NewClient();
  SetTimeout(impl_->options_.timeout,
             [&](time_t s, time_t us) { client->set_write_timeout(s, us); });
  SetTimeout(std::min(impl_->options_.stream_read_timeout, absl::Hours(7 * 24)),
             [&](time_t s, time_t us) { client->set_read_timeout(s, us); });

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
  const bool sent = client->send(req, response, error);
  if (!frame_error.ok()) return frame_error;
  if (stopped) return absl::OkStatus();
  if (status != 0 && (status < 200 || status >= 300)) return impl_->DecodeError(status, error_body);
  if (!sent) return impl_->TransportError(path, error);
  if (!decoder.empty()) return absl::InternalError("Truncated protobuf stream frame");
  return absl::OkStatus();
}

}  // namespace flwr::core
