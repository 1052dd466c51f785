// What the OpenSSH key formats share, as `cryptography` reads them
// (cryptography/hazmat/primitives/serialization/ssh.py): the lenient base64 of their text and the
// length-prefixed strings of their binary blobs. Private to flwr::supercore (node_auth.cc reads
// private keys, ssh_public_key.cc public keys).
#ifndef FLWR_CORE_SRC_OPENSSH_INTERNAL_H_
#define FLWR_CORE_SRC_OPENSSH_INTERNAL_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace flwr::core::openssh_internal {

// binascii.a2b_base64 in its default, non-strict mode: characters outside the alphabet are
// skipped and a complete padding ends the input.
inline bool DecodeBase64Lenient(absl::string_view text, std::string* out) {
  out->clear();
  int quad_pos = 0, pads = 0;
  uint32_t left = 0;
  for (char ch : text) {
    if (ch == '=') {
      if (quad_pos >= 2 && quad_pos + ++pads >= 4) return true;
      continue;
    }
    int v;
    if (ch >= 'A' && ch <= 'Z') {
      v = ch - 'A';
    } else if (ch >= 'a' && ch <= 'z') {
      v = ch - 'a' + 26;
    } else if (ch >= '0' && ch <= '9') {
      v = ch - '0' + 52;
    } else if (ch == '+') {
      v = 62;
    } else if (ch == '/') {
      v = 63;
    } else {
      continue;
    }
    switch (quad_pos) {
      case 0:
        quad_pos = 1;
        left = v;
        break;
      case 1:
        quad_pos = 2;
        out->push_back(static_cast<char>((left << 2) | (v >> 4)));
        left = v & 0x0f;
        break;
      case 2:
        quad_pos = 3;
        out->push_back(static_cast<char>((left << 4) | (v >> 2)));
        left = v & 0x03;
        break;
      default:
        quad_pos = 0;
        out->push_back(static_cast<char>((left << 6) | v));
        left = 0;
        break;
    }
  }
  return quad_pos == 0;
}

class SshReader {
 public:
  explicit SshReader(absl::string_view data) : data_(data) {}
  bool U32(uint32_t* value) {
    if (data_.size() < 4) return false;
    const auto* b = reinterpret_cast<const unsigned char*>(data_.data());
    *value = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
    data_.remove_prefix(4);
    return true;
  }
  bool String(absl::string_view* value) {
    uint32_t n = 0;
    if (!U32(&n) || n > data_.size()) return false;
    *value = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }
  absl::string_view rest() const { return data_; }

 private:
  absl::string_view data_;
};

}  // namespace flwr::core::openssh_internal

#endif  // FLWR_CORE_SRC_OPENSSH_INTERNAL_H_
