#include "flwr/core/python_json.h"

#include <cstdint>

namespace flwr::core {
namespace {

void AppendUnicodeEscape(uint32_t unit, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->append("\\u");
  for (int shift = 12; shift >= 0; shift -= 4) out->push_back(kHex[(unit >> shift) & 0xF]);
}

// Decodes one UTF-8 sequence at text[*pos]; returns false on malformed input (overlong
// forms, surrogates, code points above U+10FFFF, truncation).
bool DecodeUtf8(absl::string_view text, size_t* pos, uint32_t* cp) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char b0 = byte(*pos);
  size_t len;
  uint32_t min;
  if (b0 < 0x80) {
    *cp = b0;
    *pos += 1;
    return true;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, *cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, *cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, *cp = b0 & 0x07, min = 0x10000;
  } else {
    return false;
  }
  if (*pos + len > text.size()) return false;
  for (size_t i = 1; i < len; ++i) {
    const unsigned char b = byte(*pos + i);
    if ((b & 0xC0) != 0x80) return false;
    *cp = (*cp << 6) | (b & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return false;
  *pos += len;
  return true;
}

}  // namespace

bool IsValidUtf8(absl::string_view text) {
  size_t pos = 0;
  uint32_t cp;
  while (pos < text.size()) {
    if (!DecodeUtf8(text, &pos, &cp)) return false;
  }
  return true;
}

absl::Status AppendPythonJsonString(absl::string_view text, std::string* out) {
  out->push_back('"');
  size_t pos = 0;
  while (pos < text.size()) {
    uint32_t cp;
    if (!DecodeUtf8(text, &pos, &cp)) {
      return absl::InvalidArgumentError("string is not valid UTF-8");
    }
    switch (cp) {
      case '"':
        out->append("\\\"");
        continue;
      case '\\':
        out->append("\\\\");
        continue;
      case '\n':
        out->append("\\n");
        continue;
      case '\r':
        out->append("\\r");
        continue;
      case '\t':
        out->append("\\t");
        continue;
      case '\b':
        out->append("\\b");
        continue;
      case '\f':
        out->append("\\f");
        continue;
      default:
        break;
    }
    // Python escapes everything outside ' '..'~', DEL included.
    if (cp < 0x20 || cp > 0x7E) {
      if (cp < 0x10000) {
        AppendUnicodeEscape(cp, out);
      } else {
        const uint32_t v = cp - 0x10000;
        AppendUnicodeEscape(0xD800 | (v >> 10), out);
        AppendUnicodeEscape(0xDC00 | (v & 0x3FF), out);
      }
    } else {
      out->push_back(static_cast<char>(cp));
    }
  }
  out->push_back('"');
  return absl::OkStatus();
}

}  // namespace flwr::core
