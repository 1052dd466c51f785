#include "flwr/core/node_auth.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/time/civil_time.h"
#include "flwr/core/iso_time.h"

namespace flwr::core {
namespace {

// Keys and a signature written by the pinned flwr's `cryptography` (and ssh-keygen), so that
// these tests pin the formats without running Python. One P-384 key in three encodings:
constexpr char kP384OpenSsh[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAiAAAABNlY2RzYS1zaGEy\n"
    "LW5pc3RwMzg0AAAACG5pc3RwMzg0AAAAYQSb/1Qi27umFvSQ7jHaBnHqXkLr7OaNfys8f+shbkzT\n"
    "6U72sqxYHIMSY+USrOZdxoCeSC/J2W7D1yV0FLpLPMz5miUpbJcN82ztLyqSlQAZJtofJ7xSXYJG\n"
    "mzo9R4CoOj8AAADQne1pK53taSsAAAATZWNkc2Etc2hhMi1uaXN0cDM4NAAAAAhuaXN0cDM4NAAA\n"
    "AGEEm/9UItu7phb0kO4x2gZx6l5C6+zmjX8rPH/rIW5M0+lO9rKsWByDEmPlEqzmXcaAnkgvydlu\n"
    "w9cldBS6SzzM+ZolKWyXDfNs7S8qkpUAGSbaHye8Ul2CRps6PUeAqDo/AAAAMGnKW74tK1lvyXqe\n"
    "M4R+Q66uWG9QKQIExuYLPDeIQXOpWyULB82qDCETG3vWAx+sAAAAAAABAgMEBQYHCA==\n"
    "-----END OPENSSH PRIVATE KEY-----\n";
constexpr char kP384Pkcs8[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDBpylu+LStZb8l6njOE\n"
    "fkOurlhvUCkCBMbmCzw3iEFzqVslCwfNqgwhExt71gMfrAChZANiAASb/1Qi27um\n"
    "FvSQ7jHaBnHqXkLr7OaNfys8f+shbkzT6U72sqxYHIMSY+USrOZdxoCeSC/J2W7D\n"
    "1yV0FLpLPMz5miUpbJcN82ztLyqSlQAZJtofJ7xSXYJGmzo9R4CoOj8=\n"
    "-----END PRIVATE KEY-----\n";
constexpr char kP384Public[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEm/9UItu7phb0kO4x2gZx6l5C6+zmjX8r\n"
    "PH/rIW5M0+lO9rKsWByDEmPlEqzmXcaAnkgvydluw9cldBS6SzzM+ZolKWyXDfNs\n"
    "7S8qkpUAGSbaHye8Ul2CRps6PUeAqDo/\n"
    "-----END PUBLIC KEY-----\n";
// `sign_message(key, TIMESTAMP.encode("ascii"))` with that key.
constexpr char kTimestamp[] = "2026-11-28T06:07:38.070698+00:00";
constexpr char kP384SignatureHex[] =
    "3066023100821b5f95acd75977960412d098fe4cb5a20b76c0f0077c6db3ee116ca6662c254e31ad13e5eb3573"
    "8ed0fd7b5af66d9d023100d23443b09fe58a323666d893887cf33e600ec4f9333bbbc5bf10893663d93ad0f53f"
    "ad4fd2cff54a40f469c0c3eeaa8f";

// One P-256 key: OpenSSH, SEC1 ("TraditionalOpenSSL"), and its public key.
constexpr char kP256OpenSsh[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAaAAAABNlY2RzYS1zaGEy\n"
    "LW5pc3RwMjU2AAAACG5pc3RwMjU2AAAAQQTAJOyUh35SDHXU3Cipdw+MVdauPWEhTZeeArxkkac8\n"
    "croy0oxkMMX1VwJduWeFzsDlPSIF2bXXS6fLhHkY2ybAAAAAoKMbuUSjG7lEAAAAE2VjZHNhLXNo\n"
    "YTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBMAk7JSHflIMddTcKKl3D4xV1q49YSFNl54CvGSR\n"
    "pzxyujLSjGQwxfVXAl25Z4XOwOU9IgXZtddLp8uEeRjbJsAAAAAga+10W6K2rO6Wx4ANIYlcoIoL\n"
    "PHH04zARBgCP8E3mLBUAAAAAAQIDBAUGBwg=\n"
    "-----END OPENSSH PRIVATE KEY-----\n";
constexpr char kP256Sec1[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIGvtdFuitqzulseADSGJXKCKCzxx9OMwEQYAj/BN5iwVoAoGCCqGSM49\n"
    "AwEHoUQDQgAEwCTslId+Ugx11NwoqXcPjFXWrj1hIU2XngK8ZJGnPHK6MtKMZDDF\n"
    "9VcCXblnhc7A5T0iBdm110uny4R5GNsmwA==\n"
    "-----END EC PRIVATE KEY-----\n";
constexpr char kP256Public[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwCTslId+Ugx11NwoqXcPjFXWrj1h\n"
    "IU2XngK8ZJGnPHK6MtKMZDDF9VcCXblnhc7A5T0iBdm110uny4R5GNsmwA==\n"
    "-----END PUBLIC KEY-----\n";
// The same public key with a compressed point (`cryptography` loads it too).
constexpr char kP256PublicCompressed[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MDkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDIgACwCTslId+Ugx11NwoqXcPjFXWrj1h\n"
    "IU2XngK8ZJGnPHI=\n"
    "-----END PUBLIC KEY-----\n";
// And with explicit curve parameters (`cryptography` refuses it).
constexpr char kP256PublicExplicit[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBSzCCAQMGByqGSM49AgEwgfcCAQEwLAYHKoZIzj0BAQIhAP////8AAAABAAAA\n"
    "AAAAAAAAAAAA////////////////MFsEIP////8AAAABAAAAAAAAAAAAAAAA////\n"
    "///////////8BCBaxjXYqjqT57PrvVV2mIa8ZR0GsMxTsPY7zjw+J9JgSwMVAMSd\n"
    "NgiG5wSTamZ44ROdJreBn36QBEEEaxfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5\n"
    "RdiYwpZP40Li/hp/m47n60p8D54WK84zV2sxXs7LtkBoN79R9QIhAP////8AAAAA\n"
    "//////////+85vqtpxeehPO5ysL8YyVRAgEBA0IABMAk7JSHflIMddTcKKl3D4xV\n"
    "1q49YSFNl54CvGSRpzxyujLSjGQwxfVXAl25Z4XOwOU9IgXZtddLp8uEeRjbJsA=\n"
    "-----END PUBLIC KEY-----\n";
// ssh-keygen -t ecdsa -b 256 -N pw
constexpr char kP256OpenSshEncrypted[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABB2d3Bok1\n"
    "O2reSRjQAWYFTKAAAAEAAAAAEAAABoAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlz\n"
    "dHAyNTYAAABBBA+/qDW6BceUXqpCwcdEgbCqKQTNsFSLNgiBLw0Te6oy0hfWMqQvu1+Sg1\n"
    "zKf7DM8HDnG0wk96FdJxnEY/uWj+QAAACgqFBhRpfTcyBiVm9HFEeZU9FOue2/HqFINQOp\n"
    "zqXA5HCdl56tC9nPn88nkzEw51KBCaj/ixY7+SVaGKrhfImmvI4x8iohjFjo/HavUgcffg\n"
    "lYAtNnM+eS9RR38YK/zu9YDh4zWRMxNl+N22wFy9QdhQi1oKNI3/aMEoWvk6127VDePpao\n"
    "6Wmdw7NbC4mffFVLCwpM+YVJkh5G/MFn68llGA==\n"
    "-----END OPENSSH PRIVATE KEY-----\n";
constexpr char kEd25519OpenSsh[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUx\n"
    "OQAAACAZzVh3z7l+xkwBsdUbBxqb/rFxrk7U7kG6C07MHyGPuAAAAIgpeqdWKXqnVgAAAAtzc2gt\n"
    "ZWQyNTUxOQAAACAZzVh3z7l+xkwBsdUbBxqb/rFxrk7U7kG6C07MHyGPuAAAAEDPiRg4s8vDDMF/\n"
    "zgjrtU9THW3bljxaGD7gDjeBPRnQ0hnNWHfPuX7GTAGx1RsHGpv+sXGuTtTuQboLTswfIY+4AAAA\n"
    "AAECAwQF\n"
    "-----END OPENSSH PRIVATE KEY-----\n";
constexpr char kEd25519Public[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAGc1Yd8+5fsZMAbHVGwcam/6xca5O1O5BugtOzB8hj7g=\n"
    "-----END PUBLIC KEY-----\n";
constexpr char kRsaPublic[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDAt7F5FrLmFMVXsxGEchY0TZN5\n"
    "OLVycN8Q1Yw/R0M8nolr4KBn7yFJirVx3IeYrq4JWo6BPKdvDEMUmUVZJtsyLT0C\n"
    "ypdYdRRTh10j4/PYjLwPwXV2dIRkBYWm9WJIXrKSCt0W2x+hOF8rq95hMCqDIpNh\n"
    "hDcPLsC5Y2AeB329ZQIDAQAB\n"
    "-----END PUBLIC KEY-----\n";
// A SECP256K1 key (supported by `cryptography`, but not a NIST curve) and its signature of
// kTimestamp.
constexpr char kK1Public[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEakvZm6bFY3YpboggMmIxA6qzOygVkOkW\n"
    "C6pu5ujioBon1F8MRstfAWwtR4jud1PaGdDQSwuGfoaGB45m8vjoHw==\n"
    "-----END PUBLIC KEY-----\n";
constexpr char kK1SignatureHex[] =
    "3045022100e221a6e13b0a2d5d36ed719dd173e927a6019ce6462fabab9ad8a938c05ca32002204f492771e3aa"
    "f82dd7b8d8ea00ce3c29b231cc46978b877fa99e67de58843115";

std::string Hex(absl::string_view hex) { return absl::HexStringToBytes(hex); }

absl::Time TimestampTime() { return *ParseIsoTime(kTimestamp); }

TEST(NodeKeyTest, generate_makes_a_secp384r1_key_in_pem_spki) {
  absl::StatusOr<NodeKey> key = NodeKey::Generate();
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->CurveName(), "secp384r1");
  const std::string& pem = key->PublicKeyPem();
  EXPECT_TRUE(absl::StartsWith(pem, "-----BEGIN PUBLIC KEY-----\nMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE"))
      << pem;
  EXPECT_TRUE(absl::EndsWith(pem, "\n-----END PUBLIC KEY-----\n"));
  EXPECT_EQ(pem.size(), std::string(kP384Public).size());
  EXPECT_NE(NodeKey::Generate()->PublicKeyPem(), pem);  // fresh every time
}

TEST(NodeKeyTest, openssh_pkcs8_and_public_pem_match_python) {
  absl::StatusOr<NodeKey> from_ssh = NodeKey::FromOpenSshPrivateKey(kP384OpenSsh);
  ASSERT_TRUE(from_ssh.ok()) << from_ssh.status();
  absl::StatusOr<NodeKey> from_pem = NodeKey::FromPrivateKeyPem(kP384Pkcs8);
  ASSERT_TRUE(from_pem.ok()) << from_pem.status();
  EXPECT_EQ(from_ssh->PublicKeyPem(), kP384Public);
  EXPECT_EQ(from_pem->PublicKeyPem(), kP384Public);
  EXPECT_EQ(from_ssh->PrivateKeyPem(), kP384Pkcs8);  // `private_key_to_bytes()`
  EXPECT_EQ(from_pem->PrivateKeyPem(), kP384Pkcs8);
}

TEST(NodeKeyTest, p256_keys_from_openssh_and_sec1) {
  absl::StatusOr<NodeKey> from_ssh = NodeKey::FromOpenSshPrivateKey(kP256OpenSsh);
  ASSERT_TRUE(from_ssh.ok()) << from_ssh.status();
  EXPECT_EQ(from_ssh->CurveName(), "prime256v1");
  EXPECT_EQ(from_ssh->PublicKeyPem(), kP256Public);
  absl::StatusOr<NodeKey> from_sec1 = NodeKey::FromPrivateKeyPem(kP256Sec1);
  ASSERT_TRUE(from_sec1.ok()) << from_sec1.status();
  EXPECT_EQ(from_sec1->PublicKeyPem(), kP256Public);
}

TEST(NodeKeyTest, private_pem_round_trips) {
  NodeKey key = *NodeKey::Generate();
  absl::StatusOr<NodeKey> again = NodeKey::FromPrivateKeyPem(key.PrivateKeyPem());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->PublicKeyPem(), key.PublicKeyPem());
}

TEST(NodeKeyTest, the_supernode_key_file_must_be_unencrypted_openssh_ecdsa) {
  // What `--auth-supernode-private-key` rejects: PEM formats, other key types, encryption.
  for (const char* text :
       {kP384Pkcs8, kP256Sec1, kEd25519OpenSsh, kP256OpenSshEncrypted, "",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n-----END OPENSSH PRIVATE KEY-----"}) {
    absl::StatusOr<NodeKey> key = NodeKey::FromOpenSshPrivateKey(text);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  // And the PEM loader takes no OpenSSH, public or garbage input.
  for (const char* text : {kP384OpenSsh, kP384Public, "", "garbage"}) {
    EXPECT_EQ(NodeKey::FromPrivateKeyPem(text).status().code(), absl::StatusCode::kInvalidArgument)
        << text;
  }
}

TEST(NodeKeyTest, corrupted_openssh_keys_are_rejected) {
  std::string blob;
  const std::string text(kP256OpenSsh);
  const size_t body = text.find('\n') + 1;
  const size_t end = text.find("-----END");
  ASSERT_TRUE(absl::Base64Unescape(absl::StrReplaceAll(text.substr(body, end - body), {{"\n", ""}}),
                                   &blob));
  auto reencode = [&](const std::string& b) {
    return "-----BEGIN OPENSSH PRIVATE KEY-----\n" + absl::Base64Escape(b) +
           "\n-----END OPENSSH PRIVATE KEY-----\n";
  };
  ASSERT_TRUE(NodeKey::FromOpenSshPrivateKey(reencode(blob)).ok());
  // The two check integers, the padding, and the private curve name.
  const size_t check = blob.find(std::string("\xa3\x1b\xb9\x44\xa3\x1b\xb9\x44", 8));
  ASSERT_NE(check, std::string::npos);
  std::string broken = blob;
  broken[check] ^= 1;
  EXPECT_FALSE(NodeKey::FromOpenSshPrivateKey(reencode(broken)).ok());
  broken = blob;
  broken[broken.size() - 1] ^= 1;
  EXPECT_FALSE(NodeKey::FromOpenSshPrivateKey(reencode(broken)).ok());
  broken = blob;
  broken.replace(broken.rfind("nistp256"), 8, "nistp384");
  EXPECT_FALSE(NodeKey::FromOpenSshPrivateKey(reencode(broken)).ok());
}

TEST(NodeKeyTest, sign_then_verify) {
  NodeKey key = *NodeKey::Generate();
  absl::StatusOr<std::string> sig = key.Sign(kTimestamp);
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_EQ((*sig)[0], '\x30');  // a DER SEQUENCE
  EXPECT_TRUE(VerifyNodeSignature(key.PublicKeyPem(), kTimestamp, *sig).ok());
  EXPECT_NE(*key.Sign(kTimestamp), *sig);  // randomized ECDSA
}

TEST(VerifyNodeSignatureTest, accepts_python_signatures) {
  EXPECT_TRUE(VerifyNodeSignature(kP384Public, kTimestamp, Hex(kP384SignatureHex)).ok());
  EXPECT_TRUE(VerifyNodeSignature(kK1Public, kTimestamp, Hex(kK1SignatureHex)).ok());
}

TEST(VerifyNodeSignatureTest, tampered_data_or_signature_is_unauthenticated) {
  const std::string sig = Hex(kP384SignatureHex);
  std::string data = kTimestamp;
  data[data.size() - 7] = '9';
  EXPECT_EQ(VerifyNodeSignature(kP384Public, data, sig).code(), absl::StatusCode::kUnauthenticated);
  for (size_t i : {size_t{0}, size_t{10}, sig.size() - 1}) {
    std::string bad = sig;
    bad[i] ^= 0x01;
    absl::Status status = VerifyNodeSignature(kP384Public, kTimestamp, bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << i;
    EXPECT_EQ(status.message(), kInvalidSignatureMessage);
  }
  for (std::string bad : {std::string(), std::string("garbage"), sig + std::string(1, '\0')}) {
    EXPECT_EQ(VerifyNodeSignature(kP384Public, kTimestamp, bad).code(),
              absl::StatusCode::kUnauthenticated);
  }
  // Another key's signature.
  EXPECT_EQ(VerifyNodeSignature(kP256Public, kTimestamp, sig).code(),
            absl::StatusCode::kUnauthenticated);
}

// Parsed keys are cached by their PEM bytes: a key that verified once still checks every later
// signature, and a bad key stays an error each time it is offered.
TEST(VerifyNodeSignatureTest, cached_keys_still_check_every_signature) {
  const std::string sig = Hex(kP384SignatureHex);
  std::string bad = sig;
  bad[12] ^= 0x01;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(VerifyNodeSignature(kP384Public, kTimestamp, sig).ok()) << i;
    EXPECT_EQ(VerifyNodeSignature(kP384Public, kTimestamp, bad).code(),
              absl::StatusCode::kUnauthenticated)
        << i;
    EXPECT_EQ(VerifyNodeSignature(kRsaPublic, kTimestamp, sig).code(),
              absl::StatusCode::kInvalidArgument)
        << i;
  }
}

TEST(VerifyNodeSignatureTest, unloadable_or_non_ec_keys_are_invalid_argument) {
  const std::string sig = Hex(kP384SignatureHex);
  for (const char* pem :
       {"", "garbage", kRsaPublic, kEd25519Public, kP256PublicExplicit, kP384Pkcs8,
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}) {
    EXPECT_EQ(VerifyNodeSignature(pem, kTimestamp, sig).code(), absl::StatusCode::kInvalidArgument)
        << pem;
  }
}

TEST(VerifyNodeSignatureTest, pem_framing_as_cryptography_reads_it) {
  const std::string pem = kP384Public;
  const std::string sig = Hex(kP384SignatureHex);
  auto verify = [&](const std::string& text) {
    return VerifyNodeSignature(text, kTimestamp, sig).code();
  };
  EXPECT_EQ(verify("leading text\n" + pem), absl::StatusCode::kOk);
  EXPECT_EQ(verify(pem + "trailing"), absl::StatusCode::kOk);
  EXPECT_EQ(verify(absl::StrReplaceAll(pem, {{"\n", "\r\n"}})), absl::StatusCode::kOk);
  EXPECT_EQ(verify(pem.substr(0, pem.size() - 1)), absl::StatusCode::kOk);
  // A blank line inside the body reads as a header block without "key: value".
  EXPECT_EQ(verify(absl::StrReplaceAll(pem, {{"ZIzj0CAQ", "ZIzj0CAQ\n\n"}})),
            absl::StatusCode::kInvalidArgument);
  // Mismatched labels, and a first block that is not a public key.
  EXPECT_EQ(verify(absl::StrReplaceAll(pem, {{"END PUBLIC", "END PRIVATE"}})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(verify(std::string(kP384Pkcs8) + pem), absl::StatusCode::kInvalidArgument);
}

TEST(VerifyNodeSignatureTest, compressed_points_load_and_reserialize_uncompressed) {
  NodeKey key = *NodeKey::FromOpenSshPrivateKey(kP256OpenSsh);
  const std::string sig = *key.Sign(kTimestamp);
  EXPECT_TRUE(VerifyNodeSignature(kP256PublicCompressed, kTimestamp, sig).ok());
}

TEST(CheckSignedRequestTest, accepts_a_fresh_python_request) {
  const absl::Time sent = TimestampTime();
  EXPECT_TRUE(
      CheckSignedRequest(kP384Public, kTimestamp, Hex(kP384SignatureHex), sent + absl::Seconds(1))
          .ok());
}

TEST(CheckSignedRequestTest, missing_metadata_comes_first) {
  const std::string sig = Hex(kP384SignatureHex);
  const absl::Time now = TimestampTime();
  for (auto [pem, ts, s] :
       {std::make_tuple("", kTimestamp, sig), std::make_tuple(kP384Public, "", sig),
        std::make_tuple(kP384Public, kTimestamp, std::string()),
        std::make_tuple("garbage", "", std::string("x"))}) {
    absl::Status status = CheckSignedRequest(pem, ts, s, now);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(status.message(), "Missing authentication metadata");
  }
}

TEST(CheckSignedRequestTest, signature_is_checked_before_the_timestamp) {
  const absl::Time long_after = TimestampTime() + absl::Hours(1);
  std::string sig = Hex(kP384SignatureHex);
  sig[20] ^= 1;
  absl::Status status = CheckSignedRequest(kP384Public, kTimestamp, sig, long_after);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(status.message(), "Invalid signature");
  status = CheckSignedRequest(kP384Public, kTimestamp, Hex(kP384SignatureHex), long_after);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(status.message(), "Invalid timestamp");
}

TEST(CheckSignedRequestTest, timestamp_window_is_open_at_both_ends) {
  const std::string sig = Hex(kP384SignatureHex);
  const absl::Time sent = TimestampTime();
  auto check = [&](absl::Duration after) {
    return CheckSignedRequest(kP384Public, kTimestamp, sig, sent + after).code();
  };
  constexpr auto kOk = absl::StatusCode::kOk;
  constexpr auto kBad = absl::StatusCode::kUnauthenticated;
  EXPECT_EQ(check(absl::Seconds(-5)), kBad);
  EXPECT_EQ(check(absl::Seconds(-5) + absl::Microseconds(1)), kOk);
  EXPECT_EQ(check(absl::ZeroDuration()), kOk);
  EXPECT_EQ(check(absl::Seconds(305) - absl::Microseconds(1)), kOk);
  EXPECT_EQ(check(absl::Seconds(305)), kBad);
  // `now` counts in whole microseconds, as Python's clock does.
  EXPECT_EQ(check(absl::Seconds(305) - absl::Nanoseconds(1)), kOk);
  EXPECT_EQ(check(absl::Seconds(-5) + absl::Nanoseconds(999)), kBad);
  EXPECT_EQ(CheckSignedRequest(kP384Public, kTimestamp, sig, sent + absl::Seconds(305)).message(),
            "Invalid timestamp");
}

TEST(CheckSignedRequestTest, python_exceptions_become_unknown) {
  const absl::Time now = TimestampTime();
  const std::string sig = Hex(kP384SignatureHex);
  // Unloadable or non-EC keys: `bytes_to_public_key` or `verify` raises.
  for (const char* pem : {"garbage", kRsaPublic, kEd25519Public}) {
    absl::Status status = CheckSignedRequest(pem, kTimestamp, sig, now);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
    EXPECT_EQ(status.message(), "Error in service handler!");
  }
  // A validly signed timestamp that `fromisoformat` rejects, or reads as naive.
  NodeKey key = *NodeKey::Generate();
  for (const char* ts : {"yesterday", "2026-11-28T06:07:38.070698", "2026-11-28T06:07:38+24:00"}) {
    absl::Status status = CheckSignedRequest(key.PublicKeyPem(), ts, *key.Sign(ts), now);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnknown) << ts;
  }
  // A non-ASCII timestamp: `.encode("ascii")` raises before the signature is checked.
  EXPECT_EQ(CheckSignedRequest(kP384Public, "2026-11-28T06:07:38\xc3\xa9Z", sig, now).code(),
            absl::StatusCode::kUnknown);
}

TEST(CheckSignedRequestTest, other_offsets_are_compared_as_instants) {
  NodeKey key = *NodeKey::Generate();
  const char* ts = "2026-11-28T08:07:38.070698+02:00";
  EXPECT_TRUE(CheckSignedRequest(key.PublicKeyPem(), ts, *key.Sign(ts), TimestampTime()).ok());
}

TEST(SignRequestTest, produces_what_the_server_accepts) {
  NodeKey key = *NodeKey::Generate();
  const absl::Time now = absl::FromUnixMicros(1795846058000000);  // zero microseconds
  absl::StatusOr<SignedRequestMetadata> md = SignRequest(key, now);
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_EQ(md->public_key_pem, key.PublicKeyPem());
  EXPECT_EQ(md->timestamp, "2026-11-28T06:07:38+00:00");
  EXPECT_TRUE(VerifyNodeSignature(md->public_key_pem, md->timestamp, md->signature).ok());
  EXPECT_TRUE(CheckSignedRequest(md->public_key_pem, md->timestamp, md->signature, now).ok());
}

TEST(MetadataTest, names_and_window) {
  EXPECT_EQ(kPublicKeyHeader, "flwr-public-key-bin");
  EXPECT_EQ(kTimestampHeader, "flwr-timestamp");
  EXPECT_EQ(kSignatureHeader, "flwr-signature-bin");
  EXPECT_EQ(kMinTimestampDiff, absl::Seconds(-5));
  EXPECT_EQ(kMaxTimestampDiff, absl::Seconds(305));
  EXPECT_EQ(kInvalidNodeIdMessage, "Invalid node ID");
}

TEST(CheckNistEcPublicKeyTest, nist_curves_only) {
  EXPECT_TRUE(CheckNistEcPublicKey(kP384Public).ok());
  EXPECT_TRUE(CheckNistEcPublicKey(kP256Public).ok());
  EXPECT_TRUE(CheckNistEcPublicKey(kP256PublicCompressed).ok());
  EXPECT_TRUE(CheckNistEcPublicKey(NodeKey::Generate()->PublicKeyPem()).ok());
  absl::Status k1 = CheckNistEcPublicKey(kK1Public);
  EXPECT_EQ(k1.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(k1.message(), "not a NIST EC curve public key")) << k1;
  for (const char* pem : {"", "garbage", kRsaPublic, kEd25519Public, kP256PublicExplicit}) {
    EXPECT_EQ(CheckNistEcPublicKey(pem).code(), absl::StatusCode::kInvalidArgument) << pem;
  }
}

}  // namespace
}  // namespace flwr::core
