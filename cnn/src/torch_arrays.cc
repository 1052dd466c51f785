#include "torch_arrays.h"

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace flwr::cnn::internal {
namespace {

struct DTypePair {
  const char* numpy;
  torch::ScalarType torch;
};

// Little-endian numpy dtypes (as str(dtype) prints them) that torch has.
constexpr DTypePair kDTypes[] = {
    {"float32", torch::kFloat32},
    {"float64", torch::kFloat64},
    {"float16", torch::kFloat16},
    {"int8", torch::kInt8},
    {"int16", torch::kInt16},
    {"int32", torch::kInt32},
    {"int64", torch::kInt64},
    {"uint8", torch::kUInt8},
    {"bool", torch::kBool},
    {"complex64", torch::kComplexFloat},
    {"complex128", torch::kComplexDouble},
};

std::optional<torch::ScalarType> TorchType(absl::string_view numpy_name) {
  for (const DTypePair& pair : kDTypes) {
    if (numpy_name == pair.numpy) return pair.torch;
  }
  return std::nullopt;
}

const char* NumpyName(torch::ScalarType type) {
  for (const DTypePair& pair : kDTypes) {
    if (type == pair.torch) return pair.numpy;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<torch::Tensor> TensorFromArray(const core::Array& array) {
  absl::StatusOr<core::NpyArray> npy = array.Numpy();
  if (!npy.ok()) return npy.status();
  if (npy->fortran_order && npy->shape.size() > 1) {
    return absl::InvalidArgumentError("Fortran-ordered arrays are not supported");
  }
  const std::optional<torch::ScalarType> type = TorchType(npy->dtype.name);
  if (!type) {
    return absl::InvalidArgumentError(
        absl::StrCat("dtype '", npy->dtype.name, "' has no torch equivalent"));
  }
  try {
    torch::Tensor tensor = torch::empty(npy->shape, torch::TensorOptions().dtype(*type));
    if (!npy->data.empty()) std::memcpy(tensor.data_ptr(), npy->data.data(), npy->data.size());
    return tensor;
  } catch (const std::exception& e) {
    return InternalFromException("allocating a tensor", e);
  }
}

absl::StatusOr<core::Array> ArrayFromTensor(const torch::Tensor& tensor) {
  const char* name = NumpyName(tensor.scalar_type());
  if (name == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("torch dtype ", c10::toString(tensor.scalar_type()), " has no numpy twin"));
  }
  try {
    const torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    const std::vector<int64_t> shape(cpu.sizes().begin(), cpu.sizes().end());
    return core::Array::FromRaw(
        name, shape, absl::string_view(static_cast<const char*>(cpu.data_ptr()), cpu.nbytes()));
  } catch (const std::exception& e) {
    return InternalFromException("copying a tensor", e);
  }
}

absl::Status InternalFromException(const char* what_failed, const std::exception& e) {
  // c10::Error::what() carries a C++ backtrace after the first line: keep the message only.
  std::string message = e.what();
  if (const size_t eol = message.find('\n'); eol != std::string::npos) message.resize(eol);
  return absl::InternalError(absl::StrCat("libtorch failed ", what_failed, ": ", message));
}

}  // namespace flwr::cnn::internal
