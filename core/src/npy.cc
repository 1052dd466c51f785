#include "flwr/core/npy.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace flwr::core {
namespace {

constexpr absl::string_view kMagic = "\x93NUMPY";
constexpr size_t kArrayAlign = 64;
// numpy pads the header so the first axis can grow in place to this many digits.
constexpr size_t kGrowthAxisMaxDigits = 21;

struct NumericKind {
  char kind;
  size_t size;
  absl::string_view name;
};

constexpr std::array<NumericKind, 16> kNumericKinds = {{
    {'b', 1, "bool"},
    {'i', 1, "int8"},
    {'i', 2, "int16"},
    {'i', 4, "int32"},
    {'i', 8, "int64"},
    {'u', 1, "uint8"},
    {'u', 2, "uint16"},
    {'u', 4, "uint32"},
    {'u', 8, "uint64"},
    {'f', 2, "float16"},
    {'f', 4, "float32"},
    {'f', 8, "float64"},
    {'f', 16, "float128"},
    {'c', 8, "complex64"},
    {'c', 16, "complex128"},
    {'c', 32, "complex256"},
}};

// A positive decimal number as numpy prints it: digits only, no sign, no leading zero.
bool IsCanonicalNumber(absl::string_view digits) {
  return !digits.empty() && digits[0] != '0' &&
         std::all_of(digits.begin(), digits.end(),
                     [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); });
}

bool IsDatetimeUnit(absl::string_view unit) {
  // An optional multiplier of at least 2 ("10s"; numpy drops a multiplier of 1) followed by
  // one of numpy's datetime units ("generic" has no bracket form in a descr).
  size_t i = 0;
  while (i < unit.size() && absl::ascii_isdigit(static_cast<unsigned char>(unit[i]))) ++i;
  const absl::string_view multiplier = unit.substr(0, i);
  if (!multiplier.empty() && (!IsCanonicalNumber(multiplier) || multiplier == "1")) return false;
  const absl::string_view base = unit.substr(i);
  for (absl::string_view u :
       {"Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"}) {
    if (base == u) return true;
  }
  return false;
}

absl::Status BadDescr(absl::string_view descr) {
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported numpy dtype descr '", absl::CHexEscape(descr), "'"));
}

// Splits a datetime descr tail "8[ms]" into size digits "8" and unit "ms".
bool SplitUnit(absl::string_view tail, absl::string_view* digits, absl::string_view* unit) {
  size_t open = tail.find('[');
  if (open == absl::string_view::npos) {
    *digits = tail;
    *unit = "";
    return true;
  }
  if (tail.back() != ']') return false;
  *digits = tail.substr(0, open);
  *unit = tail.substr(open + 1, tail.size() - open - 2);
  return IsDatetimeUnit(*unit);
}

}  // namespace

absl::StatusOr<DType> DTypeFromDescr(absl::string_view descr) {
  if (descr.size() < 3) return BadDescr(descr);
  const char order = descr[0];
  const char kind = descr[1];
  if (order != '<' && order != '>' && order != '|') return BadDescr(descr);
  absl::string_view digits;
  absl::string_view unit;
  if (!SplitUnit(descr.substr(2), &digits, &unit)) return BadDescr(descr);
  if (!unit.empty() && kind != 'm' && kind != 'M') return BadDescr(descr);
  uint64_t n = 0;
  if (!IsCanonicalNumber(digits) || digits.size() > 10 || !absl::SimpleAtoi(digits, &n) ||
      n > (1u << 30)) {
    return BadDescr(descr);
  }
  DType out;
  out.descr = std::string(descr);
  switch (kind) {
    case 'S':
    case 'V':
      // Byte strings and raw bytes have no byte order: numpy writes them with '|'.
      out.itemsize = n;
      out.name = absl::StrCat("|", absl::string_view(&kind, 1), n);
      out.descr = out.name;
      return out;
    case 'U':
      out.itemsize = 4 * n;
      out.name = std::string(descr);
      if (order == '|') return BadDescr(descr);
      return out;
    case 'm':
    case 'M': {
      if (n != 8 || order == '|') return BadDescr(descr);
      out.itemsize = 8;
      if (order == '>') {
        out.name = std::string(descr);
      } else {
        out.name = kind == 'M' ? "datetime64" : "timedelta64";
        if (!unit.empty() && unit != "generic") absl::StrAppend(&out.name, "[", unit, "]");
      }
      return out;
    }
    default:
      break;
  }
  for (const NumericKind& k : kNumericKinds) {
    if (k.kind != kind || k.size != n) continue;
    if (n > 1 && order == '|') return BadDescr(descr);
    out.itemsize = n;
    out.name = order == '>' && n > 1 ? std::string(descr) : std::string(k.name);
    if (n == 1) out.descr = absl::StrCat("|", descr.substr(1));
    return out;
  }
  return BadDescr(descr);
}

absl::StatusOr<DType> DTypeFromName(absl::string_view name) {
  for (const NumericKind& k : kNumericKinds) {
    if (k.name == name) {
      return DType{std::string(name),
                   absl::StrCat(k.size == 1 ? "|" : "<", absl::string_view(&k.kind, 1), k.size),
                   k.size};
    }
  }
  for (auto [prefix, code] :
       {std::pair<absl::string_view, absl::string_view>{"datetime64", "M"}, {"timedelta64", "m"}}) {
    if (name.substr(0, prefix.size()) == prefix) {
      absl::string_view rest = name.substr(prefix.size());
      absl::StatusOr<DType> d = DTypeFromDescr(absl::StrCat("<", code, "8", rest));
      if (d.ok() && d->name == name) return d;
      return absl::InvalidArgumentError(absl::StrCat("unsupported numpy dtype '", name, "'"));
    }
  }
  absl::StatusOr<DType> d = DTypeFromDescr(name);
  if (!d.ok() || d->name != name) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported numpy dtype '", absl::CHexEscape(name), "'"));
  }
  return d;
}

std::optional<int64_t> NumElements(absl::Span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t dim : shape) {
    if (dim < 0 || __builtin_mul_overflow(n, dim, &n)) return std::nullopt;
  }
  return n;
}

namespace {

// A cursor over the header text of a `.npy` file: a Python dict literal as numpy writes it.
class HeaderParser {
 public:
  explicit HeaderParser(absl::string_view text) : text_(text) {}

  absl::Status Parse(NpyArray* out) {
    bool have_descr = false, have_order = false, have_shape = false;
    SkipSpace();
    if (!Consume('{')) return Error("expected '{'");
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      std::string key;
      if (absl::Status s = ParseString(&key); !s.ok()) return s;
      SkipSpace();
      if (!Consume(':')) return Error("expected ':'");
      SkipSpace();
      absl::Status s = absl::OkStatus();
      if (key == "descr" && !have_descr) {
        have_descr = true;
        s = ParseDescr(out);
      } else if (key == "fortran_order" && !have_order) {
        have_order = true;
        s = ParseBool(&out->fortran_order);
      } else if (key == "shape" && !have_shape) {
        have_shape = true;
        s = ParseShape(&out->shape);
      } else {
        return Error(absl::StrCat("unexpected or repeated key '", absl::CHexEscape(key), "'"));
      }
      if (!s.ok()) return s;
      SkipSpace();
      if (Consume(',')) continue;
      SkipSpace();
      if (Consume('}')) break;
      return Error("expected ',' or '}'");
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("trailing characters after the header dict");
    if (!have_descr || !have_order || !have_shape) {
      return Error("header lacks one of 'descr', 'fortran_order', 'shape'");
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("malformed .npy header: ", what));
  }
  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool ConsumeWord(absl::string_view w) {
    if (text_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  absl::Status ParseString(std::string* out) {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) {
      return Error("expected a quoted string");
    }
    const char quote = text_[pos_++];
    size_t end = text_.find(quote, pos_);
    if (end == absl::string_view::npos) return Error("unterminated string");
    absl::string_view body = text_.substr(pos_, end - pos_);
    if (body.find('\\') != absl::string_view::npos) return Error("escapes are not supported");
    *out = std::string(body);
    pos_ = end + 1;
    return absl::OkStatus();
  }
  absl::Status ParseDescr(NpyArray* out) {
    if (pos_ < text_.size() && text_[pos_] == '[') {
      return absl::UnimplementedError("structured numpy dtypes are not supported");
    }
    std::string descr;
    if (absl::Status s = ParseString(&descr); !s.ok()) return s;
    absl::StatusOr<DType> dtype = DTypeFromDescr(descr);
    if (!dtype.ok()) return dtype.status();
    out->dtype = *std::move(dtype);
    return absl::OkStatus();
  }
  absl::Status ParseBool(bool* out) {
    if (ConsumeWord("True")) {
      *out = true;
    } else if (ConsumeWord("False")) {
      *out = false;
    } else {
      return Error("fortran_order is not True or False");
    }
    return absl::OkStatus();
  }
  absl::Status ParseShape(std::vector<int64_t>* shape) {
    if (!Consume('(')) return Error("shape is not a tuple");
    constexpr size_t kMaxDims = 64;  // numpy's NPY_MAXDIMS
    while (true) {
      SkipSpace();
      if (Consume(')')) return absl::OkStatus();
      size_t start = pos_;
      while (pos_ < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
        ++pos_;
      }
      int64_t dim = 0;
      if (start == pos_ || !absl::SimpleAtoi(text_.substr(start, pos_ - start), &dim)) {
        return Error("shape holds a value that is not a non-negative int64");
      }
      Consume('L');  // Python 2 longs, still readable by numpy
      if (shape->size() == kMaxDims) return Error("more than 64 dimensions");
      shape->push_back(dim);
      SkipSpace();
      if (Consume(',')) continue;
      SkipSpace();
      if (Consume(')')) return absl::OkStatus();
      return Error("expected ',' or ')' in shape");
    }
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

uint32_t ReadLittleEndian(absl::string_view bytes) {
  uint32_t v = 0;
  for (size_t i = bytes.size(); i-- > 0;) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}

std::string ShapeRepr(absl::Span<const int64_t> shape) {
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) absl::StrAppend(&out, i ? ", " : "", shape[i]);
  return out + ")";
}

}  // namespace

absl::StatusOr<NpyArray> ParseNpy(absl::string_view npy) {
  if (npy.size() < 10 || npy.substr(0, kMagic.size()) != kMagic) {
    return absl::InvalidArgumentError("not .npy data: bad magic string");
  }
  const int major = static_cast<unsigned char>(npy[6]);
  const int minor = static_cast<unsigned char>(npy[7]);
  if (major < 1 || major > 3 || minor != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported .npy format version ", major, ".", minor));
  }
  const size_t len_size = major == 1 ? 2 : 4;
  const size_t prefix = kMagic.size() + 2 + len_size;
  if (npy.size() < prefix) return absl::InvalidArgumentError("truncated .npy header");
  const size_t header_len = ReadLittleEndian(npy.substr(8, len_size));
  if (header_len > kNpyMaxHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(".npy header of ", header_len, " bytes exceeds ", kNpyMaxHeaderSize));
  }
  if (npy.size() - prefix < header_len) {
    return absl::InvalidArgumentError("truncated .npy header");
  }
  NpyArray out;
  HeaderParser parser(npy.substr(prefix, header_len));
  if (absl::Status s = parser.Parse(&out); !s.ok()) return s;
  std::optional<int64_t> count = NumElements(out.shape);
  uint64_t nbytes = 0;
  if (!count ||
      __builtin_mul_overflow(static_cast<uint64_t>(*count), out.dtype.itemsize, &nbytes)) {
    return absl::InvalidArgumentError(".npy shape overflows");
  }
  const size_t available = npy.size() - prefix - header_len;
  if (nbytes != available) {
    return absl::InvalidArgumentError(
        absl::StrCat(".npy data holds ", available, " bytes but its header describes ", nbytes));
  }
  out.data = npy.substr(prefix + header_len);
  return out;
}

absl::StatusOr<std::string> EncodeNpy(const DType& dtype, absl::Span<const int64_t> shape,
                                      absl::string_view data) {
  std::optional<int64_t> count = NumElements(shape);
  uint64_t nbytes = 0;
  if (!count || __builtin_mul_overflow(static_cast<uint64_t>(*count), dtype.itemsize, &nbytes)) {
    return absl::InvalidArgumentError("invalid array shape");
  }
  if (nbytes != data.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("array data holds ", data.size(), " bytes but its shape needs ", nbytes));
  }
  std::string header = absl::StrCat(
      "{'descr': '", dtype.descr, "', 'fortran_order': False, 'shape': ", ShapeRepr(shape), ", }");
  if (!shape.empty()) {
    header.append(kGrowthAxisMaxDigits - absl::StrCat(shape[0]).size(), ' ');
  }
  // Version 1.0 unless the header outgrows its 16-bit length field, as np.save chooses.
  const size_t hlen = header.size() + 1;
  size_t len_size = 2;
  size_t padlen = kArrayAlign - ((kMagic.size() + 2 + len_size + hlen) % kArrayAlign);
  if (hlen + padlen > 0xFFFF) {
    len_size = 4;
    padlen = kArrayAlign - ((kMagic.size() + 2 + len_size + hlen) % kArrayAlign);
  }
  const size_t total_header = hlen + padlen;
  std::string out;
  out.reserve(kMagic.size() + 2 + len_size + total_header + data.size());
  out.append(kMagic.data(), kMagic.size());
  out.push_back(static_cast<char>(len_size == 2 ? 1 : 2));
  out.push_back('\0');
  for (size_t i = 0; i < len_size; ++i)
    out.push_back(static_cast<char>((total_header >> (8 * i)) & 0xFF));
  out.append(header);
  out.append(padlen, ' ');
  out.push_back('\n');
  out.append(data.data(), data.size());
  return out;
}

}  // namespace flwr::core
