// Reading whole files, for every binary (certificates, keys, secrets, configs), and paths as
// Python's pathlib spells them.
#ifndef FLWR_CORE_FILE_UTIL_H_
#define FLWR_CORE_FILE_UTIL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace flwr::core {

// The whole file at `path`; NotFound ("cannot read <path>") if it cannot be read.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// `path` with a leading "~" (alone or before "/") replaced by $HOME, as Python's
// os.path.expanduser; unchanged otherwise or when HOME is unset.
std::string ExpandUser(absl::string_view path);

}  // namespace flwr::core

#endif  // FLWR_CORE_FILE_UTIL_H_
