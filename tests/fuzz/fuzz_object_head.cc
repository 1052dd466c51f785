// libFuzzer target for flwr::core's object-content parser (ParseObjectHead), which splits
// "<Type> <child-id>,<child-id>,... <body-length>\0<body>" as flwr's validate_object_content.
//
// Invariants checked on every input ParseObjectHead accepts (against an independent split of
// the input done here):
//  - the head before the first NUL is exactly three space-separated fields; the type field is
//    ObjectTypeName(type); the children are the comma-separated IDs of the second field (none
//    if it is empty) and each one IsValidObjectId;
//  - the length field is decimal digits whose value equals the body size, and the body is
//    the input after the first NUL (a view into the input);
//  - the input is rebuilt byte for byte from the parsed head and body.
// Rejections must be InvalidArgument. IsValidObjectId is also compared with a reference
// predicate on a prefix of the input, and ComputeObjectId must always give a valid ID.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "flwr/core/inflatable.h"
#include "fuzz_util.h"

namespace {

using flwr::fuzz::Show;

bool ReferenceIsValidObjectId(absl::string_view id) {
  if (id.size() != 64) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void FuzzParseObjectHead(absl::string_view input) {
  auto head = flwr::core::ParseObjectHead(input);
  if (!head.ok()) {
    FUZZ_CHECK(head.status().code() == absl::StatusCode::kInvalidArgument,
               head.status().ToString());
    return;
  }

  const size_t divider = input.find('\0');
  FUZZ_CHECK(divider != absl::string_view::npos, "accepted without a NUL divider: " + Show(input));
  const std::vector<absl::string_view> fields = absl::StrSplit(input.substr(0, divider), ' ');
  FUZZ_CHECK(fields.size() == 3, "accepted a head of " + std::to_string(fields.size()) +
                                     " fields: " + Show(input.substr(0, divider)));

  FUZZ_CHECK(flwr::core::ObjectTypeName(head->type) == fields[0], Show(fields[0]));

  std::vector<absl::string_view> expected_children;
  if (!fields[1].empty()) expected_children = absl::StrSplit(fields[1], ',');
  FUZZ_CHECK(head->children.size() == expected_children.size(),
             absl::StrCat(head->children.size(), " children parsed from ", Show(fields[1])));
  for (size_t i = 0; i < head->children.size(); ++i) {
    FUZZ_CHECK(head->children[i] == expected_children[i], Show(head->children[i]));
    FUZZ_CHECK(flwr::core::IsValidObjectId(head->children[i]), Show(head->children[i]));
    FUZZ_CHECK(ReferenceIsValidObjectId(head->children[i]), Show(head->children[i]));
  }

  // The length field: decimal digits whose value is the body size (no int64 overflow, so a
  // value past 2^64 must not wrap around to the body size).
  const absl::string_view length = fields[2];
  FUZZ_CHECK(!length.empty(), "empty length field accepted");
  unsigned __int128 value = 0;
  for (char c : length) {
    FUZZ_CHECK(c >= '0' && c <= '9', "non-digit in length field " + Show(length));
    value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > (static_cast<unsigned __int128>(1) << 64)) break;
  }
  const absl::string_view body = input.substr(divider + 1);
  FUZZ_CHECK(value == body.size(),
             absl::StrCat("length field ", Show(length), " but body of ", body.size()));
  FUZZ_CHECK(head->body.data() == body.data() && head->body.size() == body.size(),
             "body is not the input after the first NUL");

  const std::string rebuilt =
      absl::StrCat(flwr::core::ObjectTypeName(head->type), " ", absl::StrJoin(head->children, ","),
                   " ", length, absl::string_view("\0", 1), head->body);
  FUZZ_CHECK(rebuilt == input, "rebuilt " + Show(rebuilt) + " from " + Show(input));
}

void FuzzObjectIds(absl::string_view input) {
  const absl::string_view prefix = input.substr(0, 64);
  FUZZ_CHECK(flwr::core::IsValidObjectId(prefix) == ReferenceIsValidObjectId(prefix), Show(prefix));
  const std::string id = flwr::core::ComputeObjectId(input);
  FUZZ_CHECK(flwr::core::IsValidObjectId(id), Show(id));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  FuzzParseObjectHead(input);
  FuzzObjectIds(input);
  return 0;
}
