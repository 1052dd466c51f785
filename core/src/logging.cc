#include "flwr/core/logging.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "flwr/core/file_util.h"
#include "flwr/core/timed_rotating_file.h"

namespace flwr::core {
namespace {

LogLevel LevelFromEnvironment() {
  const char* env = std::getenv("FLWR_LOG_LEVEL");
  if (env == nullptr) return LogLevel::kInfo;
  const std::string level = absl::AsciiStrToUpper(env);
  if (level == "DEBUG") return LogLevel::kDebug;
  if (level == "WARNING" || level == "WARN") return LogLevel::kWarning;
  if (level == "ERROR" || level == "CRITICAL") return LogLevel::kError;
  return LogLevel::kInfo;
}

std::atomic<int>& CurrentLevel() {
  static std::atomic<int> level{static_cast<int>(LevelFromEnvironment())};
  return level;
}

absl::string_view Name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARNING";
    case LogLevel::kError:
      return "ERROR";
  }
  return "INFO";
}

absl::string_view Color(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "\033[94m";
    case LogLevel::kInfo:
      return "\033[92m";
    case LogLevel::kWarning:
      return "\033[93m";
    case LogLevel::kError:
      return "\033[91m";
  }
  return "";
}

// The log file (SetLogFile), if any. `has_log_file` spares the lock when there is none.
absl::Mutex log_file_mutex(absl::kConstInit);
TimedRotatingFile* log_file ABSL_GUARDED_BY(log_file_mutex) = nullptr;
std::atomic<bool> has_log_file{false};

// A line of the stock SuperLink's log file: logging.Formatter("%(levelname)s %(name)s
// %(asctime)s | %(filename)s:%(lineno)d | %(message)s") with the default asctime (local time,
// milliseconds after a comma).
std::string FileLine(absl::string_view name, absl::Time time, const SourceLine& where,
                     absl::string_view message) {
  return absl::StrCat(name, " flwr ",
                      absl::FormatTime("%Y-%m-%d %H:%M:%S,%E3f", time, absl::LocalTimeZone()),
                      " | ", std::filesystem::path(where.file).filename().string(), ":", where.line,
                      " | ", message, "\n");
}

}  // namespace

absl::Status SetLogFile(absl::string_view path, int interval_hours, int backup_count) {
  // As pathlib's Path(path).expanduser().resolve().
  std::error_code ec;
  std::filesystem::path resolved =
      std::filesystem::weakly_canonical(std::filesystem::absolute(ExpandUser(path), ec), ec);
  if (ec) resolved = ExpandUser(path);
  absl::StatusOr<std::unique_ptr<TimedRotatingFile>> file =
      TimedRotatingFile::Open(resolved.string(), interval_hours, backup_count);
  if (!file.ok()) return file.status();
  absl::MutexLock lock(&log_file_mutex);
  delete log_file;
  log_file = file->release();
  has_log_file = true;
  return absl::OkStatus();
}

void SetLogLevel(LogLevel level) { CurrentLevel() = static_cast<int>(level); }

bool IsLogged(LogLevel level) { return static_cast<int>(level) >= CurrentLevel(); }

void Log(LogLevel level, absl::string_view message, SourceLine where) {
  if (!IsLogged(level)) return;
  static const bool colored = isatty(STDERR_FILENO);
  const absl::string_view name = Name(level);
  const bool timestamps = CurrentLevel() <= static_cast<int>(LogLevel::kDebug);
  const absl::Time now = absl::Now();
  std::string line = absl::StrCat(
      colored ? Color(level) : "", name, " ",
      timestamps ? absl::FormatTime("%Y-%m-%d %H:%M:%E3S", now, absl::LocalTimeZone()) : "",
      colored ? "\033[0m" : "", ": ", std::string(8 - name.size(), ' '), " ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
  if (has_log_file) {
    const std::string file_line = FileLine(name, now, where, message);
    absl::MutexLock lock(&log_file_mutex);
    if (log_file != nullptr) log_file->Write(file_line);
  }
}

}  // namespace flwr::core
