#include "flwr/supernode/trusted_entities.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/file_util.h"
#include "flwr/core/sha256.h"
#include "flwr/core/ssh_public_key.h"
#include "nlohmann/json.hpp"

namespace flwr::supernode {

absl::StatusOr<TrustedEntities> LoadTrustedEntities(const std::string& path) {
  const std::string expanded = core::ExpandUser(path);
  std::error_code error;
  if (!std::filesystem::is_regular_file(expanded, error)) {
    return absl::InvalidArgumentError(
        "Path argument `--trusted-entities` does not point to a file.");
  }
  const std::string read_failed = absl::StrCat("Failed to read YAML file '", expanded, "': ");
  YAML::Node document;
  try {
    document = YAML::LoadFile(expanded);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(read_failed, e.what()));
  }
  if (!document.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(read_failed, "Invalid trusted entities format."));
  }
  TrustedEntities trusted;
  for (const auto& entry : document) {
    if (!entry.first.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(read_failed, "found unhashable key"));
    }
    const std::string id = entry.first.Scalar();
    absl::StatusOr<core::SshPublicKey> key =
        entry.second.IsScalar()
            ? core::ParseSshPublicKey(entry.second.Scalar())
            : absl::InvalidArgumentError("the value is not an OpenSSH public key line");
    if (!key.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Failed to load the public key of trusted entity ", id, ": ", key.status().message()));
    }
    if (!key->is_ed25519()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "The provided public key associated with trusted entity ", id, " is not Ed25519."));
    }
    trusted[id] = std::move(key->ed25519);
  }
  return trusted;
}

std::string FabMessageToSign(absl::string_view content, uint64_t signed_at) {
  std::string message(8, '\0');
  for (int i = 7; i >= 0; --i, signed_at >>= 8) message[i] = static_cast<char>(signed_at & 0xff);
  absl::StrAppend(&message, absl::HexStringToBytes(core::Sha256Hex(content)));
  return message;
}

namespace {

// One verification record, '{"signature": "<base64url>", "signed_at": <int>}', checked
// against `public_key`.
bool RecordVerifies(absl::string_view content, const std::string& record,
                    absl::string_view public_key) {
  const nlohmann::json json = nlohmann::json::parse(record, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return false;
  auto signed_at = json.find("signed_at");
  auto signature = json.find("signature");
  if (signed_at == json.end() || !signed_at->is_number_unsigned() || signature == json.end() ||
      !signature->is_string()) {
    return false;
  }
  std::string signature_bytes;
  if (!absl::WebSafeBase64Unescape(signature->get<std::string>(), &signature_bytes)) return false;
  return core::VerifyEd25519(public_key, FabMessageToSign(content, signed_at->get<uint64_t>()),
                             signature_bytes);
}

}  // namespace

FabVerification VerifyFab(const proto::Fab& fab, const TrustedEntities& trusted) {
  auto license = fab.verifications().find(std::string(kValidLicenseKey));
  if (license == fab.verifications().end() || license->second.empty()) {
    return FabVerification::kNoLicense;
  }
  for (const auto& [id, record] : fab.verifications()) {
    if (id == kValidLicenseKey) continue;
    auto key = trusted.find(id);
    if (key != trusted.end() && RecordVerifies(fab.content(), record, key->second)) {
      return FabVerification::kVerified;
    }
  }
  return FabVerification::kUnverified;
}

}  // namespace flwr::supernode
