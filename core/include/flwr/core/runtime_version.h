// Flower runtime version metadata and its compatibility check, as the pinned flwr's
// `flwr/supercore/runtime_version_compatibility.py` (docs/flower-1.36-superlink-protocol.md
// §8). Every stock client sends three metadata keys (gRPC metadata or HTTP headers); the
// Runtime HTTP API rejects incompatible peers, Fleet and Control only parse them.
#ifndef FLWR_CORE_RUNTIME_VERSION_H_
#define FLWR_CORE_RUNTIME_VERSION_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace flwr::core {

inline constexpr absl::string_view kPackageNameHeader = "flwr-package-name";
inline constexpr absl::string_view kPackageVersionHeader = "flwr-package-version";
inline constexpr absl::string_view kComponentNameHeader = "flwr-component-name";
// Response header/trailer a server may add to warn about a version mismatch.
inline constexpr absl::string_view kVersionIncompatibilityMessageHeader =
    "flwr-version-incompatibility-message";

// The package name we announce: native components speak the protocol of the pinned "flwr".
inline constexpr absl::string_view kFlowerPackageName = "flwr";

// The flwr version this runtime mirrors ("1.36.0"), from flower-version.txt (generated into
// core/src/flower_version.inc by scripts/gen_error_catalog.py).
absl::string_view PinnedFlowerVersion();

// Every pinned flwr version, the primary (PinnedFlowerVersion()) first: the Flower lines this
// runtime serves. A peer of any of them is accepted and sees the behaviour of its own line.
absl::Span<const absl::string_view> SupportedFlowerVersions();

// Transport metadata as (key, value) pairs in arrival order; keys compare ASCII
// case-insensitively (HTTP header names), values are raw bytes that flwr reads as Latin-1
// (Starlette decodes header bytes so).
using RuntimeMetadata = absl::Span<const std::pair<std::string, std::string>>;

// The three headers a stock client sends: name "flwr", `version` (by default
// PinnedFlowerVersion()) and `component_name` (e.g. "SuperExec", "flwr-serverapp",
// "SuperNode", "flwr CLI").
std::vector<std::pair<std::string, std::string>> RuntimeVersionHeaders(
    absl::string_view component_name, absl::string_view version = PinnedFlowerVersion());

// `RuntimeVersionMetadata.from_metadata(peer)` followed by `check_compatibility` of a local
// component (`local_version`, `local_component`, package "flwr"): nullopt if accepted, else
// flwr's rejection reason, verbatim (UTF-8; Latin-1 bytes of peer values re-encoded):
//   * all three keys absent: accepted (flwr's temporary leniency);
//   * a key missing, repeated or empty: "Invalid Flower runtime metadata: Metadata key
//     '<key>' is missing." (or "has duplicate values." / "has an empty value."), checking
//     package name, version, component name in that order;
//   * package name (whitespace-stripped) not "flwr" or "flwr-nightly": "Peer Flower package
//     name is not recognized: <Python repr>.";
//   * version not PEP 440: "Peer Flower version metadata cannot be parsed: <Python repr>.";
//   * different major or minor: "<local component> version <local version> detected a
//     runtime version mismatch: expected a peer from the same major.minor release, but
//     received <peer component> version <peer version>.".
// The patch and pre/post/dev/local parts are ignored. `local_version` must be PEP 440.
std::optional<std::string> RuntimeVersionIncompatibility(RuntimeMetadata peer,
                                                         absl::string_view local_version,
                                                         absl::string_view local_component);

// The pinned version (SupportedFlowerVersions()) whose major.minor the peer announces, or
// nullopt if the peer sends no valid version metadata or one of a line we do not pin. Servers
// use it to give each peer the behaviour of its own line.
std::optional<absl::string_view> PeerFlowerLine(RuntimeMetadata peer);

// The line a Runtime API server is on, read from its rejection of our version headers: for a
// Flower error 1001 whose public details are flwr's mismatch reason ("<Component> version
// <server version> detected a runtime version mismatch: ..."), the supported version
// (SupportedFlowerVersions()) of the server version's major.minor, if that is another line
// than `announced`. nullopt for any other status, a server of an unsupported line, or of
// `announced`'s own line. Clients announce the primary line and, on such a rejection, speak
// the server's line from then on (HttpProtoClientOptions::follow_runtime_line).
std::optional<absl::string_view> RuntimeLineFromRejection(const absl::Status& status,
                                                          absl::string_view announced);

// Whether the Runtime API of `version`'s line hands tasks to SuperExecs with `acquire-task`
// (Flower 1.42), rather than `pull-pending-tasks` + `claim-task` (Flower 1.36).
bool RuntimeLineAcquiresTasks(absl::string_view version);

// Whether apps of `version`'s line stamp the messages they create with their own task
// (`metadata.src_task_id`, from PullTaskInputResponse.task_id; Flower 1.42).
bool RuntimeLineStampsTaskIds(absl::string_view version);

// Whether the Control API of `version`'s line pages `ListRuns` (20 runs unless a limit is
// given, after `skip`; Flower 1.42).
bool ControlLinePagesRuns(absl::string_view version);

// Whether the Control API of `version`'s line registers SuperNodes with a `name` and a
// `location` (Flower 1.42).
bool ControlLineNamesNodes(absl::string_view version);

// Whether the Control API of `version`'s line shows an app's display name, description and
// color (AppInfo; Flower 1.42).
bool ControlLineShowsAppDetails(absl::string_view version);

// Whether the Control API of `version`'s line lists a run series' runs in GetRunSeries
// (GetRunSeriesResponse.runs; Flower 1.42).
bool ControlLineListsSeriesRuns(absl::string_view version);

// The minor release number of a PEP 440 version ("1.42.0" -> 42), or -1 if it does not parse.
int FlowerMinorVersion(absl::string_view version);

// The supported version of the oldest / newest minor release: the line a peer that announces
// no version is assumed to be on, where its transport tells (gRPC Control and Fleet: only
// pre-1.37 / pre-1.40 peers speak them; HTTP Control and Fleet: only later ones).
absl::string_view OldestSupportedFlowerVersion();
absl::string_view NewestSupportedFlowerVersion();

// CheckRuntimeVersion against every supported line: OK if the peer is accepted by one of
// them, else the rejection of the primary line.
absl::Status CheckRuntimeVersionAnyLine(
    RuntimeMetadata peer, absl::string_view local_component,
    absl::string_view connection_name = "Caller <-> SuperLink Runtime API");

// The check the Runtime HTTP API applies to every request (`RuntimeVersionDependency`): OK
// if accepted, else FlowerError(1001, "Runtime version compatibility check failed for
// <connection_name>. <reason>", public_details = reason), which the HTTP layer sends as
// `412 {"code":1001,"detail":"Runtime version compatibility check failed.","extra":reason}`.
absl::Status CheckRuntimeVersion(
    RuntimeMetadata peer, absl::string_view local_version, absl::string_view local_component,
    absl::string_view connection_name = "Caller <-> SuperLink Runtime API");

// `get_runtime_version_incompatibility_exit_message`: for a peer's Flower error 1001 (as
// decoded by FromHttpError/FromGrpcStatus), its public message, plus "\n" and the public
// details if non-empty; nullopt for any other status. Stock clients exit with
// RUNTIME_VERSION_INCOMPATIBLE and this message.
std::optional<std::string> RuntimeVersionIncompatibilityExitMessage(const absl::Status& status);

}  // namespace flwr::core

#endif  // FLWR_CORE_RUNTIME_VERSION_H_
