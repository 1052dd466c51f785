// python_compat_tool: reads one JSON object of inputs on stdin, runs flwr::core's
// Python-compatibility functions on them and prints one JSON object of results, for
// tests/golden/test_python_compat.py. Byte strings travel as hex in both directions.
//
//   in:  {"bytes": [hex], "texts": [hex UTF-8], "floats": [hex of 8 little-endian bytes],
//         "versions": [hex Latin-1]}
//   out: {"bytes": [{"error": CheckUtf8 message or null, "replace": hex DecodeUtf8Replace,
//                    "json": hex PythonJsonString, "json_utf8": hex of it without
//                    ensure_ascii}],
//         "texts": [{"repr": hex PythonRepr, "strip": hex PythonStrip}],
//         "floats": [PythonFloatRepr], "spaces": [every code point IsPythonSpace accepts],
//         "versions": [RuntimeVersionIncompatibility(peer "flwr", version, "SuperNode";
//                      local "1.36.0", "SuperLink") as hex, or null]}
#include <cstring>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "flwr/core/python_compat.h"
#include "flwr/core/runtime_version.h"
#include "nlohmann/json.hpp"

namespace {

using flwr::core::PythonJsonString;
using nlohmann::json;

std::string Unhex(const json& value) { return absl::HexStringToBytes(value.get<std::string>()); }
std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

json Bytes(const std::string& bytes) {
  const absl::Status utf8 = flwr::core::CheckUtf8(bytes);
  return {{"error", utf8.ok() ? json(nullptr) : json(std::string(utf8.message()))},
          {"replace", Hex(flwr::core::DecodeUtf8Replace(bytes))},
          {"json", Hex(PythonJsonString(bytes))},
          {"json_utf8", Hex(PythonJsonString(bytes, /*ensure_ascii=*/false))}};
}

json Version(const std::string& version) {
  const std::vector<std::pair<std::string, std::string>> peer = {
      {"flwr-package-name", "flwr"},
      {"flwr-package-version", version},
      {"flwr-component-name", "SuperNode"}};
  const std::optional<std::string> reason =
      flwr::core::RuntimeVersionIncompatibility(peer, "1.36.0", "SuperLink");
  return reason.has_value() ? json(Hex(*reason)) : json(nullptr);
}

}  // namespace

int main() {
  const json in = json::parse(std::cin);
  json out = {{"bytes", json::array()},
              {"texts", json::array()},
              {"floats", json::array()},
              {"spaces", json::array()},
              {"versions", json::array()}};
  for (const json& item : in["bytes"]) out["bytes"].push_back(Bytes(Unhex(item)));
  for (const json& item : in["texts"]) {
    const std::string text = Unhex(item);
    out["texts"].push_back({{"repr", Hex(flwr::core::PythonRepr(text))},
                            {"strip", Hex(flwr::core::PythonStrip(text))}});
  }
  for (const json& item : in["floats"]) {
    const std::string bits = Unhex(item);
    double value = 0;
    std::memcpy(&value, bits.data(), sizeof(value));
    out["floats"].push_back(flwr::core::PythonFloatRepr(value));
  }
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if (flwr::core::IsPythonSpace(c)) out["spaces"].push_back(static_cast<uint32_t>(c));
  }
  for (const json& item : in["versions"]) out["versions"].push_back(Version(Unhex(item)));
  std::cout << out.dump() << "\n";
  return 0;
}
