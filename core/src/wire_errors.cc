#include "flwr/core/wire_errors.h"

#include <nlohmann/json.hpp>
#include <optional>

#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/python_compat.h"
#include "wire_errors_internal.h"

namespace flwr::core {
namespace {

constexpr size_t kMaxQuotedBodyBytes = 1024;

bool IsServerFault(absl::StatusCode code) {
  return code == absl::StatusCode::kInternal || code == absl::StatusCode::kUnknown ||
         code == absl::StatusCode::kDataLoss;
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

}  // namespace

namespace wire_internal {

std::string PublicMessage(const absl::Status& status) {
  if (IsServerFault(status.code())) return std::string(kInternalServerErrorMessage);
  return std::string(status.message());
}

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

absl::Status RebuildFlowerError(WireFlowerError error, absl::StatusCode fallback) {
  absl::Status status =
      FlowerError(error.code, error.public_message, std::move(error.public_details));
  if (FindFlowerErrorSpec(error.code) != nullptr) return status;
  absl::Status rebuilt(fallback, status.message());
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { rebuilt.SetPayload(url, payload); });
  return rebuilt;
}

}  // namespace wire_internal

HttpError ToHttpError(const absl::Status& status) {
  HttpError error;
  // Starlette's JSONResponse: json.dumps(ensure_ascii=False, separators=(",", ":")), which is
  // nlohmann's compact dump; text that is not UTF-8 is replaced as PythonJsonString does.
  const auto dump = [](const nlohmann::ordered_json& body) {
    return body.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
  };
  const auto detail_only = [&](int http_status, absl::string_view detail) {
    error.status = http_status;
    error.body = dump({{"detail", std::string(detail)}});
  };
  if (status.ok()) {
    detail_only(500, kInternalServerErrorMessage);
    return error;
  }
  const std::optional<int> code = FlowerErrorCode(status);
  if (!code.has_value()) {
    detail_only(HttpStatusFor(status.code()), wire_internal::PublicMessage(status));
    return error;
  }
  const FlowerErrorSpec* spec = FindFlowerErrorSpec(*code);
  if (spec == nullptr) {
    detail_only(500, kInternalServerErrorMessage);
    return error;
  }
  error.status = spec->http_status;
  nlohmann::ordered_json body = {{"code", *code}, {"detail", std::string(spec->public_message)}};
  if (const std::optional<std::string> extra = FlowerErrorPublicDetails(status)) {
    body["extra"] = *extra;
  }
  error.body = dump(body);
  if (!spec->http_header_name.empty()) {
    error.headers.emplace_back(spec->http_header_name, spec->http_header_value);
  }
  return error;
}

absl::Status FromHttpError(int http_status, absl::string_view body) {
  const absl::StatusCode fallback = StatusCodeForHttp(http_status);
  if (std::optional<wire_internal::WireFlowerError> error =
          wire_internal::ParseFlowerErrorJson(body)) {
    return wire_internal::RebuildFlowerError(std::move(*error), fallback);
  }
  const nlohmann::json payload =
      nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (payload.is_object() && payload.contains("detail") && payload["detail"].is_string()) {
    return absl::Status(fallback, payload["detail"].get<std::string>());
  }
  return absl::Status(fallback,
                      absl::StrCat("HTTP ", http_status, ": ",
                                   DecodeUtf8Replace(body.substr(0, kMaxQuotedBodyBytes))));
}

}  // namespace flwr::core
