#include <cstring>

#include "absl/strings/str_cat.h"
#include "flwr/core/records.h"

namespace flwr::core {

absl::StatusOr<Array> Array::FromRaw(absl::string_view dtype_name, std::vector<int64_t> shape,
                                     absl::string_view raw) {
  absl::StatusOr<DType> dtype = DTypeFromName(dtype_name);
  if (!dtype.ok()) return dtype.status();
  absl::StatusOr<std::string> npy = EncodeNpy(*dtype, shape, raw);
  if (!npy.ok()) return npy.status();
  return Array{dtype->name, std::move(shape), std::string(kStypeNumpy), *std::move(npy)};
}

absl::StatusOr<Array> Array::FromFloats(absl::Span<const float> values,
                                        std::vector<int64_t> shape) {
  static_assert(sizeof(float) == 4);
  return FromRaw("float32", std::move(shape),
                 absl::string_view(reinterpret_cast<const char*>(values.data()),
                                   values.size() * sizeof(float)));
}

absl::StatusOr<NpyArray> Array::Numpy() const {
  if (stype != kStypeNumpy) {
    return absl::FailedPreconditionError(
        absl::StrCat("array stype is '", stype, "', not '", kStypeNumpy, "'"));
  }
  absl::StatusOr<NpyArray> npy = ParseNpy(data);
  if (!npy.ok()) return npy.status();
  if (npy->dtype.name != dtype) {
    return absl::InvalidArgumentError(
        absl::StrCat("array dtype is '", dtype, "' but its data holds '", npy->dtype.name, "'"));
  }
  if (npy->shape != shape) {
    return absl::InvalidArgumentError("array shape does not match the shape of its data");
  }
  return npy;
}

}  // namespace flwr::core
