// Flower App Bundles (FABs): the zip archives that `flwr build` makes and `flwr run` sends in
// StartRun, and the checks the pinned SuperLink (flwr 1.36) runs on them before it creates a
// run: flwr/common/config.py get_fab_config, flwr/supercore/fab_format_version.py and
// flwr/superlink/servicer/control/control_handlers.py start_run.
//
// How the pinned SuperLink reacts, for callers that mirror it (the three stages of ParseFab):
//  1. content larger than kFabMaxSize: it logs an error and answers an empty
//     StartRunResponse.
//  2. ReadFabFile(content, "pyproject.toml") fails (not a zip, no pyproject.toml, ...): an
//     unhandled Python exception, so gRPC INTERNAL.
//  3. ParseFabConfig fails: its ValueError becomes FlowerError INVALID_RUN_CONFIG with the
//     message "Could not start run for flwr_aid=<aid>, federation_id=<id>: <message>", where
//     <message> is exactly ParseFabConfig's status message.
#ifndef FLWR_CORE_FAB_H_
#define FLWR_CORE_FAB_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flwr/core/message.h"
#include "flwr/core/ordered_map.h"

namespace flwr::core {

// flwr's FAB_MAX_SIZE: the largest FAB the SuperLink accepts, in bytes (10 MiB).
inline constexpr size_t kFabMaxSize = 10 * 1024 * 1024;

// Bounds of our own against zip bombs (flwr has none): the sum of the uncompressed sizes of
// all entries, and the number of entries, of a FAB this library reads.
inline constexpr uint64_t kFabMaxUncompressedSize = 10 * uint64_t{kFabMaxSize};
inline constexpr size_t kFabMaxEntries = 65535;

// The FAB's configuration file, at the root of the archive.
inline constexpr absl::string_view kFabConfigFile = "pyproject.toml";

// A FAB as flwr's `Fab` dataclass and `fab` proto: the archive, its SHA-256 and the
// verifications (signatures) that came with it.
struct Fab {
  std::string hash_str;  // FabHash(content) for a FAB this process made or stored
  std::string content;   // the zip archive
  OrderedMap<std::string> verifications;

  friend bool operator==(const Fab&, const Fab&) = default;
};

// Returns the lowercase hex SHA-256 of `content`, the FAB hash flwr stores and sends.
std::string FabHash(absl::string_view content);

// Returns a Fab holding `content`, with hash_str = FabHash(content).
Fab MakeFab(std::string content, OrderedMap<std::string> verifications = {});

// What the SuperLink reads from a valid FAB's pyproject.toml.
struct FabInfo {
  std::string publisher;  // [tool.flwr.app] publisher
  std::string name;       // [project] name
  std::string version;    // [project] version, as written (the run's fab_version)
  std::string fab_id;     // "<publisher>/<name>", the run's fab_id
  // [tool.flwr.app.components], in document order: "serverapp" and "clientapp" (required
  // unless "agentapp" is present), "agentapp", and any other keys with string values
  // (others are skipped).
  OrderedMap<std::string> components;
  // [tool.flwr.app.native] (our extension, ignored by stock Flower): the native executors the
  // app selects, e.g. {"serverapp": "fedavg-cifar-cnn", "clientapp": "cifar-cnn"}. String
  // values only; empty for a Python-only app.
  OrderedMap<std::string> native;
  // [tool.flwr.app.config] flattened with '.', in document order: the default run config.
  UserConfig default_config;
  // flwr's get_app_presentation_metadata (1.42): [tool.flwr.app] display-name and color and
  // [project] description, each only when a non-empty string (else empty).
  std::string display_name;
  std::string description;
  std::string color;
  // [tool.flwr.app] fab-format-version (0 when absent) and the compatibility metadata flwr
  // derives from it: the normalised highest `>=` bound of the "flwr" dependency, and for
  // format 1 the normalised flwr-version-target.
  int64_t fab_format_version = 0;
  std::optional<std::string> flwr_version_min;
  std::optional<std::string> flwr_version_target;

  // "@<publisher>/<name>", the app ID the SuperLink files the FAB under.
  std::string app_id() const { return "@" + fab_id; }
  // An AgentApp bundle: its primary task is "flwr-agentapp" rather than a ServerApp.
  bool is_agentapp() const { return components.Contains("agentapp"); }

  friend bool operator==(const FabInfo&, const FabInfo&) = default;
};

// Returns the bytes of the entry named `path` in the zip archive `content`, as Python's
// zipfile.ZipFile(content).open(path).read(): names are matched exactly (CP437 unless the
// entry's UTF-8 flag is set), and of duplicate names the last entry wins. Fails with:
//  * InvalidArgument: `content` is not a readable zip archive, it has more than
//    kFabMaxEntries entries or expands to more than kFabMaxUncompressedSize bytes, or the
//    entry is encrypted, uses an unsupported compression method or is corrupt (bad CRC).
//  * NotFound "There is no item named '<path>' in the archive".
// Thread-safe; `content` is only read.
absl::StatusOr<std::string> ReadFabFile(absl::string_view content, absl::string_view path);

// Validates the text of a FAB's pyproject.toml as the pinned SuperLink does in StartRun and
// returns what it reads from it. On failure returns InvalidArgument whose message is, where
// Python raises a ValueError, exactly str() of that error:
//  * bytes that are not UTF-8: Python's UnicodeDecodeError text, e.g. "'utf-8' codec can't
//    decode byte 0xff in position 0: invalid start byte".
//  * text that is not TOML: "Invalid TOML content in pyproject.toml".
//  * a run config value that is an array, date or time: "The value for key <leaf key> needs
//    to be of type `int`, `float`, `bool, `str`, or  a `dict` of those."
//  * missing fields, fab-format-version violations and malformed component references: the
//    repr of flwr's list of errors, one line, e.g.
//    "['Missing [project] section', 'Property \"publisher\" missing in [tool.flwr.app]']"
//    or "['Property \"clientapp\" missing in [tool.flwr.app.components]']".
// Where Python fails otherwise (a TypeError or AttributeError, so INTERNAL) or accepts a
// value it cannot use, this rejects with a message of its own, beginning
// "Invalid pyproject.toml: ": a [project], [tool], [tool.flwr], [tool.flwr.app],
// components or config entry that is not a table, a publisher, name, version or component
// reference that is not a string. TOML is read by toml++ (TOML 1.0): see
// core/src/toml_value.h for the few documents tomli 2.5 reads differently.
absl::StatusOr<FabInfo> ParseFabConfig(absl::string_view pyproject);

// The StartRun checks on a FAB, in the pinned SuperLink's order: size (InvalidArgument
// "FAB size exceeds maximum allowed size of 10485760 bytes."), then ReadFabFile(content,
// kFabConfigFile) (its failures as InvalidArgument "Invalid FAB: <message>"), then
// ParseFabConfig. See the top of this file for how the SuperLink answers each.
absl::StatusOr<FabInfo> ParseFab(absl::string_view content);

}  // namespace flwr::core

#endif  // FLWR_CORE_FAB_H_
