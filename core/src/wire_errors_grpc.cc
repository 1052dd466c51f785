#include "flwr/core/wire_errors_grpc.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/python_compat.h"
#include "wire_errors_internal.h"

namespace flwr::core {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  if (const std::optional<int> code = FlowerErrorCode(status); code.has_value()) {
    const FlowerErrorSpec* spec = FindFlowerErrorSpec(*code);
    if (spec == nullptr) {
      return grpc::Status(grpc::StatusCode::INTERNAL, std::string(kInternalServerErrorMessage));
    }
    // json.dumps(dict) by hand: Python separates with ", " and ": ", nlohmann with "," and ":".
    const std::optional<std::string> extra = FlowerErrorPublicDetails(status);
    const std::string details = absl::StrCat(
        "{\"code\": ", *code, ", \"public_message\": ", PythonJsonString(spec->public_message),
        ", \"public_details\": ", extra.has_value() ? PythonJsonString(*extra) : "null", "}");
    return grpc::Status(static_cast<grpc::StatusCode>(spec->grpc_code), details);
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      wire_internal::PublicMessage(status));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  if (std::optional<wire_internal::WireFlowerError> error =
          wire_internal::ParseFlowerErrorJson(status.error_message())) {
    return wire_internal::RebuildFlowerError(std::move(*error), code);
  }
  return absl::Status(code, status.error_message());
}

}  // namespace flwr::core
