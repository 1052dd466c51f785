// SaveArraysPt and SaveArraysNpz (declared in cifar_cnn.h): the final model as run artifacts.
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "flwr/cnn/cifar_cnn.h"
#include "flwr/core/npz.h"
#include "torch_arrays.h"

namespace flwr::cnn {
namespace {

absl::Status WriteFile(const std::string& path, const char* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out.write(data, static_cast<std::streamsize>(size)) || !out.flush()) {
    return absl::InternalError(absl::StrCat("cannot write '", path, "'"));
  }
  return absl::OkStatus();
}

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
  return core::WriteNpz(arrays, path);
}

}  // namespace flwr::cnn
