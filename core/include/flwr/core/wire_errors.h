// Wire encodings of absl::Status errors, byte-compatible with the pinned flwr's translators
// (`flwr/supercore/error/http.py`) and decoders (`FlowerError.from_json`); the gRPC
// encoding, for the servers only, is wire_errors_grpc.h.
//
// Flower errors (flower_error.h) travel as the catalogue dictates; any other error is one of
// our own, and its message is shown to the client as is, except for the server-fault codes
// Internal, Unknown and DataLoss, whose messages may hold internals: those are sent as
// "Internal server error.", as flwr does for unexpected exceptions.
#ifndef FLWR_CORE_WIRE_ERRORS_H_
#define FLWR_CORE_WIRE_ERRORS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace flwr::core {

// An HTTP error response: status, JSON body (`content-type: application/json`) and extra
// headers.
struct HttpError {
  int status = 500;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// HTTP: a Flower error becomes the catalogue's HTTP status with Starlette's JSONResponse
// bytes of `{"code":C,"detail":M}` plus `,"extra":D` when there are public details (compact
// separators, UTF-8 unescaped), and the catalogue's extra header if any. A Flower code outside
// the catalogue gives 500 `{"detail":"Internal server error."}`. Another error gives
// `{"detail":message}` with InvalidArgument 400, NotFound 404, FailedPrecondition 412,
// PermissionDenied 403, Unauthenticated 401, ResourceExhausted 413, Unimplemented 501,
// Unavailable 503, anything else 500 (see above for server faults). `status` must not be OK
// (it is treated as Internal). Text that is not valid UTF-8 is sent with U+FFFD
// replacements.
HttpError ToHttpError(const absl::Status& status);

// Inverse of ToHttpError for a peer's non-2xx response: a body that `FlowerError.from_json`
// accepts (either key style) becomes a Flower error (canonical code from the catalogue,
// else from the HTTP status); `{"detail": "<text>"}` becomes that text with the code that
// `http_status` maps back to (400 InvalidArgument, 401 Unauthenticated, 403
// PermissionDenied, 404 NotFound, 405 Unimplemented, 409 AlreadyExists, 412
// FailedPrecondition, 413/429 ResourceExhausted, 415 InvalidArgument, 501 Unimplemented,
// 503 Unavailable, 504 DeadlineExceeded, other 4xx InvalidArgument, else Internal); any
// other body becomes "HTTP <status>: <up to 1 KiB of body>" with that code.
absl::Status FromHttpError(int http_status, absl::string_view body);

}  // namespace flwr::core

#endif  // FLWR_CORE_WIRE_ERRORS_H_
