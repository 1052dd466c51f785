// SuperNode authentication on the Fleet API, as the pinned Flower does it.
//
// Every Fleet call of a grpc-rere SuperNode carries three metadata entries
// (flwr/client/grpc_rere_client/node_auth_client_interceptor.py):
//   flwr-public-key-bin  the node's EC public key, PEM SubjectPublicKeyInfo bytes;
//   flwr-timestamp       `datetime.now(UTC).isoformat()` (see iso_time.h);
//   flwr-signature-bin   ECDSA-SHA256 over the ASCII timestamp, a DER signature.
// The SuperLink checks them (flwr/server/superlink/fleet/grpc_rere/
// node_auth_server_interceptor.py) before every Fleet rpc: CheckSignedRequest below.
// Over HTTP (Flower 1.42, flwr/supernode/node_auth_http_interceptor.py) the same values travel
// as headers with the key and signature base64-encoded: flwr-public-key, flwr-timestamp,
// flwr-signature.
//
// Keys are EC keys on the curves Python's `cryptography` supports; a SuperNode without a key
// file generates a SECP384R1 key. All functions are thread-safe; a NodeKey is immutable.
#ifndef FLWR_CORE_NODE_AUTH_H_
#define FLWR_CORE_NODE_AUTH_H_

#include <openssl/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace flwr::core {

// Metadata keys (flwr.common.constant PUBLIC_KEY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER).
inline constexpr absl::string_view kPublicKeyHeader = "flwr-public-key-bin";
inline constexpr absl::string_view kTimestampHeader = "flwr-timestamp";
inline constexpr absl::string_view kSignatureHeader = "flwr-signature-bin";
// HTTP header names (flwr.supercore.constant FLEET_HTTP_PUBLIC_KEY_HEADER,
// FLEET_HTTP_SIGNATURE_HEADER); the timestamp header is kTimestampHeader.
inline constexpr absl::string_view kHttpPublicKeyHeader = "flwr-public-key";
inline constexpr absl::string_view kHttpSignatureHeader = "flwr-signature";

// A request is fresh when kMinTimestampDiff < now - timestamp < kMaxTimestampDiff, both bounds
// excluded (SYSTEM_TIME_TOLERANCE = 5 s, TIMESTAMP_TOLERANCE = 300 s).
inline constexpr absl::Duration kMinTimestampDiff = absl::Seconds(-5);
inline constexpr absl::Duration kMaxTimestampDiff = absl::Seconds(305);

// The plain-text details of the SuperLink's UNAUTHENTICATED replies.
inline constexpr absl::string_view kMissingAuthMetadataMessage = "Missing authentication metadata";
inline constexpr absl::string_view kInvalidSignatureMessage = "Invalid signature";
inline constexpr absl::string_view kInvalidTimestampMessage = "Invalid timestamp";
// Sent by the Fleet handler (not CheckSignedRequest) when the request's node ID is not the one
// registered for the public key; RegisterNode and ActivateNode are exempt.
inline constexpr absl::string_view kInvalidNodeIdMessage = "Invalid node ID";
// The detail grpcio sends, with status UNKNOWN, when the stock interceptor raises instead of
// aborting: a public key `cryptography` cannot load or that is not an EC key, a timestamp that
// is not ASCII, or one that `datetime.fromisoformat` rejects or reads as naive.
inline constexpr absl::string_view kServiceHandlerErrorMessage = "Error in service handler!";

// An EC private key with its public key.
class NodeKey {
 public:
  // Generates a fresh SECP384R1 key, as flwr's `generate_key_pairs()` does for a SuperNode
  // started without `--auth-supernode-private-key`.
  static absl::StatusOr<NodeKey> Generate();

  // Loads an unencrypted PEM private key as flwr's `bytes_to_private_key()`
  // (`load_pem_private_key(data, password=None)`) does, restricted to EC keys: PKCS#8
  // ("BEGIN PRIVATE KEY") or SEC1 ("BEGIN EC PRIVATE KEY") on a named curve that `cryptography`
  // supports. Returns InvalidArgument otherwise (including encrypted keys). Note: the stock
  // SuperNode's `--auth-supernode-private-key` does NOT accept this format; see
  // FromOpenSshPrivateKey.
  static absl::StatusOr<NodeKey> FromPrivateKeyPem(absl::string_view pem);

  // Loads a private key file as the stock SuperNode's `--auth-supernode-private-key` does
  // (`load_ssh_private_key(data, password=None)`, then "must be an EC key"): the OpenSSH format
  // ("-----BEGIN OPENSSH PRIVATE KEY-----", as `ssh-keygen -t ecdsa` writes it), unencrypted,
  // key type ecdsa-sha2-nistp256, -nistp384 or -nistp521. Returns InvalidArgument for anything
  // else, where the stock SuperNode exits with "Unable to parse the private key file." (or, for
  // an encrypted key, a TypeError).
  static absl::StatusOr<NodeKey> FromOpenSshPrivateKey(absl::string_view text);

  // The public key as PEM SubjectPublicKeyInfo, byte-identical to flwr's
  // `public_key_to_bytes()`: named curve, uncompressed point, 64-column base64, trailing "\n".
  // This is the `flwr-public-key-bin` value and the key the SuperLink stores.
  const std::string& PublicKeyPem() const { return public_key_pem_; }

  // The private key as unencrypted PKCS#8 PEM, byte-identical to flwr's
  // `private_key_to_bytes()`. Loadable with FromPrivateKeyPem.
  std::string PrivateKeyPem() const;

  // The curve's OpenSSL short name, as `cryptography`'s `curve.name`: "secp384r1", "prime256v1"
  // (SECP256R1), "secp521r1", ...
  const std::string& CurveName() const { return curve_name_; }

  // ECDSA-SHA256 signature of `data`, DER-encoded, as flwr's `sign_message()`
  // (`private_key.sign(data, ec.ECDSA(hashes.SHA256()))`). Randomized: two calls give different
  // signatures that both verify. Returns Internal only if OpenSSL fails.
  absl::StatusOr<std::string> Sign(absl::string_view data) const;

 private:
  NodeKey(std::shared_ptr<EVP_PKEY> pkey, std::string curve_name, std::string public_key_pem);
  static absl::StatusOr<NodeKey> FromPkey(std::shared_ptr<EVP_PKEY> pkey);

  std::shared_ptr<EVP_PKEY> pkey_;
  std::string curve_name_;
  std::string public_key_pem_;
};

// Verifies `signature_der` over `data` with the PEM SubjectPublicKeyInfo `public_key_pem`, as
// flwr's `bytes_to_public_key()` followed by `verify_signature()`. Returns InvalidArgument if the
// key cannot be loaded, is not an EC key, or is on a curve `cryptography` does not support (the
// cases where flwr raises instead of returning False), and Unauthenticated if the signature does
// not verify (flwr: False), including a signature that is not well-formed, canonical DER.
absl::Status VerifyNodeSignature(absl::string_view public_key_pem, absl::string_view data,
                                 absl::string_view signature_der);

// The checks of the stock NodeAuthServerInterceptor, in its order, on the values of the three
// metadata entries (pass "" for an entry that is absent, empty or given more than once: flwr
// treats all three as missing). `now` is the SuperLink's clock; it is floored to microseconds as
// Python's `now()` is. Returns:
//   Unauthenticated(kMissingAuthMetadataMessage)  if any of the three is empty;
//   Unknown(kServiceHandlerErrorMessage)           if the key is invalid (see
//                                                  VerifyNodeSignature) or not EC, or the
//                                                  timestamp is not ASCII;
//   Unauthenticated(kInvalidSignatureMessage)      if the signature does not verify over the
//                                                  timestamp's bytes;
//   Unknown(kServiceHandlerErrorMessage)           if ParseIsoTime(timestamp) fails;
//   Unauthenticated(kInvalidTimestampMessage)      unless kMinTimestampDiff < now - timestamp <
//                                                  kMaxTimestampDiff;
//   OK                                             otherwise.
// A gRPC server should reply with the returned code and message as the status detail.
absl::Status CheckSignedRequest(absl::string_view public_key_pem, absl::string_view timestamp,
                                absl::string_view signature_der, absl::Time now);

// The three metadata values a SuperNode attaches to one Fleet call.
struct SignedRequestMetadata {
  std::string public_key_pem;  // kPublicKeyHeader
  std::string timestamp;       // kTimestampHeader
  std::string signature;       // kSignatureHeader
};

// What the stock NodeAuthClientInterceptor attaches to a call made at `now`: the key's PEM,
// FormatIsoUtc(now) and the signature of that timestamp. Returns Internal only if signing fails.
absl::StatusOr<SignedRequestMetadata> SignRequest(const NodeKey& key, absl::Time now);

// The public-key check of the Control API's RegisterNode (`flwr supernode register`):
// `bytes_to_public_key()` then `uses_nist_ec_curve()`. Returns OK for a PEM SubjectPublicKeyInfo
// EC key on SECP192R1, SECP224R1, SECP256R1, SECP384R1 or SECP521R1, and InvalidArgument
// otherwise; stock Flower answers the latter with API error PUBLIC_KEY_NOT_VALID (22,
// FAILED_PRECONDITION, "The provided public key is not valid."). Unlike stock, a key on a curve
// `cryptography` cannot load gets the same answer (stock: an internal error).
absl::Status CheckNistEcPublicKey(absl::string_view public_key_pem);

}  // namespace flwr::core

#endif  // FLWR_CORE_NODE_AUTH_H_
