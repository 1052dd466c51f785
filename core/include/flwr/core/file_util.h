// Reading whole files, for every binary (certificates, keys, secrets, configs).
#ifndef FLWR_CORE_FILE_UTIL_H_
#define FLWR_CORE_FILE_UTIL_H_

#include <string>

#include "absl/status/statusor.h"

namespace flwr::core {

// The whole file at `path`; NotFound ("cannot read <path>") if it cannot be read.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace flwr::core

#endif  // FLWR_CORE_FILE_UTIL_H_
