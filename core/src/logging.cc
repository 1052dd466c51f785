#include "flwr/core/logging.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

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

}  // namespace

void SetLogLevel(LogLevel level) { CurrentLevel() = static_cast<int>(level); }

bool IsLogged(LogLevel level) { return static_cast<int>(level) >= CurrentLevel(); }

void Log(LogLevel level, absl::string_view message) {
  if (!IsLogged(level)) return;
  static const bool colored = isatty(STDERR_FILENO);
  const absl::string_view name = Name(level);
  const bool timestamps = CurrentLevel() <= static_cast<int>(LogLevel::kDebug);
  std::string line = absl::StrCat(
      colored ? Color(level) : "", name, " ",
      timestamps ? absl::FormatTime("%Y-%m-%d %H:%M:%E3S", absl::Now(), absl::LocalTimeZone()) : "",
      colored ? "\033[0m" : "", ": ", std::string(8 - name.size(), ' '), " ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace flwr::core
