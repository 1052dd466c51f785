#include "flwr/core/sha256.h"

// OpenSSL 3 deprecates its low-level digest API in favour of EVP, but the EVP path loads and
// initialises the provider machinery (about 2 MB in every process that hashes an object);
// the low-level functions run the same assembly without it.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <array>

namespace flwr::core {

std::string Sha256Hex(absl::Span<const absl::string_view> pieces) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  for (absl::string_view piece : pieces) SHA256_Update(&ctx, piece.data(), piece.size());
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256_Final(digest.data(), &ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * digest.size(), '0');
  for (size_t i = 0; i < digest.size(); ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xF];
  }
  return out;
}

}  // namespace flwr::core
