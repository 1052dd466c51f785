#include "flwr/core/runtime_version.h"

#include <algorithm>
#include <iterator>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/python_compat.h"
#include "python_packaging.h"

namespace flwr::core {
namespace {

constexpr absl::string_view kMetadataKeys[] = {kPackageNameHeader, kPackageVersionHeader,
                                               kComponentNameHeader};

// Version(text).major and .minor, or nullopt if `text` is not a PEP 440 version.
std::optional<std::pair<std::string, std::string>> MajorMinor(absl::string_view text) {
  absl::StatusOr<internal::PyVersion> version = internal::PyVersion::Parse(text);
  if (!version.ok()) return std::nullopt;
  const std::vector<std::string>& release = version->release();
  return std::make_pair(release[0], release.size() > 1 ? release[1] : "0");
}

// Orders versions by their minor release.
bool ByMinorVersion(absl::string_view a, absl::string_view b) {
  return FlowerMinorVersion(a) < FlowerMinorVersion(b);
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

absl::Span<const absl::string_view> SupportedFlowerVersions() {
  static constexpr absl::string_view kVersions[] = {
#include "flower_versions.inc"
  };
  return kVersions;
}

std::vector<std::pair<std::string, std::string>> RuntimeVersionHeaders(
    absl::string_view component_name, absl::string_view version) {
  return {{std::string(kPackageNameHeader), std::string(kFlowerPackageName)},
          {std::string(kPackageVersionHeader), std::string(version)},
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
  // flwr reads header bytes as Latin-1 (Starlette decodes them so).
  const std::string package_name(PythonStrip(DecodeLatin1(values[0])));
  const std::string version = DecodeLatin1(values[1]);
  const std::string component = DecodeLatin1(values[2]);

  if (package_name != "flwr" && package_name != "flwr-nightly") {
    return absl::StrCat("Peer Flower package name is not recognized: ", PythonRepr(package_name),
                        ".");
  }
  const std::optional<std::pair<std::string, std::string>> local = MajorMinor(local_version);
  const std::optional<std::pair<std::string, std::string>> peer_major_minor = MajorMinor(version);
  if (!peer_major_minor.has_value()) {
    return absl::StrCat("Peer Flower version metadata cannot be parsed: ", PythonRepr(version),
                        ".");
  }
  if (local != peer_major_minor) {
    return absl::StrCat(PythonStrip(local_component), " version ", local_version,
                        " detected a runtime version mismatch: expected a peer from the same "
                        "major.minor release, but received ",
                        component, " version ", version, ".");
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

std::optional<absl::string_view> PeerFlowerLine(RuntimeMetadata peer) {
  // Without (valid) version metadata the peer announces no line, though every line accepts a
  // peer that sends none.
  std::string reason;
  if (LookupChecked(peer, kPackageVersionHeader, &reason).empty()) return std::nullopt;
  for (absl::string_view version : SupportedFlowerVersions()) {
    if (!RuntimeVersionIncompatibility(peer, version, "").has_value()) return version;
  }
  return std::nullopt;
}

std::optional<absl::string_view> RuntimeLineFromRejection(const absl::Status& status,
                                                          absl::string_view announced) {
  if (FlowerErrorCode(status) != api_error::kRuntimeVersionIncompatible) return std::nullopt;
  const std::optional<std::string> details = FlowerErrorPublicDetails(status);
  if (!details.has_value()) return std::nullopt;
  // "<component> version <server version> detected a runtime version mismatch: ...": the
  // component name may hold spaces, the version does not.
  constexpr absl::string_view kDetected = " detected a runtime version mismatch";
  const size_t detected = absl::string_view(*details).find(kDetected);
  if (detected == std::string::npos) return std::nullopt;
  const absl::string_view head = absl::string_view(*details).substr(0, detected);
  const size_t space = head.rfind(' ');
  if (space == absl::string_view::npos) return std::nullopt;
  const std::optional<std::pair<std::string, std::string>> server =
      MajorMinor(head.substr(space + 1));
  if (!server.has_value() || server == MajorMinor(announced)) return std::nullopt;
  for (absl::string_view version : SupportedFlowerVersions()) {
    if (MajorMinor(version) == server) return version;
  }
  return std::nullopt;
}

bool RuntimeLineAcquiresTasks(absl::string_view version) {
  return FlowerMinorVersion(version) >= 42;
}

bool RuntimeLineStampsTaskIds(absl::string_view version) {
  return FlowerMinorVersion(version) >= 42;
}

bool ControlLinePagesRuns(absl::string_view version) { return FlowerMinorVersion(version) >= 42; }

bool ControlLineNamesNodes(absl::string_view version) { return FlowerMinorVersion(version) >= 42; }

bool ControlLineShowsAppDetails(absl::string_view version) {
  return FlowerMinorVersion(version) >= 42;
}

bool ControlLineListsSeriesRuns(absl::string_view version) {
  return FlowerMinorVersion(version) >= 42;
}

int FlowerMinorVersion(absl::string_view version) {
  const std::optional<std::pair<std::string, std::string>> major_minor = MajorMinor(version);
  int minor = -1;
  if (major_minor && !absl::SimpleAtoi(major_minor->second, &minor)) return -1;
  return minor;
}

absl::string_view OldestSupportedFlowerVersion() {
  // The pins never change while the process runs: order them once.
  static const absl::string_view oldest = *std::min_element(
      SupportedFlowerVersions().begin(), SupportedFlowerVersions().end(), ByMinorVersion);
  return oldest;
}

absl::string_view NewestSupportedFlowerVersion() {
  static const absl::string_view newest = *std::max_element(
      SupportedFlowerVersions().begin(), SupportedFlowerVersions().end(), ByMinorVersion);
  return newest;
}

absl::Status CheckRuntimeVersionAnyLine(RuntimeMetadata peer, absl::string_view local_component,
                                        absl::string_view connection_name) {
  for (absl::string_view version : SupportedFlowerVersions().subspan(1)) {
    if (!RuntimeVersionIncompatibility(peer, version, local_component).has_value()) {
      return absl::OkStatus();
    }
  }
  return CheckRuntimeVersion(peer, PinnedFlowerVersion(), local_component, connection_name);
}

std::optional<std::string> RuntimeVersionIncompatibilityExitMessage(const absl::Status& status) {
  if (FlowerErrorCode(status) != api_error::kRuntimeVersionIncompatible) return std::nullopt;
  std::string message(status.message());
  const std::optional<std::string> details = FlowerErrorPublicDetails(status);
  if (details.has_value() && !details->empty()) absl::StrAppend(&message, "\n", *details);
  return message;
}

}  // namespace flwr::core
