// A path in the temporary directory that belongs to the running test alone. ctest runs each test
// as its own process, several at once, and CI may run two checkouts side by side: a fixed file
// name in the shared directory lets one test read what another wrote.
#ifndef FLWR_TESTS_UNIT_TEMP_PATH_H_
#define FLWR_TESTS_UNIT_TEMP_PATH_H_

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace flwr::testing {

// <tmp>/<suite>.<test>.<pid>.<name>, with the '/' of parameterized names replaced.
inline std::filesystem::path TempPath(absl::string_view name) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string file = absl::StrCat(info ? info->test_suite_name() : "none", ".",
                                  info ? info->name() : "none", ".", ::getpid(), ".", name);
  std::replace(file.begin(), file.end(), '/', '_');
  return std::filesystem::path(::testing::TempDir()) / file;
}

}  // namespace flwr::testing

#endif  // FLWR_TESTS_UNIT_TEMP_PATH_H_
