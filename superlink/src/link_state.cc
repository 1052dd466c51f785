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

absl::StatusOr<std::vector<std::string>> LinkState::StoreMessageWithObjectTree(
    absl::string_view session_id, const proto::Message& message, const proto::ObjectTree& tree) {
  absl::WriterMutexLock lock(&message_tree_mu_);
  const proto::Metadata& meta = message.metadata();
  absl::StatusOr<std::string> stored =
      meta.reply_to_message_id().empty() ? StoreMessageIns(message) : StoreMessageRes(message);
  if (!stored.ok()) return stored.status();
  return PreregisterObjectTree(session_id, meta.run_id(), tree);
}

}  // namespace flwr::superlink
