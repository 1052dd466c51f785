// libFuzzer target for flwr::core's `.npy` decoder (ParseNpy) and its dtype resolution
// (DTypeFromDescr, DTypeFromName).
//
// Invariants checked on every input ParseNpy accepts:
//  - the element bytes are exactly product(shape) * itemsize and are the input's tail;
//  - the dtype is consistent: DTypeFromName(name) resolves to the same name, item size and
//    descr (byte order of the order-free kinds S and V compared as '|'), and the descr is in
//    numpy's canonical form (what np.dtype(descr).str prints);
//  - for a C-order array, EncodeNpy(dtype, shape, data) succeeds, re-parses to the same dtype,
//    shape and data, has np.save's layout (64-byte aligned header ending in '\n') and
//    re-encodes to the same bytes. The input itself need not be canonical.
// A prefix of the input (length from its first byte) is also resolved as a descr and as a
// name, and whatever resolves must resolve back consistently.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "flwr/core/npy.h"
#include "fuzz_util.h"

namespace {

using flwr::core::DType;
using flwr::fuzz::Show;

std::string Describe(const DType& d) {
  return absl::StrCat("{name=", Show(d.name), " descr=", Show(d.descr), " itemsize=", d.itemsize,
                      "}");
}

// S and V elements have no byte order; numpy writes them with '|'.
std::string OrderFree(absl::string_view descr) {
  std::string out(descr);
  if (out.size() >= 2 && (out[1] == 'S' || out[1] == 'V')) out[0] = '|';
  return out;
}

// The form numpy prints as dtype.str: order, kind, a size without sign, blanks or leading
// zeros, and for datetimes an optional unit other than "generic" (numpy drops it).
bool IsCanonicalDescr(absl::string_view descr) {
  if (descr.size() < 3) return false;
  size_t i = 2;
  if (descr[i] == '0') return false;
  while (i < descr.size() && absl::ascii_isdigit(static_cast<unsigned char>(descr[i]))) ++i;
  if (i == 2) return false;
  if (i == descr.size()) return true;
  if (descr[i] != '[' || descr.back() != ']') return false;
  // A datetime unit: numpy drops a multiplier of 1 and leading zeros, and prints no unit for
  // "generic" whatever its multiplier.
  absl::string_view unit = descr.substr(i + 1, descr.size() - i - 2);
  size_t digits = 0;
  while (digits < unit.size() && absl::ascii_isdigit(static_cast<unsigned char>(unit[digits]))) {
    ++digits;
  }
  absl::string_view multiplier = unit.substr(0, digits);
  if (unit.substr(digits) == "generic" || multiplier == "1") return false;
  return multiplier.size() <= 1 || multiplier[0] != '0';
}

// Everything a dtype the parser produced must satisfy.
void CheckDType(const DType& d) {
  FUZZ_CHECK(d.itemsize > 0, Describe(d));
  FUZZ_CHECK(IsCanonicalDescr(d.descr), Describe(d));
  auto by_name = flwr::core::DTypeFromName(d.name);
  FUZZ_CHECK(by_name.ok(), absl::StrCat(Describe(d), ": ", by_name.status().ToString()));
  FUZZ_CHECK(by_name->name == d.name, Describe(d) + " vs " + Describe(*by_name));
  FUZZ_CHECK(by_name->itemsize == d.itemsize, Describe(d) + " vs " + Describe(*by_name));
  FUZZ_CHECK(OrderFree(by_name->descr) == OrderFree(d.descr),
             Describe(d) + " vs " + Describe(*by_name));
  auto by_descr = flwr::core::DTypeFromDescr(d.descr);
  FUZZ_CHECK(by_descr.ok(), absl::StrCat(Describe(d), ": ", by_descr.status().ToString()));
  FUZZ_CHECK(
      by_descr->name == d.name && by_descr->descr == d.descr && by_descr->itemsize == d.itemsize,
      Describe(d) + " vs " + Describe(*by_descr));
}

void CheckSameArray(const flwr::core::NpyArray& a, const flwr::core::NpyArray& b) {
  FUZZ_CHECK(a.dtype.name == b.dtype.name && a.dtype.descr == b.dtype.descr &&
                 a.dtype.itemsize == b.dtype.itemsize,
             Describe(a.dtype) + " vs " + Describe(b.dtype));
  FUZZ_CHECK(a.fortran_order == b.fortran_order, "fortran_order differs");
  FUZZ_CHECK(a.shape == b.shape, absl::StrCat("(", absl::StrJoin(a.shape, ","), ") vs (",
                                              absl::StrJoin(b.shape, ","), ")"));
  FUZZ_CHECK(a.data == b.data, "element bytes differ");
}

void FuzzParseNpy(absl::string_view input) {
  auto parsed = flwr::core::ParseNpy(input);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument ||
                   parsed.status().code() == absl::StatusCode::kUnimplemented,
               parsed.status().ToString());
    return;
  }
  const flwr::core::NpyArray& npy = *parsed;

  // Element bytes: exactly product(shape) * itemsize, viewing the tail of the input.
  FUZZ_CHECK(npy.shape.size() <= 64, absl::StrCat(npy.shape.size(), " dimensions"));
  std::optional<int64_t> count = flwr::core::NumElements(npy.shape);
  FUZZ_CHECK(count.has_value(), "shape accepted but NumElements overflows");
  unsigned __int128 nbytes = static_cast<unsigned __int128>(*count) * npy.dtype.itemsize;
  FUZZ_CHECK(nbytes == npy.data.size(), absl::StrCat(*count, " elements of ", npy.dtype.itemsize,
                                                     " bytes, data holds ", npy.data.size()));
  FUZZ_CHECK(npy.data.data() + npy.data.size() == input.data() + input.size(),
             "data does not view the tail of the input");

  CheckDType(npy.dtype);

  if (npy.fortran_order) return;  // EncodeNpy writes C order only.
  auto encoded = flwr::core::EncodeNpy(npy.dtype, npy.shape, npy.data);
  FUZZ_CHECK(encoded.ok(), encoded.status().ToString());
  auto reparsed = flwr::core::ParseNpy(*encoded);
  FUZZ_CHECK(reparsed.ok(), absl::StrCat(reparsed.status().ToString(), " for ", Show(*encoded)));
  CheckSameArray(npy, *reparsed);
  // np.save's layout: the header (magic, version, length, dict, padding, '\n') fills a
  // multiple of 64 bytes.
  const size_t header_size = encoded->size() - npy.data.size();
  FUZZ_CHECK(header_size % 64 == 0, absl::StrCat("header of ", header_size, " bytes"));
  FUZZ_CHECK((*encoded)[header_size - 1] == '\n', Show(*encoded));
  auto again = flwr::core::EncodeNpy(reparsed->dtype, reparsed->shape, reparsed->data);
  FUZZ_CHECK(again.ok() && *again == *encoded, "EncodeNpy is not idempotent");
}

void FuzzDTypeStrings(absl::string_view input) {
  if (input.empty()) return;
  const size_t n = static_cast<unsigned char>(input[0]) % 32;
  const absl::string_view text = input.substr(1, n);

  auto by_descr = flwr::core::DTypeFromDescr(text);
  if (by_descr.ok()) {
    CheckDType(*by_descr);
  } else {
    FUZZ_CHECK(by_descr.status().code() == absl::StatusCode::kInvalidArgument,
               by_descr.status().ToString());
  }

  auto by_name = flwr::core::DTypeFromName(text);
  if (by_name.ok()) {
    FUZZ_CHECK(by_name->name == text, Show(text) + " resolved to " + Describe(*by_name));
    CheckDType(*by_name);
  } else {
    FUZZ_CHECK(by_name.status().code() == absl::StatusCode::kInvalidArgument,
               by_name.status().ToString());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  FuzzParseNpy(input);
  FuzzDTypeStrings(input);
  return 0;
}
