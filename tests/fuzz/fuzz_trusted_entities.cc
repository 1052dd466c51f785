// libFuzzer target for the SuperNode's FAB verification (`--trusted-entities`,
// supernode/trusted_entities.h, core/ssh_public_key.h): the YAML file a user gives, the OpenSSH
// public key lines in it, and the verification records a SuperLink sends with a FAB.
//
// Input: fields separated by kFieldSeparator: the trusted-entities YAML text, the FAB's content,
// then its verification records, one "key<TAB>value" per line (missing fields are empty).
//
// Invariants:
//  - LoadTrustedEntities returns its entities or InvalidArgument (never crashes, never another
//    code); every loaded key is a raw 32-byte Ed25519 key;
//  - ParseSshPublicKey returns OK or InvalidArgument, and an Ed25519 key it reads is 32 bytes;
//  - FabMessageToSign is 8 + 32 bytes;
//  - VerifyFab says kNoLicense exactly when the records hold no non-empty "valid_license", and
//    kVerified only when some trusted key's record holds an Ed25519 signature that verifies.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "flwr/core/ssh_public_key.h"
#include "flwr/proto/fab.pb.h"
#include "flwr/supernode/trusted_entities.h"
#include "fuzz_util.h"

namespace {

using flwr::fuzz::Show;

constexpr absl::string_view kFieldSeparator = "\n~field~\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<absl::string_view> fields = absl::StrSplit(input, kFieldSeparator);
  fields.resize(3);
  const absl::string_view yaml = fields[0], content = fields[1], records = fields[2];

  // The file as a user would give it (relative: the target runs in its own work directory).
  const std::string path = "trusted-entities.yaml";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(yaml.data(), static_cast<std::streamsize>(yaml.size()));
  }
  absl::StatusOr<flwr::supernode::TrustedEntities> trusted =
      flwr::supernode::LoadTrustedEntities(path);
  if (trusted.ok()) {
    for (const auto& [id, key] : *trusted) {
      FUZZ_CHECK(key.size() == flwr::core::kEd25519KeySize,
                 "entity " + Show(id) + " has a key of " + std::to_string(key.size()) + " bytes");
    }
  } else {
    FUZZ_CHECK(trusted.status().code() == absl::StatusCode::kInvalidArgument,
               trusted.status().ToString());
  }

  for (absl::string_view line : absl::StrSplit(yaml, '\n')) {
    absl::StatusOr<flwr::core::SshPublicKey> key = flwr::core::ParseSshPublicKey(line);
    if (!key.ok()) {
      FUZZ_CHECK(key.status().code() == absl::StatusCode::kInvalidArgument,
                 key.status().ToString());
    } else if (key->is_ed25519()) {
      FUZZ_CHECK(key->ed25519.size() == flwr::core::kEd25519KeySize, Show(line));
    }
  }

  FUZZ_CHECK(flwr::supernode::FabMessageToSign(content, size).size() == 8 + 32,
             "message to sign of the wrong size");

  flwr::proto::Fab fab;
  fab.set_content(std::string(content));
  for (absl::string_view line : absl::StrSplit(records, '\n')) {
    std::vector<absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits('\t', 1));
    if (kv.size() == 2) (*fab.mutable_verifications())[std::string(kv[0])] = std::string(kv[1]);
  }
  const auto license = fab.verifications().find(std::string(flwr::supernode::kValidLicenseKey));
  const bool licensed = license != fab.verifications().end() && !license->second.empty();
  const flwr::supernode::TrustedEntities no_entities;
  const flwr::supernode::FabVerification result =
      flwr::supernode::VerifyFab(fab, trusted.ok() ? *trusted : no_entities);
  FUZZ_CHECK((result == flwr::supernode::FabVerification::kNoLicense) == !licensed,
             "license verdict differs from the records");
  if (result == flwr::supernode::FabVerification::kVerified) {
    FUZZ_CHECK(trusted.ok() && !trusted->empty(), "verified without a trusted entity");
  }
  return 0;
}
