// Internal to flwr::core: the parts of Python's `packaging` 25.0 that flwr's FAB validation
// (flwr/supercore/fab_format_version.py) and runtime version check
// (flwr/supercore/runtime_version_compatibility.py) use: PEP 440 versions, version specifiers and
// PEP 508 dependency declarations, with packaging's results and error messages.
//
// Numbers are kept as decimal strings, so versions with numbers of any size compare as
// Python's ints do. `\s` is str.isspace() (python_compat.h). Differences from packaging:
// IGNORECASE's four non-ASCII matches of ASCII letters (U+0130, U+0131, U+017F, U+212A) are
// not recognised (none is Latin-1, so header values are unaffected), `\w` takes every
// non-ASCII non-space code point as a word character, and quoted marker strings are not
// evaluated (Python's ast.literal_eval can raise SyntaxError on bad escapes there).
#ifndef FLWR_CORE_SRC_PYTHON_PACKAGING_H_
#define FLWR_CORE_SRC_PYTHON_PACKAGING_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace flwr::core::internal {

// packaging.version.Version.
class PyVersion {
 public:
  // Parses `text`; InvalidArgument "Invalid version: '<text>'" (Python's repr) if it is not
  // a PEP 440 version.
  static absl::StatusOr<PyVersion> Parse(absl::string_view text);

  std::string ToString() const;     // str(version), the normalised form
  std::string Public() const;       // version.public
  std::string BaseVersion() const;  // version.base_version
  // version.release: decimal strings without leading zeros, at least one.
  const std::vector<std::string>& release() const { return release_; }
  bool is_prerelease() const { return dev_.has_value() || pre_.has_value(); }
  bool is_postrelease() const { return post_.has_value(); }
  bool has_local() const { return !local_.empty(); }

  // -1, 0 or 1 as `a` sorts before, equal to or after `b` (packaging's _cmpkey order).
  static int Compare(const PyVersion& a, const PyVersion& b);
  friend bool operator==(const PyVersion& a, const PyVersion& b) { return Compare(a, b) == 0; }
  friend bool operator<(const PyVersion& a, const PyVersion& b) { return Compare(a, b) < 0; }

 private:
  using Segment = std::pair<std::string, std::string>;  // letter, number

  std::string epoch_ = "0";           // decimal digits, no leading zeros
  std::vector<std::string> release_;  // decimal digits, no leading zeros
  std::optional<Segment> pre_;        // ("a" | "b" | "rc", n)
  std::optional<Segment> post_;       // ("post", n)
  std::optional<Segment> dev_;        // ("dev", n)
  std::vector<std::string> local_;    // lower-cased parts; digit-only parts normalised
};

// packaging.specifiers.Specifier: an operator and the version text it compares with.
struct PySpecifier {
  std::string op;       // "~=", "==", "!=", "<=", ">=", "<", ">" or "==="
  std::string version;  // as written, stripped ("1.0", "1.*", "v2" ...)

  // Specifier.prereleases: whether the specifier names a pre-release. Fails (Python's
  // InvalidVersion) when the version of an "===" specifier is not PEP 440.
  absl::StatusOr<bool> AllowsPrereleases() const;

  // Specifier.contains(item, prereleases).
  absl::StatusOr<bool> Contains(const PyVersion& item, bool prereleases) const;
};

// `item in SpecifierSet(specifiers)`, with packaging's default pre-release handling.
absl::StatusOr<bool> SpecifierSetContains(const std::vector<PySpecifier>& specifiers,
                                          const PyVersion& item);

// packaging.requirements.Requirement: the parts flwr reads.
struct PyRequirement {
  std::string name;  // as written, not normalised
  std::vector<PySpecifier> specifiers;
};

// Parses a PEP 508 dependency declaration as packaging's Requirement() does. On a syntax
// error returns InvalidArgument whose message is str() of packaging's InvalidRequirement:
// "<reason>\n    <declaration>\n    <marker>", the marker a '~' span ending in '^'. Returns
// FailedPrecondition "Invalid specifier: '<piece>'" (packaging's InvalidSpecifier, which is
// not an InvalidRequirement) when a piece of the matched specifier text, split on ',' as
// SpecifierSet does, is not a specifier: e.g. "flwr===1.0,x".
absl::StatusOr<PyRequirement> ParseRequirement(absl::string_view declaration);

}  // namespace flwr::core::internal

#endif  // FLWR_CORE_SRC_PYTHON_PACKAGING_H_
