// Python's text semantics that flwr's observable behaviour depends on: bytes.decode() with
// its UnicodeDecodeError text, str.isspace(), str.strip(), repr() of str and float, and
// json.dumps() of a str. Strings are UTF-8 bytes; a Python str is the code points they
// decode to. Every function is pure and thread-safe.
//
// PEP 440 versions (packaging.version) live in core/src/python_packaging.h.
#ifndef FLWR_CORE_PYTHON_COMPAT_H_
#define FLWR_CORE_PYTHON_COMPAT_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace flwr::core {

// One decoded code point of a UTF-8 string and the byte range it occupies.
struct CodePoint {
  char32_t value;
  size_t begin;  // byte offset of its first byte
  size_t end;    // byte offset just past it
};

// OK if `bytes.decode("utf-8")` succeeds in Python (no overlong forms, surrogates, code
// points above U+10FFFF or truncated sequences); otherwise InvalidArgument whose message is
// exactly str() of Python's UnicodeDecodeError for the first error, e.g.
// "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte" or
// "'utf-8' codec can't decode bytes in position 2-3: invalid continuation byte".
absl::Status CheckUtf8(absl::string_view bytes);

// Decodes `text` into code points (cleared first). Fails as CheckUtf8 does, leaving `out`
// unspecified.
absl::Status DecodeUtf8(absl::string_view text, std::vector<CodePoint>* out);

// Decodes the code point that starts at text[pos]: returns its length in bytes and sets
// *cp, or returns 0 if `pos` is at the end of `text` or no valid sequence starts there.
size_t DecodeCodePointAt(absl::string_view text, size_t pos, char32_t* cp);

// `bytes.decode("utf-8", "replace")`, UTF-8 encoded: each maximal invalid subpart (the
// bytes one UnicodeDecodeError would name) becomes one U+FFFD.
std::string DecodeUtf8Replace(absl::string_view bytes);

// `bytes.decode("latin-1")`, UTF-8 encoded: every byte is the code point of its value.
std::string DecodeLatin1(absl::string_view bytes);

// str.isspace() of the one-character string `c` (also what `\s` matches in a str regex).
bool IsPythonSpace(char32_t c);

// Whether flwr's strict_json_loads(text) (json.loads without NaN and Infinity) is a JSON
// object (a dict), as flwr's validate_task_event_data requires of a task event's data.
bool IsStrictJsonObject(absl::string_view text);

// str.strip() with no argument: `text` without leading and trailing whitespace. `text` must
// be valid UTF-8; invalid input is returned unchanged.
absl::string_view PythonStrip(absl::string_view text);

// repr() of a str: single quotes unless the text holds a single quote and no double quote;
// backslash, the quote, \t, \n, \r escaped; other non-printable code points as \xhh, \uhhhh
// or \Uhhhhhhhh. Printability follows str.isprintable() for ASCII, Latin-1 and the Unicode
// space, separator, format and private-use characters; unassigned code points are kept as
// they are (Python escapes them). `text` must be valid UTF-8; invalid input gives ''.
std::string PythonRepr(absl::string_view text);

// repr() of a float: the shortest text that reads back as `value`, positional for exponents
// -4..15 ("0.0001", "1e+16", "1000000000000000.0"), "nan", "inf", "-inf".
std::string PythonFloatRepr(double value);

// json.dumps(s) of the str `s` that `text` decodes to with DecodeUtf8Replace: quoted, with
// Python's escapes (\" \\ \b \f \n \r \t, other control characters as \u00xx). With
// `ensure_ascii` (Python's default) every code point outside ' '..'~' is escaped as \uxxxx,
// astral ones as a surrogate pair, hex in lower case; without it only the characters above
// are. '/' is never escaped.
std::string PythonJsonString(absl::string_view text, bool ensure_ascii = true);

// base64.b64decode(text, validate=True): the decoded bytes, or nullopt where Python raises
// binascii.Error (a character outside the standard alphabet, '=' other than as up to two
// trailing pads, or a length that is not a multiple of 4). Non-zero trailing bits are
// accepted, as Python accepts them.
std::optional<std::string> Base64DecodeValidated(absl::string_view text);

}  // namespace flwr::core

#endif  // FLWR_CORE_PYTHON_COMPAT_H_
