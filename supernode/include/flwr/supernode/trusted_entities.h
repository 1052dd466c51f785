// The stock SuperNode's `--trusted-entities` (flwr/supernode/cli/flower_supernode.py,
// flwr/supernode/start_client_internal.py `_verify_fab`): a YAML file mapping public key IDs to
// OpenSSH Ed25519 public keys; with it, the SuperNode runs only FABs that one of these keys
// signed.
//
// Where signatures come from: a SuperLink that fetched the FAB from Flower Hub (`flwr run
// @account/app`) stores the Hub's verification records with it, one per signing key:
//   verifications[<public key ID>] = '{"signature": <base64url Ed25519>, "signed_at": <int>}'
// plus verifications["valid_license"] = "Valid" (or "" when the Hub sent none). The signature
// covers FabMessageToSign(content, signed_at).
#ifndef FLWR_SUPERNODE_TRUSTED_ENTITIES_H_
#define FLWR_SUPERNODE_TRUSTED_ENTITIES_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flwr/proto/fab.pb.h"

namespace flwr::supernode {

// Public key ID -> its raw 32-byte Ed25519 public key.
using TrustedEntities = absl::flat_hash_map<std::string, std::string>;

// The verification key the SuperLink sets when it got the FAB from Flower Hub.
inline constexpr absl::string_view kValidLicenseKey = "valid_license";

// Reads `--trusted-entities PATH` as the stock `_try_obtain_trusted_entities` and
// `_validate_public_keys_ed25519` do. Returns InvalidArgument with the message the stock
// SuperNode exits with (flwr_exit code 304, exit_code::kSupernodeInvalidTrustedEntities):
//   "Path argument `--trusted-entities` does not point to a file."
//   "Failed to read YAML file '<path>': <parser error>" (also "Invalid trusted entities
//   format." when the document is not a mapping)
//   "The provided public key associated with trusted entity <id> is not Ed25519."
// and, where the stock SuperNode crashes with a traceback (a value that is not an OpenSSH
// public key line), "Failed to load the public key of trusted entity <id>: <reason>".
// An empty mapping is valid and turns verification off, as in stock.
absl::StatusOr<TrustedEntities> LoadTrustedEntities(const std::string& path);

// What an Ed25519 FAB signature covers (flwr's create_message_to_sign): `signed_at` as 8 bytes
// big-endian, then the 32-byte SHA-256 of the FAB's content.
std::string FabMessageToSign(absl::string_view content, uint64_t signed_at);

enum class FabVerification {
  kVerified,
  // No (or an empty) "valid_license": the SuperLink does not do app verification.
  kNoLicense,
  // No record signed by a trusted key verifies.
  kUnverified,
};

// The stock SuperNode's check of a run's FAB when trusted entities are given (not empty): the
// license, then `_verify_fab`: verified when the record of at least one trusted key ID holds a
// valid signature of FabMessageToSign(content, signed_at). A record that is not the JSON object
// stock reads (where stock raises) counts as not verifying.
FabVerification VerifyFab(const proto::Fab& fab, const TrustedEntities& trusted);

}  // namespace flwr::supernode

#endif  // FLWR_SUPERNODE_TRUSTED_ENTITIES_H_
