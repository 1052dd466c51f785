// Flower API errors (`flwr.supercore.error.FlowerError`) as absl::Status values.
//
// A Flower error carries a numeric API code from the pinned wheel's catalogue
// (`flwr/supercore/error/catalog.py`), a sensitive internal message for server logs (the
// status message), and optional client-safe public details. The catalogue decides what a
// client sees: the gRPC status code, the HTTP status and the public message. The wire
// encodings live in wire_errors.h.
#ifndef FLWR_CORE_FLOWER_ERROR_H_
#define FLWR_CORE_FLOWER_ERROR_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace flwr::core {

// `ApiErrorCode` of the pinned flwr lines, by name. core/src/flower_error.cc checks each entry of
// the generated catalogue against these at compile time.
namespace api_error {

// Control API (1-1000).
inline constexpr int kNoFederationManagementSupport = 1;
inline constexpr int kFederationNotFoundOrNoPermission = 2;
inline constexpr int kAccountAlreadyMember = 3;
inline constexpr int kFederationAlreadyExists = 4;
inline constexpr int kInviteAlreadyExists = 5;
inline constexpr int kAccountsNotFound = 6;
inline constexpr int kFederationNotFoundOrNoPendingInvite = 7;
inline constexpr int kAccountNotAMember = 8;
inline constexpr int kNoPermissions = 9;
inline constexpr int kForbiddenAction = 10;
inline constexpr int kSupernodeAlreadyInFederation = 11;
inline constexpr int kFederationNotSpecified = 12;
inline constexpr int kEntitlementError = 13;
inline constexpr int kFailedToCreateRun = 14;
inline constexpr int kInvalidRunConfig = 15;
inline constexpr int kRunIdNotFound = 16;
inline constexpr int kRunSeriesIdNotFound = 17;
inline constexpr int kRunAlreadyFinished = 18;
inline constexpr int kNoAccountAuth = 19;
inline constexpr int kNoArtifactProvider = 20;
inline constexpr int kPullUnfinishedRun = 21;
inline constexpr int kPublicKeyNotValid = 22;
inline constexpr int kPublicKeyAlreadyInUse = 23;
inline constexpr int kNodeNotFound = 24;
inline constexpr int kFederationNotFound = 25;
inline constexpr int kFederationNotFoundOrNotMember = 26;
inline constexpr int kInvalidFederationName = 27;
inline constexpr int kNodeNotFoundOrNotOwner = 28;
inline constexpr int kAccountInfoNotFound = 29;
inline constexpr int kRunNotAssociatedWithAccount = 30;
inline constexpr int kRunIdNotBelongToAccount = 31;
inline constexpr int kUnsupportedFabHubTransport = 32;
inline constexpr int kInvalidAppSpec = 33;
inline constexpr int kFabDownloadLinkFailure = 34;
inline constexpr int kFabDownloadFailure = 35;
inline constexpr int kAccountAuthenticationFailed = 36;
inline constexpr int kAccountAuthenticationNotInitialized = 37;
inline constexpr int kInvalidConnectorRequest = 38;
inline constexpr int kConnectorNotFound = 39;
inline constexpr int kConnectorFailure = 40;
inline constexpr int kLicenseCheckFailed = 41;
inline constexpr int kInvalidAutomationRequest = 42;
// Codes 43-45 and 3015-3016 are Flower 1.42's (the catalogue is every pinned line's).
inline constexpr int kInvalidRunSeriesDescription = 43;
inline constexpr int kAgentappUserPromptRequired = 44;
inline constexpr int kInvalidSupernodeLocation = 45;

// Common API (1001-2000).
inline constexpr int kRuntimeVersionIncompatible = 1001;
inline constexpr int kUnsupportedContentType = 1002;
inline constexpr int kInvalidProtobufPayload = 1003;
inline constexpr int kInvalidHandlerResponse = 1004;
inline constexpr int kLinkstateNotInitialized = 1005;
inline constexpr int kInvalidProtobufRequest = 1006;
inline constexpr int kInvalidProtobufResponse = 1007;
inline constexpr int kRuntimeAuthenticationFailed = 1008;
inline constexpr int kNodestateNotInitialized = 1009;
inline constexpr int kFleetApiTypeNotInitialized = 1010;

// Fleet API (2001-3000).
inline constexpr int kFleetSupernodeRegistrationDisabled = 2001;
inline constexpr int kFleetSupernodeUnregistrationDisabled = 2002;
inline constexpr int kFleetInvalidHeartbeatInterval = 2003;
inline constexpr int kFleetNodeActivationFailed = 2004;
inline constexpr int kFleetNodeDeactivationFailed = 2005;
inline constexpr int kFleetNodeUnregistrationFailed = 2006;
inline constexpr int kFleetRunStatusNotAllowed = 2007;
inline constexpr int kFleetGetRunFailed = 2008;
inline constexpr int kFleetGetFabFailed = 2009;

// Runtime API (3001-4000).
inline constexpr int kRuntimeConnectorCredentialsNotAvailable = 3001;
inline constexpr int kRuntimeTaskStartFailed = 3002;
inline constexpr int kRuntimeAutomationCreationNotAllowed = 3003;
inline constexpr int kRuntimeUnexpectedNodeId = 3004;
inline constexpr int kRuntimeEndpointUnavailable = 3005;
inline constexpr int kRuntimeTaskCreationFailed = 3006;
inline constexpr int kRuntimeTaskCreationNotAllowed = 3007;
inline constexpr int kRuntimeInvalidTaskCreationRequest = 3008;
inline constexpr int kRuntimeInvalidTaskMessage = 3009;
inline constexpr int kRuntimeConnectorNotAvailable = 3010;
inline constexpr int kRuntimeRunSeriesContextNotFound = 3011;
inline constexpr int kRuntimeFabNotFound = 3012;
inline constexpr int kRuntimeInvalidMessageCount = 3013;
inline constexpr int kRuntimeMessageRunIdMismatch = 3014;
inline constexpr int kRuntimeInvalidCompactedContextRequest = 3015;
inline constexpr int kRuntimeCompactedContextAlreadyExists = 3016;

}  // namespace api_error

// One catalogue entry (`ApiErrorSpec`). `http_header_name` is empty unless the HTTP error
// response carries an extra header (only `WWW-Authenticate: Bearer` for code 36).
struct FlowerErrorSpec {
  int code;
  absl::StatusCode grpc_code;
  int http_status;
  absl::string_view public_message;
  absl::string_view http_header_name;
  absl::string_view http_header_value;
};

// The catalogue entry for `code`, or nullptr if the pinned catalogue has none (such errors
// reach clients as "Internal server error.", as in flwr).
const FlowerErrorSpec* FindFlowerErrorSpec(int code);

// The public message flwr uses when it hides an error: unexpected exceptions and Flower
// errors with a code outside the catalogue.
inline constexpr absl::string_view kInternalServerErrorMessage = "Internal server error.";

// Status payload type URLs. The code payload holds the decimal code; the details payload,
// present only when there are public details, holds them verbatim.
inline constexpr absl::string_view kFlowerErrorCodeTypeUrl = "type.flower.ai/flwr.FlowerError.code";
inline constexpr absl::string_view kFlowerErrorDetailsTypeUrl =
    "type.flower.ai/flwr.FlowerError.public_details";

// A Flower error, as `raise FlowerError(code, internal_message, public_details)`. The
// canonical code is the catalogue's gRPC code for `code` (Internal if `code` is not in the
// catalogue); the message is `internal_message`, which never reaches a client.
// `public_details` does reach clients: it must be safe to show and should be UTF-8.
absl::Status FlowerError(int code, absl::string_view internal_message,
                         std::optional<std::string> public_details = std::nullopt);

// The Flower code of `status`, or nullopt if it is not a Flower error (OK included).
std::optional<int> FlowerErrorCode(const absl::Status& status);

// The public details of a Flower error, or nullopt if it has none or is not a Flower error.
std::optional<std::string> FlowerErrorPublicDetails(const absl::Status& status);

}  // namespace flwr::core

#endif  // FLWR_CORE_FLOWER_ERROR_H_
