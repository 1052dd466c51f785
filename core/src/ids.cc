#include "flwr/core/ids.h"

#include <openssl/rand.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"

namespace flwr::core {
namespace {

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  // RAND_bytes fails only when the OS has no entropy source at all.
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::abort();
  }
  return out;
}

}  // namespace

uint64_t RandomId() {
  std::string bytes = RandomBytes(8);
  uint64_t v;
  std::memcpy(&v, bytes.data(), sizeof(v));
  return v;
}

std::string RandomHex(size_t n) { return absl::BytesToHexString(RandomBytes(n)); }

std::string NewTaskToken() { return RandomHex(128); }

std::string NewUuid4() {
  std::string b = RandomBytes(16);
  b[6] = static_cast<char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3F) | 0x80);
  std::string hex = absl::BytesToHexString(b);
  return absl::StrFormat("%s-%s-%s-%s-%s", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4),
                         hex.substr(16, 4), hex.substr(20));
}

}  // namespace flwr::core
