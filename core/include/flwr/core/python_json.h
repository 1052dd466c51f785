// JSON text exactly as Python's `json.dumps(obj)` writes it with default arguments:
// separators ", " and ": ", `ensure_ascii=True` (non-ASCII as \uXXXX escapes, astral code
// points as surrogate pairs, lowercase hex). Flower hashes such JSON bodies, so the bytes
// must match to the last space.
#ifndef FLWR_CORE_PYTHON_JSON_H_
#define FLWR_CORE_PYTHON_JSON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace flwr::core {

// Appends `text` (UTF-8) as a quoted JSON string to `out`. Returns InvalidArgument, leaving
// `out` unspecified, if `text` is not valid UTF-8 (Python str cannot hold such bytes).
absl::Status AppendPythonJsonString(absl::string_view text, std::string* out);

// True if `text` is valid UTF-8 without surrogates, as every Python str encodes to.
bool IsValidUtf8(absl::string_view text);

}  // namespace flwr::core

#endif  // FLWR_CORE_PYTHON_JSON_H_
