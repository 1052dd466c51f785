// Internal to flwr::core: TOML documents as the pinned flwr sees them (`tomli.loads`), and
// flwr's flatten_dict over them.
//
// Parsing uses toml++ (TOML 1.0). Tables keep their keys in document order, the order in
// which tomli inserts them into Python dicts. Known differences from tomli 2.5 (TOML 1.1):
// TOML 1.1-only syntax (\e and \xHH escapes, newlines and trailing commas in inline tables,
// times without seconds) is rejected, as are integers outside int64 and floats that
// overflow to infinity (Python keeps big ints and reads 1e400 as inf). A UTF-8 byte order
// mark is rejected as tomli rejects it.
#ifndef FLWR_CORE_SRC_TOML_VALUE_H_
#define FLWR_CORE_SRC_TOML_VALUE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flwr/core/message.h"

namespace flwr::core::internal {

// A parsed TOML value. Dates and times keep their TOML text in `string`.
struct TomlValue {
  enum class Kind { kTable, kArray, kString, kInteger, kFloat, kBool, kDate, kTime, kDateTime };

  Kind kind = Kind::kTable;
  std::string string;
  int64_t integer = 0;
  double floating = 0;
  bool boolean = false;
  std::vector<std::string> keys;  // kTable: keys in document order
  std::vector<TomlValue> items;   // kTable: the value of each key; kArray: the elements

  bool is_table() const { return kind == Kind::kTable; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_integer() const { return kind == Kind::kInteger; }

  // For a table: the value under `key`, or nullptr. nullptr for any other kind.
  const TomlValue* Find(absl::string_view key) const;

  // For a table: sets `key` to `value`, keeping the key's position if it exists (as
  // Python's dict.__setitem__). No-op for any other kind.
  void Set(absl::string_view key, TomlValue value);
};

// Parses TOML `text` (which must be valid UTF-8) into its root table. Returns
// InvalidArgument with toml++'s description and position when the text is not TOML.
absl::StatusOr<TomlValue> ParseToml(absl::string_view text);

// Appends `table` to `out` as flwr's flatten_dict(table) does: nested tables' keys joined
// with '.', bool/integer/float/string values kept as they are, a later duplicate flat key
// replacing the earlier value in place. Returns InvalidArgument with flwr's message
// "The value for key <leaf key> needs to be of type `int`, `float`, `bool, `str`, or  a
// `dict` of those." for the first other value (array, date, time) in document order, as
// flwr's flatten_dict and _validate_run_config both do. `table` must be a table.
absl::Status FlattenTomlTable(const TomlValue& table, UserConfig* out);

}  // namespace flwr::core::internal

#endif  // FLWR_CORE_SRC_TOML_VALUE_H_
