#include "flwr/core/fab.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "test_zip.h"

namespace flwr::core {
namespace {

using ::flwr::test_zip::MakeZip;
using ::flwr::test_zip::ZipEntry;

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kPyproject[] = R"([project]
name = "demo-app"
version = "1.0.0"
dependencies = ["flwr[simulation]>=1.20.0", "numpy"]

[tool.flwr.app]
publisher = "flwrlabs"

[tool.flwr.app.components]
serverapp = "demo_app.server_app:app"
clientapp = "demo_app.client_app:app"

[tool.flwr.app.config]
num-server-rounds = 3
lr = 0.1
flag = true
name = "résumé"
model.layers = 2
)";

std::string DemoFab(const std::string& pyproject = kPyproject) {
  return MakeZip({{"demo_app/__init__.py", ""}, {"pyproject.toml", pyproject}});
}

// ----- Fab ---------------------------------------------------------------------------------

TEST(FabTest, hash_is_sha256_hex) {
  EXPECT_EQ(FabHash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Fab fab = MakeFab("abc", {{"sig", "x"}});
  EXPECT_EQ(fab.hash_str, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(fab.content, "abc");
  EXPECT_EQ(*fab.verifications.Find("sig"), "x");
}

// ----- ParseFab ----------------------------------------------------------------------------

TEST(FabTest, parse_reads_metadata_components_and_flat_config) {
  absl::StatusOr<FabInfo> info = ParseFab(DemoFab());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->publisher, "flwrlabs");
  EXPECT_EQ(info->name, "demo-app");
  EXPECT_EQ(info->version, "1.0.0");
  EXPECT_EQ(info->fab_id, "flwrlabs/demo-app");
  EXPECT_EQ(info->app_id(), "@flwrlabs/demo-app");
  EXPECT_FALSE(info->is_agentapp());
  EXPECT_EQ(*info->components.Find("serverapp"), "demo_app.server_app:app");
  EXPECT_EQ(*info->components.Find("clientapp"), "demo_app.client_app:app");
  UserConfig expected = {{"num-server-rounds", int64_t{3}},
                         {"lr", 0.1},
                         {"flag", true},
                         {"name", std::string("résumé")},
                         {"model.layers", int64_t{2}}};
  EXPECT_EQ(info->default_config, expected);
  EXPECT_EQ(info->fab_format_version, 0);
  EXPECT_EQ(info->flwr_version_min, "1.20.0");
  EXPECT_EQ(info->flwr_version_target, std::nullopt);
}

TEST(FabTest, config_keys_keep_document_order_like_tomli) {
  absl::StatusOr<FabInfo> info = ParseFabConfig(std::string(kPyproject) + R"(
[tool.flwr.app.config.z.inner]
q = 1
[tool.flwr.app.config.a]
b = 2
)");
  ASSERT_TRUE(info.ok()) << info.status();
  std::vector<std::string> keys;
  for (const auto& [key, value] : info->default_config) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"num-server-rounds", "lr", "flag", "name",
                                            "model.layers", "z.inner.q", "a.b"}));
}

TEST(FabTest, agentapp_bundle_needs_no_serverapp_or_clientapp) {
  absl::StatusOr<FabInfo> info = ParseFabConfig(R"(
[project]
name = "agent"
version = "0.1"
[tool.flwr.app]
publisher = "me"
[tool.flwr.app.components]
agentapp = "agent:app"
other = "kept"
ignored = 5
)");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->is_agentapp());
  EXPECT_EQ(info->components.size(), 2u);
  EXPECT_EQ(*info->components.Find("other"), "kept");
  EXPECT_TRUE(info->default_config.empty());
}

TEST(FabTest, missing_fields_give_flwrs_error_list) {
  EXPECT_EQ(ParseFabConfig("[tool.x]\n").status().message(),
            "['Missing [project] section', 'Missing [tool.flwr.app] section']");
  EXPECT_EQ(ParseFabConfig("[project]\nname='a'\nversion='1'\n[tool.flwr.app]\n"
                           "publisher='p'\n[tool.flwr.app.components]\nserverapp='a:b'\n")
                .status()
                .message(),
            "['Property \"clientapp\" missing in [tool.flwr.app.components]']");
}

TEST(FabTest, run_config_values_must_be_scalars_or_tables) {
  absl::Status status = ParseFabConfig(std::string(kPyproject) + "bad = [1, 2]\n").status();
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_EQ(status.message(),
            "The value for key bad needs to be of type `int`, `float`, `bool, `str`, or  a "
            "`dict` of those.");
  EXPECT_THAT(
      std::string(
          ParseFabConfig(std::string(kPyproject) + "when = 2024-01-01\n").status().message()),
      HasSubstr("key when needs"));
}

TEST(FabTest, invalid_text_gives_flwrs_messages) {
  EXPECT_EQ(ParseFabConfig("x = = 1").status().message(), "Invalid TOML content in pyproject.toml");
  EXPECT_EQ(ParseFabConfig("\xEF\xBB\xBF" + std::string(kPyproject)).status().message(),
            "Invalid TOML content in pyproject.toml");  // tomli rejects a byte order mark
  EXPECT_EQ(ParseFabConfig("name = 'caf\xE9'").status().message(),
            "'utf-8' codec can't decode byte 0xe9 in position 11: invalid continuation byte");
  EXPECT_EQ(ParseFabConfig("x = 1 \xE2\x82").status().message(),
            "'utf-8' codec can't decode bytes in position 6-7: unexpected end of data");
}

TEST(FabTest, component_reference_needs_module_and_attribute) {
  std::string pyproject = kPyproject;
  pyproject.replace(pyproject.find("\"demo_app.client_app:app\""), 25, "\"client\"");
  absl::Status status = ParseFabConfig(pyproject).status();
  EXPECT_THAT(std::string(status.message()),
              StartsWith("['Missing attribute in client\\n\\n\\nThe object "));
  EXPECT_EQ(status.message().find('\n'), absl::string_view::npos);
}

TEST(FabTest, values_flwr_cannot_use_are_rejected_with_our_own_message) {
  std::string pyproject = kPyproject;
  pyproject.replace(pyproject.find("\"flwrlabs\""), 10, "5");
  EXPECT_EQ(ParseFabConfig(pyproject).status().message(),
            "Invalid pyproject.toml: [tool.flwr.app] publisher must be a string");
  EXPECT_EQ(ParseFabConfig("project = 'x'").status().message(),
            "Invalid pyproject.toml: [project] must be a table");
}

TEST(FabTest, format_version_one_checks_target_against_flwr_dependency) {
  const std::string v1 = R"([project]
name = "demo-app"
version = "1.0.0"
license = { file = "LICENSE" }
dependencies = ["flwr>=1.30,<2"]
[tool.flwr.app]
publisher = "p"
fab-format-version = 1
flwr-version-target = "TARGET"
[tool.flwr.app.components]
serverapp = "a:b"
clientapp = "a:c"
)";
  auto with_target = [&](const std::string& target) {
    std::string text = v1;
    text.replace(text.find("TARGET"), 6, target);
    return ParseFabConfig(text);
  };
  absl::StatusOr<FabInfo> info = with_target("1.36");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->fab_format_version, 1);
  EXPECT_EQ(info->flwr_version_min, "1.30");
  EXPECT_EQ(info->flwr_version_target, "1.36");
  EXPECT_EQ(with_target("2.0").status().message(),
            "['Invalid [tool.flwr.app].flwr-version-target: must satisfy the declared \"flwr\" "
            "dependency specifier.']");
  EXPECT_THAT(std::string(with_target("1.29").status().message()), HasSubstr("lower bound"));
  EXPECT_THAT(std::string(with_target("1.36rc1").status().message()), HasSubstr("must satisfy"));
  EXPECT_THAT(std::string(with_target("latest").status().message()),
              HasSubstr("expected a valid version"));
}

TEST(FabTest, dependency_syntax_errors_carry_packagings_caret) {
  std::string pyproject = kPyproject;
  pyproject.replace(pyproject.find("\"numpy\""), 7, "\"numpy >= 1.0.*\"");
  EXPECT_EQ(ParseFabConfig(pyproject).status().message(),
            "['Invalid dependency declaration \"numpy >= 1.0.*\": .* suffix can only be used "
            "with `==` or `!=` operators\\n    numpy >= 1.0.*\\n          ~~~~~~~^']");
}

TEST(FabTest, oversize_fab_is_rejected_before_it_is_opened) {
  std::string fab = DemoFab() + std::string(kFabMaxSize, '\0');
  EXPECT_EQ(ParseFab(fab).status().message(),
            "FAB size exceeds maximum allowed size of 10485760 bytes.");
}

TEST(FabTest, archive_failures_are_invalid_fab) {
  for (const std::string& bad :
       {std::string(), std::string("not a zip"), MakeZip({{"README.md", "# x"}}),
        MakeZip({{"app/pyproject.toml", kPyproject}})}) {
    absl::Status status = ParseFab(bad).status();
    EXPECT_TRUE(absl::IsInvalidArgument(status));
    EXPECT_THAT(std::string(status.message()), StartsWith("Invalid FAB: "));
  }
}

// ----- ReadFabFile -------------------------------------------------------------------------

TEST(FabTest, read_file_returns_entry_and_the_last_duplicate) {
  std::string zip = MakeZip({{"a.txt", "first"}, {"b.txt", "bee"}, {"a.txt", "second"}});
  EXPECT_EQ(*ReadFabFile(zip, "b.txt"), "bee");
  EXPECT_EQ(*ReadFabFile(zip, "a.txt"), "second");  // Python's zipfile: last one wins
  absl::Status missing = ReadFabFile(zip, "c.txt").status();
  EXPECT_TRUE(absl::IsNotFound(missing));
  EXPECT_EQ(missing.message(), "There is no item named 'c.txt' in the archive");
}

TEST(FabTest, read_file_checks_the_crc) {
  std::string zip = MakeZip({{"pyproject.toml", kPyproject, 0x12345678u}});
  absl::Status status = ReadFabFile(zip, "pyproject.toml").status();
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
}

TEST(FabTest, archive_expanding_past_the_bound_is_rejected) {
  std::string zip =
      MakeZip({{"pyproject.toml", kPyproject}, {"bomb.bin", "x", std::nullopt, 0xFFFFFFF0u}});
  absl::Status status = ReadFabFile(zip, "pyproject.toml").status();
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_THAT(std::string(status.message()), HasSubstr("expands to more than 104857600 bytes"));
}

}  // namespace
}  // namespace flwr::core
