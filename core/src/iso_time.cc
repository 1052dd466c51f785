#include "flwr/core/iso_time.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"

namespace flwr::core {
namespace {

// ---------------------------------------------------------------------------------------------
// A port of CPython 3.11's `datetime.fromisoformat` parser (Modules/_datetimemodule.c). Like the
// original it walks a NUL-terminated buffer and may look at the terminator, never past it; the
// comments name the C functions so that the two can be compared line by line.

bool IsDigit(char c) { return static_cast<unsigned>(c - '0') < 10; }

// parse_digits: reads `count` ASCII digits into `*value`; nullptr on a non-digit.
const char* ParseDigits(const char* p, int* value, int count) {
  for (int i = 0; i < count; ++i) {
    const unsigned digit = static_cast<unsigned>(*p++ - '0');
    if (digit > 9) return nullptr;
    *value = *value * 10 + static_cast<int>(digit);
  }
  return p;
}

bool IsLeap(int year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeap(year) ? 29 : kDays[month];
}

// ymd_to_ord for January 1st, with C's truncating division (as in CPython for year 0).
int FirstOrdinalOfYear(int year) {
  const int y = year - 1;
  return y * 365 + y / 4 - y / 100 + y / 400 + 1;
}

// iso_week1_monday: the ordinal of the Monday of ISO week 1 of `year`.
int IsoWeek1Monday(int year) {
  const int first_day = FirstOrdinalOfYear(year);
  const int first_weekday = (first_day + 6) % 7;  // 0 if January 1st is a Monday
  int week1_monday = first_day - first_weekday;
  if (first_weekday > 3) week1_monday += 7;  // January 1st is a Friday, Saturday or Sunday
  return week1_monday;
}

struct Fields {
  int year = 0, month = 0, day = 0;
  int hour = 0, minute = 0, second = 0, microsecond = 0;
  int tz_seconds = 0, tz_microseconds = 0;
  bool has_offset = false;
};

// iso_to_ymd: an ISO week date to a calendar date. False where CPython raises.
bool IsoWeekToCalendar(int iso_year, int iso_week, int iso_day, Fields* f) {
  if (iso_week <= 0 || iso_week >= 53) {
    bool out_of_range = true;
    if (iso_week == 53) {
      // Years starting on a Thursday, and leap years starting on a Wednesday, have 53 weeks.
      const int first_weekday = (FirstOrdinalOfYear(iso_year) + 6) % 7;
      if (first_weekday == 3 || (first_weekday == 2 && IsLeap(iso_year))) out_of_range = false;
    }
    if (out_of_range) return false;
  }
  if (iso_day <= 0 || iso_day >= 8) return false;
  const int ordinal = IsoWeek1Monday(iso_year) + (iso_week - 1) * 7 + iso_day - 1;
  // CPython's ord_to_ymd yields month 0 (rejected by the constructor) for ordinals below 1.
  if (ordinal < 1) return false;
  const absl::CivilDay date = absl::CivilDay(1, 1, 1) + (ordinal - 1);
  f->year = static_cast<int>(date.year());
  f->month = date.month();
  f->day = date.day();
  return true;
}

// _find_isoformat_datetime_separator: where the date part ends; -1 if it cannot.
int64_t FindSeparator(const char* s, int64_t len) {
  if (len == 7) return 7;
  if (s[4] == '-') {
    if (s[5] != 'W') return 10;  // YYYY-MM-DD
    if (len < 8) return -1;
    if (len > 8 && s[8] == '-') {  // YYYY-Www-D (10) or YYYY-Www-HH (8)
      if (len == 9) return -1;
      if (len > 10 && IsDigit(s[10])) return 8;
      return 10;
    }
    return 8;  // YYYY-Www
  }
  if (s[4] == 'W') {  // YYYYWww (7) or YYYYWwwd (8)
    int64_t idx = 7;
    while (idx < len && IsDigit(s[idx])) ++idx;
    if (idx < 9) return idx;
    return idx % 2 == 0 ? 7 : 8;
  }
  return 8;  // YYYYMMDD
}

// parse_isoformat_date: false where CPython fails (before the range checks of the constructor).
bool ParseDate(const char* s, int64_t len, Fields* f) {
  const char* p = ParseDigits(s, &f->year, 4);
  if (p == nullptr) return false;
  const bool uses_separator = *p == '-';
  if (uses_separator) ++p;
  if (*p == 'W') {
    ++p;
    int iso_week = 0, iso_day = 0;
    p = ParseDigits(p, &iso_week, 2);
    if (p == nullptr) return false;
    if (p - s < len) {
      if (uses_separator && *p++ != '-') return false;
      p = ParseDigits(p, &iso_day, 1);
      if (p == nullptr) return false;
    } else {
      iso_day = 1;
    }
    return IsoWeekToCalendar(f->year, iso_week, iso_day, f);
  }
  p = ParseDigits(p, &f->month, 2);
  if (p == nullptr) return false;
  if (uses_separator && *p++ != '-') return false;
  return ParseDigits(p, &f->day, 2) != nullptr;
}

// parse_hh_mm_ss_ff: HH[:?MM[:?SS[{.,}f+]]] between `p` and `end`. Returns a negative value on
// failure, 1 if input is left over at `end` and 0 otherwise, as the C function does.
int ParseHhMmSsFf(const char* p, const char* end, int* hour, int* minute, int* second,
                  int* microsecond) {
  *hour = *minute = *second = *microsecond = 0;
  int* values[3] = {hour, minute, second};
  bool has_separator = true;
  for (int i = 0; i < 3; ++i) {
    p = ParseDigits(p, values[i], 2);
    if (p == nullptr) return -3;
    const char c = *p++;
    if (i == 0) has_separator = c == ':';
    if (p >= end) return c != '\0';
    if (has_separator && c == ':') continue;
    if (c == '.' || c == ',') break;
    if (!has_separator) {
      --p;
    } else {
      return -4;
    }
  }
  const int64_t remaining = end - p;
  const int to_parse = remaining >= 6 ? 6 : static_cast<int>(remaining);
  p = ParseDigits(p, microsecond, to_parse);
  if (p == nullptr) return -3;
  static constexpr int kCorrection[] = {1000000, 100000, 10000, 1000, 100, 10};
  if (to_parse < 6) *microsecond *= kCorrection[to_parse];  // C: correction[to_parse - 1]
  while (IsDigit(*p)) ++p;                                  // digits past the sixth are dropped
  return *p != '\0';
}

// parse_isoformat_time: false where CPython fails.
bool ParseTime(const char* s, int64_t len, Fields* f) {
  const char* end = s + len;
  const char* tz = s;
  do {
    if (*tz == 'Z' || *tz == '+' || *tz == '-') break;
  } while (++tz < end);
  const int rv = ParseHhMmSsFf(s, tz, &f->hour, &f->minute, &f->second, &f->microsecond);
  if (rv < 0) return false;
  if (tz == end) return rv != 1;  // no offset: nothing may follow the time
  if (*tz == 'Z') {
    f->has_offset = true;
    return *(tz + 1) == '\0';
  }
  const int sign = *tz == '-' ? -1 : 1;
  int tz_hour = 0, tz_minute = 0, tz_second = 0, tz_microsecond = 0;
  if (ParseHhMmSsFf(tz + 1, end, &tz_hour, &tz_minute, &tz_second, &tz_microsecond) != 0) {
    return false;
  }
  f->has_offset = true;
  f->tz_seconds = sign * (tz_hour * 3600 + tz_minute * 60 + tz_second);
  f->tz_microseconds = sign * tz_microsecond;
  return true;
}

// Number of bytes of the UTF-8 character that `lead` starts, as datetime_fromisoformat skips
// the separator.
int Utf8Length(unsigned char lead) {
  if ((lead & 0x80) == 0) return 1;
  switch (lead & 0xf0) {
    case 0xe0:
      return 3;
    case 0xf0:
      return 4;
    default:
      return 2;
  }
}

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("Invalid isoformat string '", text, "': ", why));
}

}  // namespace

absl::Time FloorToMicros(absl::Time t) {
  if (t == absl::InfiniteFuture() || t == absl::InfinitePast()) return t;
  return absl::FromUnixMicros(absl::ToUnixMicros(t));
}

absl::Time NowMicros() { return FloorToMicros(absl::Now()); }

std::string FormatIsoUtc(absl::Time t) {
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1000000;
  int64_t fraction = micros % 1000000;
  if (fraction < 0) {
    fraction += 1000000;
    --seconds;
  }
  const absl::CivilSecond cs =
      absl::ToCivilSecond(absl::FromUnixSeconds(seconds), absl::UTCTimeZone());
  char buf[64];
  int n = std::snprintf(buf, sizeof(buf), "%04lld-%02d-%02dT%02d:%02d:%02d",
                        static_cast<long long>(cs.year()), cs.month(), cs.day(), cs.hour(),
                        cs.minute(), cs.second());
  if (fraction != 0) {
    n += std::snprintf(buf + n, sizeof(buf) - n, ".%06lld", static_cast<long long>(fraction));
  }
  return absl::StrCat(absl::string_view(buf, n), "+00:00");
}

absl::StatusOr<absl::Time> ParseIsoTime(absl::string_view text) {
  // A copy, so that the parser can rely on the terminating NUL as CPython's does.
  const std::string buffer(text);
  const char* s = buffer.c_str();
  const auto len = static_cast<int64_t>(buffer.size());
  // CPython counts characters, not bytes, for this first check.
  int64_t chars = 0;
  for (unsigned char c : buffer) chars += (c & 0xc0) != 0x80;
  if (chars < 7) return Invalid(text, "too short");

  Fields f;
  const int64_t separator = FindSeparator(s, len);
  if (separator < 0 || !ParseDate(s, separator, &f)) return Invalid(text, "bad date");
  if (len > separator) {
    const int64_t time_start = separator + Utf8Length(static_cast<unsigned char>(s[separator]));
    if (time_start > len || !ParseTime(s + time_start, len - time_start, &f)) {
      return Invalid(text, "bad time");
    }
  }
  // The range checks of the datetime and timezone constructors.
  if (f.year < 1 || f.year > 9999) return Invalid(text, "year out of range");
  if (f.month < 1 || f.month > 12) return Invalid(text, "month out of range");
  if (f.day < 1 || f.day > DaysInMonth(f.year, f.month)) return Invalid(text, "day out of range");
  if (f.hour > 23 || f.minute > 59 || f.second > 59) return Invalid(text, "time out of range");
  if (!f.has_offset) return Invalid(text, "no UTC offset (a naive datetime)");
  // tzinfo_from_isoformat_results: a zero offset in whole seconds is UTC, whatever its
  // microseconds; any other must be strictly within 24 hours.
  absl::Duration offset;
  if (f.tz_seconds != 0) {
    offset = absl::Seconds(f.tz_seconds) + absl::Microseconds(f.tz_microseconds);
    if (absl::AbsDuration(offset) >= absl::Hours(24)) return Invalid(text, "offset out of range");
  }
  const absl::CivilSecond civil(f.year, f.month, f.day, f.hour, f.minute, f.second);
  return absl::FromCivil(civil, absl::UTCTimeZone()) + absl::Microseconds(f.microsecond) - offset;
}

double ToEpochSeconds(absl::Time t) {
  // `(dt - EPOCH).total_seconds()`: Python divides the integer count of microseconds by 10**6
  // with correct rounding (half to even).
  const int64_t micros = absl::ToUnixMicros(t);
  const uint64_t n = micros < 0 ? 0 - static_cast<uint64_t>(micros) : micros;
  double magnitude;
  if (n <= (uint64_t{1} << 53)) {
    magnitude = static_cast<double>(n) / 1e6;  // both exact: IEEE division rounds correctly
  } else {
    // 53 significant bits of n * 2^64 / 10^6, rounded by the remainder and the dropped bits.
    const unsigned __int128 scaled = static_cast<unsigned __int128>(n) << 64;
    const unsigned __int128 q = scaled / 1000000;
    const bool inexact = scaled % 1000000 != 0;
    int bits = 0;
    for (unsigned __int128 v = q; v != 0; v >>= 1) ++bits;
    const int shift = bits - 53;  // > 0, as q >= 2^97
    uint64_t mantissa = static_cast<uint64_t>(q >> shift);
    const unsigned __int128 dropped = q & ((static_cast<unsigned __int128>(1) << shift) - 1);
    const unsigned __int128 half = static_cast<unsigned __int128>(1) << (shift - 1);
    if (dropped > half || (dropped == half && (inexact || (mantissa & 1) != 0))) ++mantissa;
    magnitude = std::ldexp(static_cast<double>(mantissa), shift - 64);
  }
  return micros < 0 ? -magnitude : magnitude;
}

absl::Time FromEpochSeconds(double seconds) {
  if (std::isnan(seconds)) return absl::InfinitePast();
  if (std::isinf(seconds)) return seconds > 0 ? absl::InfiniteFuture() : absl::InfinitePast();
  // _PyTime_DoubleToDenominator with _PyTime_ROUND_HALF_EVEN.
  double int_part = 0;
  double frac_part = std::modf(seconds, &int_part);
  frac_part *= 1e6;
  double rounded = std::round(frac_part);
  if (std::fabs(frac_part - rounded) == 0.5) rounded = 2.0 * std::round(frac_part / 2.0);
  frac_part = rounded;
  if (frac_part >= 1e6) {
    frac_part -= 1e6;
    int_part += 1.0;
  } else if (frac_part < 0) {
    frac_part += 1e6;
    int_part -= 1.0;
  }
  if (int_part >= 9.2e12) return absl::InfiniteFuture();  // far beyond Python's year 9999
  if (int_part <= -9.2e12) return absl::InfinitePast();
  return absl::FromUnixSeconds(static_cast<int64_t>(int_part)) +
         absl::Microseconds(static_cast<int64_t>(frac_part));
}

}  // namespace flwr::core
