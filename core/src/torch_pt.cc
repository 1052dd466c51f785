// WriteTorchPt: torch.save's zip format with a hand-made protocol-2 pickle (the opcodes
// torch.save emits for a state_dict, without its memo, which the unpickler does not need).
#include "flwr/core/torch_pt.h"

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/npy.h"
#include "stored_zip.h"

namespace flwr::core {
namespace {

// numpy dtype name -> the torch storage class torch.save names for that tensor dtype.
const absl::flat_hash_map<std::string, std::string>& StorageClasses() {
  static const auto* classes =
      new absl::flat_hash_map<std::string, std::string>{{"bool", "BoolStorage"},
                                                        {"uint8", "ByteStorage"},
                                                        {"int8", "CharStorage"},
                                                        {"int16", "ShortStorage"},
                                                        {"int32", "IntStorage"},
                                                        {"int64", "LongStorage"},
                                                        {"float16", "HalfStorage"},
                                                        {"float32", "FloatStorage"},
                                                        {"float64", "DoubleStorage"},
                                                        {"complex64", "ComplexFloatStorage"},
                                                        {"complex128", "ComplexDoubleStorage"}};
  return *classes;
}

// The opcodes of pickle protocol 2 that torch.save's state_dicts use.
class Pickle {
 public:
  Pickle() { out_ += "\x80\x02"; }
  void Global(absl::string_view module, absl::string_view name) {
    absl::StrAppend(&out_, "c", module, "\n", name, "\n");
  }
  void Text(absl::string_view text) {  // BINUNICODE: utf-8 bytes after a uint32 length
    out_ += 'X';
    AppendLittleEndian(text.size(), 4);
    out_.append(text.data(), text.size());
  }
  void Int(int64_t value) {
    if (value >= 0 && value < 256) {  // BININT1
      out_ += 'K';
      out_ += static_cast<char>(value);
    } else if (value >= std::numeric_limits<int32_t>::min() &&
               value <= std::numeric_limits<int32_t>::max()) {  // BININT
      out_ += 'J';
      AppendLittleEndian(static_cast<uint64_t>(value), 4);
    } else {  // LONG1, 8 bytes of two's complement
      out_ += "\x8a\x08";
      AppendLittleEndian(static_cast<uint64_t>(value), 8);
    }
  }
  void Tuple(const std::vector<int64_t>& values) {
    Mark();
    for (int64_t value : values) Int(value);
    Op('t');
  }
  void Mark() { Op('('); }
  void Op(char op) { out_ += op; }
  // An empty OrderedDict: collections.OrderedDict().
  void NewOrderedDict() {
    Global("collections", "OrderedDict");
    Op(')');  // EMPTY_TUPLE
    Op('R');  // REDUCE
  }
  std::string Finish() && {
    Op('.');
    return std::move(out_);
  }

 private:
  void AppendLittleEndian(uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) out_ += static_cast<char>((value >> (8 * i)) & 0xFF);
  }
  std::string out_;
};

// Element strides of `shape` in C order, or in Fortran (column-major) order.
std::vector<int64_t> Strides(const std::vector<int64_t>& shape, bool fortran_order) {
  std::vector<int64_t> strides(shape.size());
  int64_t stride = 1;
  for (size_t k = 0; k < shape.size(); ++k) {
    const size_t i = fortran_order ? k : shape.size() - 1 - k;
    strides[i] = stride;
    stride *= shape[i] > 0 ? shape[i] : 1;
  }
  return strides;
}

}  // namespace

absl::Status WriteTorchPt(const ArrayRecord& arrays, const std::string& path) {
  std::vector<std::pair<std::string, absl::string_view>> records;
  Pickle pickle;
  pickle.NewOrderedDict();
  if (!arrays.empty()) pickle.Mark();
  for (const auto& [name, array] : arrays) {
    absl::StatusOr<NpyArray> npy = array.Numpy();
    if (!npy.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Array '", name, "' is not numpy data: ", npy.status().message()));
    }
    const auto storage = StorageClasses().find(npy->dtype.name);
    if (storage == StorageClasses().end() || npy->dtype.descr[0] == '>') {
      return absl::InvalidArgumentError(absl::StrCat(
          "Array '", name, "' has dtype ", npy->dtype.descr, ", which a torch tensor cannot hold"));
    }
    const std::string key = std::to_string(records.size());
    records.emplace_back(absl::StrCat("archive/data/", key), npy->data);
    pickle.Text(name);
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks)
    pickle.Global("torch._utils", "_rebuild_tensor_v2");
    pickle.Mark();
    pickle.Mark();  // the persistent id: ('storage', <class>, key, location, numel)
    pickle.Text("storage");
    pickle.Global("torch", storage->second);
    pickle.Text(key);
    pickle.Text("cpu");
    pickle.Int(static_cast<int64_t>(npy->data.size() / npy->dtype.itemsize));
    pickle.Op('t');
    pickle.Op('Q');  // BINPERSID
    pickle.Int(0);
    pickle.Tuple(npy->shape);
    pickle.Tuple(Strides(npy->shape, npy->fortran_order));
    pickle.Op('\x89');  // NEWFALSE: requires_grad
    pickle.NewOrderedDict();
    pickle.Op('t');
    pickle.Op('R');
  }
  if (!arrays.empty()) pickle.Op('u');  // SETITEMS
  const std::string data_pkl = std::move(pickle).Finish();
  records.insert(records.begin(), {"archive/data.pkl", data_pkl});
  records.emplace_back("archive/version", "3\n");
  return internal::WriteStoredZip(path, records);
}

}  // namespace flwr::core
