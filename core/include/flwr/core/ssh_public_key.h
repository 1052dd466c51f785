// OpenSSH one-line public keys ("ssh-ed25519 AAAA... comment"), as `cryptography`'s
// `load_ssh_public_key` reads them, and Ed25519 signatures: how the stock SuperNode's
// `--trusted-entities` names the keys that may sign a FAB (flwr/supernode/cli/
// flower_supernode.py, flwr/supercore/primitives/asymmetric_ed25519.py). Thread-safe.
#ifndef FLWR_CORE_SSH_PUBLIC_KEY_H_
#define FLWR_CORE_SSH_PUBLIC_KEY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace flwr::core {

inline constexpr size_t kEd25519KeySize = 32;

struct SshPublicKey {
  // The line's key type: "ssh-ed25519", "ecdsa-sha2-nistp384", "ssh-rsa", ...
  std::string key_type;
  // The raw 32-byte public key of an Ed25519 key ("ssh-ed25519", "sk-ssh-ed25519@openssh.com");
  // empty for the other key types.
  std::string ed25519;

  bool is_ed25519() const { return !ed25519.empty(); }
};

// Reads `line` as `load_ssh_public_key(line)`: "<key type> <base64 blob>[ <comment>]", the blob
// (binascii's lenient base64) starting with the same key type. Ed25519 blobs are read in full
// (the 32-byte key, nothing after it); for the other types `cryptography` knows (RSA, DSA, ECDSA,
// sk-ECDSA) only the key type inside the blob is checked. Returns InvalidArgument where
// `cryptography` raises: a malformed line or blob, an unknown key type, and SSH certificates
// (which `cryptography` reads; this runtime does not).
absl::StatusOr<SshPublicKey> ParseSshPublicKey(absl::string_view line);

// Whether `signature` is a valid Ed25519 signature of `message` under the raw 32-byte
// `public_key`, as `Ed25519PublicKey.verify` (a signature of the wrong length is invalid).
bool VerifyEd25519(absl::string_view public_key, absl::string_view message,
                   absl::string_view signature);

}  // namespace flwr::core

#endif  // FLWR_CORE_SSH_PUBLIC_KEY_H_
