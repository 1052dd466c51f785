// libFuzzer target for FAB archives (fab.h): the zip bytes `flwr run` sends in StartRun and
// every SuperNode, ClientApp and ServerApp reads again (ParseFab, ReadFabFile). No component
// of ours writes a FAB's entries to disk (entries are read by name into memory), so zip-slip
// paths and symlink entries can only be names; what the target checks is that hostile
// archives — bombs, absurd entry counts, lying sizes, bad CRCs, encrypted or unknown
// compression, duplicate, symlink and "../" names — are refused cleanly or read as Python's
// zipfile reads them.
//
// Invariants:
//  - ReadFabFile fails only with InvalidArgument or NotFound, ParseFab only with
//    InvalidArgument; a successful read never exceeds kFabMaxUncompressedSize;
//  - ParseFab(content) decides exactly as ParseFabConfig(ReadFabFile(content,
//    "pyproject.toml")) for content within kFabMaxSize (the same info or the same message);
//  - reading is deterministic (the same entry reads the same twice).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "flwr/core/fab.h"
#include "fuzz_util.h"

namespace {

using namespace flwr::core;  // NOLINT
using flwr::fuzz::Show;

void CheckRead(absl::string_view content, absl::string_view path) {
  absl::StatusOr<std::string> data = ReadFabFile(content, path);
  if (!data.ok()) {
    FUZZ_CHECK(data.status().code() == absl::StatusCode::kInvalidArgument ||
                   data.status().code() == absl::StatusCode::kNotFound,
               data.status().ToString());
    return;
  }
  FUZZ_CHECK(data->size() <= kFabMaxUncompressedSize, absl::StrCat(data->size(), " bytes"));
  absl::StatusOr<std::string> again = ReadFabFile(content, path);
  FUZZ_CHECK(again.ok() && *again == *data, "second read differs for " + Show(path));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view content(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<FabInfo> info = ParseFab(content);
  if (!info.ok()) {
    FUZZ_CHECK(info.status().code() == absl::StatusCode::kInvalidArgument,
               info.status().ToString());
  }
  if (content.size() <= kFabMaxSize) {
    absl::StatusOr<std::string> pyproject = ReadFabFile(content, kFabConfigFile);
    if (!pyproject.ok()) {
      FUZZ_CHECK(!info.ok(), "ParseFab accepted a FAB whose pyproject.toml cannot be read");
      FUZZ_CHECK(
          info.status().message() == "Invalid FAB: " + std::string(pyproject.status().message()),
          info.status().ToString());
    } else {
      absl::StatusOr<FabInfo> direct = ParseFabConfig(*pyproject);
      FUZZ_CHECK(direct.ok() == info.ok(), info.status().ToString());
      if (direct.ok()) {
        FUZZ_CHECK(*direct == *info, "ParseFab and ParseFabConfig read different infos");
        FUZZ_CHECK(info->fab_id == info->publisher + "/" + info->name, info->fab_id);
      } else {
        FUZZ_CHECK(direct.status() == info.status(), info.status().ToString());
      }
    }
  }
  // Names that would escape an extraction directory, and a name that is rarely present.
  for (absl::string_view path : {"../pyproject.toml", "/etc/passwd", "link", "README.md"}) {
    CheckRead(content, path);
  }
  return 0;
}
