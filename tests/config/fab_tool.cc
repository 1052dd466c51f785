// fab_tool: runs flwr::core's FAB and config functions on files and arguments, and prints
// the result as one JSON object on stdout, for tests/config/test_fab_config.py.
//
//   fab_tool info FAB_FILE                 ParseFab
//   fab_tool config PYPROJECT_FILE         ParseFabConfig
//   fab_tool run-config FAB_FILE [ARG...]  FuseRunConfig(ParseFab(...).default_config,
//                                                       ParseConfigArgs(ARGs))
//   fab_tool config-args [ARG...]          ParseConfigArgs(ARGs), as `flwr run -c ARG ...`
//   fab_tool node-config ARG               ParseConfigArgs(ARG), as `--node-config ARG`
//   fab_tool read FAB_FILE PATH            ReadFabFile; writes the raw bytes to stdout
//   fab_tool hash FILE                     FabHash
//
// Success: {"ok": true, ...} and exit 0. Failure: {"ok": false, "code": "...",
// "message": "..."} on stdout, the message on stderr, and exit 1. Config values print as
// [key, type, value] with type int, float (value as a "%.17g" string), bool or str.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "flwr/core/fab.h"
#include "flwr/core/user_config.h"
#include "nlohmann/json.hpp"

namespace {

using flwr::core::UserConfig;
using nlohmann::json;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError("cannot open " + path);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

json ConfigJson(const UserConfig& config) {
  json out = json::array();
  for (const auto& [key, value] : config) {
    json entry = json::array({key});
    if (const auto* i = std::get_if<int64_t>(&value)) {
      entry.push_back("int"), entry.push_back(*i);
    } else if (const auto* u = std::get_if<uint64_t>(&value)) {
      entry.push_back("int"), entry.push_back(*u);
    } else if (const auto* d = std::get_if<double>(&value)) {
      entry.push_back("float"), entry.push_back(absl::StrFormat("%.17g", *d));
    } else if (const auto* b = std::get_if<bool>(&value)) {
      entry.push_back("bool"), entry.push_back(*b);
    } else if (const auto* s = std::get_if<std::string>(&value)) {
      entry.push_back("str"), entry.push_back(*s);
    } else {
      entry.push_back("bytes"), entry.push_back(std::get<flwr::core::Bytes>(value).value);
    }
    out.push_back(std::move(entry));
  }
  return out;
}

json InfoJson(const flwr::core::FabInfo& info) {
  json components = json::array();
  for (const auto& [key, value] : info.components) components.push_back({key, value});
  return {
      {"ok", true},
      {"publisher", info.publisher},
      {"name", info.name},
      {"version", info.version},
      {"fab_id", info.fab_id},
      {"app_id", info.app_id()},
      {"is_agentapp", info.is_agentapp()},
      {"components", components},
      {"config", ConfigJson(info.default_config)},
      {"fab_format_version", info.fab_format_version},
      {"flwr_version_min", info.flwr_version_min ? json(*info.flwr_version_min) : json()},
      {"flwr_version_target", info.flwr_version_target ? json(*info.flwr_version_target) : json()}};
}

int Fail(const absl::Status& status) {
  json out = {{"ok", false},
              {"code", absl::StatusCodeToString(status.code())},
              {"message", std::string(status.message())}};
  std::cout << out.dump() << "\n";
  std::cerr << "fab_tool: " << status.message() << "\n";
  return 1;
}

int Print(const json& out) {
  std::cout << out.dump() << "\n";
  return 0;
}

int Run(const std::vector<std::string>& args) {
  const std::string& command = args.empty() ? std::string() : args[0];
  const std::vector<std::string> rest(args.empty() ? args.end() : args.begin() + 1, args.end());
  if (command == "info" && rest.size() == 1) {
    absl::StatusOr<std::string> content = ReadFile(rest[0]);
    if (!content.ok()) return Fail(content.status());
    absl::StatusOr<flwr::core::FabInfo> info = flwr::core::ParseFab(*content);
    if (!info.ok()) return Fail(info.status());
    json out = InfoJson(*info);
    out["fab_hash"] = flwr::core::FabHash(*content);
    return Print(out);
  }
  if (command == "config" && rest.size() == 1) {
    absl::StatusOr<std::string> content = ReadFile(rest[0]);
    if (!content.ok()) return Fail(content.status());
    absl::StatusOr<flwr::core::FabInfo> info = flwr::core::ParseFabConfig(*content);
    if (!info.ok()) return Fail(info.status());
    return Print(InfoJson(*info));
  }
  if (command == "run-config" && !rest.empty()) {
    absl::StatusOr<std::string> content = ReadFile(rest[0]);
    if (!content.ok()) return Fail(content.status());
    absl::StatusOr<flwr::core::FabInfo> info = flwr::core::ParseFab(*content);
    if (!info.ok()) return Fail(info.status());
    absl::StatusOr<UserConfig> overrides =
        flwr::core::ParseConfigArgs(absl::MakeConstSpan(rest).subspan(1));
    if (!overrides.ok()) return Fail(overrides.status());
    absl::StatusOr<UserConfig> fused = flwr::core::FuseRunConfig(info->default_config, *overrides);
    if (!fused.ok()) return Fail(fused.status());
    return Print({{"ok", true}, {"config", ConfigJson(*fused)}});
  }
  if (command == "config-args") {
    absl::StatusOr<UserConfig> config = flwr::core::ParseConfigArgs(absl::MakeConstSpan(rest));
    if (!config.ok()) return Fail(config.status());
    return Print({{"ok", true}, {"config", ConfigJson(*config)}});
  }
  if (command == "node-config" && rest.size() == 1) {
    absl::StatusOr<UserConfig> config = flwr::core::ParseConfigArgs(absl::string_view(rest[0]));
    if (!config.ok()) return Fail(config.status());
    return Print({{"ok", true}, {"config", ConfigJson(*config)}});
  }
  if (command == "read" && rest.size() == 2) {
    absl::StatusOr<std::string> content = ReadFile(rest[0]);
    if (!content.ok()) return Fail(content.status());
    absl::StatusOr<std::string> data = flwr::core::ReadFabFile(*content, rest[1]);
    if (!data.ok()) return Fail(data.status());
    std::fwrite(data->data(), 1, data->size(), stdout);
    return 0;
  }
  if (command == "hash" && rest.size() == 1) {
    absl::StatusOr<std::string> content = ReadFile(rest[0]);
    if (!content.ok()) return Fail(content.status());
    return Print({{"ok", true}, {"hash", flwr::core::FabHash(*content)}});
  }
  std::cerr << "usage: fab_tool info|config|run-config|config-args|node-config|read|hash ...\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) { return Run(std::vector<std::string>(argv + 1, argv + argc)); }
