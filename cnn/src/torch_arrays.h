// Conversions between Flower Arrays (numpy `.npy` bytes) and libtorch tensors, private to
// flwr::cnn so that libtorch stays out of the public headers.
#ifndef FLWR_CNN_SRC_TORCH_ARRAYS_H_
#define FLWR_CNN_SRC_TORCH_ARRAYS_H_

#include <torch/torch.h>

#include <exception>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "flwr/core/records.h"

namespace flwr::cnn::internal {

// A contiguous CPU tensor holding a copy of `array`'s elements. Returns InvalidArgument for
// an array that is not valid numpy data, Fortran-ordered, or of a dtype torch lacks.
absl::StatusOr<torch::Tensor> TensorFromArray(const core::Array& array);

// The Array `ArrayRecord(state_dict)` in flwr holds for `tensor` (any device): numpy dtype
// name, shape, stype "numpy.ndarray", `np.save` bytes. InvalidArgument for a dtype numpy lacks.
absl::StatusOr<core::Array> ArrayFromTensor(const torch::Tensor& tensor);

// The Status for a libtorch exception caught at the library's boundary.
absl::Status InternalFromException(const char* what_failed, const std::exception& e);

}  // namespace flwr::cnn::internal

#endif  // FLWR_CNN_SRC_TORCH_ARRAYS_H_
