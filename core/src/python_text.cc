#include "python_text.h"

#include <cstdint>

#include "absl/strings/str_format.h"

namespace flwr::core::internal {
namespace {

bool IsContinuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// The outcome of decoding one sequence, as CPython's utf8_decode classifies it.
enum class Utf8Step { kOk, kEndOfData, kInvalidStart, kInvalidContinuation };

// Decodes the sequence at text[pos]. On kOk sets *cp and *len; on kInvalidContinuation sets
// *len to the length of the maximal invalid subpart (1 to 3 bytes) that Python reports.
Utf8Step DecodeOne(absl::string_view text, size_t pos, char32_t* cp, size_t* len) {
  const auto at = [&](size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const size_t left = text.size() - pos;
  const unsigned char ch = at(0);
  if (ch < 0x80) {
    *cp = ch, *len = 1;
    return Utf8Step::kOk;
  }
  if (ch < 0xC2) return Utf8Step::kInvalidStart;
  if (ch < 0xE0) {
    if (left < 2) return Utf8Step::kEndOfData;
    if (!IsContinuation(at(1))) return *len = 1, Utf8Step::kInvalidContinuation;
    *cp = (static_cast<char32_t>(ch & 0x1F) << 6) | (at(1) & 0x3F), *len = 2;
    return Utf8Step::kOk;
  }
  if (ch < 0xF0) {
    const auto bad_second = [&](unsigned char ch2) {
      return !IsContinuation(ch2) || (ch2 < 0xA0 ? ch == 0xE0 : ch == 0xED);
    };
    if (left < 3) {
      if (left < 2) return Utf8Step::kEndOfData;
      if (bad_second(at(1))) return *len = 1, Utf8Step::kInvalidContinuation;
      return Utf8Step::kEndOfData;
    }
    if (bad_second(at(1))) return *len = 1, Utf8Step::kInvalidContinuation;
    if (!IsContinuation(at(2))) return *len = 2, Utf8Step::kInvalidContinuation;
    *cp = (static_cast<char32_t>(ch & 0x0F) << 12) | ((at(1) & 0x3F) << 6) | (at(2) & 0x3F);
    *len = 3;
    return Utf8Step::kOk;
  }
  if (ch < 0xF5) {
    const auto bad_second = [&](unsigned char ch2) {
      return !IsContinuation(ch2) || (ch2 < 0x90 ? ch == 0xF0 : ch == 0xF4);
    };
    if (left < 4) {
      if (left < 2) return Utf8Step::kEndOfData;
      if (bad_second(at(1))) return *len = 1, Utf8Step::kInvalidContinuation;
      if (left < 3) return Utf8Step::kEndOfData;
      if (!IsContinuation(at(2))) return *len = 2, Utf8Step::kInvalidContinuation;
      return Utf8Step::kEndOfData;
    }
    if (bad_second(at(1))) return *len = 1, Utf8Step::kInvalidContinuation;
    if (!IsContinuation(at(2))) return *len = 2, Utf8Step::kInvalidContinuation;
    if (!IsContinuation(at(3))) return *len = 3, Utf8Step::kInvalidContinuation;
    *cp = (static_cast<char32_t>(ch & 0x07) << 18) | ((at(1) & 0x3F) << 12) |
          ((at(2) & 0x3F) << 6) | (at(3) & 0x3F);
    *len = 4;
    return Utf8Step::kOk;
  }
  return Utf8Step::kInvalidStart;
}

// str.isprintable() for the code points Flower's messages can plausibly hold.
bool IsPythonPrintable(char32_t c) {
  if (c < 0x20 || c == 0x7F) return false;
  if (c < 0x7F) return true;
  if (c <= 0xA0 || c == 0xAD) return false;  // C1 controls, NBSP, soft hyphen
  if (c == 0x061C || c == 0x1680 || c == 0x180E) return false;
  if (c >= 0x2000 && c <= 0x200F) return false;  // spaces and format characters
  if (c >= 0x2028 && c <= 0x202F) return false;  // separators, bidi controls, NNBSP
  if (c >= 0x205F && c <= 0x206F) return false;
  if (c == 0x3000 || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB)) return false;
  if (c == 0xFFFE || c == 0xFFFF) return false;
  if (c >= 0xD800 && c <= 0xF8FF) return false;  // surrogates and private use
  if (c == 0x110BD || c == 0xE0001 || (c >= 0xE0020 && c <= 0xE007F)) return false;
  if (c >= 0xF0000) return false;  // private use planes
  return true;
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

}  // namespace

bool IsPythonSpace(char32_t c) {
  switch (c) {
    case ' ':
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x1F:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

absl::Status DecodeUtf8(absl::string_view text, std::vector<CodePoint>* out) {
  out->clear();
  size_t pos = 0;
  while (pos < text.size()) {
    char32_t cp = 0;
    size_t len = 0;
    const Utf8Step step = DecodeOne(text, pos, &cp, &len);
    if (step != Utf8Step::kOk) return CheckUtf8(text);
    out->push_back({cp, pos, pos + len});
    pos += len;
  }
  return absl::OkStatus();
}

absl::Status CheckUtf8(absl::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    char32_t cp = 0;
    size_t len = 0;
    size_t end = 0;
    const char* reason = nullptr;
    switch (DecodeOne(bytes, pos, &cp, &len)) {
      case Utf8Step::kOk:
        pos += len;
        continue;
      case Utf8Step::kEndOfData:
        reason = "unexpected end of data", end = bytes.size();
        break;
      case Utf8Step::kInvalidStart:
        reason = "invalid start byte", end = pos + 1;
        break;
      case Utf8Step::kInvalidContinuation:
        reason = "invalid continuation byte", end = pos + len;
        break;
    }
    if (end == pos + 1) {
      return absl::InvalidArgumentError(
          absl::StrFormat("'utf-8' codec can't decode byte 0x%02x in position %d: %s",
                          static_cast<unsigned char>(bytes[pos]), pos, reason));
    }
    return absl::InvalidArgumentError(absl::StrFormat(
        "'utf-8' codec can't decode bytes in position %d-%d: %s", pos, end - 1, reason));
  }
  return absl::OkStatus();
}

absl::string_view PythonStrip(absl::string_view text) {
  std::vector<CodePoint> cps;
  if (!DecodeUtf8(text, &cps).ok()) return text;
  size_t first = 0;
  size_t last = cps.size();
  while (first < last && IsPythonSpace(cps[first].value)) ++first;
  while (last > first && IsPythonSpace(cps[last - 1].value)) --last;
  if (first == last) return text.substr(0, 0);
  return text.substr(cps[first].begin, cps[last - 1].end - cps[first].begin);
}

std::string PythonRepr(absl::string_view text) {
  std::vector<CodePoint> cps;
  if (!DecodeUtf8(text, &cps).ok()) cps.clear();
  const bool has_single = text.find('\'') != absl::string_view::npos;
  const bool has_double = text.find('"') != absl::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (const CodePoint& cp : cps) {
    const char32_t c = cp.value;
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\t') {
      out.append("\\t");
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '\r') {
      out.append("\\r");
    } else if (!IsPythonPrintable(c)) {
      if (c < 0x100) {
        out.append(absl::StrFormat("\\x%02x", static_cast<uint32_t>(c)));
      } else if (c < 0x10000) {
        out.append(absl::StrFormat("\\u%04x", static_cast<uint32_t>(c)));
      } else {
        out.append(absl::StrFormat("\\U%08x", static_cast<uint32_t>(c)));
      }
    } else {
      AppendUtf8(c, &out);
    }
  }
  out.push_back(quote);
  return out;
}

}  // namespace flwr::core::internal
