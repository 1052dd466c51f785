#include "flwr/core/python_compat.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace flwr::core {
namespace {

bool IsContinuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// What a lead byte allows (Unicode's table of well-formed sequences): the sequence length and
// the range of its second byte, narrower than 80..BF where the shortest form, the surrogates
// or the limit U+10FFFF demand it. Length 0: not a lead byte.
struct Utf8Lead {
  size_t length;
  unsigned char second_min, second_max;
};

Utf8Lead LeadOf(unsigned char ch) {
  if (ch < 0xC2 || ch > 0xF4) return {0, 0x80, 0xBF};
  if (ch < 0xE0) return {2, 0x80, 0xBF};
  Utf8Lead lead = {ch < 0xF0 ? 3u : 4u, 0x80, 0xBF};
  if (ch == 0xE0) lead.second_min = 0xA0;  // overlong below U+0800
  if (ch == 0xED) lead.second_max = 0x9F;  // surrogates
  if (ch == 0xF0) lead.second_min = 0x90;  // overlong below U+10000
  if (ch == 0xF4) lead.second_max = 0x8F;  // above U+10FFFF
  return lead;
}

// One step of CPython's utf8_decode at text[pos]: a code point, or the error that its
// UnicodeDecodeError reports there.
struct Utf8Step {
  const char* error;  // nullptr for a code point, else the UnicodeDecodeError reason
  char32_t cp;        // the code point, if no error
  size_t end;         // just past the code point, or past the bytes the error names
};

Utf8Step DecodeOne(absl::string_view text, size_t pos) {
  const auto at = [&](size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const unsigned char ch = at(0);
  if (ch < 0x80) return {nullptr, ch, pos + 1};
  const Utf8Lead lead = LeadOf(ch);
  if (lead.length == 0) return {"invalid start byte", 0, pos + 1};
  char32_t value = ch & (0x7F >> lead.length);
  for (size_t i = 1; i < lead.length; ++i) {
    if (pos + i >= text.size()) return {"unexpected end of data", 0, text.size()};
    const unsigned char b = at(i);
    const bool valid = i == 1 ? b >= lead.second_min && b <= lead.second_max : IsContinuation(b);
    if (!valid) return {"invalid continuation byte", 0, pos + i};
    value = (value << 6) | (b & 0x3F);
  }
  return {nullptr, value, pos + lead.length};
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

// str() of the UnicodeDecodeError for the failed `step` at bytes[pos].
absl::Status DecodeError(absl::string_view bytes, size_t pos, const Utf8Step& step) {
  if (step.end == pos + 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("'utf-8' codec can't decode byte 0x%02x in position %d: %s",
                        static_cast<unsigned char>(bytes[pos]), pos, step.error));
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "'utf-8' codec can't decode bytes in position %d-%d: %s", pos, step.end - 1, step.error));
}

// Decodes `text`, appending its code points to `out` unless it is null.
absl::Status DecodeInto(absl::string_view text, std::vector<CodePoint>* out) {
  for (size_t pos = 0; pos < text.size();) {
    const Utf8Step step = DecodeOne(text, pos);
    if (step.error != nullptr) return DecodeError(text, pos, step);
    if (out != nullptr) out->push_back({step.cp, pos, step.end});
    pos = step.end;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckUtf8(absl::string_view bytes) { return DecodeInto(bytes, nullptr); }

absl::Status DecodeUtf8(absl::string_view text, std::vector<CodePoint>* out) {
  out->clear();
  return DecodeInto(text, out);
}

size_t DecodeCodePointAt(absl::string_view text, size_t pos, char32_t* cp) {
  if (pos >= text.size()) return 0;
  const Utf8Step step = DecodeOne(text, pos);
  if (step.error != nullptr) return 0;
  *cp = step.cp;
  return step.end - pos;
}

std::string DecodeUtf8Replace(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t pos = 0; pos < bytes.size();) {
    const Utf8Step step = DecodeOne(bytes, pos);
    if (step.error != nullptr) {
      out.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
    } else {
      out.append(bytes.data() + pos, step.end - pos);
    }
    pos = step.end;
  }
  return out;
}

std::string DecodeLatin1(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (const char c : bytes) AppendUtf8(static_cast<unsigned char>(c), &out);
  return out;
}

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

bool IsStrictJsonObject(absl::string_view text) {
  // nlohmann's parser, as json.loads with parse_constant rejecting them, knows no NaN or
  // Infinity.
  const nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return value.is_object();
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

std::string PythonFloatRepr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  const std::to_chars_result r =
      std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  const std::string sci(buf, r.ptr);  // the shortest round trip, e.g. "-1.6666666666666667e+00"
  const size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  const int exponent = std::stoi(sci.substr(e + 1));
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits.push_back(c);
  }
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      absl::StrAppend(&out, "0.", std::string(-exponent - 1, '0'), digits);
    } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
      absl::StrAppend(&out, digits, std::string(exponent + 1 - digits.size(), '0'), ".0");
    } else {
      absl::StrAppend(&out, digits.substr(0, exponent + 1), ".", digits.substr(exponent + 1));
    }
    return out;
  }
  absl::StrAppend(&out, digits.substr(0, 1));
  if (digits.size() > 1) absl::StrAppend(&out, ".", digits.substr(1));
  absl::StrAppend(&out, absl::StrFormat("e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent)));
  return out;
}

std::string PythonJsonString(absl::string_view text, bool ensure_ascii) {
  // nlohmann's string escaping is byte-identical to json.dumps (same named escapes, \u00xx
  // for other controls and, with ensure_ascii, for DEL and everything above it, surrogate
  // pairs, lower-case hex, '/' kept), and its "replace" handler puts one U+FFFD for each
  // maximal invalid subpart as CPython's decode(errors="replace") does
  // (tests/golden/test_python_compat.py checks both against Python). Only strings are
  // dumped here: its containers use other separators than Python's ", " and ": ".
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', ensure_ascii, nlohmann::json::error_handler_t::replace);
}

std::optional<std::string> Base64DecodeValidated(absl::string_view text) {
  const size_t data_end = text.find_last_not_of('=') + 1;  // npos + 1 == 0: all pads
  if (text.size() - data_end > 2 || text.size() % 4 != 0) return std::nullopt;
  for (size_t i = 0; i < data_end; ++i) {
    const char c = text[i];
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') {
      return std::nullopt;
    }
  }
  if (data_end % 4 == 1) return std::nullopt;  // one symbol cannot end a quantum
  std::string out;
  if (!absl::Base64Unescape(text, &out)) return std::nullopt;
  return out;
}

}  // namespace flwr::core
