// gRPC encodings of absl::Status errors, byte-compatible with the pinned flwr's translator
// (`flwr/supercore/error/grpc.py`) and decoder (`FlowerError.from_json`). The rules for
// which errors are public are wire_errors.h's; only the servers link gRPC.
#ifndef FLWR_CORE_WIRE_ERRORS_GRPC_H_
#define FLWR_CORE_WIRE_ERRORS_GRPC_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace flwr::core {

// gRPC: a Flower error becomes the catalogue's status code with message (grpc-message, the
// Python `details`) `json.dumps({"code": C, "public_message": M, "public_details": D})`,
// byte for byte (default separators, ASCII-only escapes, `null` without details). A Flower
// code outside the catalogue gives INTERNAL "Internal server error.". Another error keeps its
// code and message (server faults as wire_errors.h says). OK gives OK.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Inverse of ToGrpcStatus for a peer's status: details that `FlowerError.from_json` accepts
// become a Flower error (code, internal message = public message, public details; canonical
// code from the catalogue, else the gRPC code); anything else keeps code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace flwr::core

#endif  // FLWR_CORE_WIRE_ERRORS_GRPC_H_
