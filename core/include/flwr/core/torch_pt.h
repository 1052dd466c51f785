// `.pt` files as `torch.save(state_dict)` writes them, without libtorch, so that a binary that
// has no libtorch (the server image's flwr-serverapp) still leaves a model a PyTorch user
// loads with `torch.load`.
//
// The format is torch's zip serialization (torch >= 1.6): a stored zip with the records
// "archive/data.pkl" (a protocol-2 pickle of an OrderedDict name -> tensor, each tensor as
// torch._utils._rebuild_tensor_v2 over a persistent storage id), "archive/data/<i>" (the
// elements of tensor i, little-endian) and "archive/version" ("3\n"), as torch 1.13 writes
// them. tests/ml/test_ml_twin.py and tests/interop/test_demo_app.py load the files with
// PyTorch.
#ifndef FLWR_CORE_TORCH_PT_H_
#define FLWR_CORE_TORCH_PT_H_

#include <string>

#include "absl/status/status.h"
#include "flwr/core/records.h"

namespace flwr::core {

// Writes `arrays` as a state_dict, in order: each numpy Array becomes a CPU tensor of its
// dtype (bool, (u)int8, int16/32/64, float16/32/64, complex64/128), shape and element order
// (Fortran-ordered data keeps its bytes, with column-major strides). InvalidArgument for an
// Array that is not numpy data or whose dtype torch has no storage for (uint16..uint64,
// strings, datetimes, big-endian data); Internal if the file cannot be written.
absl::Status WriteTorchPt(const ArrayRecord& arrays, const std::string& path);

}  // namespace flwr::core

#endif  // FLWR_CORE_TORCH_PT_H_
