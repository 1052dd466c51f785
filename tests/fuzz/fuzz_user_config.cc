// libFuzzer target for the run-config and node-config parsers (user_config.h): the
// `flwr run -c/--run-config` overrides, `flower-supernode --node-config`, and the TOML of a
// FAB's default config, fused with a run's overrides in StartRun.
//
// Input: arguments separated by '\n' (at most 16). An argument ending in ".toml" would be
// read as a file path, so such arguments are dropped: the target parses strings only.
//
// Invariants:
//  - ParseConfigArgs, ParseFlatTomlConfig and FuseRunConfig fail only with InvalidArgument;
//  - a parsed config survives the protobuf round trip (UserConfigToProto, UserConfigFromProto)
//    unchanged up to key order, and parsing is deterministic (an empty key is fine: flwr's
//    parse_config_args turns `""="m"` into {"": "m"} too);
//  - the single-argument form (--node-config) equals the list form on that argument;
//  - fusing a config with itself gives it back, and fusing with {} gives the defaults.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/user_config.h"
#include "flwr/proto/transport.pb.h"
#include "fuzz_util.h"

namespace {

using namespace flwr::core;  // NOLINT
using flwr::fuzz::HasNaN;
using flwr::fuzz::Show;

constexpr size_t kMaxArgs = 16;

void CheckFailure(const absl::Status& status, absl::string_view what) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
             std::string(what) + ": " + status.ToString());
}

// Checks a parsed config; `input` is for messages.
void CheckConfig(const UserConfig& config, absl::string_view input) {
  google::protobuf::Map<std::string, flwr::proto::Scalar> proto;
  const absl::Status encoded = UserConfigToProto(config, &proto);
  FUZZ_CHECK(encoded.ok(), encoded.ToString() + " for " + Show(input));
  absl::StatusOr<UserConfig> decoded = UserConfigFromProto(proto);
  FUZZ_CHECK(decoded.ok(), decoded.status().ToString());
  FUZZ_CHECK(decoded->size() == config.size(), "proto round trip changed the size");
  if (!HasNaN(config)) {
    for (const auto& [key, value] : config) {
      const UserConfigValue* back = decoded->Find(key);
      FUZZ_CHECK(back != nullptr && *back == value, "proto round trip changed " + Show(key));
    }
  }
  absl::StatusOr<UserConfig> self = FuseRunConfig(config, config);
  FUZZ_CHECK(self.ok(), self.status().ToString());
  absl::StatusOr<UserConfig> none = FuseRunConfig(config, {});
  FUZZ_CHECK(none.ok(), none.status().ToString());
  if (!HasNaN(config)) {
    FUZZ_CHECK(*self == config, "fusing a config with itself changed it");
    FUZZ_CHECK(*none == config, "fusing with {} changed the defaults");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args;
  for (absl::string_view arg : absl::StrSplit(input, '\n')) {
    if (args.size() == kMaxArgs) break;
    if (absl::EndsWith(arg, ".toml")) continue;  // a file path: not read by the fuzzer
    args.emplace_back(arg);
  }

  absl::StatusOr<UserConfig> overrides = ParseConfigArgs(absl::MakeConstSpan(args));
  if (!overrides.ok()) {
    CheckFailure(overrides.status(), "ParseConfigArgs");
  } else {
    CheckConfig(*overrides, input);
    absl::StatusOr<UserConfig> again = ParseConfigArgs(absl::MakeConstSpan(args));
    FUZZ_CHECK(again.ok(), "second parse failed");
    if (!HasNaN(*overrides)) FUZZ_CHECK(*again == *overrides, "second parse differs");
  }
  if (args.size() == 1) {
    absl::StatusOr<UserConfig> single = ParseConfigArgs(absl::string_view(args[0]));
    FUZZ_CHECK(single.ok() == overrides.ok(), "--node-config form decides differently");
    if (single.ok() && !HasNaN(*single)) {
      FUZZ_CHECK(*single == *overrides, "--node-config form differs");
    }
  }

  // The whole input as a FAB's TOML defaults, fused with the parsed overrides.
  absl::StatusOr<UserConfig> defaults = ParseFlatTomlConfig(input);
  if (!defaults.ok()) {
    CheckFailure(defaults.status(), "ParseFlatTomlConfig");
    return 0;
  }
  CheckConfig(*defaults, input);
  if (overrides.ok()) {
    absl::StatusOr<UserConfig> fused = FuseRunConfig(*defaults, *overrides);
    if (!fused.ok()) {
      CheckFailure(fused.status(), "FuseRunConfig");
    } else {
      FUZZ_CHECK(fused->size() == defaults->size(), "fusing added keys");
    }
  }
  return 0;
}
