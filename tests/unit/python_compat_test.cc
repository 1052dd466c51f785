// Expected values are CPython 3.11's (checked with .venv/bin/python);
// tests/golden/test_python_compat.py compares the same functions with Python on many more
// inputs at test time.
#include "flwr/core/python_compat.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace flwr::core {
namespace {

using std::string_literals::operator""s;

std::string Utf8Error(absl::string_view bytes) {
  const absl::Status status = CheckUtf8(bytes);
  EXPECT_FALSE(status.ok()) << bytes;
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  return std::string(status.message());
}

TEST(PythonCompatTest, check_utf8_reports_cpython_unicode_decode_errors) {
  EXPECT_TRUE(CheckUtf8("").ok());
  EXPECT_TRUE(CheckUtf8("caf\xC3\xA9 \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF").ok());
  EXPECT_EQ(Utf8Error("\xFF"),
            "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte");
  EXPECT_EQ(Utf8Error("a\x80"),
            "'utf-8' codec can't decode byte 0x80 in position 1: invalid start byte");
  // Overlong forms.
  EXPECT_EQ(Utf8Error("\xC0\x80"),
            "'utf-8' codec can't decode byte 0xc0 in position 0: invalid start byte");
  EXPECT_EQ(Utf8Error("\xE0\x80\x80"),
            "'utf-8' codec can't decode byte 0xe0 in position 0: invalid continuation byte");
  // A surrogate and a code point above U+10FFFF.
  EXPECT_EQ(Utf8Error("\xED\xA0\x80"),
            "'utf-8' codec can't decode byte 0xed in position 0: invalid continuation byte");
  EXPECT_EQ(Utf8Error("\xF4\x90\x80\x80"),
            "'utf-8' codec can't decode byte 0xf4 in position 0: invalid continuation byte");
  EXPECT_EQ(Utf8Error("\xF5"),
            "'utf-8' codec can't decode byte 0xf5 in position 0: invalid start byte");
  // Truncated sequences: at the end of data, and followed by a non-continuation byte.
  EXPECT_EQ(Utf8Error("\xC3"),
            "'utf-8' codec can't decode byte 0xc3 in position 0: unexpected end of data");
  EXPECT_EQ(Utf8Error("ab\xF0\x9F\x98"),
            "'utf-8' codec can't decode bytes in position 2-4: unexpected end of data");
  EXPECT_EQ(Utf8Error("\xF0\x9F\x98"
                      "A"),
            "'utf-8' codec can't decode bytes in position 0-2: invalid continuation byte");
}

TEST(PythonCompatTest, strict_json_object_is_a_json_dict_without_nan_or_infinity) {
  EXPECT_TRUE(IsStrictJsonObject("{}"));
  EXPECT_TRUE(IsStrictJsonObject(R"( {"a": [1, 2.5, null], "b": {"c": "d"}} )"));
  EXPECT_FALSE(IsStrictJsonObject("[]"));
  EXPECT_FALSE(IsStrictJsonObject("\"text\""));
  EXPECT_FALSE(IsStrictJsonObject(R"({"a": NaN})"));
  EXPECT_FALSE(IsStrictJsonObject(R"({"a": Infinity})"));
  EXPECT_FALSE(IsStrictJsonObject("{"));
  EXPECT_FALSE(IsStrictJsonObject(""));
}

TEST(PythonCompatTest, decode_utf8_gives_code_points_and_their_byte_ranges) {
  std::vector<CodePoint> cps;
  ASSERT_TRUE(DecodeUtf8("a\xC3\xA9\xF0\x9F\x98\x80", &cps).ok());
  ASSERT_EQ(cps.size(), 3u);
  EXPECT_EQ(cps[0].value, U'a');
  EXPECT_EQ(cps[1].value, U'\u00E9');
  EXPECT_EQ(cps[1].begin, 1u);
  EXPECT_EQ(cps[1].end, 3u);
  EXPECT_EQ(cps[2].value, U'\U0001F600');
  EXPECT_EQ(cps[2].end, 7u);
  EXPECT_EQ(DecodeUtf8("x\xFF", &cps).message(),
            "'utf-8' codec can't decode byte 0xff in position 1: invalid start byte");

  char32_t cp = 0;
  EXPECT_EQ(DecodeCodePointAt("a\xE2\x80\xA8", 1, &cp), 3u);
  EXPECT_EQ(cp, U'\u2028');
  EXPECT_EQ(DecodeCodePointAt("a\xE2\x80", 1, &cp), 0u);
  EXPECT_EQ(DecodeCodePointAt("a", 1, &cp), 0u);
}

TEST(PythonCompatTest, decode_replace_puts_one_fffd_per_maximal_invalid_subpart) {
  const std::string kFffd = "\xEF\xBF\xBD";
  EXPECT_EQ(DecodeUtf8Replace("ok \xC3\xA9"), "ok \xC3\xA9");
  EXPECT_EQ(DecodeUtf8Replace("\xC0\x80"), kFffd + kFffd);
  EXPECT_EQ(DecodeUtf8Replace("\xE0\x80\x80"), kFffd + kFffd + kFffd);
  EXPECT_EQ(DecodeUtf8Replace("\xE2\x82"
                              "A"),
            kFffd + "A");
  EXPECT_EQ(DecodeUtf8Replace("ab\xF0\x9F\x98"), "ab" + kFffd);
}

TEST(PythonCompatTest, decode_latin1_maps_each_byte_to_its_code_point) {
  EXPECT_EQ(DecodeLatin1("a\xE9\xA0\xFF"), "a\xC3\xA9\xC2\xA0\xC3\xBF");
}

TEST(PythonCompatTest, is_python_space_matches_str_isspace) {
  for (char32_t c : {U' ',      U'\t',     U'\n',     U'\v',     U'\f',     U'\r',     U'\x1C',
                     U'\x1D',   U'\x1E',   U'\x1F',   U'\u0085', U'\u00A0', U'\u1680', U'\u2000',
                     U'\u200A', U'\u2028', U'\u2029', U'\u202F', U'\u205F', U'\u3000'}) {
    EXPECT_TRUE(IsPythonSpace(c)) << static_cast<uint32_t>(c);
  }
  for (char32_t c : {U'a', U'\0', U'\x1B', U'\u180E', U'\u200B', U'\uFEFF', U'\u00AD'}) {
    EXPECT_FALSE(IsPythonSpace(c)) << static_cast<uint32_t>(c);
  }
}

TEST(PythonCompatTest, strip_drops_unicode_whitespace) {
  EXPECT_EQ(PythonStrip("\xC2\x85\xE3\x80\x80 a b\t\xE2\x80\xA8"), "a b");
  EXPECT_EQ(PythonStrip(" \x1F "), "");
  EXPECT_EQ(PythonStrip("\xE2\x80\x8B"), "\xE2\x80\x8B");  // U+200B is not whitespace
}

TEST(PythonCompatTest, repr_quotes_and_escapes_as_python) {
  EXPECT_EQ(PythonRepr("plain"), "'plain'");
  EXPECT_EQ(PythonRepr("it's"), "\"it's\"");
  EXPECT_EQ(PythonRepr("a\"b'c"), "'a\"b\\'c'");
  // repr("\\\t\n\r\x00\x7f\x85\xa0\xad\u2028\u3000\ufeff\U0001f600\U000f0000é")
  EXPECT_EQ(PythonRepr("\\\t\n\r\0\x7F\xC2\x85\xC2\xA0\xC2\xAD\xE2\x80\xA8\xE3\x80\x80"
                       "\xEF\xBB\xBF\xF0\x9F\x98\x80\xF3\xB0\x80\x80\xC3\xA9"s),
            "'\\\\\\t\\n\\r\\x00\\x7f\\x85\\xa0\\xad\\u2028\\u3000\\ufeff\xF0\x9F\x98\x80"
            "\\U000f0000\xC3\xA9'");
}

TEST(PythonCompatTest, float_repr_is_the_shortest_round_trip) {
  EXPECT_EQ(PythonFloatRepr(1.0), "1.0");
  EXPECT_EQ(PythonFloatRepr(0.1), "0.1");
  EXPECT_EQ(PythonFloatRepr(-2.5), "-2.5");
  EXPECT_EQ(PythonFloatRepr(0.0), "0.0");
  EXPECT_EQ(PythonFloatRepr(-0.0), "-0.0");
  EXPECT_EQ(PythonFloatRepr(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(PythonFloatRepr(1e-05), "1e-05");
  EXPECT_EQ(PythonFloatRepr(0.0001), "0.0001");
  EXPECT_EQ(PythonFloatRepr(1e15), "1000000000000000.0");
  EXPECT_EQ(PythonFloatRepr(9999999999999998.0), "9999999999999998.0");
  EXPECT_EQ(PythonFloatRepr(1e16), "1e+16");
  EXPECT_EQ(PythonFloatRepr(12345678901234567.0), "1.2345678901234568e+16");
  EXPECT_EQ(PythonFloatRepr(5e-324), "5e-324");
  EXPECT_EQ(PythonFloatRepr(std::numeric_limits<double>::max()), "1.7976931348623157e+308");
  EXPECT_EQ(PythonFloatRepr(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(PythonFloatRepr(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST(PythonCompatTest, json_string_matches_json_dumps) {
  const std::string text =
      "q\"b\\/\n\r\t\b\f\x01\x1F\x7F"
      "caf\xC3\xA9\xE2\x80\xA8\xF0\x9F\x98\x80";
  // json.dumps(s)
  EXPECT_EQ(PythonJsonString(text),
            "\"q\\\"b\\\\/\\n\\r\\t\\b\\f\\u0001\\u001f\\u007fcaf\\u00e9\\u2028\\ud83d\\ude00\"");
  // json.dumps(s, ensure_ascii=False)
  EXPECT_EQ(PythonJsonString(text, /*ensure_ascii=*/false),
            "\"q\\\"b\\\\/\\n\\r\\t\\b\\f\\u0001\\u001f\x7F"
            "caf\xC3\xA9\xE2\x80\xA8\xF0\x9F\x98\x80\"");
  // json.dumps(b.decode("utf-8", "replace"))
  EXPECT_EQ(PythonJsonString("\xC0\x80\xE2\x82"
                             "A\xF0\x9F"),
            "\"\\ufffd\\ufffd\\ufffdA\\ufffd\"");
  EXPECT_EQ(PythonJsonString("\xFF", /*ensure_ascii=*/false), "\"\xEF\xBF\xBD\"");
}

TEST(PythonCompatTest, base64_decode_validated_as_b64decode_validate_true) {
  // base64.b64decode(s, validate=True) in Python 3.11.
  EXPECT_EQ(Base64DecodeValidated(""), "");
  EXPECT_EQ(Base64DecodeValidated("QQ=="), "A");
  EXPECT_EQ(Base64DecodeValidated("QUI="), "AB");
  EXPECT_EQ(Base64DecodeValidated("QUJD"), "ABC");
  EXPECT_EQ(Base64DecodeValidated("QR=="), "A");  // non-zero trailing bits are accepted
  EXPECT_EQ(Base64DecodeValidated("+/+/"), "\xfb\xff\xbf");
  for (const char* bad : {"QQ", "QQ=", "QQ===", "Q===", "====", "QUJD\n", " QUJD", "QU-D", "QU_D",
                          "Q=QQ", "QQ==QQ==", "QUJDQ"}) {
    EXPECT_EQ(Base64DecodeValidated(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace flwr::core
