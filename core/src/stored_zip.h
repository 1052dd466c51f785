// A zip archive whose entries are stored uncompressed, as numpy's np.savez and torch.save write
// theirs (npz.cc). Private to flwr::app.
#ifndef FLWR_CORE_SRC_STORED_ZIP_H_
#define FLWR_CORE_SRC_STORED_ZIP_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace flwr::core::internal {

// Writes `entries` (name, bytes), in order, to a new file at `path`, replacing it. The bytes
// must outlive the call. No entries: the 22-byte end-of-directory record numpy writes for an
// empty archive. Internal if the file cannot be written.
absl::Status WriteStoredZip(const std::string& path,
                            const std::vector<std::pair<std::string, absl::string_view>>& entries);

}  // namespace flwr::core::internal

#endif  // FLWR_CORE_SRC_STORED_ZIP_H_
