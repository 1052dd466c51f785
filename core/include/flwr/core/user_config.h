// Run configs and node configs (flwr's UserConfig) as the pinned flwr builds them: the
// `-c/--run-config` overrides of `flwr run`, `flower-supernode --node-config`, and the
// fusion of a FAB's default run config with a run's overrides (flwr/common/config.py).
#ifndef FLWR_CORE_USER_CONFIG_H_
#define FLWR_CORE_USER_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "flwr/core/message.h"

namespace flwr::core {

// flwr's fuse_dicts(defaults, overrides) on flat configs. Each override replaces the value of
// the same key in place, with the override's type: nothing is coerced (an int default
// overridden by "abc" becomes a string). Returns InvalidArgument
// "Key '<key>' is not present in the main dictionary" for the first override key, in order,
// that `defaults` lacks. The pinned SuperLink runs this in StartRun to validate a run's
// overrides against the FAB's `[tool.flwr.app.config]` (and stores the overrides unfused).
absl::StatusOr<UserConfig> FuseRunConfig(const UserConfig& defaults, const UserConfig& overrides);

// flwr's parse_config_args(args), which `flwr run -c ARG ...` uses:
//  * no args, or only empty ones: {}.
//  * exactly one arg ending in ".toml": the path of a TOML file ('~' expanded), read and
//    flattened whole. NotFound if it cannot be read, InvalidArgument if it is not TOML.
//  * otherwise each non-empty arg is scanned for `key=value` pairs with flwr's regular
//    expression (\S+?)=('[^']*'|"[^"]*"|\S+); text that does not match is silently
//    skipped (so "a= 1" gives {}). The pairs become the TOML lines "key = value": a value is
//    TOML (123, 1.5, true, "str", 'str', {a = 1}); a dotted key nests. Each arg's top-level
//    keys replace earlier ones in place (Python's dict.update, so "-c a.b=1 -c a.c=2" gives
//    {"a.c": 2}), and the result is flattened with '.'.
// Errors, all InvalidArgument except as noted, with flwr's messages:
//  * an arg ending in ".toml" beside other args:
//    "TOML files cannot be passed alongside key-value pairs."
//  * TOML that does not parse: "The provided configuration string is in an invalid format.
//    The correct format should be, e.g., 'key1=123 key2=false key3="string"', where values
//    must be of type bool, int, string, or float. Ensure proper formatting with
//    space-separated key-value pairs." (one line)
//  * an array, date or time value: "The value for key <k> needs to be of type `int`,
//    `float`, `bool, `str`, or  a `dict` of those."
//  * an arg that is not valid UTF-8.
// Integers outside int64 are rejected as invalid TOML (Python accepts them here but cannot
// send them: user_config_to_proto raises). TOML 1.1-only syntax is rejected (toml++ reads
// TOML 1.0; flwr's tomli reads 1.1).
absl::StatusOr<UserConfig> ParseConfigArgs(absl::Span<const std::string> args);

// How `flower-supernode --node-config ARG` parses its single argument:
// parse_config_args([arg]), and {} for an empty arg. An arg ending in ".toml" is a file path.
absl::StatusOr<UserConfig> ParseConfigArgs(absl::string_view arg);

// Parses TOML text and flattens the whole document as flatten_dict(tomli.loads(text)).
// InvalidArgument if the text is not UTF-8 TOML or holds an array, date or time value.
absl::StatusOr<UserConfig> ParseFlatTomlConfig(absl::string_view toml_text);

}  // namespace flwr::core

#endif  // FLWR_CORE_USER_CONFIG_H_
