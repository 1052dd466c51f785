#include "flwr/core/runtime_version.h"

#include <algorithm>
#include <iterator>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "flwr/core/flower_error.h"

namespace flwr::core {
namespace {

constexpr absl::string_view kMetadataKeys[] = {kPackageNameHeader, kPackageVersionHeader,
                                               kComponentNameHeader};

// Python's str.isspace() for the Latin-1 range.
bool IsPythonSpace(unsigned char c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0;
}

// Python's str.strip() of Latin-1 text.
absl::string_view PythonStrip(absl::string_view text) {
  while (!text.empty() && IsPythonSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsPythonSpace(text.back())) text.remove_suffix(1);
  return text;
}

void AppendLatin1AsUtf8(unsigned char c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string Latin1ToUtf8(absl::string_view text) {
  std::string out;
  for (const char c : text) AppendLatin1AsUtf8(static_cast<unsigned char>(c), &out);
  return out;
}

// Python's repr() of Latin-1 text, UTF-8 encoded.
std::string PythonRepr(absl::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char quote = absl::StrContains(text, '\'') && !absl::StrContains(text, '"') ? '"' : '\'';
  std::string out(1, quote);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == quote || ch == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (ch == '\t') {
      out.append("\\t");
    } else if (ch == '\n') {
      out.append("\\n");
    } else if (ch == '\r') {
      out.append("\\r");
    } else if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) {  // not isprintable()
      out.append("\\x");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    } else {
      AppendLatin1AsUtf8(c, &out);
    }
  }
  out.push_back(quote);
  return out;
}

// The release segment of a PEP 440 version, as `packaging.version.Version` parses it
// (`^\s*VERSION_PATTERN\s*$`, re.VERBOSE | re.IGNORECASE), or nullopt if it does not.
std::optional<std::string> Pep440Release(absl::string_view version) {
  static const std::regex* const kPattern =
      new std::regex(R"(v?(?:([0-9]+)!)?([0-9]+(?:\.[0-9]+)*))"
                     R"(([-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?([0-9]+)?)?)"
                     R"(((?:-([0-9]+))|(?:[-_.]?(post|rev|r)[-_.]?([0-9]+)?))?)"
                     R"(([-_.]?(dev)[-_.]?([0-9]+)?)?)"
                     R"((?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?)",
                     std::regex::ECMAScript | std::regex::optimize);
  // Case-folding ASCII first is IGNORECASE here: no Latin-1 letter folds to ASCII.
  const std::string folded = absl::AsciiStrToLower(PythonStrip(version));
  std::smatch match;
  if (!std::regex_match(folded, match, *kPattern)) return std::nullopt;
  return match[2].str();
}

// Release component `index` without leading zeros (Python int semantics), "0" if absent.
std::string ReleasePart(absl::string_view release, size_t index) {
  const std::vector<absl::string_view> parts = absl::StrSplit(release, '.');
  if (index >= parts.size()) return "0";
  absl::string_view part = parts[index];
  while (part.size() > 1 && part.front() == '0') part.remove_prefix(1);
  return std::string(part);
}

// `get_metadata_str_checked`: the single non-empty value of `key`, else flwr's reason.
absl::string_view LookupChecked(RuntimeMetadata metadata, absl::string_view key,
                                std::string* reason) {
  const std::pair<std::string, std::string>* found = nullptr;
  for (const auto& entry : metadata) {
    if (!absl::EqualsIgnoreCase(entry.first, key)) continue;
    if (found != nullptr) {
      *reason = absl::StrCat("Metadata key '", key, "' has duplicate values.");
      return {};
    }
    found = &entry;
  }
  if (found == nullptr) {
    *reason = absl::StrCat("Metadata key '", key, "' is missing.");
  } else if (found->second.empty()) {
    *reason = absl::StrCat("Metadata key '", key, "' has an empty value.");
  }
  return found != nullptr ? absl::string_view(found->second) : absl::string_view();
}

}  // namespace

absl::string_view PinnedFlowerVersion() {
  return
#include "flower_version.inc"
      ;
}

std::vector<std::pair<std::string, std::string>> RuntimeVersionHeaders(
    absl::string_view component_name) {
  return {{std::string(kPackageNameHeader), std::string(kFlowerPackageName)},
          {std::string(kPackageVersionHeader), std::string(PinnedFlowerVersion())},
          {std::string(kComponentNameHeader), std::string(component_name)}};
}

std::optional<std::string> RuntimeVersionIncompatibility(RuntimeMetadata peer,
                                                         absl::string_view local_version,
                                                         absl::string_view local_component) {
  // TEMPORARY in flwr: peers that send none of the keys are accepted.
  const bool all_absent = std::none_of(peer.begin(), peer.end(), [](const auto& entry) {
    return std::any_of(
        std::begin(kMetadataKeys), std::end(kMetadataKeys),
        [&](absl::string_view key) { return absl::EqualsIgnoreCase(entry.first, key); });
  });
  if (all_absent) return std::nullopt;

  absl::string_view values[3];
  for (int i = 0; i < 3; ++i) {
    std::string reason;
    values[i] = LookupChecked(peer, kMetadataKeys[i], &reason);
    if (!reason.empty()) return absl::StrCat("Invalid Flower runtime metadata: ", reason);
  }
  const absl::string_view package_name = PythonStrip(values[0]);
  const absl::string_view version = values[1];
  const absl::string_view component = values[2];

  if (package_name != "flwr" && package_name != "flwr-nightly") {
    return absl::StrCat("Peer Flower package name is not recognized: ", PythonRepr(package_name),
                        ".");
  }
  const std::optional<std::string> local_release = Pep440Release(local_version);
  const std::optional<std::string> peer_release = Pep440Release(version);
  if (!peer_release.has_value()) {
    return absl::StrCat("Peer Flower version metadata cannot be parsed: ", PythonRepr(version),
                        ".");
  }
  if (!local_release.has_value() ||
      ReleasePart(*local_release, 0) != ReleasePart(*peer_release, 0) ||
      ReleasePart(*local_release, 1) != ReleasePart(*peer_release, 1)) {
    return absl::StrCat(PythonStrip(local_component), " version ", local_version,
                        " detected a runtime version mismatch: expected a peer from the same "
                        "major.minor release, but received ",
                        Latin1ToUtf8(component), " version ", Latin1ToUtf8(version), ".");
  }
  return std::nullopt;
}

absl::Status CheckRuntimeVersion(RuntimeMetadata peer, absl::string_view local_version,
                                 absl::string_view local_component,
                                 absl::string_view connection_name) {
  std::optional<std::string> reason =
      RuntimeVersionIncompatibility(peer, local_version, local_component);
  if (!reason.has_value()) return absl::OkStatus();
  const std::string message = absl::StrCat("Runtime version compatibility check failed for ",
                                           connection_name, ". ", *reason);
  return FlowerError(api_error::kRuntimeVersionIncompatible, message, std::move(reason));
}

std::optional<std::string> RuntimeVersionIncompatibilityExitMessage(const absl::Status& status) {
  if (FlowerErrorCode(status) != api_error::kRuntimeVersionIncompatible) return std::nullopt;
  std::string message(status.message());
  const std::optional<std::string> details = FlowerErrorPublicDetails(status);
  if (details.has_value() && !details->empty()) absl::StrAppend(&message, "\n", *details);
  return message;
}

}  // namespace flwr::core
