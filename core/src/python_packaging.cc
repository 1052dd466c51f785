#include "python_packaging.h"

#include <algorithm>
#include <functional>
#include <initializer_list>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "flwr/core/python_compat.h"

// packaging matches with Python regular expressions. They are written out here as linear
// scans: std::regex recurses once per character and overflows the stack on long input.
// Every pattern below is either a fixed alternation or a sequence of optional parts that
// nothing mandatory follows, so taking each part greedily reproduces the regex's match.

namespace flwr::core::internal {
namespace {

constexpr size_t kNoMatch = absl::string_view::npos;

// Deeper marker nesting is refused (Python hits its recursion limit a little further on).
constexpr int kMaxMarkerNesting = 200;

// ----- characters --------------------------------------------------------------------------

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }
bool IsSep(char c) { return c == '-' || c == '_' || c == '.'; }

bool At(absl::string_view s, size_t i, char c) { return i < s.size() && s[i] == c; }

// Python's `\s` at s[i]: the length of the whitespace code point there, or 0.
size_t SpaceAt(absl::string_view s, size_t i) {
  char32_t cp = 0;
  const size_t len = DecodeCodePointAt(s, i, &cp);
  return len != 0 && IsPythonSpace(cp) ? len : 0;
}

size_t SkipSpaces(absl::string_view s, size_t i) {
  while (size_t len = SpaceAt(s, i)) i += len;
  return i;
}

size_t SkipDigits(absl::string_view s, size_t i) {
  while (i < s.size() && IsDigit(s[i])) ++i;
  return i;
}

// Python's word characters (`\w`, for `\b`): ASCII letters, digits and '_', and (an
// approximation of str.isalnum) every non-ASCII code point that is not whitespace.
bool IsWordCodePoint(char32_t cp) {
  if (cp < 0x80) return absl::ascii_isalnum(static_cast<unsigned char>(cp)) || cp == '_';
  return !IsPythonSpace(cp);
}

bool IsWordAt(absl::string_view s, size_t i) {
  char32_t cp = 0;
  return DecodeCodePointAt(s, i, &cp) != 0 && IsWordCodePoint(cp);
}

bool IsWordBefore(absl::string_view s, size_t i) {
  if (i == 0) return false;
  size_t start = i - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return IsWordAt(s, start);
}

// `\b` at position i.
bool Boundary(absl::string_view s, size_t i) { return IsWordBefore(s, i) != IsWordAt(s, i); }

// The first of `words` found at s[i] (ASCII case-insensitive, or exact): its length or 0.
size_t FirstWordAt(absl::string_view s, size_t i, std::initializer_list<absl::string_view> words,
                   bool ignore_case) {
  for (absl::string_view word : words) {
    if (s.size() - std::min(i, s.size()) < word.size()) continue;
    absl::string_view here = s.substr(i, word.size());
    if (ignore_case ? absl::EqualsIgnoreCase(here, word) : here == word) return word.size();
  }
  return 0;
}

// ----- numbers -----------------------------------------------------------------------------

std::string StripLeadingZeros(absl::string_view digits) {
  size_t first = digits.find_first_not_of('0');
  return first == absl::string_view::npos ? "0" : std::string(digits.substr(first));
}

// Compares two decimal strings without leading zeros as Python compares ints.
int CompareNumbers(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return a < b ? -1 : (a == b ? 0 : 1);
}

bool IsDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsDigit);
}

template <typename T>
int Sign(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

// ----- the version patterns of packaging/version.py and specifiers.py ----------------------

// Which version pattern to match: Version's VERSION_PATTERN, or the version alternative that
// Specifier's regex uses after ==/!=, after ~=, or after the ordering operators.
enum class Form { kVersion, kEquality, kCompatible, kOrdered };

// The groups of a version match; strings are empty where a group did not match.
struct VersionGroups {
  std::string epoch;
  std::string release;
  bool has_pre = false;
  std::string pre_l, pre_n;
  bool has_post = false;
  std::string post_l, post_n;  // post_l is empty for the "-N" form
  bool has_dev = false;
  std::string dev_n;
  bool has_local = false;
  std::string local;
};

// Matches `v? (N!)? N(.N)*` and the parts `form` allows at s[i]; returns the end or kNoMatch.
size_t ScanVersion(absl::string_view s, size_t i, Form form, VersionGroups* g) {
  const size_t n = s.size();
  if (i < n && (s[i] == 'v' || s[i] == 'V')) ++i;
  size_t digits_end = SkipDigits(s, i);
  if (digits_end > i && At(s, digits_end, '!')) {
    g->epoch = std::string(s.substr(i, digits_end - i));
    i = digits_end + 1;
    digits_end = SkipDigits(s, i);
  }
  if (digits_end == i) return kNoMatch;
  size_t release_end = digits_end;
  int parts = 1;
  while (At(s, release_end, '.') && release_end + 1 < n && IsDigit(s[release_end + 1])) {
    release_end = SkipDigits(s, release_end + 1);
    ++parts;
  }
  if (form == Form::kCompatible && parts < 2) return kNoMatch;
  g->release = std::string(s.substr(i, release_end - i));
  i = release_end;

  if (form == Form::kEquality && s.substr(i, 2) == ".*") return i + 2;

  // Pre-release: [-_.]? (alpha|beta|preview|pre|rc|a|b|c) [-_.]? [0-9]*
  size_t k = i + (i < n && IsSep(s[i]) ? 1 : 0);
  if (size_t len = FirstWordAt(s, k, {"alpha", "beta", "preview", "pre", "rc", "a", "b", "c"},
                               /*ignore_case=*/true)) {
    g->has_pre = true;
    g->pre_l = std::string(s.substr(k, len));
    k += len;
    if (k < n && IsSep(s[k])) ++k;
    const size_t end = SkipDigits(s, k);
    g->pre_n = std::string(s.substr(k, end - k));
    i = end;
  }
  // Post-release: -[0-9]+ | [-_.]? (post|rev|r) [-_.]? [0-9]*
  if (At(s, i, '-') && i + 1 < n && IsDigit(s[i + 1])) {
    const size_t end = SkipDigits(s, i + 1);
    g->has_post = true;
    g->post_n = std::string(s.substr(i + 1, end - i - 1));
    i = end;
  } else {
    k = i + (i < n && IsSep(s[i]) ? 1 : 0);
    if (size_t len = FirstWordAt(s, k, {"post", "rev", "r"}, /*ignore_case=*/true)) {
      g->has_post = true;
      g->post_l = std::string(s.substr(k, len));
      k += len;
      if (k < n && IsSep(s[k])) ++k;
      const size_t end = SkipDigits(s, k);
      g->post_n = std::string(s.substr(k, end - k));
      i = end;
    }
  }
  // Development release: [-_.]? dev [-_.]? [0-9]*
  k = i + (i < n && IsSep(s[i]) ? 1 : 0);
  if (FirstWordAt(s, k, {"dev"}, /*ignore_case=*/true)) {
    k += 3;
    if (k < n && IsSep(s[k])) ++k;
    const size_t end = SkipDigits(s, k);
    g->has_dev = true;
    g->dev_n = std::string(s.substr(k, end - k));
    i = end;
  }
  // Local version: \+ [a-z0-9]+ ([-_.][a-z0-9]+)*
  if ((form == Form::kVersion || form == Form::kEquality) && At(s, i, '+') && i + 1 < n &&
      IsAlnum(s[i + 1])) {
    k = i + 1;
    while (k < n && IsAlnum(s[k])) ++k;
    while (k + 1 < n && IsSep(s[k]) && IsAlnum(s[k + 1])) {
      k += 1;
      while (k < n && IsAlnum(s[k])) ++k;
    }
    g->has_local = true;
    g->local = std::string(s.substr(i + 1, k - i - 1));
    i = k;
  }
  return i;
}

// ----- specifiers (packaging/specifiers.py) -------------------------------------------------

// Specifier's operators in its regex's order ("===" last: it is tried after "==" fails).
constexpr absl::string_view kOperators[] = {"~=", "==", "!=", "<=", ">=", "<", ">", "==="};

// The version alternative of Specifier's regex that follows `op`, matched at s[i]
// (after its leading \s*). Returns the end or kNoMatch.
size_t ScanSpecifierVersion(absl::string_view s, size_t i, absl::string_view op) {
  i = SkipSpaces(s, i);
  if (op == "===") {  // [^\s;)]*
    while (i < s.size() && s[i] != ';' && s[i] != ')' && SpaceAt(s, i) == 0) ++i;
    return i;
  }
  VersionGroups unused;
  const Form form = op == "==" || op == "!=" ? Form::kEquality
                    : op == "~="             ? Form::kCompatible
                                             : Form::kOrdered;
  return ScanVersion(s, i, form, &unused);
}

// Matches `operator version` at s[pos] as Specifier's (unanchored) regex does. Returns the
// length of the match and sets *op, or returns 0.
size_t MatchSpecifier(absl::string_view s, size_t pos, absl::string_view* op) {
  for (absl::string_view candidate : kOperators) {
    if (!absl::StartsWith(s.substr(pos), candidate)) continue;
    const size_t end = ScanSpecifierVersion(s, pos + candidate.size(), candidate);
    if (end != kNoMatch) {
      *op = candidate;
      return end - pos;
    }
  }
  return 0;
}

// Specifier(spec): ^\s*(operator)(version)\s*$.
absl::StatusOr<PySpecifier> ParseSpecifier(absl::string_view spec) {
  const size_t start = SkipSpaces(spec, 0);
  for (absl::string_view candidate : kOperators) {
    if (!absl::StartsWith(spec.substr(start), candidate)) continue;
    const size_t version_pos = start + candidate.size();
    const size_t end = ScanSpecifierVersion(spec, version_pos, candidate);
    if (end == kNoMatch || SkipSpaces(spec, end) != spec.size()) continue;
    return PySpecifier{std::string(candidate),
                       std::string(PythonStrip(spec.substr(version_pos, end - version_pos)))};
  }
  return absl::FailedPreconditionError(absl::StrCat("Invalid specifier: ", PythonRepr(spec)));
}

// _version_split: the epoch, then each release part, "1a1"-style parts split in two
// (^([0-9]+)((?:a|b|c|rc)[0-9]+)$).
std::vector<std::string> VersionSplit(absl::string_view version) {
  std::vector<std::string> result;
  const size_t bang = version.rfind('!');
  absl::string_view epoch = bang == absl::string_view::npos ? "" : version.substr(0, bang);
  absl::string_view rest = bang == absl::string_view::npos ? version : version.substr(bang + 1);
  result.emplace_back(epoch.empty() ? "0" : epoch);
  for (absl::string_view item : absl::StrSplit(rest, '.')) {
    const size_t digits = SkipDigits(item, 0);
    const size_t letters = FirstWordAt(item, digits, {"a", "b", "c", "rc"}, false);
    const size_t number = digits + letters;
    if (digits > 0 && letters > 0 && number < item.size() &&
        SkipDigits(item, number) == item.size()) {
      result.emplace_back(item.substr(0, digits));
      result.emplace_back(item.substr(digits));
    } else {
      result.emplace_back(item);
    }
  }
  return result;
}

bool IsNotSuffix(absl::string_view segment) {
  for (absl::string_view prefix : {"dev", "a", "b", "rc", "post"}) {
    if (absl::StartsWith(segment, prefix)) return false;
  }
  return true;
}

// canonicalize_version(version, strip_trailing_zero=False).
std::string CanonicalizeVersion(absl::string_view version) {
  absl::StatusOr<PyVersion> parsed = PyVersion::Parse(version);
  return parsed.ok() ? parsed->ToString() : std::string(version);
}

// _pad_version(left, right)[0].
std::vector<std::string> PadVersion(const std::vector<std::string>& left,
                                    const std::vector<std::string>& right) {
  const auto leading_digits = [](const std::vector<std::string>& parts) {
    size_t n = 0;
    while (n < parts.size() && IsDigits(parts[n])) ++n;
    return n;
  };
  const size_t left_release = leading_digits(left);
  const size_t right_release = leading_digits(right);
  std::vector<std::string> out(left.begin(), left.begin() + left_release);
  if (right_release > left_release) out.insert(out.end(), right_release - left_release, "0");
  out.insert(out.end(), left.begin() + left_release, left.end());
  return out;
}

absl::StatusOr<bool> CompareEqual(const PyVersion& prospective, absl::string_view spec) {
  if (absl::EndsWith(spec, ".*")) {
    const std::vector<std::string> split_spec =
        VersionSplit(CanonicalizeVersion(spec.substr(0, spec.size() - 2)));
    std::vector<std::string> padded =
        PadVersion(VersionSplit(CanonicalizeVersion(prospective.Public())), split_spec);
    if (padded.size() > split_spec.size()) padded.resize(split_spec.size());
    return padded == split_spec;
  }
  absl::StatusOr<PyVersion> spec_version = PyVersion::Parse(spec);
  if (!spec_version.ok()) return spec_version.status();
  if (!spec_version->has_local()) {
    absl::StatusOr<PyVersion> public_version = PyVersion::Parse(prospective.Public());
    if (!public_version.ok()) return public_version.status();
    return *public_version == *spec_version;
  }
  return prospective == *spec_version;
}

// Compares Version(prospective.public) with Version(spec): -1, 0 or 1.
absl::StatusOr<int> ComparePublic(const PyVersion& prospective, absl::string_view spec) {
  absl::StatusOr<PyVersion> public_version = PyVersion::Parse(prospective.Public());
  if (!public_version.ok()) return public_version.status();
  absl::StatusOr<PyVersion> spec_version = PyVersion::Parse(spec);
  if (!spec_version.ok()) return spec_version.status();
  return PyVersion::Compare(*public_version, *spec_version);
}

absl::StatusOr<bool> SameBaseVersion(const PyVersion& a, const PyVersion& b) {
  absl::StatusOr<PyVersion> base_a = PyVersion::Parse(a.BaseVersion());
  absl::StatusOr<PyVersion> base_b = PyVersion::Parse(b.BaseVersion());
  if (!base_a.ok()) return base_a.status();
  if (!base_b.ok()) return base_b.status();
  return *base_a == *base_b;
}

// ----- PEP 508 tokenizer and parser (packaging/_tokenizer.py, _parser.py) ------------------

enum class Rule {
  kLeftParenthesis,
  kRightParenthesis,
  kLeftBracket,
  kRightBracket,
  kSemicolon,
  kComma,
  kQuotedString,
  kOp,
  kBoolOp,
  kIn,
  kNot,
  kVariable,
  kSpecifier,
  kAt,
  kUrl,
  kIdentifier,
  kVersionPrefixTrail,
  kVersionLocalLabelTrail,
  kWs,
  kEnd,
};

const char* RuleName(Rule rule) {
  switch (rule) {
    case Rule::kLeftParenthesis:
      return "LEFT_PARENTHESIS";
    case Rule::kRightParenthesis:
      return "RIGHT_PARENTHESIS";
    case Rule::kLeftBracket:
      return "LEFT_BRACKET";
    case Rule::kRightBracket:
      return "RIGHT_BRACKET";
    default:
      return "";
  }
}

// \b(word1|word2|...)\b at s[i]: the length of the match, or 0.
size_t BoundedWordAt(absl::string_view s, size_t i,
                     std::initializer_list<absl::string_view> words) {
  if (!Boundary(s, i)) return 0;
  for (absl::string_view word : words) {
    if (absl::StartsWith(s.substr(i), word) && Boundary(s, i + word.size())) return word.size();
  }
  return 0;
}

// The length of the token `rule` at s[pos] (re.match of packaging's DEFAULT_RULES), or -1.
ptrdiff_t MatchRule(Rule rule, absl::string_view s, size_t pos) {
  const size_t n = s.size();
  const auto length = [](size_t len) { return len == 0 ? ptrdiff_t{-1} : ptrdiff_t(len); };
  const auto single = [&](char c) { return At(s, pos, c) ? ptrdiff_t{1} : ptrdiff_t{-1}; };
  switch (rule) {
    case Rule::kLeftParenthesis:
      return single('(');
    case Rule::kRightParenthesis:
      return single(')');
    case Rule::kLeftBracket:
      return single('[');
    case Rule::kRightBracket:
      return single(']');
    case Rule::kSemicolon:
      return single(';');
    case Rule::kComma:
      return single(',');
    case Rule::kAt:
      return single('@');
    case Rule::kQuotedString: {  // '[^']*' | "[^"]*"
      if (pos >= n || (s[pos] != '\'' && s[pos] != '"')) return -1;
      const size_t close = s.find(s[pos], pos + 1);
      return close == absl::string_view::npos ? -1 : ptrdiff_t(close + 1 - pos);
    }
    case Rule::kOp:
      return length(FirstWordAt(s, pos, {"===", "==", "~=", "!=", "<=", ">=", "<", ">"}, false));
    case Rule::kBoolOp:
      return length(BoundedWordAt(s, pos, {"or", "and"}));
    case Rule::kIn:
      return length(BoundedWordAt(s, pos, {"in"}));
    case Rule::kNot:
      return length(BoundedWordAt(s, pos, {"not"}));
    case Rule::kVariable:
      return length(BoundedWordAt(s, pos,
                                  {"python_version",
                                   "python_full_version",
                                   "os.name",
                                   "os_name",
                                   "sys.platform",
                                   "sys_platform",
                                   "platform_release",
                                   "platform_system",
                                   "platform.version",
                                   "platform.machine",
                                   "platform.python_implementation",
                                   "platform_version",
                                   "platform_machine",
                                   "platform_python_implementation",
                                   "python_implementation",
                                   "implementation_name",
                                   "implementation_version",
                                   "extras",
                                   "extra",
                                   "dependency_groups"}));
    case Rule::kSpecifier: {
      absl::string_view op;
      return length(MatchSpecifier(s, pos, &op));
    }
    case Rule::kUrl: {  // [^ \t]+
      size_t end = pos;
      while (end < n && s[end] != ' ' && s[end] != '\t') ++end;
      return length(end - pos);
    }
    case Rule::kIdentifier: {  // \b[a-zA-Z0-9][a-zA-Z0-9._-]*\b
      if (pos >= n || !IsAlnum(s[pos]) || !Boundary(s, pos)) return -1;
      size_t end = pos + 1;
      while (end < n && (IsAlnum(s[end]) || IsSep(s[end]))) ++end;
      for (; end > pos; --end) {
        if (Boundary(s, end)) return ptrdiff_t(end - pos);
      }
      return -1;
    }
    case Rule::kVersionPrefixTrail:
      return s.substr(pos, 2) == ".*" ? 2 : -1;
    case Rule::kVersionLocalLabelTrail: {  // \+[a-z0-9]+(?:[-_\.][a-z0-9]+)*
      const auto lower_alnum = [](char c) { return IsDigit(c) || (c >= 'a' && c <= 'z'); };
      if (!At(s, pos, '+') || pos + 1 >= n || !lower_alnum(s[pos + 1])) return -1;
      size_t end = pos + 1;
      while (end < n && lower_alnum(s[end])) ++end;
      while (end + 1 < n && IsSep(s[end]) && lower_alnum(s[end + 1])) {
        ++end;
        while (end < n && lower_alnum(s[end])) ++end;
      }
      return ptrdiff_t(end - pos);
    }
    case Rule::kWs: {
      size_t end = pos;
      while (end < n && (s[end] == ' ' || s[end] == '\t')) ++end;
      return length(end - pos);
    }
    case Rule::kEnd: {  // Python's `$` also matches before a final newline
      const size_t left = n - std::min(pos, n);
      return left == 0 || (left == 1 && s.back() == '\n') ? 0 : -1;
    }
  }
  return -1;
}

struct Token {
  std::string text;
  size_t position;
};

class Tokenizer {
 public:
  explicit Tokenizer(absl::string_view source) : source_(source) {}

  size_t position() const { return position_; }
  const std::string& error() const { return *error_; }

  // Whether the next token is `rule`. Unless `peek`, a match must be read next.
  bool Check(Rule rule, bool peek = false) {
    const ptrdiff_t length = MatchRule(rule, source_, position_);
    if (length < 0) return false;
    if (!peek) next_ = Token{std::string(source_.substr(position_, length)), position_};
    return true;
  }

  Token Read() {
    Token token = std::move(*next_);
    next_.reset();
    position_ += token.text.size();
    return token;
  }

  void Consume(Rule rule) {
    if (Check(rule)) Read();
  }

  // Reads a `rule` token into *token, or fails with "Expected <expected>".
  bool Expect(Rule rule, absl::string_view expected, Token* token = nullptr) {
    if (!Check(rule)) return RaiseSyntaxError(absl::StrCat("Expected ", expected));
    Token read = Read();
    if (token != nullptr) *token = std::move(read);
    return true;
  }

  // Records the first syntax error, with packaging's caret marker; returns false.
  bool RaiseSyntaxError(absl::string_view message, std::optional<size_t> span_start = {},
                        std::optional<size_t> span_end = {}) {
    if (error_) return false;
    const size_t start = CodePointsBefore(span_start.value_or(position_));
    const size_t end = CodePointsBefore(span_end.value_or(position_));
    std::string marker(start, ' ');
    if (end > start) marker.append(end - start, '~');
    marker.push_back('^');
    error_ = absl::StrCat(message, "\n    ", source_, "\n    ", marker);
    return false;
  }

  // packaging's enclosing_tokens: an optional `open` token, `body`, then the matching
  // `close` token if `open` was there.
  bool Enclosing(Rule open, Rule close, absl::string_view around,
                 const std::function<bool()>& body) {
    std::optional<size_t> open_position;
    if (Check(open)) {
      open_position = position_;
      Read();
    }
    if (!body()) return false;
    if (!open_position) return true;
    if (!Check(close)) {
      return RaiseSyntaxError(absl::StrCat("Expected matching ", RuleName(close), " for ",
                                           RuleName(open), ", after ", around),
                              open_position);
    }
    Read();
    return true;
  }

  // Bounds the recursion of nested marker parentheses.
  bool Enter() {
    if (++depth_ <= kMaxMarkerNesting) return true;
    return RaiseSyntaxError("Marker expression is nested too deeply");
  }
  void Leave() { --depth_; }

 private:
  size_t CodePointsBefore(size_t byte_pos) const {
    size_t count = 0;
    for (size_t i = 0; i < byte_pos && i < source_.size(); ++i) {
      if ((static_cast<unsigned char>(source_[i]) & 0xC0) != 0x80) ++count;
    }
    return count;
  }

  absl::string_view source_;
  size_t position_ = 0;
  int depth_ = 0;
  std::optional<Token> next_;
  std::optional<std::string> error_;
};

bool ParseMarker(Tokenizer& t);

bool ParseMarkerVar(Tokenizer& t) {
  if (t.Check(Rule::kVariable) || t.Check(Rule::kQuotedString)) {
    t.Read();
    return true;
  }
  return t.RaiseSyntaxError("Expected a marker variable or quoted string");
}

bool ParseMarkerOp(Tokenizer& t) {
  if (t.Check(Rule::kIn)) {
    t.Read();
    return true;
  }
  if (t.Check(Rule::kNot)) {
    t.Read();
    return t.Expect(Rule::kWs, "whitespace after 'not'") && t.Expect(Rule::kIn, "'in' after 'not'");
  }
  if (t.Check(Rule::kOp)) {
    t.Read();
    return true;
  }
  return t.RaiseSyntaxError(
      "Expected marker operator, one of <=, <, !=, ==, >=, >, ~=, ===, in, not in");
}

bool ParseMarkerItem(Tokenizer& t) {
  t.Consume(Rule::kWs);
  if (!ParseMarkerVar(t)) return false;
  t.Consume(Rule::kWs);
  if (!ParseMarkerOp(t)) return false;
  t.Consume(Rule::kWs);
  if (!ParseMarkerVar(t)) return false;
  t.Consume(Rule::kWs);
  return true;
}

bool ParseMarkerAtom(Tokenizer& t) {
  t.Consume(Rule::kWs);
  if (t.Check(Rule::kLeftParenthesis, /*peek=*/true)) {
    if (!t.Enter()) return false;
    bool ok =
        t.Enclosing(Rule::kLeftParenthesis, Rule::kRightParenthesis, "marker expression", [&] {
          t.Consume(Rule::kWs);
          if (!ParseMarker(t)) return false;
          t.Consume(Rule::kWs);
          return true;
        });
    t.Leave();
    if (!ok) return false;
  } else if (!ParseMarkerItem(t)) {
    return false;
  }
  t.Consume(Rule::kWs);
  return true;
}

bool ParseMarker(Tokenizer& t) {
  if (!ParseMarkerAtom(t)) return false;
  while (t.Check(Rule::kBoolOp)) {
    t.Read();
    if (!ParseMarkerAtom(t)) return false;
  }
  return true;
}

bool ParseRequirementMarker(Tokenizer& t, size_t span_start, absl::string_view after) {
  if (!t.Check(Rule::kSemicolon)) {
    return t.RaiseSyntaxError(absl::StrCat("Expected end or semicolon (after ", after, ")"),
                              span_start);
  }
  t.Read();
  if (!ParseMarker(t)) return false;
  t.Consume(Rule::kWs);
  return true;
}

bool ParseExtras(Tokenizer& t) {
  if (!t.Check(Rule::kLeftBracket, /*peek=*/true)) return true;
  return t.Enclosing(Rule::kLeftBracket, Rule::kRightBracket, "extras", [&] {
    t.Consume(Rule::kWs);
    if (t.Check(Rule::kIdentifier)) {
      t.Read();
      while (true) {
        t.Consume(Rule::kWs);
        if (t.Check(Rule::kIdentifier, /*peek=*/true)) {
          return t.RaiseSyntaxError("Expected comma between extra names");
        }
        if (!t.Check(Rule::kComma)) break;
        t.Read();
        t.Consume(Rule::kWs);
        if (!t.Expect(Rule::kIdentifier, "extra name after comma")) return false;
      }
    }
    t.Consume(Rule::kWs);
    return true;
  });
}

bool ParseVersionMany(Tokenizer& t, std::string* specifier) {
  while (t.Check(Rule::kSpecifier)) {
    const size_t span_start = t.position();
    specifier->append(t.Read().text);
    if (t.Check(Rule::kVersionPrefixTrail, /*peek=*/true)) {
      return t.RaiseSyntaxError(".* suffix can only be used with `==` or `!=` operators",
                                span_start, t.position() + 1);
    }
    if (t.Check(Rule::kVersionLocalLabelTrail, /*peek=*/true)) {
      return t.RaiseSyntaxError("Local version label can only be used with `==` or `!=` operators",
                                span_start, t.position());
    }
    t.Consume(Rule::kWs);
    if (!t.Check(Rule::kComma)) break;
    specifier->append(t.Read().text);
    t.Consume(Rule::kWs);
  }
  return true;
}

bool ParseRequirementDetails(Tokenizer& t, std::string* specifier) {
  if (t.Check(Rule::kAt)) {
    t.Read();
    t.Consume(Rule::kWs);
    const size_t url_start = t.position();
    if (!t.Expect(Rule::kUrl, "URL after @")) return false;
    if (t.Check(Rule::kEnd, /*peek=*/true)) return true;
    if (!t.Expect(Rule::kWs, "whitespace after URL")) return false;
    if (t.Check(Rule::kEnd, /*peek=*/true)) return true;
    return ParseRequirementMarker(t, url_start, "URL and whitespace");
  }
  const size_t specifier_start = t.position();
  bool ok = t.Enclosing(Rule::kLeftParenthesis, Rule::kRightParenthesis, "version specifier", [&] {
    t.Consume(Rule::kWs);
    if (!ParseVersionMany(t, specifier)) return false;
    t.Consume(Rule::kWs);
    return true;
  });
  if (!ok) return false;
  t.Consume(Rule::kWs);
  if (t.Check(Rule::kEnd, /*peek=*/true)) return true;
  return ParseRequirementMarker(
      t, specifier_start,
      specifier->empty() ? "name and no valid version specifier" : "version specifier");
}

// packaging's _parse_letter_version.
std::optional<std::pair<std::string, std::string>> LetterVersion(bool matched,
                                                                 absl::string_view letter,
                                                                 absl::string_view number) {
  if (!letter.empty()) {
    std::string l = absl::AsciiStrToLower(letter);
    if (l == "alpha") l = "a";
    if (l == "beta") l = "b";
    if (l == "c" || l == "pre" || l == "preview") l = "rc";
    if (l == "rev" || l == "r") l = "post";
    return std::make_pair(l, number.empty() ? "0" : StripLeadingZeros(number));
  }
  if (matched && !number.empty()) return std::make_pair("post", StripLeadingZeros(number));
  return std::nullopt;
}

// A component of packaging's comparison key: -inf, a value, or +inf.
enum class Bound { kNegInf, kValue, kInf };

int CompareSegments(Bound ab, const std::pair<std::string, std::string>* a, Bound bb,
                    const std::pair<std::string, std::string>* b) {
  if (ab != bb) return static_cast<int>(ab) < static_cast<int>(bb) ? -1 : 1;
  if (ab != Bound::kValue) return 0;
  if (a->first != b->first) return a->first < b->first ? -1 : 1;
  return CompareNumbers(a->second, b->second);
}

}  // namespace

// ----- PyVersion ---------------------------------------------------------------------------

absl::StatusOr<PyVersion> PyVersion::Parse(absl::string_view text) {
  VersionGroups g;
  const size_t end = ScanVersion(text, SkipSpaces(text, 0), Form::kVersion, &g);
  if (end == kNoMatch || SkipSpaces(text, end) != text.size()) {
    return absl::InvalidArgumentError(absl::StrCat("Invalid version: ", PythonRepr(text)));
  }
  PyVersion v;
  if (!g.epoch.empty()) v.epoch_ = StripLeadingZeros(g.epoch);
  for (absl::string_view part : absl::StrSplit(g.release, '.')) {
    v.release_.push_back(StripLeadingZeros(part));
  }
  if (g.has_pre) v.pre_ = LetterVersion(true, g.pre_l, g.pre_n);
  if (g.has_post) v.post_ = LetterVersion(true, g.post_l, g.post_n);
  if (g.has_dev) v.dev_ = LetterVersion(true, "dev", g.dev_n);
  if (g.has_local) {
    for (absl::string_view part : absl::StrSplit(g.local, absl::ByAnyChar("._-"))) {
      v.local_.push_back(IsDigits(part) ? StripLeadingZeros(part) : absl::AsciiStrToLower(part));
    }
  }
  return v;
}

std::string PyVersion::BaseVersion() const {
  std::string out = epoch_ == "0" ? "" : absl::StrCat(epoch_, "!");
  absl::StrAppend(&out, absl::StrJoin(release_, "."));
  return out;
}

std::string PyVersion::Public() const {
  std::string out = BaseVersion();
  if (pre_) absl::StrAppend(&out, pre_->first, pre_->second);
  if (post_) absl::StrAppend(&out, ".post", post_->second);
  if (dev_) absl::StrAppend(&out, ".dev", dev_->second);
  return out;
}

std::string PyVersion::ToString() const {
  std::string out = Public();
  if (!local_.empty()) absl::StrAppend(&out, "+", absl::StrJoin(local_, "."));
  return out;
}

int PyVersion::Compare(const PyVersion& a, const PyVersion& b) {
  if (int c = CompareNumbers(a.epoch_, b.epoch_); c != 0) return c;

  // Release segments compare without trailing zeros, as tuples.
  const auto trimmed = [](const std::vector<std::string>& release) {
    size_t n = release.size();
    while (n > 0 && release[n - 1] == "0") --n;
    return n;
  };
  const size_t na = trimmed(a.release_);
  const size_t nb = trimmed(b.release_);
  for (size_t i = 0; i < na && i < nb; ++i) {
    if (int c = CompareNumbers(a.release_[i], b.release_[i]); c != 0) return c;
  }
  if (na != nb) return na < nb ? -1 : 1;

  // 1.0.dev0 sorts before 1.0a0: a dev-only version takes -inf as its pre-release.
  const auto pre_bound = [](const PyVersion& v) {
    if (!v.pre_ && !v.post_ && v.dev_) return Bound::kNegInf;
    return v.pre_ ? Bound::kValue : Bound::kInf;
  };
  if (int c = CompareSegments(pre_bound(a), a.pre_ ? &*a.pre_ : nullptr, pre_bound(b),
                              b.pre_ ? &*b.pre_ : nullptr);
      c != 0) {
    return c;
  }
  const auto post_bound = [](const PyVersion& v) {
    return v.post_ ? Bound::kValue : Bound::kNegInf;
  };
  if (int c = CompareSegments(post_bound(a), a.post_ ? &*a.post_ : nullptr, post_bound(b),
                              b.post_ ? &*b.post_ : nullptr);
      c != 0) {
    return c;
  }
  const auto dev_bound = [](const PyVersion& v) { return v.dev_ ? Bound::kValue : Bound::kInf; };
  if (int c = CompareSegments(dev_bound(a), a.dev_ ? &*a.dev_ : nullptr, dev_bound(b),
                              b.dev_ ? &*b.dev_ : nullptr);
      c != 0) {
    return c;
  }

  // No local segment sorts first; then alphanumeric parts before numeric ones.
  if (a.local_.empty() || b.local_.empty()) {
    return Sign(!a.local_.empty(), !b.local_.empty());
  }
  for (size_t i = 0; i < a.local_.size() && i < b.local_.size(); ++i) {
    const std::string& x = a.local_[i];
    const std::string& y = b.local_[i];
    const bool x_num = IsDigits(x);
    const bool y_num = IsDigits(y);
    if (x_num != y_num) return x_num ? 1 : -1;
    const int c = x_num ? CompareNumbers(x, y) : Sign(x, y);
    if (c != 0) return c;
  }
  return Sign(a.local_.size(), b.local_.size());
}

// ----- PySpecifier -------------------------------------------------------------------------

absl::StatusOr<bool> PySpecifier::AllowsPrereleases() const {
  if (op == "!=") return false;
  absl::string_view v = version;
  if (op == "==" && absl::EndsWith(v, ".*")) v.remove_suffix(2);
  absl::StatusOr<PyVersion> parsed = PyVersion::Parse(v);
  if (!parsed.ok()) return parsed.status();
  return parsed->is_prerelease();
}

absl::StatusOr<bool> PySpecifier::Contains(const PyVersion& item, bool prereleases) const {
  if (item.is_prerelease() && !prereleases) return false;
  if (op == "==") return CompareEqual(item, version);
  if (op == "!=") {
    absl::StatusOr<bool> equal = CompareEqual(item, version);
    if (!equal.ok()) return equal.status();
    return !*equal;
  }
  if (op == "<=" || op == ">=") {
    absl::StatusOr<int> c = ComparePublic(item, version);
    if (!c.ok()) return c.status();
    return op == "<=" ? *c <= 0 : *c >= 0;
  }
  if (op == "~=") {
    // ~=V.N is >=V.N together with ==V.* (suffix segments ignored).
    std::vector<std::string> parts = VersionSplit(version);
    size_t keep = 0;
    while (keep < parts.size() && IsNotSuffix(parts[keep])) ++keep;
    parts.resize(keep > 0 ? keep - 1 : 0);
    std::string prefix;
    if (!parts.empty()) {
      prefix =
          absl::StrCat(parts[0], "!", absl::StrJoin(parts.begin() + 1, parts.end(), "."), ".*");
    }
    absl::StatusOr<int> c = ComparePublic(item, version);
    if (!c.ok()) return c.status();
    if (*c < 0) return false;
    return CompareEqual(item, prefix);
  }
  if (op == "<" || op == ">") {
    absl::StatusOr<PyVersion> spec = PyVersion::Parse(version);
    if (!spec.ok()) return spec.status();
    const int c = PyVersion::Compare(item, *spec);
    if (op == "<") {
      if (c >= 0) return false;
      if (!spec->is_prerelease() && item.is_prerelease()) {
        absl::StatusOr<bool> same = SameBaseVersion(item, *spec);
        if (!same.ok()) return same.status();
        if (*same) return false;
      }
      return true;
    }
    if (c <= 0) return false;
    if (!spec->is_postrelease() && item.is_postrelease()) {
      absl::StatusOr<bool> same = SameBaseVersion(item, *spec);
      if (!same.ok()) return same.status();
      if (*same) return false;
    }
    if (item.has_local()) {
      absl::StatusOr<bool> same = SameBaseVersion(item, *spec);
      if (!same.ok()) return same.status();
      if (*same) return false;
    }
    return true;
  }
  // "===": an exact, case-insensitive string match.
  return absl::AsciiStrToLower(item.ToString()) == absl::AsciiStrToLower(version);
}

absl::StatusOr<bool> SpecifierSetContains(const std::vector<PySpecifier>& specifiers,
                                          const PyVersion& item) {
  bool prereleases = false;
  for (const PySpecifier& specifier : specifiers) {
    absl::StatusOr<bool> allows = specifier.AllowsPrereleases();
    if (!allows.ok()) return allows.status();
    if (*allows) {
      prereleases = true;
      break;
    }
  }
  if (!prereleases && item.is_prerelease()) return false;
  for (const PySpecifier& specifier : specifiers) {
    absl::StatusOr<bool> contains = specifier.Contains(item, prereleases);
    if (!contains.ok()) return contains.status();
    if (!*contains) return false;
  }
  return true;
}

// ----- PyRequirement -----------------------------------------------------------------------

absl::StatusOr<PyRequirement> ParseRequirement(absl::string_view declaration) {
  Tokenizer t(declaration);
  PyRequirement requirement;
  std::string specifier;
  t.Consume(Rule::kWs);
  Token name;
  bool ok = t.Expect(Rule::kIdentifier, "package name at the start of dependency specifier", &name);
  if (ok) {
    requirement.name = name.text;
    t.Consume(Rule::kWs);
    ok = ParseExtras(t);
  }
  if (ok) {
    t.Consume(Rule::kWs);
    ok = ParseRequirementDetails(t, &specifier) &&
         t.Expect(Rule::kEnd, "end of dependency specifier");
  }
  if (!ok) return absl::InvalidArgumentError(t.error());

  // SpecifierSet(specifier) splits the matched text on ',' and parses each piece again.
  for (absl::string_view piece : absl::StrSplit(specifier, ',')) {
    piece = PythonStrip(piece);
    if (piece.empty()) continue;
    absl::StatusOr<PySpecifier> parsed = ParseSpecifier(piece);
    if (!parsed.ok()) return parsed.status();
    requirement.specifiers.push_back(*std::move(parsed));
  }
  return requirement;
}

}  // namespace flwr::core::internal
