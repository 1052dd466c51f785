#include "flwr/core/iso_time.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "absl/time/civil_time.h"

namespace flwr::core {
namespace {

absl::Time Utc(int y, int mo, int d, int h, int mi, int s, int us = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone()) +
         absl::Microseconds(us);
}

TEST(FormatIsoUtcTest, microseconds_are_six_digits) {
  EXPECT_EQ(FormatIsoUtc(Utc(2026, 11, 28, 6, 7, 38, 70698)), "2026-11-28T06:07:38.070698+00:00");
  EXPECT_EQ(FormatIsoUtc(Utc(2026, 11, 28, 6, 7, 38, 1)), "2026-11-28T06:07:38.000001+00:00");
  EXPECT_EQ(FormatIsoUtc(Utc(2026, 11, 28, 6, 7, 38, 999999)), "2026-11-28T06:07:38.999999+00:00");
}

TEST(FormatIsoUtcTest, zero_microseconds_have_no_fraction) {
  EXPECT_EQ(FormatIsoUtc(Utc(2026, 11, 28, 6, 7, 38)), "2026-11-28T06:07:38+00:00");
  EXPECT_EQ(FormatIsoUtc(absl::UnixEpoch()), "1970-01-01T00:00:00+00:00");
}

TEST(FormatIsoUtcTest, sub_microseconds_are_floored) {
  const absl::Time t = Utc(2026, 1, 2, 3, 4, 5, 6) + absl::Nanoseconds(999);
  EXPECT_EQ(FormatIsoUtc(t), "2026-01-02T03:04:05.000006+00:00");
  // Just below a whole second: the fraction is dropped only when it is exactly zero.
  EXPECT_EQ(FormatIsoUtc(Utc(2026, 1, 2, 3, 4, 6) - absl::Nanoseconds(1)),
            "2026-01-02T03:04:05.999999+00:00");
  EXPECT_EQ(FormatIsoUtc(Utc(2026, 1, 2, 3, 4, 6) + absl::Nanoseconds(999)),
            "2026-01-02T03:04:06+00:00");
}

TEST(FormatIsoUtcTest, before_the_epoch_and_year_padding) {
  EXPECT_EQ(FormatIsoUtc(absl::UnixEpoch() - absl::Microseconds(1)),
            "1969-12-31T23:59:59.999999+00:00");
  EXPECT_EQ(FormatIsoUtc(Utc(1, 1, 1, 0, 0, 0)), "0001-01-01T00:00:00+00:00");
  EXPECT_EQ(FormatIsoUtc(Utc(9999, 12, 31, 23, 59, 59, 999999)),
            "9999-12-31T23:59:59.999999+00:00");
}

TEST(ParseIsoTimeTest, reads_what_format_writes) {
  for (absl::Time t :
       {Utc(2026, 11, 28, 6, 7, 38, 70698), Utc(2026, 11, 28, 6, 7, 38), Utc(1, 1, 1, 0, 0, 0),
        Utc(9999, 12, 31, 23, 59, 59, 999999), Utc(2024, 2, 29, 12, 0, 0, 500000)}) {
    absl::StatusOr<absl::Time> parsed = ParseIsoTime(FormatIsoUtc(t));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, t);
  }
}

TEST(ParseIsoTimeTest, offsets_and_z) {
  const absl::Time t = Utc(2026, 11, 28, 6, 7, 38, 70698);
  for (const char* text : {"2026-11-28T06:07:38.070698Z", "2026-11-28T08:07:38.070698+02:00",
                           "2026-11-28T04:37:38.070698-01:30", "2026-11-28 06:07:38.070698+00:00",
                           "2026-11-28T083738.070698+0230", "20261128T06:07:38.070698+00",
                           "2026-11-28T06:07:38,070698Z", "2026-11-28T06:07:38.070698000+00:00",
                           "2026-11-28T06:07:38.070698999Z"}) {
    absl::StatusOr<absl::Time> parsed = ParseIsoTime(text);
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.status();
    EXPECT_EQ(*parsed, t) << text;
  }
}

TEST(ParseIsoTimeTest, short_fractions_and_times) {
  EXPECT_EQ(*ParseIsoTime("2026-11-28T06:07:38.5+00:00"), Utc(2026, 11, 28, 6, 7, 38, 500000));
  EXPECT_EQ(*ParseIsoTime("2026-11-28T06:07:38.123+00:00"), Utc(2026, 11, 28, 6, 7, 38, 123000));
  EXPECT_EQ(*ParseIsoTime("2026-11-28T06:07Z"), Utc(2026, 11, 28, 6, 7, 0));
  EXPECT_EQ(*ParseIsoTime("2026-11-28T06Z"), Utc(2026, 11, 28, 6, 0, 0));
}

TEST(ParseIsoTimeTest, offset_seconds_and_microseconds) {
  EXPECT_EQ(*ParseIsoTime("2026-11-28T06:07:38+01:02:03.000004"),
            Utc(2026, 11, 28, 6, 7, 38) - absl::Seconds(3723) - absl::Microseconds(4));
  // CPython treats an offset of zero whole seconds as UTC and drops its microseconds.
  EXPECT_EQ(*ParseIsoTime("2026-11-28T06:07:38+00:00:00.5"), Utc(2026, 11, 28, 6, 7, 38));
  EXPECT_EQ(*ParseIsoTime("2026-11-28T06:07:38-23:59:59"),
            Utc(2026, 11, 28, 6, 7, 38) + absl::Seconds(86399));
}

TEST(ParseIsoTimeTest, iso_week_dates) {
  // 2026-W48-6 is Saturday 2026-11-28; week 1 of 2026 starts on Monday 2025-12-29.
  EXPECT_EQ(*ParseIsoTime("2026-W48-6T06:07:38Z"), Utc(2026, 11, 28, 6, 7, 38));
  EXPECT_EQ(*ParseIsoTime("2026W486T06:07:38Z"), Utc(2026, 11, 28, 6, 7, 38));
  EXPECT_EQ(*ParseIsoTime("2026-W01T00:00Z"), Utc(2025, 12, 29, 0, 0, 0));
  EXPECT_EQ(ParseIsoTime("2025-W53-1T00:00Z").status().code(),
            absl::StatusCode::kInvalidArgument);  // 2025 has 52 ISO weeks
  EXPECT_EQ(*ParseIsoTime("2026-W53-1T00:00Z"), Utc(2026, 12, 28, 0, 0, 0));  // 2026 has 53
}

TEST(ParseIsoTimeTest, naive_datetimes_are_rejected) {
  EXPECT_FALSE(ParseIsoTime("2026-11-28T06:07:38.070698").ok());
  EXPECT_FALSE(ParseIsoTime("2026-11-28").ok());
}

TEST(ParseIsoTimeTest, malformed_and_out_of_range) {
  for (const char* text : {"",
                           "2026",
                           "not a timestamp",
                           "2026-11-28T06:07:38+00:00 ",
                           " 2026-11-28T06:07:38+00:00",
                           "2026-13-28T06:07:38+00:00",
                           "2026-02-29T06:07:38+00:00",
                           "0000-01-01T00:00:00+00:00",
                           "2026-11-28T24:00:00+00:00",
                           "2026-11-28T06:60:00+00:00",
                           "2026-11-28T06:07:60+00:00",
                           "2026-11-28T06:07:38+24:00",
                           "2026-11-28T06:07:38-24:00",
                           "2026-11-28T06:07:38+0",
                           "2026-11-28T06:07:38+000",
                           "2026-11-28T06:07:38ZZ",
                           "2026-11-28T06:07:38Z+00:00",
                           "2026-11-28T06:07:38.+0x:00",
                           "2026-11-28T06:07:38.12a+00:00",
                           "2026-11-2806:07:38Z",
                           "2026-1128T06:07:38Z"}) {
    absl::StatusOr<absl::Time> parsed = ParseIsoTime(text);
    EXPECT_FALSE(parsed.ok()) << text << " parsed as " << FormatIsoUtc(*parsed);
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(ParseIsoTimeTest, cpython_quirks) {
  // Any single character separates the date from the time.
  EXPECT_EQ(*ParseIsoTime("2026-11-28x06:07:38Z"), Utc(2026, 11, 28, 6, 7, 38));
  // A fraction may be empty when an offset follows it (C's parse_hh_mm_ss_ff).
  EXPECT_EQ(*ParseIsoTime("2026-11-28T06:07:38.+00:00"), Utc(2026, 11, 28, 6, 7, 38));
  // Characters after the seventh fraction digit are ignored when an offset follows.
  EXPECT_EQ(*ParseIsoTime("2026-11-28T06:07:38.1234567a+00:00"),
            Utc(2026, 11, 28, 6, 7, 38, 123456));
  // Offset minutes are not range-checked on their own, only the total offset.
  EXPECT_EQ(*ParseIsoTime("2026-11-28T06:07:38+00:99"),
            Utc(2026, 11, 28, 6, 7, 38) - absl::Minutes(99));
}

TEST(EpochSecondsTest, matches_datetime_timestamp) {
  EXPECT_EQ(ToEpochSeconds(absl::UnixEpoch()), 0.0);
  EXPECT_EQ(ToEpochSeconds(Utc(2026, 11, 28, 6, 7, 38, 70698)), 1795846058070698 / 1e6);
  EXPECT_EQ(ToEpochSeconds(absl::UnixEpoch() - absl::Microseconds(1)), -1e-6);
  // Sub-microseconds are floored, as in `now().timestamp()`.
  EXPECT_EQ(ToEpochSeconds(absl::UnixEpoch() + absl::Nanoseconds(1999)), 1e-6);
}

TEST(EpochSecondsTest, from_rounds_half_to_even_microseconds) {
  EXPECT_EQ(FromEpochSeconds(0.0), absl::UnixEpoch());
  EXPECT_EQ(FromEpochSeconds(1.5), absl::UnixEpoch() + absl::Milliseconds(1500));
  // k.5 / 1e6 times 1e6 is exactly k.5 for these: ties go to the even microsecond (values
  // checked against `datetime.fromtimestamp(x, tz=UTC).microsecond`).
  EXPECT_EQ(FromEpochSeconds(0.5 / 1e6), absl::UnixEpoch());
  EXPECT_EQ(FromEpochSeconds(1.5 / 1e6), absl::UnixEpoch() + absl::Microseconds(2));
  EXPECT_EQ(FromEpochSeconds(2.5 / 1e6), absl::UnixEpoch() + absl::Microseconds(2));
  EXPECT_EQ(FromEpochSeconds(3.5 / 1e6), absl::UnixEpoch() + absl::Microseconds(4));
  EXPECT_EQ(FromEpochSeconds(1234.5 / 1e6), absl::UnixEpoch() + absl::Microseconds(1234));
  EXPECT_EQ(FromEpochSeconds(-1.25), absl::UnixEpoch() - absl::Milliseconds(1250));
  EXPECT_EQ(FromEpochSeconds(std::nan("")), absl::InfinitePast());
  EXPECT_EQ(FromEpochSeconds(INFINITY), absl::InfiniteFuture());
  EXPECT_EQ(FromEpochSeconds(-INFINITY), absl::InfinitePast());
}

TEST(EpochSecondsTest, round_trip_at_microsecond_resolution) {
  absl::Time t = Utc(1970, 1, 1, 0, 0, 0, 1);
  const absl::Time last = Utc(2200, 1, 1, 0, 0, 0);
  const absl::Duration step = absl::Seconds(86400 * 37 + 3) + absl::Microseconds(123457);
  for (; t < last; t += step) {
    const absl::Time floored = FloorToMicros(t + absl::Nanoseconds(789));
    ASSERT_EQ(FromEpochSeconds(ToEpochSeconds(floored)), floored) << FormatIsoUtc(floored);
  }
}

TEST(NowMicrosTest, is_whole_microseconds) {
  const absl::Time now = NowMicros();
  EXPECT_EQ(now, FloorToMicros(now));
  EXPECT_LE(now, absl::Now());
}

}  // namespace
}  // namespace flwr::core
