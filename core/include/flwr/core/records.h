// Flower's records: Array, ArrayRecord, MetricRecord, ConfigRecord and RecordDict, with the
// value semantics of `flwr.app` (insertion-ordered keys, Python's typing of values).
#ifndef FLWR_CORE_RECORDS_H_
#define FLWR_CORE_RECORDS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "flwr/core/npy.h"
#include "flwr/core/ordered_map.h"

namespace flwr::core {

// The `stype` of arrays serialised with `np.save`, the only one flwr's own code produces.
inline constexpr absl::string_view kStypeNumpy = "numpy.ndarray";

// A byte string, kept apart from text so that a value is typed as Python types it.
struct Bytes {
  std::string value;
  friend bool operator==(const Bytes&, const Bytes&) = default;
};

// Immutable bytes that copies share: a model sent to N SuperNodes is N messages with one copy
// of its arrays' bytes, as Python's messages share their Array objects.
class SharedBytes {
 public:
  SharedBytes() = default;
  SharedBytes(std::string bytes)  // NOLINT(google-explicit-constructor): a value type
      : bytes_(std::make_shared<const std::string>(std::move(bytes))) {}
  SharedBytes(absl::string_view bytes)  // NOLINT(google-explicit-constructor)
      : SharedBytes(std::string(bytes)) {}
  SharedBytes(const char* bytes)  // NOLINT(google-explicit-constructor)
      : SharedBytes(std::string(bytes)) {}

  const std::string& str() const { return bytes_ ? *bytes_ : Empty(); }
  operator absl::string_view() const { return str(); }  // NOLINT(google-explicit-constructor)
  const char* data() const { return str().data(); }
  size_t size() const { return str().size(); }
  bool empty() const { return str().empty(); }

  friend bool operator==(const SharedBytes& a, const SharedBytes& b) { return a.str() == b.str(); }
  friend bool operator==(const SharedBytes& a, absl::string_view b) { return a.str() == b; }
  friend bool operator==(const SharedBytes& a, const std::string& b) { return a.str() == b; }
  friend bool operator==(const SharedBytes& a, const char* b) { return a.str() == b; }

 private:
  static const std::string& Empty() {
    static const std::string* const empty = new std::string();
    return *empty;
  }

  std::shared_ptr<const std::string> bytes_;
};

// A serialised tensor: `data` holds its bytes in the format named by `stype`
// (for "numpy.ndarray": the output of np.save). Mirrors `flwr.app.Array`. Copies share `data`.
struct Array {
  std::string dtype;           // as str(ndarray.dtype): "float32", "int64", ...
  std::vector<int64_t> shape;  // as ndarray.shape
  std::string stype;           // serialisation of `data`
  SharedBytes data;

  // Builds a numpy Array from C-order element bytes of `dtype_name`. Returns
  // InvalidArgument for an unknown dtype or data that does not match the shape.
  static absl::StatusOr<Array> FromRaw(absl::string_view dtype_name, std::vector<int64_t> shape,
                                       absl::string_view raw);

  // Builds a numpy Array of float32 elements.
  static absl::StatusOr<Array> FromFloats(absl::Span<const float> values,
                                          std::vector<int64_t> shape);

  // Parses `data` as `.npy` and checks that its dtype and shape are this Array's. Returns
  // FailedPrecondition if stype is not "numpy.ndarray", InvalidArgument on bad data. The
  // result views `data`: it is valid while this Array lives unchanged.
  absl::StatusOr<NpyArray> Numpy() const;

  friend bool operator==(const Array&, const Array&) = default;
};

using ArrayRecord = OrderedMap<Array>;

// Values of a MetricRecord: Python int/float and homogeneous lists of them. An integer above
// INT64_MAX is held as uint64_t (Flower sends it as uint64); every other integer as int64_t.
// An empty list has no element type in Python, and Flower sends it as a double list whatever
// list field it came in: decoding gives std::vector<double>{} for every empty list.
using MetricValue = std::variant<double, int64_t, uint64_t, std::vector<double>,
                                 std::vector<int64_t>, std::vector<uint64_t>>;
using MetricRecord = OrderedMap<MetricValue>;

// Values of a ConfigRecord: Python bool/int/float/str/bytes and homogeneous lists of them.
// An empty list is sent as a bool list (Python tries bool first, and all() of nothing is
// true): decoding gives std::vector<bool>{} for every empty list, so that a decoded value
// re-encodes to the bytes Python would send and equals what it decodes to again.
using ConfigValue = std::variant<double, int64_t, uint64_t, bool, std::string, Bytes,
                                 std::vector<double>, std::vector<int64_t>, std::vector<uint64_t>,
                                 std::vector<bool>, std::vector<std::string>, std::vector<Bytes>>;
using ConfigRecord = OrderedMap<ConfigValue>;

using Record = std::variant<ArrayRecord, MetricRecord, ConfigRecord>;
using RecordDict = OrderedMap<Record>;

}  // namespace flwr::core

#endif  // FLWR_CORE_RECORDS_H_
