// What the HTTP and gRPC encodings of errors (wire_errors.h, wire_errors_grpc.h) share.
#ifndef FLWR_CORE_SRC_WIRE_ERRORS_INTERNAL_H_
#define FLWR_CORE_SRC_WIRE_ERRORS_INTERNAL_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace flwr::core::wire_internal {

// The message a client may see for a non-Flower error: its own, except for the server-fault
// codes Internal, Unknown and DataLoss, whose messages may hold internals.
std::string PublicMessage(const absl::Status& status);

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
std::optional<WireFlowerError> ParseFlowerErrorJson(absl::string_view text);

// The Flower error a peer sent; its canonical code is the catalogue's, else `fallback`.
absl::Status RebuildFlowerError(WireFlowerError error, absl::StatusCode fallback);

}  // namespace flwr::core::wire_internal

#endif  // FLWR_CORE_SRC_WIRE_ERRORS_INTERNAL_H_
