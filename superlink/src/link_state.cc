#include "flwr/superlink/link_state.h"

#include "absl/strings/str_cat.h"
#include "link_state_util.h"

namespace flwr::superlink {

absl::StatusOr<std::unique_ptr<LinkState>> LinkState::Open(absl::string_view database,
                                                           Clock clock) {
  absl::StatusOr<std::unique_ptr<core::ObjectStore>> store = core::ObjectStore::Open(database);
  if (database == core::kInMemoryDatabase) {
    if (!store.ok()) return store.status();
    return NewInMemoryLinkState(*std::move(store), std::move(clock));
  }
  if (!store.ok()) {
    // The object store says which file and why, on one line.
    if (absl::IsUnavailable(store.status())) return store.status();
    return absl::UnavailableError(absl::StrCat("cannot open SuperLink database '", database,
                                               "': ", store.status().message()));
  }
  return OpenSqliteLinkState(database, *std::move(store), std::move(clock));
}

}  // namespace flwr::superlink
