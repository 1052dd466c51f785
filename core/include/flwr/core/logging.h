// Console logging in Flower's format: "INFO :      message" on stderr (level name, colon,
// padding to 8 columns), the level set by FLWR_LOG_LEVEL (default INFO; DEBUG adds
// timestamps), as flwr's ConsoleHandler. Colours only when stderr is a terminal.
// Optionally also a log file (SetLogFile) in the stock SuperLink's `--log-file` format.
// Thread-safe: each line is written whole.
#ifndef FLWR_CORE_LOGGING_H_
#define FLWR_CORE_LOGGING_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace flwr::core {

enum class LogLevel { kDebug = 10, kInfo = 20, kWarning = 30, kError = 40 };

// The calling line, as std::source_location::current() gives it, from the compiler builtins
// that GCC and Clang share: Debian's clang 14 (the fuzzers' compiler) has no
// std::source_location with libstdc++ 12.
struct SourceLine {
  static constexpr SourceLine Current(const char* file = __builtin_FILE(),
                                      int line = __builtin_LINE()) {
    return SourceLine{file, line};
  }
  const char* file;
  int line;
};

// `where` is the calling line, named in the log file's lines.
void Log(LogLevel level, absl::string_view message, SourceLine where = SourceLine::Current());
// Lines below `level` are dropped.
void SetLogLevel(LogLevel level);
bool IsLogged(LogLevel level);

// From now on, every line logged is also appended to `path` (a leading "~" expanded), as the
// stock SuperLink's configure_superlink_log_file: "<LEVEL> flwr <local time %Y-%m-%d
// %H:%M:%S,mmm> | <source file>:<line> | <message>", rotated every `interval_hours` keeping
// `backup_count` rotated files (timed_rotating_file.h). Replaces an earlier log file. An error
// (the OS's words) if the file cannot be opened; logging goes on to stderr only.
absl::Status SetLogFile(absl::string_view path, int interval_hours, int backup_count);

inline void LogDebug(absl::string_view m, SourceLine where = SourceLine::Current()) {
  Log(LogLevel::kDebug, m, where);
}
inline void LogInfo(absl::string_view m, SourceLine where = SourceLine::Current()) {
  Log(LogLevel::kInfo, m, where);
}
inline void LogWarning(absl::string_view m, SourceLine where = SourceLine::Current()) {
  Log(LogLevel::kWarning, m, where);
}
inline void LogError(absl::string_view m, SourceLine where = SourceLine::Current()) {
  Log(LogLevel::kError, m, where);
}

}  // namespace flwr::core

#endif  // FLWR_CORE_LOGGING_H_
