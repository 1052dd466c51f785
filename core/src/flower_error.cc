#include "flwr/core/flower_error.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace flwr::core {
namespace {

// Every generated entry must have a same-valued constant in flower_error.h.
#define FLWR_ERROR_SPEC(name, code, grpc, http, message, header_name, header_value) \
  static_assert(api_error::name == (code), #name " disagrees with the catalogue");
#include "flower_error_catalog.inc"
#undef FLWR_ERROR_SPEC

// Sorted by code: the generator emits entries in code order.
constexpr FlowerErrorSpec kSpecs[] = {
#define FLWR_ERROR_SPEC(name, code, grpc, http, message, header_name, header_value) \
  {(code), absl::StatusCode::grpc, (http), (message), (header_name), (header_value)},
#include "flower_error_catalog.inc"
#undef FLWR_ERROR_SPEC
};

constexpr bool SortedByCode() {
  for (size_t i = 1; i < std::size(kSpecs); ++i) {
    if (kSpecs[i - 1].code >= kSpecs[i].code) return false;
  }
  return true;
}
static_assert(SortedByCode(), "flower_error_catalog.inc must be sorted by code");

}  // namespace

const FlowerErrorSpec* FindFlowerErrorSpec(int code) {
  const auto* it =
      std::lower_bound(std::begin(kSpecs), std::end(kSpecs), code,
                       [](const FlowerErrorSpec& spec, int value) { return spec.code < value; });
  return it != std::end(kSpecs) && it->code == code ? it : nullptr;
}

absl::Status FlowerError(int code, absl::string_view internal_message,
                         std::optional<std::string> public_details) {
  const FlowerErrorSpec* spec = FindFlowerErrorSpec(code);
  absl::Status status(spec != nullptr ? spec->grpc_code : absl::StatusCode::kInternal,
                      internal_message);
  status.SetPayload(kFlowerErrorCodeTypeUrl, absl::Cord(absl::StrCat(code)));
  if (public_details.has_value()) {
    status.SetPayload(kFlowerErrorDetailsTypeUrl, absl::Cord(std::move(*public_details)));
  }
  return status;
}

std::optional<int> FlowerErrorCode(const absl::Status& status) {
  const auto payload = status.GetPayload(kFlowerErrorCodeTypeUrl);
  int code;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &code)) {
    return std::nullopt;
  }
  return code;
}

std::optional<std::string> FlowerErrorPublicDetails(const absl::Status& status) {
  if (!FlowerErrorCode(status).has_value()) return std::nullopt;
  auto payload = status.GetPayload(kFlowerErrorDetailsTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  return std::string(*payload);
}

}  // namespace flwr::core
