#include "flwr/supernode/trusted_entities.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/ssh_public_key.h"
#include "../temp_path.h"

namespace flwr::supernode {
namespace {

// Written by the pinned flwr's `cryptography` and flwr.supercore.primitives.asymmetric_ed25519:
// the Ed25519 keys of the private bytes 00..1f (kKey) and 01..20 (kOtherKey), a P-256 key, and
// kKey's signature (base64url without padding, as Flower Hub sends it) of
// create_message_to_sign(sha256(kContent), kSignedAt). Stock `_verify_fab` accepts kContent
// with it under {"fpk_a": kKey} and refuses the tampered content, an unknown key ID and the
// other key.
constexpr char kKey[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
constexpr char kOtherKey[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHm1Vi6P5lT5QHixEuipi6eQH4U65pW+1+DjkQutBJZk";
constexpr char kEcdsaKey[] =
    "ecdsa-sha2-nistp256 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBI5TO2+gv3tGJbswZnwB+2B"
    "++fi4qA/vWzAGKHAxh7Kjc+sdveAzGDZtBp+DpvWQAFPHNjPLBBshxV4ahsH0ALQ=";
constexpr char kContent[] = "FAB content for trusted_entities_test";
constexpr uint64_t kSignedAt = 1767225600;
constexpr char kMessageHex[] =
    "000000006955b9000a0a855388a1d64b315c24495491a379f4455e35f6e6d80d6c7a3c4822f631f6";
constexpr char kSignature[] =
    "LSztnHwTOFA1fPVScwZTWM4It48ZygoH4L6s1au9qYrH37cIKczd99Zode3PTzP8gJAF5WnPOPi1OWwEJeLNDw";

std::string Record(absl::string_view signature = kSignature, uint64_t signed_at = kSignedAt) {
  return absl::StrCat(R"({"signature": ")", signature, R"(", "signed_at": )", signed_at, "}");
}

proto::Fab SignedFab(std::string content = kContent, std::string record = Record()) {
  proto::Fab fab;
  fab.set_content(std::move(content));
  (*fab.mutable_verifications())["fpk_a"] = std::move(record);
  (*fab.mutable_verifications())[std::string(kValidLicenseKey)] = "Valid";
  return fab;
}

TrustedEntities Trust(absl::string_view id, absl::string_view line) {
  absl::StatusOr<core::SshPublicKey> key = core::ParseSshPublicKey(line);
  EXPECT_TRUE(key.ok()) << key.status();
  return {{std::string(id), key.ok() ? key->ed25519 : ""}};
}

TEST(SshPublicKeyTest, ReadsEd25519LinesWithOrWithoutComment) {
  absl::StatusOr<core::SshPublicKey> key = core::ParseSshPublicKey(kKey);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->key_type, "ssh-ed25519");
  EXPECT_TRUE(key->is_ed25519());
  EXPECT_EQ(absl::BytesToHexString(key->ed25519),
            "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8");
  absl::StatusOr<core::SshPublicKey> commented =
      core::ParseSshPublicKey(absl::StrCat(kKey, " alice@example\n"));
  ASSERT_TRUE(commented.ok()) << commented.status();
  EXPECT_EQ(commented->ed25519, key->ed25519);
}

TEST(SshPublicKeyTest, OtherKeyTypesAreReadButNotEd25519) {
  absl::StatusOr<core::SshPublicKey> key = core::ParseSshPublicKey(kEcdsaKey);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->key_type, "ecdsa-sha2-nistp256");
  EXPECT_FALSE(key->is_ed25519());
}

TEST(SshPublicKeyTest, RejectsWhatCryptographyRejects) {
  auto error = [](absl::string_view line) {
    return std::string(core::ParseSshPublicKey(line).status().message());
  };
  EXPECT_EQ(error("not-a-key"), "Invalid line format");
  EXPECT_EQ(error(" ssh-ed25519 AAAA"), "Invalid line format");
  EXPECT_EQ(error("ssh-foo AAAA"), "Unsupported key type: ssh-foo");
  // The blob names another key type than the line.
  EXPECT_EQ(error(absl::StrCat("ssh-rsa ", absl::string_view(kKey).substr(12))),
            "Invalid key format");
  // A 31-byte key.
  const std::string blob =
      absl::StrCat(absl::string_view("\0\0\0\x0bssh-ed25519\0\0\0\x1f", 19), std::string(31, 'k'));
  EXPECT_EQ(error(absl::StrCat("ssh-ed25519 ", absl::Base64Escape(blob))),
            "An Ed25519 public key is 32 bytes long");
}

TEST(FabMessageToSignTest, IsTheBigEndianTimestampThenTheContentDigest) {
  EXPECT_EQ(absl::BytesToHexString(FabMessageToSign(kContent, kSignedAt)), kMessageHex);
}

TEST(VerifyFabTest, AcceptsAGoodSignatureOfATrustedKey) {
  EXPECT_EQ(VerifyFab(SignedFab(), Trust("fpk_a", kKey)), FabVerification::kVerified);
  // Padded base64url reads the same.
  EXPECT_EQ(
      VerifyFab(SignedFab(kContent, Record(absl::StrCat(kSignature, "=="))), Trust("fpk_a", kKey)),
      FabVerification::kVerified);
}

TEST(VerifyFabTest, RefusesATamperedFab) {
  EXPECT_EQ(VerifyFab(SignedFab(absl::StrCat(kContent, "x")), Trust("fpk_a", kKey)),
            FabVerification::kUnverified);
  // The signature covers the timestamp too.
  EXPECT_EQ(VerifyFab(SignedFab(kContent, Record(kSignature, kSignedAt + 1)), Trust("fpk_a", kKey)),
            FabVerification::kUnverified);
}

TEST(VerifyFabTest, RefusesAnUnknownKeyId) {
  EXPECT_EQ(VerifyFab(SignedFab(), Trust("fpk_b", kKey)), FabVerification::kUnverified);
}

TEST(VerifyFabTest, RefusesASignatureByAnotherKey) {
  EXPECT_EQ(VerifyFab(SignedFab(), Trust("fpk_a", kOtherKey)), FabVerification::kUnverified);
}

TEST(VerifyFabTest, OneVerifyingTrustedRecordIsEnough) {
  TrustedEntities trusted = Trust("fpk_a", kKey);
  trusted.merge(Trust("fpk_z", kOtherKey));
  proto::Fab fab = SignedFab();
  (*fab.mutable_verifications())["fpk_z"] = Record();  // not fpk_z's signature
  EXPECT_EQ(VerifyFab(fab, trusted), FabVerification::kVerified);
}

TEST(VerifyFabTest, WithoutAValidLicenseTheSuperLinkDoesNotVerifyApps) {
  proto::Fab fab = SignedFab();
  (*fab.mutable_verifications())[std::string(kValidLicenseKey)] = "";
  EXPECT_EQ(VerifyFab(fab, Trust("fpk_a", kKey)), FabVerification::kNoLicense);
  fab.mutable_verifications()->erase(std::string(kValidLicenseKey));
  EXPECT_EQ(VerifyFab(fab, Trust("fpk_a", kKey)), FabVerification::kNoLicense);
  EXPECT_EQ(VerifyFab(proto::Fab(), Trust("fpk_a", kKey)), FabVerification::kNoLicense);
}

TEST(VerifyFabTest, MalformedRecordsDoNotVerify) {
  for (const std::string& record :
       {std::string("not json"), std::string("[]"), std::string(R"({"signature": "x"})"),
        absl::StrCat(R"({"signature": ")", kSignature, R"(", "signed_at": -1})"),
        absl::StrCat(R"({"signature": ")", kSignature, R"(", "signed_at": "1767225600"})"),
        Record("!!!")}) {
    EXPECT_EQ(VerifyFab(SignedFab(kContent, record), Trust("fpk_a", kKey)),
              FabVerification::kUnverified)
        << record;
  }
}

class LoadTrustedEntitiesTest : public ::testing::Test {
 protected:
  std::string Write(absl::string_view text) {
    const std::string path =
        flwr::testing::TempPath(absl::StrCat("trusted_", ++files_, ".yaml")).string();
    std::ofstream(path) << text;
    return path;
  }
  static std::string Error(const std::string& path) {
    return std::string(LoadTrustedEntities(path).status().message());
  }
  int files_ = 0;
};

TEST_F(LoadTrustedEntitiesTest, ReadsTheStockFormat) {
  absl::StatusOr<TrustedEntities> trusted = LoadTrustedEntities(
      Write(absl::StrCat("fpk_a: '", kKey, " alice'\nfpk_b: ", kOtherKey, "\n")));
  ASSERT_TRUE(trusted.ok()) << trusted.status();
  ASSERT_EQ(trusted->size(), 2u);
  EXPECT_EQ(trusted->at("fpk_a"), Trust("x", kKey).at("x"));
  EXPECT_EQ(trusted->at("fpk_b"), Trust("x", kOtherKey).at("x"));
  absl::StatusOr<TrustedEntities> flow =
      LoadTrustedEntities(Write(absl::StrCat("{ fpk_a: '", kKey, "' }")));
  ASSERT_TRUE(flow.ok()) << flow.status();
  EXPECT_EQ(flow->size(), 1u);
}

TEST_F(LoadTrustedEntitiesTest, AnEmptyMappingTurnsVerificationOff) {
  absl::StatusOr<TrustedEntities> trusted = LoadTrustedEntities(Write("{}\n"));
  ASSERT_TRUE(trusted.ok()) << trusted.status();
  EXPECT_TRUE(trusted->empty());
}

TEST_F(LoadTrustedEntitiesTest, StockMessages) {
  EXPECT_EQ(Error(::testing::TempDir()),
            "Path argument `--trusted-entities` does not point to a file.");
  EXPECT_EQ(Error("/nonexistent/trusted.yaml"),
            "Path argument `--trusted-entities` does not point to a file.");
  const std::string list = Write("- a\n- b\n");
  EXPECT_EQ(Error(list), absl::StrCat("Failed to read YAML file '", list,
                                      "': Invalid trusted entities format."));
  const std::string empty = Write("");
  EXPECT_EQ(Error(empty), absl::StrCat("Failed to read YAML file '", empty,
                                       "': Invalid trusted entities format."));
  const std::string broken = Write("{fpk_a: [\n");
  EXPECT_TRUE(absl::StartsWith(Error(broken), absl::StrCat("Failed to read YAML file '", broken,
                                                           "': yaml-cpp: error at line")))
      << Error(broken);
  EXPECT_EQ(Error(Write(absl::StrCat("fpk_a: ", kKey, "\nfpk_e: ", kEcdsaKey, "\n"))),
            "The provided public key associated with trusted entity fpk_e is not Ed25519.");
  EXPECT_EQ(Error(Write("fpk_a: not-a-key\n")),
            "Failed to load the public key of trusted entity fpk_a: Invalid line format");
}

}  // namespace
}  // namespace flwr::supernode
