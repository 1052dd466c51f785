// libFuzzer target for SuperNode authentication (node_auth.h, iso_time.h): the three metadata
// values every Fleet call carries (public key PEM, ISO timestamp, DER signature), the public
// key of `flwr supernode register`, and the private-key files a SuperNode is started with.
//
// Input: fields separated by kFieldSeparator: public key PEM, timestamp, signature, private
// key file text (missing fields are empty). The clock is fixed at kNow, so the committed seeds
// (signed timestamps near kNow) reach the accepting path and every run is deterministic; the
// target itself never signs (ECDSA is randomized).
//
// Invariants:
//  - CheckSignedRequest returns OK, or Unauthenticated / Unknown with one of the SuperLink's
//    fixed messages; OK implies the signature verifies over the timestamp's bytes and the
//    timestamp parses to an instant within (kMinTimestampDiff, kMaxTimestampDiff) of kNow;
//  - VerifyNodeSignature fails only with InvalidArgument or Unauthenticated;
//    CheckNistEcPublicKey only with InvalidArgument;
//  - a timestamp ParseIsoTime accepts formats (FormatIsoUtc) to text that parses back to the
//    same instant, floored to microseconds;
//  - a private key file that loads gives a key whose PKCS#8 PEM loads again to the same
//    public key, and whose public key CheckSignedRequest accepts as a key (never Unknown for
//    the key itself).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "flwr/core/iso_time.h"
#include "flwr/core/node_auth.h"
#include "fuzz_util.h"

namespace {

using namespace flwr::core;  // NOLINT
using flwr::fuzz::Show;

constexpr absl::string_view kFieldSeparator = "\n~field~\n";

// 2026-01-01T00:00:00+00:00: the committed seeds sign timestamps a little before it.
absl::Time Now() {
  return absl::FromCivil(absl::CivilSecond(2026, 1, 1, 0, 0, 0), absl::UTCTimeZone());
}

bool IsAuthMessage(absl::string_view m) {
  return m == kMissingAuthMetadataMessage || m == kInvalidSignatureMessage ||
         m == kInvalidTimestampMessage || m == kServiceHandlerErrorMessage;
}

void CheckTimestamp(absl::string_view text) {
  absl::StatusOr<absl::Time> t = ParseIsoTime(text);
  if (!t.ok()) {
    FUZZ_CHECK(t.status().code() == absl::StatusCode::kInvalidArgument, t.status().ToString());
    return;
  }
  // Python's datetime range: years 1..9999 (in UTC, an offset may move the instant past it).
  const absl::CivilSecond civil = absl::ToCivilSecond(*t, absl::UTCTimeZone());
  if (civil.year() < 1 || civil.year() > 9999) return;
  const std::string formatted = FormatIsoUtc(*t);
  absl::StatusOr<absl::Time> back = ParseIsoTime(formatted);
  FUZZ_CHECK(back.ok() && *back == FloorToMicros(*t),
             Show(text) + " formats to " + Show(formatted));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<absl::string_view> fields = absl::StrSplit(input, kFieldSeparator);
  fields.resize(4);
  const absl::string_view public_key = fields[0], timestamp = fields[1], signature = fields[2],
                          private_key = fields[3];
  const absl::Time now = Now();

  const absl::Status check = CheckSignedRequest(public_key, timestamp, signature, now);
  if (check.ok()) {
    FUZZ_CHECK(VerifyNodeSignature(public_key, timestamp, signature).ok(),
               "accepted a signature that does not verify");
    absl::StatusOr<absl::Time> t = ParseIsoTime(timestamp);
    FUZZ_CHECK(t.ok(), "accepted an unparsable timestamp " + Show(timestamp));
    const absl::Duration diff = now - *t;
    FUZZ_CHECK(diff > kMinTimestampDiff && diff < kMaxTimestampDiff,
               "accepted a stale timestamp " + Show(timestamp));
  } else {
    FUZZ_CHECK(check.code() == absl::StatusCode::kUnauthenticated ||
                   check.code() == absl::StatusCode::kUnknown,
               check.ToString());
    FUZZ_CHECK(IsAuthMessage(check.message()), check.ToString());
  }

  const absl::Status verify = VerifyNodeSignature(public_key, timestamp, signature);
  FUZZ_CHECK(verify.ok() || verify.code() == absl::StatusCode::kInvalidArgument ||
                 verify.code() == absl::StatusCode::kUnauthenticated,
             verify.ToString());
  const absl::Status nist = CheckNistEcPublicKey(public_key);
  FUZZ_CHECK(nist.ok() || nist.code() == absl::StatusCode::kInvalidArgument, nist.ToString());
  CheckTimestamp(timestamp);

  for (bool openssh : {false, true}) {
    absl::StatusOr<NodeKey> key = openssh ? NodeKey::FromOpenSshPrivateKey(private_key)
                                          : NodeKey::FromPrivateKeyPem(private_key);
    if (!key.ok()) {
      FUZZ_CHECK(key.status().code() == absl::StatusCode::kInvalidArgument,
                 key.status().ToString());
      continue;
    }
    absl::StatusOr<NodeKey> reloaded = NodeKey::FromPrivateKeyPem(key->PrivateKeyPem());
    FUZZ_CHECK(reloaded.ok(), reloaded.status().ToString());
    FUZZ_CHECK(reloaded->PublicKeyPem() == key->PublicKeyPem(),
               "PKCS#8 round trip changed the key");
    FUZZ_CHECK(reloaded->CurveName() == key->CurveName(), key->CurveName());
    const absl::Status with_key =
        CheckSignedRequest(key->PublicKeyPem(), "2025-12-31T23:59:59+00:00", "x", now);
    FUZZ_CHECK(with_key.code() == absl::StatusCode::kUnauthenticated &&
                   with_key.message() == kInvalidSignatureMessage,
               "a loaded key's public key: " + with_key.ToString());
  }
  return 0;
}
