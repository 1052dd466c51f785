// Internal to flwr::core: Python's `str` semantics that FAB and config validation mirror
// (whitespace, strip, repr, and the UnicodeDecodeError of bytes.decode("utf-8")).
#ifndef FLWR_CORE_SRC_PYTHON_TEXT_H_
#define FLWR_CORE_SRC_PYTHON_TEXT_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace flwr::core::internal {

// True for the code points Python's str.isspace() (and `\s` in a str regex) accepts.
bool IsPythonSpace(char32_t c);

// One decoded code point of a UTF-8 string and the byte range it occupies.
struct CodePoint {
  char32_t value;
  size_t begin;  // byte offset of its first byte
  size_t end;    // byte offset just past it
};

// Decodes valid UTF-8 `text` into code points. Returns InvalidArgument with the message of
// Python's UnicodeDecodeError (see CheckUtf8) if `text` is not valid UTF-8.
absl::Status DecodeUtf8(absl::string_view text, std::vector<CodePoint>* out);

// OK if `bytes.decode("utf-8")` succeeds in Python; otherwise InvalidArgument whose message
// is exactly str() of Python's UnicodeDecodeError, e.g.
// "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte".
absl::Status CheckUtf8(absl::string_view bytes);

// As Python's str.strip() with no argument: drops leading and trailing whitespace.
// `text` must be valid UTF-8.
absl::string_view PythonStrip(absl::string_view text);

// As Python's repr() of a str: single quotes unless the text holds a single quote and no
// double quote; backslash, the quote, \t, \n, \r escaped; other non-printable code points as
// \xhh, \uhhhh or \Uhhhhhhhh. Printability follows str.isprintable() for ASCII, Latin-1 and
// the common Unicode space, separator and format characters (unassigned code points are
// kept as they are). `text` must be valid UTF-8.
std::string PythonRepr(absl::string_view text);

}  // namespace flwr::core::internal

#endif  // FLWR_CORE_SRC_PYTHON_TEXT_H_
