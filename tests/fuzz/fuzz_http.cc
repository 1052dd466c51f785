// libFuzzer target for the request framing of our HTTP server (HttpProtoServer on
// cpp-httplib): the bytes a client sends on one connection of the Runtime API (and, from the
// Flower 1.37+ line, Control and Fleet), served without a socket by HttpProtoServer::ServeBytes.
// The server has the routes of tests/transport/http_echo_server.cc (a unary route, a failing
// one, and with FUZZ_HTTP_STREAMS set a server stream) and the Runtime API's version check,
// keep-alive on (several requests per input) and a 4 KiB body limit. Note: Debian's cpp-httplib is
// a shared library built without sanitizers or coverage, so the fuzzer is guided by our side of the
// server only (dispatch, checks, errors, streams) and ASan sees httplib's allocations, not its
// accesses.
//
// FUZZ_HTTP_DUMP=1 prints what the server wrote for each input (to debug a finding).
//
// Invariants on what the server writes back:
//  - a sequence of complete HTTP/1.1 responses (status line, headers, a body framed by
//    Content-Length or chunked encoding; only a stream cut off by its handler's failure ends
//    early, and last), at most one per request line in the input;
//  - every status is 200 or 4xx (or an interim 100 Continue): bad input is the client's error,
//    never a server failure;
//  - every error body is JSON with a "detail"; every 200 is application/protobuf (the unary
//    routes, a body their response type parses) or the protobuf stream media type.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/http_proto_server.h"
#include "flwr/core/runtime_version.h"
#include "flwr/proto/control.pb.h"
#include "flwr/proto/log.pb.h"
#include "flwr/proto/runtime.pb.h"
#include "fuzz_util.h"

namespace {

using flwr::core::HttpRequestContext;
using flwr::fuzz::Show;
namespace proto = flwr::proto;

flwr::core::HttpProtoServer* MakeServer() {
  flwr::core::HttpProtoServerOptions options;
  options.max_request_bytes = 4096;
  auto* server = new flwr::core::HttpProtoServer(options);
  server->AddUnary<proto::SendTaskHeartbeatRequest, proto::SendTaskHeartbeatResponse>(
      "/v1/runtime/send-task-heartbeat",
      [](const proto::SendTaskHeartbeatRequest&, const HttpRequestContext&) {
        proto::SendTaskHeartbeatResponse response;
        response.set_success(true);
        return absl::StatusOr<proto::SendTaskHeartbeatResponse>(response);
      });
  server->AddUnary<proto::PushLogsRequest, proto::PushLogsResponse>(
      "/v1/runtime/push-logs",
      [](const proto::PushLogsRequest& request, const HttpRequestContext&) {
        return absl::StatusOr<proto::PushLogsResponse>(flwr::core::FlowerError(
            flwr::core::api_error::kRunIdNotFound, absl::StrCat(request.logs_size(), " logs")));
      });
  server->AddRequestCheck("/v1/runtime/", [](const HttpRequestContext& context) {
    return flwr::core::CheckRuntimeVersion(context.headers(), flwr::core::PinnedFlowerVersion(),
                                           "SuperLink");
  });
  // A stream's handler runs on a thread of its own, and how the two threads interleave changes
  // the coverage from run to run: streams are fuzzed only where determinism is not wanted
  // (scripts/fuzz.sh --long sets FUZZ_HTTP_STREAMS); CI fuzzes the unary routes.
  if (std::getenv("FUZZ_HTTP_STREAMS") == nullptr) return server;
  server->AddServerStream<proto::StreamLogsRequest, proto::StreamLogsResponse>(
      "/v1/control/stream-logs",
      [](const proto::StreamLogsRequest& request, const HttpRequestContext&,
         std::function<bool(const proto::StreamLogsResponse&)> write) {
        for (uint64_t i = 0; i < request.run_id() % 4; ++i) {
          proto::StreamLogsResponse line;
          line.set_log_output(absl::StrCat("line ", i));
          if (!write(line)) return absl::CancelledError("client went away");
        }
        if (request.after_timestamp() < 0) {
          return flwr::core::FlowerError(flwr::core::api_error::kRunIdNotFound, "no such run");
        }
        return absl::OkStatus();
      });
  return server;
}

// Reads one chunked body from `rest`; returns the bytes consumed or nullopt if malformed.
std::optional<size_t> ChunkedLength(absl::string_view rest) {
  size_t pos = 0;
  while (true) {
    const size_t eol = rest.find("\r\n", pos);
    if (eol == absl::string_view::npos) return std::nullopt;
    uint64_t size = 0;
    if (!absl::SimpleHexAtoi(rest.substr(pos, eol - pos), &size)) return std::nullopt;
    pos = eol + 2;
    if (size == 0) {
      if (rest.substr(pos, 2) != "\r\n") return std::nullopt;
      return pos + 2;
    }
    if (rest.size() - pos < size + 2 || rest.substr(pos + size, 2) != "\r\n") return std::nullopt;
    pos += size + 2;
  }
}

// Checks one response at the start of `out` and returns its length. `may_be_head`: the input
// holds a HEAD request, whose response has headers only (no body, whatever its length says).
size_t CheckResponse(absl::string_view out, bool may_be_head) {
  const size_t head_end = out.find("\r\n\r\n");
  FUZZ_CHECK(head_end != absl::string_view::npos, "response without a header end: " + Show(out));
  const std::vector<absl::string_view> lines = absl::StrSplit(out.substr(0, head_end), "\r\n");
  FUZZ_CHECK(absl::StartsWith(lines[0], "HTTP/1.1 ") && lines[0].size() >= 12,
             "bad status line " + Show(lines[0]));
  int status = 0;
  FUZZ_CHECK(absl::SimpleAtoi(lines[0].substr(9, 3), &status), Show(lines[0]));
  if (status == 100) return head_end + 4;  // "Expect: 100-continue" (uvicorn sends it too)
  FUZZ_CHECK(status == 200 || (status >= 400 && status < 500),
             "status " + std::to_string(status) + ": " + Show(out));
  std::optional<uint64_t> content_length;
  bool chunked = false;
  std::string content_type;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    FUZZ_CHECK(colon != absl::string_view::npos, "bad header line " + Show(lines[i]));
    const std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
    const absl::string_view value = absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
    if (name == "content-length") {
      uint64_t n = 0;
      FUZZ_CHECK(absl::SimpleAtoi(value, &n), Show(lines[i]));
      content_length = n;
    } else if (name == "transfer-encoding") {
      chunked = value == "chunked";
    } else if (name == "content-type") {
      content_type = std::string(value);
    }
  }
  const absl::string_view rest = out.substr(head_end + 4);
  size_t body_length = 0;
  if (chunked) {
    // A stream whose handler fails after its first message is cut off (the connection is
    // aborted mid-stream, as a failing generator does in flwr): then nothing may follow.
    std::optional<size_t> n = ChunkedLength(rest);
    FUZZ_CHECK(n.has_value() || content_type == flwr::core::kProtobufStreamMediaType,
               "malformed chunked body: " + Show(rest));
    body_length = n.value_or(rest.size());
  } else {
    FUZZ_CHECK(content_length.has_value(), "response without a length: " + Show(out));
    if (may_be_head && (rest.size() < *content_length || absl::StartsWith(rest, "HTTP/1.1 "))) {
      return head_end + 4;
    }
    FUZZ_CHECK(*content_length <= rest.size(), "truncated body: " + Show(out));
    body_length = *content_length;
  }
  const absl::string_view body = rest.substr(0, body_length);
  if (status == 200) {
    FUZZ_CHECK(content_type == flwr::core::kProtobufMediaType ||
                   content_type == flwr::core::kProtobufStreamMediaType,
               "200 with " + Show(content_type));
    if (content_type == flwr::core::kProtobufMediaType) {
      proto::SendTaskHeartbeatResponse response;
      FUZZ_CHECK(
          response.ParseFromArray(body.data(), static_cast<int>(body.size())) && response.success(),
          "unexpected 200 body " + Show(body));
    }
  } else {
    FUZZ_CHECK(content_type == "application/json" && absl::StartsWith(body, "{") &&
                   absl::StrContains(body, "\"detail\":"),
               "error body " + Show(content_type) + " " + Show(body));
  }
  return head_end + 4 + body_length;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static flwr::core::HttpProtoServer* const server = MakeServer();
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string out = server->ServeBytes(input);
  static const bool dump = std::getenv("FUZZ_HTTP_DUMP") != nullptr;
  if (dump) std::fprintf(stderr, "--- response bytes:\n%s\n---\n", absl::CHexEscape(out).c_str());
  absl::string_view rest = out;
  size_t responses = 0;
  while (!rest.empty()) {
    rest.remove_prefix(CheckResponse(rest, absl::StrContains(input, "HEAD")));
    ++responses;
  }
  // A request needs at least its request line's end.
  const size_t request_lines = static_cast<size_t>(std::count(input.begin(), input.end(), '\n'));
  FUZZ_CHECK(responses <= request_lines + 1,
             absl::StrCat(responses, " responses to ", request_lines, " lines"));
  return 0;
}
