#include "flwr/core/timed_rotating_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "../temp_path.h"

namespace flwr::core {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test and a clock the test moves.
class TimedRotatingFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = flwr::testing::TempPath("logs");
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "superlink.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  TimedRotatingFile::Clock Clock() {
    return [this] { return now_; };
  }
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  static std::string Contents(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_;
  std::string path_;
  // 2025-03-01 10:20:30 UTC.
  absl::Time now_ = absl::FromCivil(absl::CivilSecond(2025, 3, 1, 10, 20, 30), absl::UTCTimeZone());
};

TEST_F(TimedRotatingFileTest, rotates_one_interval_after_opening_named_for_the_intervals_start) {
  auto file = TimedRotatingFile::Open(path_, /*interval_hours=*/2, /*backup_count=*/7, Clock());
  ASSERT_TRUE(file.ok()) << file.status();
  (*file)->Write("first\n");
  now_ += absl::Hours(2) - absl::Seconds(1);
  (*file)->Write("second\n");
  EXPECT_EQ(Files(), std::vector<std::string>{"superlink.log"});
  now_ += absl::Seconds(1);  // due: 12:20:30
  (*file)->Write("third\n");
  // The closed interval began at 10:20:30 UTC.
  EXPECT_EQ(Files(), (std::vector<std::string>{"superlink.log", "superlink.log.2025-03-01_10"}));
  EXPECT_EQ(Contents(dir_ / "superlink.log.2025-03-01_10"), "first\nsecond\n");
  EXPECT_EQ(Contents(path_), "third\n");
}

TEST_F(TimedRotatingFileTest, next_rotation_is_one_interval_after_the_rotating_write) {
  auto file = TimedRotatingFile::Open(path_, 1, 7, Clock());
  ASSERT_TRUE(file.ok());
  now_ += absl::Hours(5);  // idle for five intervals: one rotation, at the next write
  (*file)->Write("a\n");
  EXPECT_EQ(Files(), (std::vector<std::string>{"superlink.log", "superlink.log.2025-03-01_10"}));
  now_ += absl::Minutes(59);
  (*file)->Write("b\n");
  EXPECT_EQ(Files().size(), 2u);
  now_ += absl::Minutes(1);  // 16:20:30: the interval began at 15:20:30
  (*file)->Write("c\n");
  EXPECT_EQ(Files(), (std::vector<std::string>{"superlink.log", "superlink.log.2025-03-01_10",
                                               "superlink.log.2025-03-01_15"}));
  EXPECT_EQ(Contents(dir_ / "superlink.log.2025-03-01_15"), "a\nb\n");
}

TEST_F(TimedRotatingFileTest, keeps_the_newest_backup_count_rotated_files) {
  std::ofstream(dir_ / "superlink.log.2020-01-01_00") << "old\n";
  std::ofstream(dir_ / "superlink.log.not-a-backup") << "kept\n";
  std::ofstream(dir_ / "other.log.2020-01-01_00") << "kept\n";
  auto file = TimedRotatingFile::Open(path_, 1, 2, Clock());
  ASSERT_TRUE(file.ok());
  for (int i = 0; i < 3; ++i) {
    now_ += absl::Hours(1);
    (*file)->Write("x\n");
  }
  EXPECT_EQ(Files(), (std::vector<std::string>{
                         "other.log.2020-01-01_00", "superlink.log", "superlink.log.2025-03-01_11",
                         "superlink.log.2025-03-01_12", "superlink.log.not-a-backup"}));
}

TEST_F(TimedRotatingFileTest, an_existing_file_is_appended_and_rotates_after_its_last_change) {
  std::ofstream(path_) << "before\n";
  // Last changed 30 minutes ago.
  const time_t mtime = absl::ToTimeT(now_ - absl::Minutes(30));
  const struct utimbuf times = {mtime, mtime};
  ASSERT_EQ(::utime(path_.c_str(), &times), 0);
  auto file = TimedRotatingFile::Open(path_, 1, 7, Clock());
  ASSERT_TRUE(file.ok());
  (*file)->Write("after\n");
  EXPECT_EQ(Contents(path_), "before\nafter\n");
  now_ += absl::Minutes(30);
  (*file)->Write("rotated\n");
  EXPECT_EQ(Contents(dir_ / "superlink.log.2025-03-01_09"), "before\nafter\n");
  EXPECT_EQ(Contents(path_), "rotated\n");
}

TEST_F(TimedRotatingFileTest, cannot_open_in_a_missing_directory) {
  auto file = TimedRotatingFile::Open((dir_ / "missing" / "x.log").string(), 1, 1, Clock());
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("No such file or directory"), std::string::npos);
}

}  // namespace
}  // namespace flwr::core
