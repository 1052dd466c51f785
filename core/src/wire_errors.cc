#include "flwr/core/wire_errors.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/python_json.h"

namespace flwr::core {
namespace {

constexpr size_t kMaxQuotedBodyBytes = 1024;

// Length of the valid UTF-8 sequence at text[pos], or 0 if there is none (overlong forms,
// surrogates, code points above U+10FFFF, truncation).
size_t Utf8SequenceLength(absl::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char b0 = byte(pos);
  size_t len;
  uint32_t cp, min;
  if (b0 < 0x80) return 1;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (pos + len > text.size()) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(pos + i) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// `text` with each byte that starts no valid UTF-8 sequence replaced by U+FFFD.
std::string SanitizeUtf8(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = Utf8SequenceLength(text, pos);
    if (len == 0) {
      out.append("\xEF\xBF\xBD");
      ++pos;
    } else {
      out.append(text.data() + pos, len);
      pos += len;
    }
  }
  return out;
}

// `json.dumps(text)` (ASCII-only escapes) of the UTF-8-sanitized text.
void AppendAsciiJsonString(absl::string_view text, std::string* out) {
  // Cannot fail: the input is valid UTF-8 after sanitizing.
  AppendPythonJsonString(SanitizeUtf8(text), out).IgnoreError();
}

bool IsServerFault(absl::StatusCode code) {
  return code == absl::StatusCode::kInternal || code == absl::StatusCode::kUnknown ||
         code == absl::StatusCode::kDataLoss;
}

// The message a client may see for a non-Flower error.
std::string PublicMessage(const absl::Status& status) {
  if (IsServerFault(status.code())) return std::string(kInternalServerErrorMessage);
  return std::string(status.message());
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
      return 412;
    case absl::StatusCode::kResourceExhausted:
      return 413;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

absl::StatusCode StatusCodeForHttp(int http_status) {
  switch (http_status) {
    case 400:
    case 415:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 405:
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 409:
      return absl::StatusCode::kAlreadyExists;
    case 412:
      return absl::StatusCode::kFailedPrecondition;
    case 413:
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 503:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      return http_status >= 400 && http_status < 500 ? absl::StatusCode::kInvalidArgument
                                                     : absl::StatusCode::kInternal;
  }
}

// A decoded `FlowerError.from_json` payload.
struct WireFlowerError {
  int code;
  std::string public_message;
  std::optional<std::string> public_details;
};

// Mirrors `FlowerError.from_json`: a JSON object whose "code" is an integer (not a bool)
// and whose message ("public_message" if that key exists, else "detail") is a string, with
// details ("public_details", else "extra") null, absent or a string. Codes that do not fit
// an int are rejected (flwr never issues them).
std::optional<WireFlowerError> ParseFlowerErrorJson(absl::string_view text) {
  const nlohmann::json payload =
      nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!payload.is_object()) return std::nullopt;
  const bool grpc_style = payload.contains("public_message");
  const auto field = [&](const char* key) -> const nlohmann::json* {
    auto it = payload.find(key);
    return it == payload.end() ? nullptr : &*it;
  };
  const nlohmann::json* code = field("code");
  const nlohmann::json* message = field(grpc_style ? "public_message" : "detail");
  const nlohmann::json* details = field(grpc_style ? "public_details" : "extra");
  if (code == nullptr || !code->is_number_integer() || message == nullptr ||
      !message->is_string()) {
    return std::nullopt;
  }
  if (details != nullptr && !details->is_null() && !details->is_string()) return std::nullopt;
  WireFlowerError error;
  if (code->is_number_unsigned()) {
    const auto value = code->get<uint64_t>();
    if (value > static_cast<uint64_t>(INT32_MAX)) return std::nullopt;
    error.code = static_cast<int>(value);
  } else {
    const auto value = code->get<int64_t>();
    if (value < INT32_MIN || value > INT32_MAX) return std::nullopt;
    error.code = static_cast<int>(value);
  }
  error.public_message = message->get<std::string>();
  if (details != nullptr && details->is_string())
    error.public_details = details->get<std::string>();
  return error;
}

// The Flower error a peer sent; its canonical code is the catalogue's, else `fallback`.
absl::Status RebuildFlowerError(WireFlowerError error, absl::StatusCode fallback) {
  absl::Status status =
      FlowerError(error.code, error.public_message, std::move(error.public_details));
  if (FindFlowerErrorSpec(error.code) != nullptr) return status;
  absl::Status rebuilt(fallback, status.message());
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { rebuilt.SetPayload(url, payload); });
  return rebuilt;
}

}  // namespace

void AppendPythonJsonStringUnescaped(absl::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string valid = SanitizeUtf8(text);
  out->push_back('"');
  for (const char c : valid) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  if (const std::optional<int> code = FlowerErrorCode(status); code.has_value()) {
    const FlowerErrorSpec* spec = FindFlowerErrorSpec(*code);
    if (spec == nullptr) {
      return grpc::Status(grpc::StatusCode::INTERNAL, std::string(kInternalServerErrorMessage));
    }
    std::string details = absl::StrCat("{\"code\": ", *code, ", \"public_message\": ");
    AppendAsciiJsonString(spec->public_message, &details);
    details.append(", \"public_details\": ");
    if (const std::optional<std::string> extra = FlowerErrorPublicDetails(status)) {
      AppendAsciiJsonString(*extra, &details);
    } else {
      details.append("null");
    }
    details.push_back('}');
    return grpc::Status(static_cast<grpc::StatusCode>(spec->grpc_code), details);
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), PublicMessage(status));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  if (std::optional<WireFlowerError> error = ParseFlowerErrorJson(status.error_message())) {
    return RebuildFlowerError(std::move(*error), code);
  }
  return absl::Status(code, status.error_message());
}

HttpError ToHttpError(const absl::Status& status) {
  HttpError error;
  const auto detail_only = [&](int http_status, absl::string_view detail) {
    error.status = http_status;
    error.body = "{\"detail\":";
    AppendPythonJsonStringUnescaped(detail, &error.body);
    error.body.push_back('}');
  };
  if (status.ok()) {
    detail_only(500, kInternalServerErrorMessage);
    return error;
  }
  const std::optional<int> code = FlowerErrorCode(status);
  if (!code.has_value()) {
    detail_only(HttpStatusFor(status.code()), PublicMessage(status));
    return error;
  }
  const FlowerErrorSpec* spec = FindFlowerErrorSpec(*code);
  if (spec == nullptr) {
    detail_only(500, kInternalServerErrorMessage);
    return error;
  }
  error.status = spec->http_status;
  error.body = absl::StrCat("{\"code\":", *code, ",\"detail\":");
  AppendPythonJsonStringUnescaped(spec->public_message, &error.body);
  if (const std::optional<std::string> extra = FlowerErrorPublicDetails(status)) {
    error.body.append(",\"extra\":");
    AppendPythonJsonStringUnescaped(*extra, &error.body);
  }
  error.body.push_back('}');
  if (!spec->http_header_name.empty()) {
    error.headers.emplace_back(spec->http_header_name, spec->http_header_value);
  }
  return error;
}

absl::Status FromHttpError(int http_status, absl::string_view body) {
  const absl::StatusCode fallback = StatusCodeForHttp(http_status);
  if (std::optional<WireFlowerError> error = ParseFlowerErrorJson(body)) {
    return RebuildFlowerError(std::move(*error), fallback);
  }
  const nlohmann::json payload =
      nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (payload.is_object() && payload.contains("detail") && payload["detail"].is_string()) {
    return absl::Status(fallback, payload["detail"].get<std::string>());
  }
  return absl::Status(fallback, absl::StrCat("HTTP ", http_status, ": ",
                                             SanitizeUtf8(body.substr(0, kMaxQuotedBodyBytes))));
}

}  // namespace flwr::core
