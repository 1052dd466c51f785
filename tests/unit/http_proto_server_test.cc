// HttpProtoServer and HttpProtoClient over a real loopback socket. Exact wire bytes are
// checked with a raw HTTP/1.1 exchange; the Python interop lives in tests/transport. Kept-alive
// connections: several requests each (pipelined ones too), the idle timeout, no thread per idle
// connection, TLS, and Stop() with idle and streaming connections open.
#include "flwr/core/http_proto_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "../temp_path.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/http_proto_client.h"
#include "flwr/core/runtime_version.h"
#include "flwr/proto/control.pb.h"
#include "flwr/proto/runtime.pb.h"

namespace flwr::core {
namespace {

using proto::SendTaskHeartbeatRequest;
using proto::SendTaskHeartbeatResponse;
using proto::StreamLogsRequest;
using proto::StreamLogsResponse;

constexpr char kHeartbeat[] = "/v1/runtime/send-task-heartbeat";
constexpr char kFail[] = "/v1/runtime/fail";
constexpr char kLogs[] = "/v1/control/stream-logs";

struct RawResponse {
  int status = 0;
  std::string headers;  // lowercased header block
  std::string body;     // de-chunked
};

// A connected loopback socket whose reads give up after 10 s.
int Connect(int port) {
  const int sock = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval timeout{10, 0};
  setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return sock;
}

// One HTTP/1.1 exchange over a fresh connection (Connection: close).
RawResponse RawPost(int port, absl::string_view path, absl::string_view content_type,
                    absl::string_view body, absl::string_view extra_headers = "",
                    absl::string_view method = "POST") {
  const int sock = Connect(port);
  std::string request = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: x\r\n",
                                     "Connection: close\r\nAccept-Encoding: gzip\r\n");
  if (!content_type.empty()) absl::StrAppend(&request, "Content-Type: ", content_type, "\r\n");
  absl::StrAppend(&request, extra_headers, "Content-Length: ", body.size(), "\r\n\r\n", body);
  EXPECT_EQ(send(sock, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string raw;
  char buffer[4096];
  for (ssize_t n; (n = recv(sock, buffer, sizeof(buffer), 0)) > 0;) raw.append(buffer, n);
  close(sock);

  RawResponse response;
  const size_t split = raw.find("\r\n\r\n");
  if (split == std::string::npos) return response;
  response.headers = absl::AsciiStrToLower(raw.substr(0, split));
  EXPECT_TRUE(absl::SimpleAtoi(response.headers.substr(9, 3), &response.status));
  std::string rest = raw.substr(split + 4);
  if (response.headers.find("transfer-encoding: chunked") == std::string::npos) {
    response.body = rest;
    return response;
  }
  size_t pos = 0;
  while (pos < rest.size()) {
    const size_t eol = rest.find("\r\n", pos);
    unsigned long size = std::stoul(rest.substr(pos, eol - pos), nullptr, 16);
    if (size == 0) break;
    response.body.append(rest, eol + 2, size);
    pos = eol + 2 + size + 2;
  }
  return response;
}

std::string Serialized(const google::protobuf::Message& message) {
  return message.SerializeAsString();
}

std::string Frame(const google::protobuf::Message& message) {
  const std::string payload = message.SerializeAsString();
  const auto n = static_cast<uint32_t>(payload.size());
  return std::string{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)} +
         payload;
}

StreamLogsResponse Log(std::string text) {
  StreamLogsResponse response;
  response.set_log_output(std::move(text));
  return response;
}

class HttpProtoServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpProtoServerOptions options;
    options.max_request_bytes = 64 << 10;
    options.keep_alive_timeout = absl::Seconds(1);
    options.on_error = [this](const HttpRequestContext&, const absl::Status& status) {
      errors_logged_.fetch_add(1);
      (void)status;
    };
    server_ = std::make_unique<HttpProtoServer>(options);
    server_->AddUnary<SendTaskHeartbeatRequest, SendTaskHeartbeatResponse>(
        kHeartbeat,
        [this](const SendTaskHeartbeatRequest&,
               const HttpRequestContext& context) -> absl::StatusOr<SendTaskHeartbeatResponse> {
          calls_.fetch_add(1);
          if (context.Header("flwr-task-token") != "token") {
            return FlowerError(api_error::kRuntimeAuthenticationFailed, "bad token");
          }
          SendTaskHeartbeatResponse response;
          response.set_success(context.remote_addr() == "127.0.0.1" &&
                               context.Header("FLWR-COMPONENT-NAME") == "flwr-serverapp");
          return response;
        });
    server_->AddUnary<StreamLogsRequest, StreamLogsResponse>(
        kFail,
        [](const StreamLogsRequest& request,
           const HttpRequestContext&) -> absl::StatusOr<StreamLogsResponse> {
          if (request.run_id() == 0) return absl::InvalidArgumentError("`run_id` must be set");
          return FlowerError(static_cast<int>(request.run_id()), "internal detail",
                             request.after_timestamp() > 0
                                 ? std::optional<std::string>("public \xC3\xA9")
                                 : std::nullopt);
        });
    // run_id = number of messages; after_timestamp < 0: fail after them; > 0: wait for
    // cancellation after them.
    server_->AddServerStream<StreamLogsRequest, StreamLogsResponse>(
        kLogs,
        [this](const StreamLogsRequest& request, const HttpRequestContext& context,
               std::function<bool(const StreamLogsResponse&)> write) -> absl::Status {
          for (uint64_t i = 0; i < request.run_id(); ++i) {
            if (!write(Log(absl::StrCat("line ", i)))) {
              stream_cancelled_.Notify();
              return absl::CancelledError("client went away");
            }
          }
          if (request.after_timestamp() < 0) {
            return FlowerError(api_error::kRunIdNotFound, "no such run");
          }
          if (request.after_timestamp() > 0) {
            stream_waiting_.Notify();
            while (!context.cancelled()) absl::SleepFor(absl::Milliseconds(5));
            stream_cancelled_.Notify();
          }
          return absl::OkStatus();
        });
    server_->AddRequestCheck("/v1/runtime/", [](const HttpRequestContext& context) {
      return CheckRuntimeVersion(context.headers(), PinnedFlowerVersion(), "SuperLink");
    });
    ASSERT_TRUE(server_->Start("127.0.0.1", 0).ok());
    ASSERT_GT(server_->port(), 0);
    client_ = std::make_unique<HttpProtoClient>("127.0.0.1", server_->port(), "flwr-serverapp");
  }

  std::unique_ptr<HttpProtoServer> server_;
  std::unique_ptr<HttpProtoClient> client_;
  std::atomic<int> calls_{0};
  std::atomic<int> errors_logged_{0};
  absl::Notification stream_waiting_;
  absl::Notification stream_cancelled_;
  const HttpProtoClient::Headers token_ = {{"flwr-task-token", "token"}};
};

TEST_F(HttpProtoServerTest, UnaryCall) {
  absl::StatusOr<SendTaskHeartbeatResponse> response =
      client_->Call<SendTaskHeartbeatRequest, SendTaskHeartbeatResponse>(
          kHeartbeat, SendTaskHeartbeatRequest(), token_);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(response->success());
}

// Version headers of a ServerApp of the primary line (another patch release of it).
std::string PrimaryLinePeerHeaders() {
  const std::vector<absl::string_view> parts = absl::StrSplit(PinnedFlowerVersion(), '.');
  return absl::StrCat("flwr-package-name: flwr\r\nflwr-package-version: ", parts.at(0), ".",
                      parts.at(1), ".1\r\nflwr-component-name: flwr-serverapp\r\n");
}

TEST_F(HttpProtoServerTest, UnaryWireFormat) {
  const RawResponse response = RawPost(server_->port(), kHeartbeat, "application/protobuf", "",
                                       "flwr-task-token: token\r\n" + PrimaryLinePeerHeaders());
  EXPECT_EQ(response.status, 200);
  EXPECT_NE(response.headers.find("content-type: application/protobuf"), std::string::npos);
  SendTaskHeartbeatResponse expected;
  expected.set_success(true);
  EXPECT_EQ(response.body, Serialized(expected));
}

TEST_F(HttpProtoServerTest, FlowerErrorResponse) {
  const RawResponse response = RawPost(server_->port(), kHeartbeat, "application/protobuf", "");
  EXPECT_EQ(response.status, 401);
  EXPECT_NE(response.headers.find("content-type: application/json"), std::string::npos);
  EXPECT_EQ(response.headers.find("content-encoding"), std::string::npos);
  EXPECT_EQ(response.body, R"({"code":1008,"detail":"Authentication failed."})");
  EXPECT_EQ(errors_logged_.load(), 1);

  const absl::StatusOr<SendTaskHeartbeatResponse> decoded =
      client_->Call<SendTaskHeartbeatRequest, SendTaskHeartbeatResponse>(
          kHeartbeat, SendTaskHeartbeatRequest());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(FlowerErrorCode(decoded.status()), api_error::kRuntimeAuthenticationFailed);
  EXPECT_EQ(decoded.status().message(), "Authentication failed.");
}

TEST_F(HttpProtoServerTest, FlowerErrorWithDetailsAndPlainErrors) {
  StreamLogsRequest request;
  request.set_run_id(api_error::kRunIdNotFound);
  request.set_after_timestamp(1);
  RawResponse response =
      RawPost(server_->port(), kFail, "application/protobuf", Serialized(request));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body,
            "{\"code\":16,\"detail\":\"Run ID not found.\",\"extra\":\"public "
            "\xC3\xA9\"}");

  const absl::StatusOr<StreamLogsResponse> decoded =
      client_->Call<StreamLogsRequest, StreamLogsResponse>(kFail, request);
  EXPECT_EQ(FlowerErrorCode(decoded.status()), api_error::kRunIdNotFound);
  EXPECT_EQ(FlowerErrorPublicDetails(decoded.status()), "public \xC3\xA9");

  response = RawPost(server_->port(), kFail, "application/protobuf", "");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.body, R"({"detail":"`run_id` must be set"})");

  request.set_run_id(api_error::kAccountAuthenticationFailed);
  response = RawPost(server_->port(), kFail, "application/protobuf", Serialized(request));
  EXPECT_EQ(response.status, 401);
  EXPECT_NE(response.headers.find("www-authenticate: bearer"), std::string::npos);
}

TEST_F(HttpProtoServerTest, UnsupportedContentType) {
  for (const char* content_type :
       {"", "text/plain", "application/json", "application/x-protobuf"}) {
    const RawResponse response = RawPost(server_->port(), kHeartbeat, content_type, "");
    EXPECT_EQ(response.status, 415) << content_type;
    EXPECT_EQ(response.body, R"({"code":1002,"detail":"Unsupported Content-Type."})");
  }
  // Parameters, case and surrounding spaces are ignored, as flwr's media type check does.
  const RawResponse response =
      RawPost(server_->port(), kHeartbeat, " Application/Protobuf ; charset=binary", "",
              "flwr-task-token: token\r\n");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(HttpProtoServerTest, InvalidProtobuf) {
  const RawResponse response =
      RawPost(server_->port(), kHeartbeat, "application/protobuf", "\xff\xff\xff");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.body, R"({"code":1003,"detail":"Invalid protobuf payload."})");
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpProtoServerTest, UnknownPathAndMethod) {
  RawResponse response = RawPost(server_->port(), "/v1/runtime/nope", "application/protobuf", "");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body, R"({"detail":"Not Found"})");
  response = RawPost(server_->port(), "/", "", "", "", "GET");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body, R"({"detail":"Not Found"})");
  response = RawPost(server_->port(), kHeartbeat, "application/protobuf", "", "", "GET");
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(response.body, R"({"detail":"Method Not Allowed"})");
  EXPECT_NE(response.headers.find("allow: post"), std::string::npos);

  const absl::StatusOr<SendTaskHeartbeatResponse> decoded =
      client_->Call<SendTaskHeartbeatRequest, SendTaskHeartbeatResponse>(
          "/v1/runtime/nope", SendTaskHeartbeatRequest());
  EXPECT_EQ(decoded.status(), absl::NotFoundError("Not Found"));
}

TEST_F(HttpProtoServerTest, RequestCheckRunsAfterParsingOnItsPrefixOnly) {
  const std::string old_peer =
      "flwr-package-name: flwr\r\nflwr-package-version: 1.20.0\r\nflwr-component-name: "
      "flwr-serverapp\r\nflwr-task-token: token\r\n";
  RawResponse response = RawPost(server_->port(), kHeartbeat, "application/protobuf", "", old_peer);
  EXPECT_EQ(response.status, 412);
  EXPECT_EQ(response.body,
            absl::StrCat("{\"code\":1001,\"detail\":\"Runtime version compatibility check "
                         "failed.\",\"extra\":\"SuperLink version ",
                         PinnedFlowerVersion(),
                         " detected a runtime version mismatch: expected a peer from the same "
                         "major.minor release, but received flwr-serverapp version 1.20.0.\"}"));
  // Content type and payload are checked first.
  response = RawPost(server_->port(), kHeartbeat, "text/plain", "", old_peer);
  EXPECT_EQ(response.status, 415);
  // Not under /v1/runtime/: no version check.
  response = RawPost(server_->port(), kLogs, "application/protobuf", "", old_peer);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpProtoServerTest, StreamFraming) {
  StreamLogsRequest request;
  request.set_run_id(3);
  const RawResponse response =
      RawPost(server_->port(), kLogs, "application/protobuf", Serialized(request));
  EXPECT_EQ(response.status, 200);
  EXPECT_NE(response.headers.find("content-type: application/flower-protobuf-stream"),
            std::string::npos);
  EXPECT_EQ(response.body, Frame(Log("line 0")) + Frame(Log("line 1")) + Frame(Log("line 2")));

  std::vector<std::string> lines;
  const absl::Status status = client_->CallServerStream<StreamLogsRequest, StreamLogsResponse>(
      kLogs, request, [&](const StreamLogsResponse& message) {
        lines.push_back(message.log_output());
        return true;
      });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(lines, (std::vector<std::string>{"line 0", "line 1", "line 2"}));
}

TEST_F(HttpProtoServerTest, EmptyStream) {
  const RawResponse response = RawPost(server_->port(), kLogs, "application/protobuf", "");
  EXPECT_EQ(response.status, 200);
  EXPECT_NE(response.headers.find("content-type: application/flower-protobuf-stream"),
            std::string::npos);
  EXPECT_EQ(response.body, "");
}

TEST_F(HttpProtoServerTest, StreamErrorBeforeFirstWriteIsAnHttpError) {
  StreamLogsRequest request;
  request.set_after_timestamp(-1);
  const RawResponse response =
      RawPost(server_->port(), kLogs, "application/protobuf", Serialized(request));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body, R"({"code":16,"detail":"Run ID not found."})");
  const absl::Status status = client_->CallServerStream<StreamLogsRequest, StreamLogsResponse>(
      kLogs, request, [](const StreamLogsResponse&) { return true; });
  EXPECT_EQ(FlowerErrorCode(status), api_error::kRunIdNotFound);
}

TEST_F(HttpProtoServerTest, StreamErrorAfterFirstWriteTruncatesTheStream) {
  StreamLogsRequest request;
  request.set_run_id(2);
  request.set_after_timestamp(-1);
  int received = 0;
  const absl::Status status = client_->CallServerStream<StreamLogsRequest, StreamLogsResponse>(
      kLogs, request, [&](const StreamLogsResponse&) {
        ++received;
        return true;
      });
  EXPECT_EQ(received, 2);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST_F(HttpProtoServerTest, ClientStoppingEarlyCancelsTheHandler) {
  StreamLogsRequest request;
  request.set_run_id(1000000);
  int received = 0;
  const absl::Status status = client_->CallServerStream<StreamLogsRequest, StreamLogsResponse>(
      kLogs, request, [&](const StreamLogsResponse&) { return ++received < 3; });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(received, 3);
  EXPECT_TRUE(stream_cancelled_.WaitForNotificationWithTimeout(absl::Seconds(20)));
}

TEST_F(HttpProtoServerTest, StopCancelsOpenStreams) {
  StreamLogsRequest request;
  request.set_run_id(1);
  request.set_after_timestamp(1);
  std::thread reader([&] {
    client_
        ->CallServerStream<StreamLogsRequest, StreamLogsResponse>(
            kLogs, request, [](const StreamLogsResponse&) { return true; })
        .IgnoreError();
  });
  ASSERT_TRUE(stream_waiting_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const absl::Time start = absl::Now();
  server_->Stop();
  EXPECT_TRUE(stream_cancelled_.HasBeenNotified());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  reader.join();
}

TEST_F(HttpProtoServerTest, ConcurrentCalls) {
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 40;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        const absl::StatusOr<SendTaskHeartbeatResponse> response =
            client_->Call<SendTaskHeartbeatRequest, SendTaskHeartbeatResponse>(
                kHeartbeat, SendTaskHeartbeatRequest(), token_);
        ok += response.ok() && response->success();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kThreads * kCallsPerThread);
  EXPECT_EQ(calls_.load(), kThreads * kCallsPerThread);
}

TEST_F(HttpProtoServerTest, BodyTooLarge) {
  const RawResponse response =
      RawPost(server_->port(), kHeartbeat, "application/protobuf", std::string(100 << 10, 'x'));
  EXPECT_EQ(response.status, 413);
  EXPECT_EQ(response.body, R"({"detail":"Request Entity Too Large"})");
}

// Starlette's responses ignore Range (and uvicorn never compresses): full bodies, always.
TEST_F(HttpProtoServerTest, RangeHeaderIsIgnored) {
  const RawResponse response =
      RawPost(server_->port(), kHeartbeat, "application/protobuf", "", "Range: bytes=0-1\r\n");
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(response.headers.find("content-range"), std::string::npos);
  EXPECT_EQ(response.body, R"({"code":1008,"detail":"Authentication failed."})");
}

TEST_F(HttpProtoServerTest, PortInUse) {
  HttpProtoServer other;
  const absl::Status status = other.Start("127.0.0.1", server_->port());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(server_->Start("127.0.0.1", 0).code(), absl::StatusCode::kFailedPrecondition);
}

// ServeBytes (the fuzzer's entry point) answers as a socket connection does, byte for byte:
// the first request only, as it asks to close the connection.
TEST_F(HttpProtoServerTest, ServeBytesAnswersAsASocketDoes) {
  const std::string request = absl::StrCat(
      "POST ", kHeartbeat,
      " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/protobuf\r\n"
      "flwr-task-token: token\r\n",
      PrimaryLinePeerHeaders(), "Content-Length: 0\r\n\r\n");
  const std::string served = server_->ServeBytes(absl::StrCat(request, request));
  const int sock = Connect(server_->port());
  ASSERT_EQ(send(sock, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string raw;
  char buffer[4096];
  for (ssize_t n; (n = recv(sock, buffer, sizeof(buffer), 0)) > 0;) raw.append(buffer, n);
  close(sock);
  ASSERT_TRUE(absl::StartsWith(raw, "HTTP/1.1 200 OK\r\n")) << raw;
  EXPECT_EQ(served, raw);

  // Garbage gets httplib's 400 with our JSON detail, and the server keeps serving.
  const std::string garbage = server_->ServeBytes("\x01\x02 not http\r\n\r\n");
  EXPECT_TRUE(absl::StartsWith(garbage, "HTTP/1.1 400 Bad Request\r\n")) << garbage;
  EXPECT_TRUE(absl::EndsWith(garbage, R"({"detail":"Bad Request"})")) << garbage;
  EXPECT_EQ(server_->ServeBytes(""), "");
}

TEST(HttpProtoClientTest, ConnectionRefusedIsUnavailable) {
  int port;
  {
    HttpProtoServer server;
    ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
    port = server.port();
  }
  HttpProtoClientOptions options;
  options.connect_timeout = absl::Seconds(2);
  HttpProtoClient client("127.0.0.1", port, "SuperExec", options);
  const absl::StatusOr<SendTaskHeartbeatResponse> response =
      client.Call<SendTaskHeartbeatRequest, SendTaskHeartbeatResponse>(kHeartbeat,
                                                                       SendTaskHeartbeatRequest());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
}

// A Runtime API of another supported line than the primary one rejects the primary's version
// headers (412, code 1001): a client that follows runtime lines switches to the server's line
// and sends the call once more; others get the rejection.
TEST(HttpProtoClientTest, FollowsTheRuntimeLineOfTheServer) {
  const absl::string_view server_line = SupportedFlowerVersions().back();
  ASSERT_NE(server_line, PinnedFlowerVersion()) << "needs two pinned lines";
  std::atomic<int> calls{0};
  std::vector<std::string> announced;
  absl::Mutex mu;
  HttpProtoServer server;
  server.AddUnary<SendTaskHeartbeatRequest, SendTaskHeartbeatResponse>(
      kHeartbeat, [&](const SendTaskHeartbeatRequest&, const HttpRequestContext&) {
        calls.fetch_add(1);
        SendTaskHeartbeatResponse response;
        response.set_success(true);
        return absl::StatusOr<SendTaskHeartbeatResponse>(response);
      });
  server.AddRequestCheck("/v1/runtime/", [&](const HttpRequestContext& context) {
    {
      absl::MutexLock lock(&mu);
      announced.emplace_back(context.Header(kPackageVersionHeader).value_or(""));
    }
    return CheckRuntimeVersion(context.headers(), server_line, "SuperNode");
  });
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());

  HttpProtoClient strict("127.0.0.1", server.port(), "flwr-clientapp");
  const absl::StatusOr<SendTaskHeartbeatResponse> rejected =
      strict.Call<SendTaskHeartbeatRequest, SendTaskHeartbeatResponse>(kHeartbeat,
                                                                       SendTaskHeartbeatRequest());
  EXPECT_EQ(FlowerErrorCode(rejected.status()), api_error::kRuntimeVersionIncompatible);
  EXPECT_EQ(strict.flower_version(), PinnedFlowerVersion());

  HttpProtoClientOptions options;
  options.follow_runtime_line = true;
  HttpProtoClient following("127.0.0.1", server.port(), "flwr-clientapp", options);
  EXPECT_EQ(following.flower_version(), PinnedFlowerVersion());
  for (int i = 0; i < 2; ++i) {
    const absl::StatusOr<SendTaskHeartbeatResponse> response =
        following.Call<SendTaskHeartbeatRequest, SendTaskHeartbeatResponse>(
            kHeartbeat, SendTaskHeartbeatRequest());
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(following.flower_version(), server_line);
  }
  EXPECT_EQ(calls.load(), 2);
  absl::MutexLock lock(&mu);
  // strict; following: rejected, retried, then the server's line at once.
  EXPECT_EQ(announced, (std::vector<std::string>{
                           std::string(PinnedFlowerVersion()), std::string(PinnedFlowerVersion()),
                           std::string(server_line), std::string(server_line)}));
}

// A request to kHeartbeat; `close`: it asks for Connection: close.
std::string HeartbeatRequest(bool close = false) {
  return absl::StrCat("POST ", kHeartbeat, " HTTP/1.1\r\nHost: x\r\n",
                      close ? "Connection: close\r\n" : "",
                      "Content-Type: application/protobuf\r\nContent-Length: 0\r\n\r\n");
}

void Send(int sock, absl::string_view bytes) {
  ASSERT_EQ(send(sock, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
}

// Reads one response with a Content-Length body from `sock` (bytes past it stay in
// `pending`); "" if the connection ended first.
std::string ReadResponse(int sock, std::string& pending) {
  char buffer[4096];
  for (;;) {
    const size_t end = pending.find("\r\n\r\n");
    if (end != std::string::npos) {
      const std::string headers = absl::AsciiStrToLower(pending.substr(0, end));
      const size_t at = headers.find("content-length: ");
      size_t length = 0;
      if (at != std::string::npos) {
        EXPECT_TRUE(
            absl::SimpleAtoi(headers.substr(at + 16, headers.find("\r\n", at) - at - 16), &length));
      }
      if (pending.size() >= end + 4 + length) {
        std::string response = pending.substr(0, end + 4 + length);
        pending.erase(0, response.size());
        return response;
      }
    }
    const ssize_t n = recv(sock, buffer, sizeof(buffer), 0);
    if (n <= 0) return "";
    pending.append(buffer, static_cast<size_t>(n));
  }
}

// Whether the server closed `sock` (recv sees the end, not a timeout).
bool ClosedByServer(int sock) {
  char byte;
  return recv(sock, &byte, 1, 0) == 0;
}

// A connection to `port` that served one request and stays open (-1 if that failed).
int KeptConnection(int port) {
  const int sock = Connect(port);
  std::string pending;
  Send(sock, HeartbeatRequest());
  if (!absl::StartsWith(ReadResponse(sock, pending), "HTTP/1.1 200 OK\r\n")) {
    close(sock);
    return -1;
  }
  return sock;
}

int ThreadCount() {
  const std::filesystem::directory_iterator tasks("/proc/self/task");
  return static_cast<int>(std::distance(begin(tasks), end(tasks)));
}

class HttpProtoServerKeepAliveTest : public ::testing::Test {
 protected:
  // Starts the server: kHeartbeat records the client's port; kLogs writes one message, then
  // waits until the stream is cancelled.
  void Start(HttpProtoServerOptions options = {}) {
    server_ = std::make_unique<HttpProtoServer>(std::move(options));
    server_->AddUnary<SendTaskHeartbeatRequest, SendTaskHeartbeatResponse>(
        kHeartbeat, [this](const SendTaskHeartbeatRequest&, const HttpRequestContext& context) {
          absl::MutexLock lock(&mu_);
          client_ports_.push_back(context.remote_port());
          SendTaskHeartbeatResponse response;
          response.set_success(true);
          return absl::StatusOr<SendTaskHeartbeatResponse>(response);
        });
    server_->AddServerStream<StreamLogsRequest, StreamLogsResponse>(
        kLogs, [this](const StreamLogsRequest&, const HttpRequestContext& context,
                      std::function<bool(const StreamLogsResponse&)> write) {
          StreamLogsResponse message;
          message.set_log_output("line");
          write(message);
          while (!context.cancelled()) absl::SleepFor(absl::Milliseconds(5));
          stream_cancelled_.Notify();
          return absl::OkStatus();
        });
    ASSERT_TRUE(server_->Start("127.0.0.1", 0).ok());
  }

  std::vector<int> client_ports() {
    absl::MutexLock lock(&mu_);
    return client_ports_;
  }

  std::unique_ptr<HttpProtoServer> server_;
  absl::Mutex mu_;
  std::vector<int> client_ports_ ABSL_GUARDED_BY(mu_);
  absl::Notification stream_cancelled_;
};

TEST_F(HttpProtoServerKeepAliveTest, TwoRequestsOnOneConnection) {
  Start();
  const int sock = Connect(server_->port());
  std::string pending;
  for (int i = 0; i < 2; ++i) {
    Send(sock, HeartbeatRequest());
    const std::string response = absl::AsciiStrToLower(ReadResponse(sock, pending));
    EXPECT_TRUE(absl::StartsWith(response, "http/1.1 200 ok\r\n")) << response;
    // As uvicorn: a kept connection is not announced (no Connection or Keep-Alive header).
    EXPECT_EQ(response.find("connection:"), std::string::npos) << response;
    EXPECT_EQ(response.find("keep-alive"), std::string::npos) << response;
  }
  close(sock);
  const std::vector<int> ports = client_ports();
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[0], ports[1]);
}

TEST_F(HttpProtoServerKeepAliveTest, PipelinedRequestInTheSamePacket) {
  Start();
  const int sock = Connect(server_->port());
  Send(sock, HeartbeatRequest() + HeartbeatRequest(/*close=*/true));
  std::string pending;
  const std::string first = ReadResponse(sock, pending);
  const std::string second = ReadResponse(sock, pending);
  EXPECT_TRUE(absl::StartsWith(first, "HTTP/1.1 200 OK\r\n")) << first;
  EXPECT_TRUE(absl::StartsWith(second, "HTTP/1.1 200 OK\r\n")) << second;
  EXPECT_NE(second.find("Connection: close\r\n"), std::string::npos) << second;
  EXPECT_TRUE(pending.empty());
  EXPECT_TRUE(ClosedByServer(sock));
  close(sock);
  EXPECT_EQ(client_ports().size(), 2u);
}

// Responses without a body are held until the next write (to go out with it): both of two
// pipelined ones, and the last before the connection closes, still arrive.
TEST_F(HttpProtoServerKeepAliveTest, PipelinedResponsesWithoutBodyArrive) {
  Start();
  const int sock = Connect(server_->port());
  Send(sock,
       "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
       "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  std::string pending;
  const std::string first = ReadResponse(sock, pending);
  const std::string second = ReadResponse(sock, pending);
  EXPECT_TRUE(absl::StartsWith(first, "HTTP/1.1 200 OK\r\n")) << first;
  EXPECT_TRUE(absl::EndsWith(first, "\r\n\r\n")) << first;
  EXPECT_TRUE(absl::StartsWith(second, "HTTP/1.1 200 OK\r\n")) << second;
  EXPECT_NE(second.find("Connection: close\r\n"), std::string::npos) << second;
  EXPECT_TRUE(pending.empty());
  EXPECT_TRUE(ClosedByServer(sock));
  close(sock);
}

TEST_F(HttpProtoServerKeepAliveTest, IdleConnectionClosedAfterTheTimeout) {
  HttpProtoServerOptions options;
  options.keep_alive_timeout = absl::Milliseconds(300);
  Start(options);
  const int sock = KeptConnection(server_->port());
  ASSERT_GE(sock, 0);
  const absl::Time idle_since = absl::Now();
  EXPECT_TRUE(ClosedByServer(sock));
  const absl::Duration idle = absl::Now() - idle_since;
  EXPECT_GE(idle, absl::Milliseconds(250));
  EXPECT_LT(idle, absl::Seconds(5));
  close(sock);
}

// 100 idle connections, more than the server's worker threads, hold no thread: a request on
// another connection is served at once, and the process has as many threads as before.
TEST_F(HttpProtoServerKeepAliveTest, IdleConnectionsHoldNoThread) {
  HttpProtoServerOptions options;
  options.num_threads = 4;
  options.keep_alive_timeout = absl::Seconds(60);
  Start(options);
  const int threads = ThreadCount();
  std::vector<int> idle;
  for (int i = 0; i < 100; ++i) {
    idle.push_back(KeptConnection(server_->port()));
    ASSERT_GE(idle.back(), 0) << i;
  }
  EXPECT_EQ(ThreadCount(), threads);
  const absl::Time start = absl::Now();
  const int sock = KeptConnection(server_->port());
  EXPECT_GE(sock, 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  close(sock);
  for (const int fd : idle) close(fd);
}

// A self-signed certificate for 127.0.0.1 and its key, as PEM files; returns the certificate.
std::string WriteSelfSignedCertificate(const std::string& cert_file, const std::string& key_file) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"},
                                   std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
  }
  X509_sign(cert, key, EVP_sha256());
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(out, cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out, &data);
  const std::string pem(data, static_cast<size_t>(size));
  BIO_free(out);
  std::ofstream(cert_file) << pem;
  FILE* key_out = fopen(key_file.c_str(), "w");
  PEM_write_PrivateKey(key_out, key, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(key_out);
  X509_free(cert);
  EVP_PKEY_free(key);
  return pem;
}

TEST_F(HttpProtoServerKeepAliveTest, TlsConnectionIsKeptAlive) {
  HttpProtoServerOptions options;
  options.tls_cert_file = flwr::testing::TempPath("cert.pem").string();
  options.tls_key_file = flwr::testing::TempPath("key.pem").string();
  const std::string cert = WriteSelfSignedCertificate(options.tls_cert_file, options.tls_key_file);
  Start(options);
  HttpProtoClientOptions client_options;
  client_options.tls = true;
  client_options.root_certificates = cert;
  HttpProtoClient client("127.0.0.1", server_->port(), "flwr-serverapp", client_options);
  for (int i = 0; i < 3; ++i) {
    const absl::StatusOr<SendTaskHeartbeatResponse> response =
        client.Call<SendTaskHeartbeatRequest, SendTaskHeartbeatResponse>(
            kHeartbeat, SendTaskHeartbeatRequest());
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_TRUE(response->success());
  }
  const std::vector<int> ports = client_ports();
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_EQ(ports[0], ports[1]);
  EXPECT_EQ(ports[1], ports[2]);
}

TEST_F(HttpProtoServerKeepAliveTest, StopClosesIdleAndStreamingConnections) {
  HttpProtoServerOptions options;
  options.keep_alive_timeout = absl::Seconds(60);
  Start(options);
  const int idle = KeptConnection(server_->port());
  ASSERT_GE(idle, 0);

  const int streaming = Connect(server_->port());
  Send(streaming, absl::StrCat("POST ", kLogs,
                               " HTTP/1.1\r\nHost: x\r\nContent-Type: application/protobuf\r\n"
                               "Content-Length: 0\r\n\r\n"));
  std::string stream_bytes;
  char buffer[4096];
  while (stream_bytes.find("line") == std::string::npos) {
    const ssize_t n = recv(streaming, buffer, sizeof(buffer), 0);
    ASSERT_GT(n, 0);
    stream_bytes.append(buffer, static_cast<size_t>(n));
  }

  const absl::Time start = absl::Now();
  server_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(stream_cancelled_.HasBeenNotified());
  EXPECT_TRUE(ClosedByServer(idle));
  ssize_t n;
  while ((n = recv(streaming, buffer, sizeof(buffer), 0)) > 0) {
  }
  EXPECT_EQ(n, 0);  // closed, not timed out
  close(idle);
  close(streaming);
}

}  // namespace
}  // namespace flwr::core
