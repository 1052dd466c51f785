#include "flwr/core/python_json.h"

#include <gtest/gtest.h>

namespace flwr::core {
namespace {

std::string Dump(absl::string_view s) {
  std::string out;
  EXPECT_TRUE(AppendPythonJsonString(s, &out).ok());
  return out;
}

TEST(PythonJsonTest, escapes_like_json_dumps_with_ensure_ascii) {
  EXPECT_EQ(Dump("plain"), "\"plain\"");
  EXPECT_EQ(Dump("q\"b\\"), "\"q\\\"b\\\\\"");
  EXPECT_EQ(Dump("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  EXPECT_EQ(Dump(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(Dump("\x7f"), "\"\\u007f\"");
  EXPECT_EQ(Dump("caf\xc3\xa9"), "\"caf\\u00e9\"");
  EXPECT_EQ(Dump("\xf0\x9f\x98\x80"), "\"\\ud83d\\ude00\"");  // U+1F600 as a surrogate pair
  EXPECT_EQ(Dump("/"), "\"/\"");
}

TEST(PythonJsonTest, rejects_invalid_utf8) {
  std::string out;
  EXPECT_FALSE(AppendPythonJsonString("\xff", &out).ok());
  EXPECT_FALSE(AppendPythonJsonString("\xc0\x80", &out).ok());      // overlong NUL
  EXPECT_FALSE(AppendPythonJsonString("\xed\xa0\x80", &out).ok());  // surrogate
  EXPECT_FALSE(AppendPythonJsonString("\xe2\x82", &out).ok());      // truncated
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));                    // above U+10FFFF
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));
}

}  // namespace
}  // namespace flwr::core
