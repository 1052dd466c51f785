// libFuzzer target for ParseFabConfig (fab.h): the pyproject.toml of a FAB that a user, or any
// client of the Control API, sends in StartRun.
//
// Invariants:
//  - a rejection is InvalidArgument with a one-line, non-empty message;
//  - an accepted config names its app consistently: fab_id is "<publisher>/<name>", the
//    components hold a serverapp and a clientapp unless they hold an agentapp, every
//    component reference has a module and an attribute ("module:attr");
//  - parsing is deterministic (the same text parses to an equal FabInfo twice).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flwr/core/fab.h"
#include "fuzz_util.h"

namespace {

using namespace flwr::core;  // NOLINT
using flwr::fuzz::Show;

void CheckReference(const FabInfo& info, absl::string_view key) {
  const std::string* ref = info.components.Find(std::string(key));
  if (ref == nullptr) return;
  const size_t colon = ref->find(':');
  FUZZ_CHECK(colon != std::string::npos && colon > 0 && colon + 1 < ref->size(),
             std::string(key) + " = " + Show(*ref));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<FabInfo> info = ParseFabConfig(text);
  if (!info.ok()) {
    FUZZ_CHECK(info.status().code() == absl::StatusCode::kInvalidArgument,
               info.status().ToString());
    FUZZ_CHECK(!info.status().message().empty(), "empty error message");
    FUZZ_CHECK(info.status().message().find('\n') == absl::string_view::npos,
               "multi-line error: " + Show(info.status().message()));
    return 0;
  }
  FUZZ_CHECK(info->fab_id == info->publisher + "/" + info->name, Show(info->fab_id));
  FUZZ_CHECK(info->app_id() == "@" + info->fab_id, info->app_id());
  if (!info->is_agentapp()) {
    FUZZ_CHECK(info->components.Contains("serverapp") && info->components.Contains("clientapp"),
               "accepted without serverapp/clientapp: " + Show(text));
  }
  for (absl::string_view key : {"serverapp", "clientapp", "agentapp"}) CheckReference(*info, key);
  absl::StatusOr<FabInfo> again = ParseFabConfig(text);
  FUZZ_CHECK(again.ok() && *again == *info, "second parse differs");
  return 0;
}
