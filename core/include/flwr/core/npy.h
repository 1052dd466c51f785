// NumPy `.npy` encoding, byte-identical to `np.save(..., allow_pickle=False)`.
//
// Flower's `Array` carries its tensor as the bytes `np.save` writes (stype "numpy.ndarray").
// This module writes exactly those bytes from a raw C-order buffer and parses them back with
// bounded, validated reads: nothing is allocated from sizes found in the input.
#ifndef FLWR_CORE_NPY_H_
#define FLWR_CORE_NPY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace flwr::core {

// The same limit numpy applies when reading a header (`max_header_size`).
inline constexpr size_t kNpyMaxHeaderSize = 10000;

// A numpy element type: its `str(dtype)` name, its `.npy` descr and its item size in bytes.
struct DType {
  std::string name;   // e.g. "float32", "bool", "<U5"
  std::string descr;  // e.g. "<f4", "|b1", "<U5"
  size_t itemsize = 0;
};

// Resolves a numpy dtype name as `str(np.dtype(...))` prints it ("float32", "int64", "bool",
// "complex64", "datetime64[s]", "<U5", ">f8", ...). Returns InvalidArgument for names numpy
// would not print or whose elements `np.save` cannot store without pickle.
absl::StatusOr<DType> DTypeFromName(absl::string_view name);

// Resolves a `.npy` descr ("<f4", "|b1", ">i8", "<U3", "<M8[ms]") to its dtype.
absl::StatusOr<DType> DTypeFromDescr(absl::string_view descr);

// The parsed header of a `.npy` buffer; `data` views the element bytes inside that buffer.
struct NpyArray {
  DType dtype;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  absl::string_view data;  // exactly product(shape) * itemsize bytes
};

// Parses `.npy` bytes (format versions 1.0, 2.0 and 3.0). Returns InvalidArgument for a bad
// magic string, an unknown version, a header that is longer than kNpyMaxHeaderSize or not a
// well-formed numpy header dict, an unsupported descr, negative or overflowing dimensions, or
// element bytes that do not match the shape exactly. The result views `npy`.
absl::StatusOr<NpyArray> ParseNpy(absl::string_view npy);

// Returns the bytes `np.save` writes for a C-order array of `dtype` with `shape` whose
// elements are `data`. Returns InvalidArgument if `data` does not hold exactly
// product(shape) elements or a dimension is negative.
absl::StatusOr<std::string> EncodeNpy(const DType& dtype, absl::Span<const int64_t> shape,
                                      absl::string_view data);

// Number of elements of `shape` (1 for a scalar), or nullopt on a negative dimension or
// overflow of int64.
std::optional<int64_t> NumElements(absl::Span<const int64_t> shape);

}  // namespace flwr::core

#endif  // FLWR_CORE_NPY_H_
