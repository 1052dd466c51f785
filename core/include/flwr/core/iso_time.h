// Timestamps as the pinned Flower writes and reads them: ISO 8601 strings from Python 3.11's
// `datetime.isoformat()` / `datetime.fromisoformat()`, and epoch floats from
// `datetime.timestamp()` / `datetime.fromtimestamp()`.
//
// Flower's clock is `flwr.supercore.date.now()`, i.e. `datetime.now(tz=UTC)`: an instant with
// microsecond resolution (the system clock floored to whole microseconds). Everything here works
// at that resolution, so values round-trip through Python unchanged.
#ifndef FLWR_CORE_ISO_TIME_H_
#define FLWR_CORE_ISO_TIME_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace flwr::core {

// Returns `t` floored to a whole microsecond (towards the infinite past), the resolution of a
// Python `datetime`.
absl::Time FloorToMicros(absl::Time t);

// Returns the current time floored to a whole microsecond, as Flower's `now()` (Python's
// `datetime.now(tz=UTC)`) reads the clock.
absl::Time NowMicros();

// Formats `t` as Python's `dt.isoformat()` does for the UTC datetime `dt` that holds `t` floored
// to a whole microsecond: "YYYY-MM-DDTHH:MM:SS.ffffff+00:00", and without the ".ffffff" part when
// the microseconds are zero ("2026-11-28T06:07:38+00:00"). Requires `t` to lie in Python's
// datetime range, years 0001 to 9999.
std::string FormatIsoUtc(absl::Time t);

// Parses `text` exactly as Python 3.11's `datetime.fromisoformat(text)` (the C implementation)
// does, and returns the instant it denotes. Accepted, among others:
//   "2026-11-28T06:07:38.070698+00:00", "2026-11-28T06:07:38+00:00", "2026-11-28 06:07:38Z",
//   "2026-11-28T08:07:38.0706+02:00", "20261128T060738,070698-0130", "2026-W48-6T06:07Z".
// The date and time may be separated by any single character; fractions of 1 to 6 digits are
// read (digits past the sixth are ignored); offsets are [+-]HH[[:]MM[[:]SS[.ffffff]]] or "Z" and
// must be strictly within 24 hours. Returns InvalidArgument where Python raises (a malformed
// string, an out-of-range field such as month 13, hour 24 or second 60, year 0, or an offset of
// 24 hours or more) and also where Python returns a naive datetime (no offset), which denotes no
// instant (Flower fails comparing it with its aware `now()`).
absl::StatusOr<absl::Time> ParseIsoTime(absl::string_view text);

// Returns `dt.timestamp()` for the aware datetime `dt` that holds `t` floored to a whole
// microsecond: the microseconds since the Unix epoch divided by 1e6, correctly rounded. This is
// the float Flower stores from `now().timestamp()` (message `created_at`, `online_until`, log
// timestamps).
double ToEpochSeconds(absl::Time t);

// Returns the instant of `datetime.fromtimestamp(seconds, tz=UTC)`: `seconds` rounded to a whole
// microsecond, half to even, as CPython rounds it. FromEpochSeconds(ToEpochSeconds(t)) ==
// FloorToMicros(t) for every `t` in years 1970 to 2200. A NaN or infinite `seconds` (which Python
// rejects) returns absl::InfinitePast() or absl::InfiniteFuture() (NaN: the past).
absl::Time FromEpochSeconds(double seconds);

}  // namespace flwr::core

#endif  // FLWR_CORE_ISO_TIME_H_
