#include "flwr/core/user_config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "../temp_path.h"

namespace flwr::core {
namespace {

constexpr absl::string_view kInvalidFormat =
    "The provided configuration string is in an invalid format. The correct format should "
    "be, e.g., 'key1=123 key2=false key3=\"string\"', where values must be of type bool, "
    "int, string, or float. Ensure proper formatting with space-separated key-value pairs.";

absl::StatusOr<UserConfig> Parse(std::vector<std::string> args) {
  return ParseConfigArgs(absl::MakeConstSpan(args));
}

std::vector<std::string> Keys(const UserConfig& config) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : config) keys.push_back(key);
  return keys;
}

// ----- FuseRunConfig -----------------------------------------------------------------------

TEST(UserConfigTest, fuse_replaces_defaults_in_place_without_coercion) {
  UserConfig defaults = {{"rounds", int64_t{3}}, {"lr", 0.1}, {"name", std::string("a")}};
  UserConfig overrides = {{"name", std::string("b")}, {"rounds", std::string("three")}};
  absl::StatusOr<UserConfig> fused = FuseRunConfig(defaults, overrides);
  ASSERT_TRUE(fused.ok()) << fused.status();
  UserConfig expected = {{"rounds", std::string("three")}, {"lr", 0.1}, {"name", std::string("b")}};
  EXPECT_EQ(*fused, expected);
  EXPECT_EQ(*FuseRunConfig(defaults, {}), defaults);
}

TEST(UserConfigTest, fuse_rejects_unknown_override_key) {
  absl::Status status =
      FuseRunConfig({{"a", int64_t{1}}}, {{"a", int64_t{2}}, {"b", true}}).status();
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_EQ(status.message(), "Key 'b' is not present in the main dictionary");
}

// ----- ParseConfigArgs ---------------------------------------------------------------------

TEST(UserConfigTest, parses_typed_toml_values) {
  absl::StatusOr<UserConfig> config =
      Parse({"lr=0.1 epochs=5 name='abc' flag=true", "s=\"with spaces\" h=0x10"});
  ASSERT_TRUE(config.ok()) << config.status();
  UserConfig expected = {{"lr", 0.1},
                         {"epochs", int64_t{5}},
                         {"name", std::string("abc")},
                         {"flag", true},
                         {"s", std::string("with spaces")},
                         {"h", int64_t{16}}};
  EXPECT_EQ(*config, expected);
  // TOML hex takes no sign, so this arg is not TOML.
  EXPECT_EQ(Parse({"h=-0x10"}).status().message(), kInvalidFormat);
}

TEST(UserConfigTest, dotted_keys_nest_and_flatten) {
  absl::StatusOr<UserConfig> config = Parse({"a.b=1 x={c=2}"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(Keys(*config), (std::vector<std::string>{"a.b", "x.c"}));
}

TEST(UserConfigTest, later_args_replace_top_level_keys_like_dict_update) {
  // flwr updates a nested dict arg by arg: "a" is replaced whole, keeping its position.
  absl::StatusOr<UserConfig> config = Parse({"a.b=1 z=0", "a.c=2"});
  ASSERT_TRUE(config.ok()) << config.status();
  UserConfig expected = {{"a.c", int64_t{2}}, {"z", int64_t{0}}};
  EXPECT_EQ(*config, expected);
}

TEST(UserConfigTest, text_that_is_not_a_pair_is_skipped_silently) {
  EXPECT_TRUE(Parse({"a= 1"})->empty());
  EXPECT_TRUE(Parse({"just words"})->empty());
  EXPECT_EQ(Keys(*Parse({"foo bar=1"})), std::vector<std::string>{"bar"});
  // Python's \s includes U+00A0, so it separates pairs.
  EXPECT_EQ(Keys(*Parse({"a=1\xC2\xA0"
                         "b=2"})),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(Parse({})->empty());
  EXPECT_TRUE(Parse({"", ""})->empty());
}

TEST(UserConfigTest, invalid_toml_gives_flwrs_click_message) {
  for (const char* arg : {"k=abc", "a=b=c", "k==1", "k=\"open", "a=1 a=2"}) {
    EXPECT_EQ(Parse({arg}).status().message(), kInvalidFormat) << arg;
  }
}

TEST(UserConfigTest, arrays_and_dates_are_rejected_like_flatten_dict) {
  EXPECT_EQ(Parse({"k=[1,2]"}).status().message(),
            "The value for key k needs to be of type `int`, `float`, `bool, `str`, or  a "
            "`dict` of those.");
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({"d=2024-01-01"}).status()));
}

TEST(UserConfigTest, toml_file_alone_is_read_and_flattened) {
  const std::string path = flwr::testing::TempPath("overrides.toml").string();
  std::ofstream(path) << "lr = 0.5\n[model]\nlayers = 2\n";
  absl::StatusOr<UserConfig> config = Parse({path});
  ASSERT_TRUE(config.ok()) << config.status();
  UserConfig expected = {{"lr", 0.5}, {"model.layers", int64_t{2}}};
  EXPECT_EQ(*config, expected);
  EXPECT_EQ(*ParseConfigArgs(absl::string_view(path)), expected);
  std::remove(path.c_str());

  EXPECT_TRUE(absl::IsNotFound(Parse({path}).status()));
  EXPECT_EQ(Parse({"x=1", "conf.toml"}).status().message(),
            "TOML files cannot be passed alongside key-value pairs.");
}

TEST(UserConfigTest, node_config_string) {
  absl::StatusOr<UserConfig> config = ParseConfigArgs("partition-id=0 num-partitions=2");
  ASSERT_TRUE(config.ok()) << config.status();
  UserConfig expected = {{"partition-id", int64_t{0}}, {"num-partitions", int64_t{2}}};
  EXPECT_EQ(*config, expected);
  EXPECT_TRUE(ParseConfigArgs("")->empty());
}

TEST(UserConfigTest, rejects_what_flwr_cannot_send) {
  EXPECT_FALSE(Parse({"k=99999999999999999999"}).ok());  // beyond int64
  EXPECT_FALSE(Parse({"k=\"\xFF\""}).ok());              // not UTF-8
}

// ----- ParseFlatTomlConfig -----------------------------------------------------------------

TEST(UserConfigTest, flat_toml_config_keeps_document_order) {
  absl::StatusOr<UserConfig> config =
      ParseFlatTomlConfig("z = 1\n\"a.b\" = 2\n[a]\nb = 3\nc = 'x'\n[m.n]\nq = true\n");
  ASSERT_TRUE(config.ok()) << config.status();
  // "a.b" appears twice once flattened: first position, last value (Python's dict()).
  UserConfig expected = {
      {"z", int64_t{1}}, {"a.b", int64_t{3}}, {"a.c", std::string("x")}, {"m.n.q", true}};
  EXPECT_EQ(*config, expected);
}

}  // namespace
}  // namespace flwr::core
