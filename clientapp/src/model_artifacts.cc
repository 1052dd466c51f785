// SaveArraysPt and SaveArraysNpz (declared in cifar_cnn.h): the final model as run artifacts.
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>
#include <zip.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "flwr/clientapp/cifar_cnn.h"
#include "torch_arrays.h"

namespace flwr::clientapp {
namespace {

absl::Status WriteFile(const std::string& path, const char* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out.write(data, static_cast<std::streamsize>(size)) || !out.flush()) {
    return absl::InternalError(absl::StrCat("cannot write '", path, "'"));
  }
  return absl::OkStatus();
}

struct ZipDiscard {
  void operator()(zip_t* zip) const { zip_discard(zip); }
};

}  // namespace

absl::Status SaveArraysPt(const core::ArrayRecord& arrays, const std::string& path) {
  try {
    // A c10::Dict keeps insertion order; torch's pickler writes it, and the tensors, in the
    // format torch.save uses, so Python's torch.load returns a dict in the record's order.
    c10::Dict<std::string, at::Tensor> state_dict;
    for (const auto& [name, array] : arrays) {
      absl::StatusOr<torch::Tensor> tensor = internal::TensorFromArray(array);
      if (!tensor.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("array '", name, "': ", tensor.status().message()));
      }
      state_dict.insert(name, *tensor);
    }
    const std::vector<char> bytes = torch::pickle_save(c10::IValue(state_dict));
    return WriteFile(path, bytes.data(), bytes.size());
  } catch (const std::exception& e) {
    return internal::InternalFromException("writing a .pt file", e);
  }
}

absl::Status SaveArraysNpz(const core::ArrayRecord& arrays, const std::string& path) {
  // An Array's data already is what np.save writes; np.savez stores it uncompressed as
  // "<name>.npy" in a zip, and so does this.
  for (const auto& [name, array] : arrays) {
    absl::StatusOr<core::NpyArray> npy = array.Numpy();
    if (!npy.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("array '", name, "': ", npy.status().message()));
    }
  }
  if (arrays.empty()) {
    // libzip deletes an archive left empty; numpy's empty .npz is an end-of-directory record.
    const std::string empty_zip = std::string("PK\x05\x06", 4) + std::string(18, '\0');
    return WriteFile(path, empty_zip.data(), empty_zip.size());
  }
  int error = 0;
  std::unique_ptr<zip_t, ZipDiscard> zip(zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error));
  if (zip == nullptr) {
    zip_error_t zip_error;
    zip_error_init_with_code(&zip_error, error);
    absl::Status status = absl::InternalError(
        absl::StrCat("cannot create '", path, "': ", zip_error_strerror(&zip_error)));
    zip_error_fini(&zip_error);
    return status;
  }
  for (const auto& [name, array] : arrays) {
    zip_source_t* source = zip_source_buffer(zip.get(), array.data.data(), array.data.size(), 0);
    if (source == nullptr) return absl::InternalError(zip_strerror(zip.get()));
    const zip_int64_t index = zip_file_add(zip.get(), absl::StrCat(name, ".npy").c_str(), source,
                                           ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);
      return absl::InternalError(
          absl::StrCat("cannot add '", name, "' to '", path, "': ", zip_strerror(zip.get())));
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

}  // namespace flwr::clientapp
