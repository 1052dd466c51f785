#include "flwr/core/runtime_version.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/wire_errors.h"

namespace flwr::core {
namespace {

using Metadata = std::vector<std::pair<std::string, std::string>>;

Metadata Peer(std::string name, std::string version, std::string component = "flwr-serverapp") {
  return {{"flwr-package-name", std::move(name)},
          {"flwr-package-version", std::move(version)},
          {"flwr-component-name", std::move(component)}};
}

std::optional<std::string> Check(const Metadata& peer) {
  return RuntimeVersionIncompatibility(peer, "1.36.0", "SuperLink");
}

TEST(RuntimeVersionTest, PinnedVersionIsAcceptedByItself) {
  EXPECT_FALSE(PinnedFlowerVersion().empty());
  EXPECT_EQ(RuntimeVersionIncompatibility(RuntimeVersionHeaders("SuperExec"), PinnedFlowerVersion(),
                                          "SuperLink"),
            std::nullopt);
  const Metadata headers = RuntimeVersionHeaders("SuperExec");
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0], (std::pair<std::string, std::string>{"flwr-package-name", "flwr"}));
  EXPECT_EQ(headers[2].second, "SuperExec");
}

TEST(RuntimeVersionTest, AllAbsentIsAccepted) {
  EXPECT_EQ(Check({}), std::nullopt);
  EXPECT_EQ(Check({{"flwr-task-token", "t"}}), std::nullopt);
}

TEST(RuntimeVersionTest, MissingDuplicateEmpty) {
  EXPECT_EQ(Check({{"flwr-package-name", "flwr"}}),
            "Invalid Flower runtime metadata: Metadata key 'flwr-package-version' is missing.");
  Metadata duplicate = Peer("flwr", "1.36.0");
  duplicate.emplace_back("FLWR-Package-Name", "flwr");
  EXPECT_EQ(Check(duplicate),
            "Invalid Flower runtime metadata: Metadata key 'flwr-package-name' has duplicate "
            "values.");
  EXPECT_EQ(Check(Peer("flwr", "1.36.0", "")),
            "Invalid Flower runtime metadata: Metadata key 'flwr-component-name' has an empty "
            "value.");
  // Keys are checked in order: name before version.
  EXPECT_EQ(Check(Peer("", "")),
            "Invalid Flower runtime metadata: Metadata key 'flwr-package-name' has an empty "
            "value.");
}

TEST(RuntimeVersionTest, PackageName) {
  EXPECT_EQ(Check(Peer(" flwr-nightly\t", "1.36.0")), std::nullopt);
  EXPECT_EQ(Check(Peer("flwr-foo", "1.36.0")),
            "Peer Flower package name is not recognized: 'flwr-foo'.");
  EXPECT_EQ(Check(Peer(" ", "1.36.0")), "Peer Flower package name is not recognized: ''.");
  EXPECT_EQ(Check(Peer("it's", "1.36.0")), "Peer Flower package name is not recognized: \"it's\".");
  // Header bytes are Latin-1: 0xE9 is 'é' (printable), 0xA0 is not printable.
  EXPECT_EQ(Check(Peer("fl\xE9\xA0x\\", "1.36.0")),
            "Peer Flower package name is not recognized: 'fl\xC3\xA9\\xa0x\\\\'.");
}

TEST(RuntimeVersionTest, VersionParsing) {
  for (const char* accepted :
       {"1.36.0", "1.36.9", " 1.36.0\n", "v1.36", "V1.36rc1", "1.036", "01.36.0.dev3", "1!1.36.0",
        "1.36.0+Local.7", "1.36-rc.1", "1.36.0-1", "1.36.post",
        "\xA0"
        "1.36.0\x85"}) {
    EXPECT_EQ(Check(Peer("flwr", accepted)), std::nullopt) << accepted;
  }
  EXPECT_EQ(Check(Peer("flwr", "banana")),
            "Peer Flower version metadata cannot be parsed: 'banana'.");
  EXPECT_EQ(Check(Peer("flwr", "1.36.0 beta")),
            "Peer Flower version metadata cannot be parsed: '1.36.0 beta'.");
  EXPECT_EQ(Check(Peer("flwr", "1.36.x")),
            "Peer Flower version metadata cannot be parsed: '1.36.x'.");
}

TEST(RuntimeVersionTest, MajorMinorMismatch) {
  EXPECT_EQ(Check(Peer("flwr", "1.20.0", "flwr CLI")),
            "SuperLink version 1.36.0 detected a runtime version mismatch: expected a peer from "
            "the same major.minor release, but received flwr CLI version 1.20.0.");
  EXPECT_NE(Check(Peer("flwr", "2.36.0")), std::nullopt);
  EXPECT_NE(Check(Peer("flwr", "1")), std::nullopt);  // minor 0
  EXPECT_NE(Check(Peer("flwr", "1.360")), std::nullopt);
}

TEST(RuntimeVersionTest, CheckReturnsFlowerError1001) {
  const absl::Status status = CheckRuntimeVersion(Peer("flwr", "1.20.0"), "1.36.0", "SuperLink");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(FlowerErrorCode(status), api_error::kRuntimeVersionIncompatible);
  const std::string reason =
      "SuperLink version 1.36.0 detected a runtime version mismatch: expected a peer from the "
      "same major.minor release, but received flwr-serverapp version 1.20.0.";
  EXPECT_EQ(FlowerErrorPublicDetails(status), reason);
  EXPECT_EQ(status.message(),
            "Runtime version compatibility check failed for Caller <-> "
            "SuperLink Runtime API. " +
                reason);
  EXPECT_TRUE(CheckRuntimeVersion(Peer("flwr", "1.36.2"), "1.36.0", "SuperLink").ok());
}

TEST(RuntimeVersionTest, EveryPinnedLineIsAccepted) {
  ASSERT_GE(SupportedFlowerVersions().size(), 1u);
  EXPECT_EQ(SupportedFlowerVersions().front(), PinnedFlowerVersion());
  for (absl::string_view version : SupportedFlowerVersions()) {
    const auto peer = Peer("flwr", std::string(version));
    EXPECT_TRUE(CheckRuntimeVersionAnyLine(peer, "SuperLink").ok()) << version;
    EXPECT_EQ(PeerFlowerLine(peer), version);
  }
  EXPECT_LE(FlowerMinorVersion(OldestSupportedFlowerVersion()),
            FlowerMinorVersion(NewestSupportedFlowerVersion()));
  // No metadata: accepted, but no line is announced.
  EXPECT_TRUE(CheckRuntimeVersionAnyLine({}, "SuperLink").ok());
  EXPECT_EQ(PeerFlowerLine({}), std::nullopt);
  // Another line: rejected as the primary line rejects it.
  const absl::Status status = CheckRuntimeVersionAnyLine(Peer("flwr", "1.20.0"), "SuperLink");
  EXPECT_EQ(FlowerErrorCode(status), api_error::kRuntimeVersionIncompatible);
  EXPECT_EQ(status,
            CheckRuntimeVersion(Peer("flwr", "1.20.0"), PinnedFlowerVersion(), "SuperLink"));
  EXPECT_EQ(PeerFlowerLine(Peer("flwr", "1.20.0")), std::nullopt);
  EXPECT_EQ(FlowerMinorVersion("1.42.0"), 42);
  EXPECT_EQ(FlowerMinorVersion("1.36.2rc1"), 36);
  EXPECT_EQ(FlowerMinorVersion("not a version"), -1);
}

TEST(RuntimeVersionTest, ExitMessage) {
  const absl::Status status =
      FlowerError(api_error::kRuntimeVersionIncompatible, "Public.", "details");
  EXPECT_EQ(RuntimeVersionIncompatibilityExitMessage(status), "Public.\ndetails");
  EXPECT_EQ(RuntimeVersionIncompatibilityExitMessage(
                FlowerError(api_error::kRuntimeVersionIncompatible, "Public.", "")),
            "Public.");
  EXPECT_EQ(RuntimeVersionIncompatibilityExitMessage(FlowerError(16, "x")), std::nullopt);
  EXPECT_EQ(RuntimeVersionIncompatibilityExitMessage(absl::OkStatus()), std::nullopt);
}

// The 412 a stock server of `server_version` sends a client that announced `client_version`.
absl::Status StockRejection(absl::string_view server_component, absl::string_view server_version,
                            absl::string_view client_version) {
  return FromHttpError(
      412, absl::StrCat("{\"code\":1001,\"detail\":\"Runtime version compatibility check "
                        "failed.\",\"extra\":\"",
                        server_component, " version ", server_version,
                        " detected a runtime version mismatch: expected a peer from the same "
                        "major.minor release, but received flwr-clientapp version ",
                        client_version, ".\"}"));
}

TEST(RuntimeVersionTest, RuntimeLineFromRejectionOfEachLine) {
  // Every supported line's server rejecting every other line's headers names its own line.
  for (absl::string_view server : SupportedFlowerVersions()) {
    for (absl::string_view client : SupportedFlowerVersions()) {
      const absl::Status rejection = StockRejection("SuperNode", server, client);
      ASSERT_EQ(FlowerErrorCode(rejection), api_error::kRuntimeVersionIncompatible);
      if (server == client) {
        EXPECT_EQ(RuntimeLineFromRejection(rejection, client), std::nullopt);
      } else {
        EXPECT_EQ(RuntimeLineFromRejection(rejection, client), server);
      }
    }
  }
  // The patch release of the server does not matter; the component name may hold spaces.
  const absl::string_view other = SupportedFlowerVersions().back();
  const std::string other_patch = absl::StrCat(other.substr(0, other.rfind('.')), ".7");
  EXPECT_EQ(RuntimeLineFromRejection(StockRejection("SuperLink", other_patch, "1.0.0"),
                                     SupportedFlowerVersions().front()),
            other);
  EXPECT_EQ(RuntimeLineFromRejection(StockRejection("My Super Link", other, "1.0.0"),
                                     SupportedFlowerVersions().front()),
            other);
}

TEST(RuntimeVersionTest, RuntimeLineFromRejectionIgnoresOtherErrors) {
  const absl::string_view primary = PinnedFlowerVersion();
  // A line we do not pin.
  EXPECT_EQ(RuntimeLineFromRejection(StockRejection("SuperNode", "1.20.0", primary), primary),
            std::nullopt);
  // Another code, another reason, no details, no error.
  EXPECT_EQ(RuntimeLineFromRejection(
                FromHttpError(404, "{\"code\":16,\"detail\":\"Run ID not found.\"}"), primary),
            std::nullopt);
  EXPECT_EQ(
      RuntimeLineFromRejection(FlowerError(api_error::kRuntimeVersionIncompatible, "x",
                                           "Peer Flower version metadata cannot be parsed: 'x'."),
                               primary),
      std::nullopt);
  EXPECT_EQ(
      RuntimeLineFromRejection(FlowerError(api_error::kRuntimeVersionIncompatible, "x"), primary),
      std::nullopt);
  EXPECT_EQ(RuntimeLineFromRejection(absl::NotFoundError("Not Found"), primary), std::nullopt);
  EXPECT_EQ(RuntimeLineFromRejection(absl::OkStatus(), primary), std::nullopt);
}

TEST(RuntimeVersionTest, HeadersOfAnotherLine) {
  const absl::string_view last = SupportedFlowerVersions().back();
  EXPECT_EQ(RuntimeVersionHeaders("SuperExec", last)[1].second, last);
  EXPECT_TRUE(RuntimeLineAcquiresTasks("1.42.0"));
  EXPECT_FALSE(RuntimeLineAcquiresTasks("1.36.0"));
  EXPECT_TRUE(RuntimeLineStampsTaskIds("1.42.0"));
  EXPECT_FALSE(RuntimeLineStampsTaskIds("1.36.0"));
}

}  // namespace
}  // namespace flwr::core
