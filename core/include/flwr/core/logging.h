// Console logging in Flower's format: "INFO :      message" on stderr (level name, colon,
// padding to 8 columns), the level set by FLWR_LOG_LEVEL (default INFO; DEBUG adds
// timestamps), as flwr's ConsoleHandler. Colours only when stderr is a terminal.
// Thread-safe: each line is written whole.
#ifndef FLWR_CORE_LOGGING_H_
#define FLWR_CORE_LOGGING_H_

#include "absl/strings/string_view.h"

namespace flwr::core {

enum class LogLevel { kDebug = 10, kInfo = 20, kWarning = 30, kError = 40 };

void Log(LogLevel level, absl::string_view message);
// Lines below `level` are dropped.
void SetLogLevel(LogLevel level);
bool IsLogged(LogLevel level);

inline void LogDebug(absl::string_view m) { Log(LogLevel::kDebug, m); }
inline void LogInfo(absl::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(absl::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogError(absl::string_view m) { Log(LogLevel::kError, m); }

}  // namespace flwr::core

#endif  // FLWR_CORE_LOGGING_H_
