#include "flwr/core/superexec_auth.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "flwr/core/ids.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/sha256.h"

namespace flwr::core {
namespace {

// HMAC-SHA256(key, data), raw bytes.
std::string HmacSha256(absl::string_view key, absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> SuperExecAuthHeaders(
    absl::string_view master_secret, absl::string_view method,
    const google::protobuf::MessageLite& request, int64_t timestamp, absl::string_view nonce) {
  const std::string body_sha256 = Sha256Hex(SerializeDeterministic(request));
  const std::string auth_secret = HmacSha256(master_secret, "superexec-auth-v1");
  const std::string canonical = absl::StrCat("method=", method, "\nts=", timestamp,
                                             "\nnonce=", nonce, "\nbody_sha256=", body_sha256);
  return {{"flwr-superexec-ts", absl::StrCat(timestamp)},
          {"flwr-superexec-nonce", std::string(nonce)},
          {"flwr-superexec-body-sha256", body_sha256},
          {"flwr-superexec-signature", absl::BytesToHexString(HmacSha256(auth_secret, canonical))}};
}

std::vector<std::pair<std::string, std::string>> SuperExecAuthHeaders(
    absl::string_view master_secret, absl::string_view method,
    const google::protobuf::MessageLite& request) {
  return SuperExecAuthHeaders(master_secret, method, request, absl::ToUnixSeconds(absl::Now()),
                              RandomHex(16));
}

}  // namespace flwr::core
