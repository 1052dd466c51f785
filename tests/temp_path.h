// A path in the temporary directory that belongs to the running test alone. ctest runs each test
// as its own process, several at once, and CI may run two checkouts side by side: a fixed file
// name in the shared directory lets one test read what another wrote.
#ifndef FLWR_TESTS_TEMP_PATH_H_
#define FLWR_TESTS_TEMP_PATH_H_

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace flwr::testing {

// The directory of this test process, <tmp>/flwr-test.<pid>, removed with everything in it when
// the process exits, so that test runs leave nothing behind.
inline const std::filesystem::path& ProcessTempDir() {
  struct Dir {
    std::filesystem::path path;
    Dir()
        : path(std::filesystem::path(::testing::TempDir()) /
               absl::StrCat("flwr-test.", ::getpid())) {
      std::filesystem::create_directories(path);
    }
    ~Dir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const Dir dir;
  return dir.path;
}

// <process dir>/<suite>.<test>.<name>, with the '/' of parameterized names replaced.
inline std::filesystem::path TempPath(absl::string_view name) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string file = absl::StrCat(info ? info->test_suite_name() : "none", ".",
                                  info ? info->name() : "none", ".", name);
  std::replace(file.begin(), file.end(), '/', '_');
  return ProcessTempDir() / file;
}

}  // namespace flwr::testing

#endif  // FLWR_TESTS_TEMP_PATH_H_
