#include "flwr/core/superexec_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "flwr/core/file_util.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/ids.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/sha256.h"

namespace flwr::core {
namespace {

constexpr absl::string_view kTimestampHeader = "flwr-superexec-ts";
constexpr absl::string_view kNonceHeader = "flwr-superexec-nonce";
constexpr absl::string_view kBodySha256Header = "flwr-superexec-body-sha256";
constexpr absl::string_view kSignatureHeader = "flwr-superexec-signature";
// Stock MIN/MAX_TIMESTAMP_DIFF_SECONDS: -SYSTEM_TIME_TOLERANCE, TIMESTAMP_TOLERANCE +
// SYSTEM_TIME_TOLERANCE.
constexpr double kMinTimestampDiffSeconds = -5;
constexpr int64_t kMaxTimestampDiffSeconds = 305;

// HMAC-SHA256(key, data), raw bytes.
std::string HmacSha256(absl::string_view key, absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string DeriveAuthSecret(absl::string_view master_secret) {
  return HmacSha256(master_secret, "superexec-auth-v1");
}

// compute_superexec_signature: lowercase hex.
std::string Signature(absl::string_view auth_secret, absl::string_view method, int64_t timestamp,
                      absl::string_view nonce, absl::string_view body_sha256) {
  return absl::BytesToHexString(
      HmacSha256(auth_secret, absl::StrCat("method=", method, "\nts=", timestamp, "\nnonce=", nonce,
                                           "\nbody_sha256=", body_sha256)));
}

// The value of header `name` if it came exactly once and is non-empty.
std::optional<absl::string_view> SingleHeader(
    const std::vector<std::pair<std::string, std::string>>& headers, absl::string_view name) {
  std::optional<absl::string_view> value;
  for (const auto& [key, v] : headers) {
    if (!absl::EqualsIgnoreCase(key, name)) continue;
    if (value.has_value()) return std::nullopt;
    value = v;
  }
  if (value.has_value() && value->empty()) return std::nullopt;
  return value;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> SuperExecAuthHeaders(
    absl::string_view master_secret, absl::string_view method,
    const google::protobuf::MessageLite& request, int64_t timestamp, absl::string_view nonce) {
  const std::string body_sha256 = Sha256Hex(SerializeDeterministic(request));
  return {{std::string(kTimestampHeader), absl::StrCat(timestamp)},
          {std::string(kNonceHeader), std::string(nonce)},
          {std::string(kBodySha256Header), body_sha256},
          {std::string(kSignatureHeader),
           Signature(DeriveAuthSecret(master_secret), method, timestamp, nonce, body_sha256)}};
}

std::vector<std::pair<std::string, std::string>> SuperExecAuthHeaders(
    absl::string_view master_secret, absl::string_view method,
    const google::protobuf::MessageLite& request) {
  return SuperExecAuthHeaders(master_secret, method, request, absl::ToUnixSeconds(absl::Now()),
                              RandomHex(16));
}

absl::StatusOr<std::string> LoadSuperExecAuthSecret(absl::string_view path) {
  const std::string expanded = ExpandUser(path);
  std::string secret;
  int error = 0;
  if (std::FILE* file = std::fopen(expanded.c_str(), "rb"); file == nullptr) {
    error = errno;
  } else {
    std::array<char, 4096> buffer;
    size_t n = 0;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), file)) > 0) {
      secret.append(buffer.data(), n);
    }
    if (std::ferror(file) != 0) error = errno;  // e.g. EISDIR: a directory opens, reads fail
    std::fclose(file);
  }
  if (error != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Failed to read SuperExec auth secret from file '", expanded, "': [Errno ",
                     error, "] ", std::strerror(error), ": '", expanded, "'"));
  }
  if (secret.empty()) return absl::InvalidArgumentError("SuperExec auth secret must not be empty");
  return secret;
}

SuperExecAuthVerifier::SuperExecAuthVerifier(absl::string_view master_secret)
    : auth_secret_(DeriveAuthSecret(master_secret)) {}

absl::Status SuperExecAuthVerifier::Verify(
    absl::string_view method, const google::protobuf::MessageLite& request,
    const std::vector<std::pair<std::string, std::string>>& headers, absl::Time now) {
  const absl::Status refused =
      FlowerError(api_error::kRuntimeAuthenticationFailed,
                  absl::StrCat("SuperExec authentication failed for ", method, "."));
  const std::optional<absl::string_view> timestamp_raw = SingleHeader(headers, kTimestampHeader);
  const std::optional<absl::string_view> nonce = SingleHeader(headers, kNonceHeader);
  const std::optional<absl::string_view> body_sha256 = SingleHeader(headers, kBodySha256Header);
  const std::optional<absl::string_view> signature = SingleHeader(headers, kSignatureHeader);
  if (!timestamp_raw || !nonce || !body_sha256 || !signature) return refused;

  int64_t timestamp = 0;
  if (!absl::SimpleAtoi(*timestamp_raw, &timestamp)) return refused;
  const double diff = absl::ToDoubleSeconds(now - absl::FromUnixSeconds(timestamp));
  if (!(kMinTimestampDiffSeconds < diff && diff < kMaxTimestampDiffSeconds)) return refused;

  const std::string actual_sha256 = Sha256Hex(SerializeDeterministic(request));
  if (actual_sha256 != *body_sha256) return refused;
  if (!ConstantTimeEquals(Signature(auth_secret_, method, timestamp, *nonce, actual_sha256),
                          *signature)) {
    return refused;
  }

  // The nonce last, so that failed requests cannot use nonces up (stock reserve_nonce).
  const int64_t now_seconds = absl::ToUnixSeconds(now);
  absl::MutexLock lock(&mutex_);
  for (auto it = nonces_.begin(); it != nonces_.end();) {
    if (it->second < now_seconds) {
      nonces_.erase(it++);
    } else {
      ++it;
    }
  }
  const std::string key = absl::StrCat(method, "\n", *nonce);
  if (!nonces_.try_emplace(key, timestamp + kMaxTimestampDiffSeconds).second) return refused;
  return absl::OkStatus();
}

}  // namespace flwr::core
