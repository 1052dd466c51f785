#include "flwr/core/timed_rotating_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace flwr::core {
namespace {

constexpr absl::string_view kSuffixFormat = "%Y-%m-%d_%H";

// Python's extMatch for when="H": ^\d{4}-\d{2}-\d{2}_\d{2}$ (ASCII digits).
bool IsHourSuffix(absl::string_view part) {
  constexpr absl::string_view kShape = "dddd-dd-dd_dd";
  if (part.size() != kShape.size()) return false;
  for (size_t i = 0; i < part.size(); ++i) {
    if (kShape[i] == 'd' ? !absl::ascii_isdigit(part[i]) : part[i] != kShape[i]) return false;
  }
  return true;
}

std::FILE* OpenForAppend(const std::string& path) { return std::fopen(path.c_str(), "a"); }

}  // namespace

absl::StatusOr<std::unique_ptr<TimedRotatingFile>> TimedRotatingFile::Open(std::string path,
                                                                           int interval_hours,
                                                                           int backup_count,
                                                                           Clock clock) {
  if (interval_hours < 1 || backup_count < 1) {
    return absl::InvalidArgumentError("the rotation interval and backup count must be >= 1");
  }
  std::unique_ptr<TimedRotatingFile> file(new TimedRotatingFile(
      std::move(path), int64_t{interval_hours} * 3600, backup_count, std::move(clock)));
  // As the handler: the first rotation is one interval after the file's last change.
  struct stat st;
  const int64_t start =
      ::stat(file->path_.c_str(), &st) == 0 ? int64_t{st.st_mtime} : file->NowSeconds();
  file->file_ = OpenForAppend(file->path_);
  if (file->file_ == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open '", file->path_, "': ", std::strerror(errno)));
  }
  file->rollover_at_ = start + file->interval_seconds_;
  return file;
}

TimedRotatingFile::TimedRotatingFile(std::string path, int64_t interval_seconds, int backup_count,
                                     Clock clock)
    : path_(std::move(path)),
      interval_seconds_(interval_seconds),
      backup_count_(backup_count),
      clock_(std::move(clock)) {}

TimedRotatingFile::~TimedRotatingFile() {
  if (file_ != nullptr) std::fclose(file_);
}

int64_t TimedRotatingFile::NowSeconds() const { return absl::ToUnixSeconds(clock_()); }

void TimedRotatingFile::Write(absl::string_view text) {
  const int64_t now = NowSeconds();
  if (now >= rollover_at_) {
    std::error_code ec;
    if (std::filesystem::exists(path_, ec) && !std::filesystem::is_regular_file(path_, ec)) {
      rollover_at_ = now + interval_seconds_;  // not a file (e.g. /dev/null): never renamed
    } else {
      Rotate(now);
    }
  }
  if (file_ == nullptr) return;
  std::fwrite(text.data(), 1, text.size(), file_);
  std::fflush(file_);
}

void TimedRotatingFile::Rotate(int64_t now) {
  if (file_ != nullptr) std::fclose(file_);
  // Named for the start of the interval that ends, in UTC.
  const std::string rotated = absl::StrCat(
      path_, ".",
      absl::FormatTime(kSuffixFormat, absl::FromUnixSeconds(rollover_at_ - interval_seconds_),
                       absl::UTCTimeZone()));
  std::error_code ec;
  std::filesystem::remove(rotated, ec);
  std::filesystem::rename(path_, rotated, ec);
  DeleteOldBackups();
  file_ = OpenForAppend(path_);
  rollover_at_ = now + interval_seconds_;
}

void TimedRotatingFile::DeleteOldBackups() const {
  // The handler's getFilesToDelete: names starting "<base>" and "<stem>." whose dot-separated
  // parts after "<stem>." include an hour suffix; all but the newest backup_count (by name).
  const std::filesystem::path path(path_);
  const std::string base = path.filename().string();
  const std::string prefix = absl::StrCat(path.stem().string(), ".");
  std::vector<std::string> backups;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path.parent_path(), ec)) {
    const std::string name = entry.path().filename().string();
    if (!absl::StartsWith(name, base) || !absl::StartsWith(name, prefix)) continue;
    for (absl::string_view part :
         absl::StrSplit(absl::string_view(name).substr(prefix.size()), '.')) {
      if (IsHourSuffix(part)) {
        backups.push_back(entry.path().string());
        break;
      }
    }
  }
  if (backups.size() < static_cast<size_t>(backup_count_)) return;
  std::sort(backups.begin(), backups.end());
  for (size_t i = 0; i + backup_count_ < backups.size(); ++i) {
    std::filesystem::remove(backups[i], ec);
  }
}

}  // namespace flwr::core
