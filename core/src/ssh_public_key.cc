#include "flwr/core/ssh_public_key.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <iterator>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "openssh_internal.h"

namespace flwr::core {
namespace {

using openssh_internal::DecodeBase64Lenient;
using openssh_internal::SshReader;

// The key types of cryptography's _KEY_FORMATS that are not Ed25519.
constexpr absl::string_view kOtherKeyTypes[] = {"ssh-rsa",
                                                "ssh-dss",
                                                "ecdsa-sha2-nistp256",
                                                "ecdsa-sha2-nistp384",
                                                "ecdsa-sha2-nistp521",
                                                "sk-ecdsa-sha2-nistp256@openssh.com"};

// Python's bytes regex `\S`: anything but ASCII whitespace.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

absl::StatusOr<SshPublicKey> ParseSshPublicKey(absl::string_view line) {
  // _SSH_PUBKEY_RC: \A(\S+)[ \t]+(\S+)
  size_t i = 0;
  while (i < line.size() && !IsSpace(line[i])) ++i;
  const absl::string_view key_type = line.substr(0, i);
  size_t body_start = i;
  while (body_start < line.size() && (line[body_start] == ' ' || line[body_start] == '\t')) {
    ++body_start;
  }
  size_t body_end = body_start;
  while (body_end < line.size() && !IsSpace(line[body_end])) ++body_end;
  if (key_type.empty() || body_start == i || body_end == body_start) {
    return absl::InvalidArgumentError("Invalid line format");
  }
  if (absl::EndsWith(key_type, "-cert-v01@openssh.com")) {
    return absl::InvalidArgumentError("SSH certificates are not supported");
  }
  const bool ed25519 = key_type == "ssh-ed25519" || key_type == "sk-ssh-ed25519@openssh.com";
  if (!ed25519 && std::find(std::begin(kOtherKeyTypes), std::end(kOtherKeyTypes), key_type) ==
                      std::end(kOtherKeyTypes)) {
    return absl::InvalidArgumentError(absl::StrCat("Unsupported key type: ", key_type));
  }
  std::string blob;
  if (!DecodeBase64Lenient(line.substr(body_start, body_end - body_start), &blob)) {
    return absl::InvalidArgumentError("Invalid format");
  }
  SshReader reader(blob);
  absl::string_view inner_type;
  if (!reader.String(&inner_type) || inner_type != key_type) {
    return absl::InvalidArgumentError("Invalid key format");
  }
  SshPublicKey key{.key_type = std::string(key_type)};
  if (!ed25519) return key;
  absl::string_view point, application;
  if (!reader.String(&point) || (key_type != "ssh-ed25519" && !reader.String(&application))) {
    return absl::InvalidArgumentError("Invalid key format");
  }
  // load_application: a FIDO key's application starts with "ssh:".
  if (key_type != "ssh-ed25519" && !absl::StartsWith(application, "ssh:")) {
    return absl::InvalidArgumentError("Invalid application");
  }
  if (point.size() != kEd25519KeySize) {
    return absl::InvalidArgumentError("An Ed25519 public key is 32 bytes long");
  }
  if (!reader.rest().empty()) return absl::InvalidArgumentError("Unexpected extra data after key");
  key.ed25519 = std::string(point);
  return key;
}

bool VerifyEd25519(absl::string_view public_key, absl::string_view message,
                   absl::string_view signature) {
  if (public_key.size() != kEd25519KeySize) return false;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                  reinterpret_cast<const unsigned char*>(public_key.data()),
                                  public_key.size()),
      &EVP_PKEY_free);
  if (pkey == nullptr) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) {
    return false;
  }
  const bool valid =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) == 1;
  ERR_clear_error();
  return valid;
}

}  // namespace flwr::core
