// `.npz` files as numpy's np.savez writes them: a zip of "<name>.npy" entries, stored
// uncompressed. An Array's data already is what np.save writes, so arrays go in and out as
// they are.
#ifndef FLWR_CORE_NPZ_H_
#define FLWR_CORE_NPZ_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "flwr/core/records.h"

namespace flwr::core {

// Writes `arrays` in order. InvalidArgument for an array that is not numpy data; Internal if
// the file cannot be written.
absl::Status WriteNpz(const ArrayRecord& arrays, const std::string& path);

// Reads every entry, in archive order, as numpy arrays (stype "numpy.ndarray"). NotFound for a
// missing file; InvalidArgument for a file that is not a zip, an entry that is not a valid
// .npy, or an archive beyond 65535 entries or 4 GiB uncompressed.
absl::StatusOr<ArrayRecord> ReadNpz(const std::string& path);

}  // namespace flwr::core

#endif  // FLWR_CORE_NPZ_H_
