// SHA-256 (OpenSSL), the hash behind Flower's content-addressed object IDs.
#ifndef FLWR_CORE_SHA256_H_
#define FLWR_CORE_SHA256_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace flwr::core {

// Returns the lowercase hex SHA-256 of the concatenation of `pieces`, as Python's
// `hashlib.sha256(b"".join(pieces)).hexdigest()`. Thread-safe.
std::string Sha256Hex(absl::Span<const absl::string_view> pieces);

inline std::string Sha256Hex(absl::string_view bytes) {
  return Sha256Hex(absl::Span<const absl::string_view>(&bytes, 1));
}

}  // namespace flwr::core

#endif  // FLWR_CORE_SHA256_H_
