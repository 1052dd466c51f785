#include "flwr/core/user_config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/file_util.h"
#include "flwr/core/python_compat.h"
#include "toml_value.h"

namespace flwr::core {
namespace {

using internal::TomlValue;

constexpr absl::string_view kInvalidFormat =
    "The provided configuration string is in an invalid format. The correct format should "
    "be, e.g., 'key1=123 key2=false key3=\"string\"', where values must be of type bool, "
    "int, string, or float. Ensure proper formatting with space-separated key-value pairs.";

// A `key=value` pair found in an arg, as byte offsets into the arg.
struct Pair {
  absl::string_view key;
  absl::string_view value;
};

// Returns the end (code point index) of flwr's value group ('[^']*'|"[^"]*"|\S+) matched at
// cps[p], or 0 if it does not match there (a match is never empty and p > 0).
size_t MatchValue(const std::vector<CodePoint>& cps, size_t p) {
  const size_t n = cps.size();
  if (p >= n) return 0;
  for (char32_t quote : {U'\'', U'"'}) {
    if (cps[p].value != quote) continue;
    for (size_t q = p + 1; q < n; ++q) {
      if (cps[q].value == quote) return q + 1;
    }
  }
  if (IsPythonSpace(cps[p].value)) return 0;
  size_t q = p;
  while (q < n && !IsPythonSpace(cps[q].value)) ++q;
  return q;
}

// re.findall(r"(\S+?)=(\'[^\']*\'|\"[^\"]*\"|\S+)", arg): the lazy key grows one code point
// at a time past each '=' whose value fails to match, and never over whitespace.
std::vector<Pair> FindPairs(absl::string_view arg, const std::vector<CodePoint>& cps) {
  std::vector<Pair> pairs;
  const size_t n = cps.size();
  const auto bytes = [&](size_t from, size_t to) {
    const size_t begin = from < n ? cps[from].begin : arg.size();
    const size_t end = to < n ? cps[to].begin : arg.size();
    return arg.substr(begin, end - begin);
  };
  size_t i = 0;
  while (i < n) {
    size_t matched_end = 0;
    for (size_t j = i + 1; j < n && !IsPythonSpace(cps[j - 1].value); ++j) {
      if (cps[j].value != '=') continue;
      const size_t value_end = MatchValue(cps, j + 1);
      if (value_end != 0) {
        pairs.push_back({bytes(i, j), bytes(j + 1, value_end)});
        matched_end = value_end;
        break;
      }
    }
    i = matched_end != 0 ? matched_end : i + 1;
  }
  return pairs;
}

// tomli.loads(bytes.decode("utf-8")): the UnicodeDecodeError or the TOML error.
absl::StatusOr<TomlValue> ParseTomlText(absl::string_view text) {
  absl::Status utf8 = CheckUtf8(text);
  if (!utf8.ok()) return utf8;
  return internal::ParseToml(text);
}

absl::StatusOr<UserConfig> ParseTomlFile(absl::string_view path) {
  const std::string expanded = ExpandUser(path);
  std::ifstream file(expanded, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(
        absl::StrCat("[Errno 2] No such file or directory: ", PythonRepr(expanded)));
  }
  std::ostringstream text;
  text << file.rdbuf();
  absl::StatusOr<TomlValue> root = ParseTomlText(text.str());
  if (!root.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid TOML file ", expanded, ": ", root.status().message()));
  }
  UserConfig config;
  absl::Status status = internal::FlattenTomlTable(*root, &config);
  if (!status.ok()) return status;
  return config;
}

}  // namespace

absl::StatusOr<UserConfig> FuseRunConfig(const UserConfig& defaults, const UserConfig& overrides) {
  UserConfig fused = defaults;
  for (const auto& [key, value] : overrides) {
    if (!defaults.Contains(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Key '", key, "' is not present in the main dictionary"));
    }
    fused.Set(key, value);
  }
  return fused;
}

absl::StatusOr<UserConfig> ParseFlatTomlConfig(absl::string_view toml_text) {
  absl::StatusOr<TomlValue> root = ParseTomlText(toml_text);
  if (!root.ok()) return root.status();
  UserConfig config;
  absl::Status status = internal::FlattenTomlTable(*root, &config);
  if (!status.ok()) return status;
  return config;
}

absl::StatusOr<UserConfig> ParseConfigArgs(absl::Span<const std::string> args) {
  if (args.size() == 1 && absl::EndsWith(args[0], ".toml")) return ParseTomlFile(args[0]);

  TomlValue overrides;  // the nested dict that flwr updates arg by arg
  UserConfig flat;
  for (const std::string& arg : args) {
    if (arg.empty()) continue;
    if (absl::EndsWith(arg, ".toml")) {
      return absl::InvalidArgumentError("TOML files cannot be passed alongside key-value pairs.");
    }
    std::vector<CodePoint> cps;
    absl::Status utf8 = DecodeUtf8(arg, &cps);
    if (!utf8.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Config argument is not valid UTF-8: ", utf8.message()));
    }
    std::string toml_text;
    for (const Pair& pair : FindPairs(arg, cps)) {
      if (!toml_text.empty()) toml_text.push_back('\n');
      absl::StrAppend(&toml_text, pair.key, " = ", pair.value);
    }
    absl::StatusOr<TomlValue> parsed = internal::ParseToml(toml_text);
    if (!parsed.ok()) return absl::InvalidArgumentError(kInvalidFormat);
    for (size_t i = 0; i < parsed->keys.size(); ++i) {
      overrides.Set(parsed->keys[i], std::move(parsed->items[i]));
    }
    flat = UserConfig();
    absl::Status status = internal::FlattenTomlTable(overrides, &flat);
    if (!status.ok()) return status;
  }
  return flat;
}

absl::StatusOr<UserConfig> ParseConfigArgs(absl::string_view arg) {
  if (arg.empty()) return UserConfig();
  const std::string args[] = {std::string(arg)};
  return ParseConfigArgs(absl::MakeConstSpan(args));
}

}  // namespace flwr::core
