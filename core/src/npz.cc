// WriteNpz / ReadNpz, and the stored zips of npz and torch_pt, on libzip.
#include "flwr/core/npz.h"

#include <zip.h>

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/npy.h"
#include "stored_zip.h"

namespace flwr::core {
namespace {

// Bounds against hostile archives: total uncompressed bytes and entries read.
constexpr uint64_t kMaxNpzBytes = uint64_t{4} << 30;
constexpr zip_int64_t kMaxNpzEntries = 65535;

struct ZipDiscard {
  void operator()(zip_t* zip) const { zip_discard(zip); }
};
struct ZipFileClose {
  void operator()(zip_file_t* file) const { zip_fclose(file); }
};

}  // namespace

namespace internal {

absl::Status WriteStoredZip(const std::string& path,
                            const std::vector<std::pair<std::string, absl::string_view>>& entries) {
  if (entries.empty()) {
    // libzip deletes an archive left empty; numpy's empty .npz is an end-of-directory record.
    const std::string empty_zip = std::string("PK\x05\x06", 4) + std::string(18, '\0');
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out.write(empty_zip.data(), static_cast<std::streamsize>(empty_zip.size())) ||
        !out.flush()) {
      return absl::InternalError(absl::StrCat("cannot write '", path, "'"));
    }
    return absl::OkStatus();
  }
  int error = 0;
  std::unique_ptr<zip_t, ZipDiscard> zip(zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error));
  if (zip == nullptr) return absl::InternalError(absl::StrCat("cannot write '", path, "'"));
  for (const auto& [name, bytes] : entries) {
    zip_source_t* source = zip_source_buffer(zip.get(), bytes.data(), bytes.size(), 0);
    if (source == nullptr) return absl::InternalError("zip_source_buffer failed");
    const zip_int64_t index =
        zip_file_add(zip.get(), name.c_str(), source, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
    if (index < 0) {
      zip_source_free(source);
      return absl::InternalError(absl::StrCat("cannot add '", name, "' to '", path, "'"));
    }
    zip_set_file_compression(zip.get(), static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
  }
  if (zip_close(zip.get()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot write '", path, "': ", zip_strerror(zip.get())));
  }
  zip.release();  // zip_close freed it
  return absl::OkStatus();
}

}  // namespace internal

absl::Status WriteNpz(const ArrayRecord& arrays, const std::string& path) {
  std::vector<std::pair<std::string, absl::string_view>> entries;
  for (const auto& [name, array] : arrays) {
    if (absl::Status s = array.Numpy().status(); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Array '", name, "' is not numpy data: ", s.message()));
    }
    entries.emplace_back(absl::StrCat(name, ".npy"), array.data);
  }
  return internal::WriteStoredZip(path, entries);
}

absl::StatusOr<ArrayRecord> ReadNpz(const std::string& path) {
  int error = 0;
  std::unique_ptr<zip_t, ZipDiscard> zip(zip_open(path.c_str(), ZIP_RDONLY, &error));
  if (zip == nullptr) {
    if (error == ZIP_ER_NOENT || error == ZIP_ER_OPEN) {
      return absl::NotFoundError(absl::StrCat("No such .npz file: '", path, "'"));
    }
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is not a zip (.npz) archive"));
  }
  const zip_int64_t entries = zip_get_num_entries(zip.get(), 0);
  if (entries < 0 || entries > kMaxNpzEntries) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' has too many entries"));
  }
  ArrayRecord arrays;
  uint64_t total = 0;
  for (zip_int64_t i = 0; i < entries; ++i) {
    zip_stat_t stat;
    if (zip_stat_index(zip.get(), static_cast<zip_uint64_t>(i), 0, &stat) != 0 ||
        !(stat.valid & ZIP_STAT_NAME) || !(stat.valid & ZIP_STAT_SIZE)) {
      return absl::InvalidArgumentError(absl::StrCat("unreadable entry in '", path, "'"));
    }
    const std::string name = stat.name;
    if (!absl::EndsWith(name, ".npy")) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "' holds '", name, "', which is not a .npy entry"));
    }
    total += stat.size;
    if (total > kMaxNpzBytes) {
      return absl::InvalidArgumentError(absl::StrCat("'", path, "' expands to too many bytes"));
    }
    std::string data(stat.size, '\0');
    std::unique_ptr<zip_file_t, ZipFileClose> file(
        zip_fopen_index(zip.get(), static_cast<zip_uint64_t>(i), 0));
    if (file == nullptr ||
        zip_fread(file.get(), data.data(), stat.size) != static_cast<zip_int64_t>(stat.size)) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read '", name, "' in '", path, "'"));
    }
    absl::StatusOr<NpyArray> npy = ParseNpy(data);
    if (!npy.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", name, "' in '", path, "': ", npy.status().message()));
    }
    Array array;
    array.dtype = npy->dtype.name;
    array.shape = npy->shape;
    array.stype = std::string(kStypeNumpy);
    array.data = std::move(data);
    arrays.Set(name.substr(0, name.size() - 4), std::move(array));
  }
  return arrays;
}

}  // namespace flwr::core
