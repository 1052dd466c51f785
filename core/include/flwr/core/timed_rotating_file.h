// A log file rotated on a fixed schedule, as Python's
// logging.handlers.TimedRotatingFileHandler(when="H", interval=N, utc=True) that the stock
// SuperLink's `--log-file` uses (flwr/supercore/logger.py, configure_superlink_log_file):
//
// * the first rotation is due one interval after the file's modification time (or after now,
//   for a new file); later ones one interval after the previous rotation;
// * a rotation is done by the first write at or after the due time: the file is renamed to
//   "<path>.<YYYY-mm-dd_HH>", the UTC hour the closed interval began (an older file of that
//   name is replaced), and a new file is started;
// * then, of the rotated files ("<path>.<YYYY-mm-dd_HH>"), all but the `backup_count` newest
//   are deleted.
//
// Times are whole seconds of the clock given (absl::Now by default), for tests to fake.
// Not thread-safe: callers serialise writes.
#ifndef FLWR_CORE_TIMED_ROTATING_FILE_H_
#define FLWR_CORE_TIMED_ROTATING_FILE_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace flwr::core {

class TimedRotatingFile {
 public:
  using Clock = std::function<absl::Time()>;

  // Opens `path` for appending (creating it). `interval_hours` and `backup_count` must be
  // >= 1 (the stock flags' bounds). An error (the OS's words, e.g. "No such file or
  // directory") if the file cannot be opened.
  static absl::StatusOr<std::unique_ptr<TimedRotatingFile>> Open(std::string path,
                                                                 int interval_hours,
                                                                 int backup_count,
                                                                 Clock clock = absl::Now);
  ~TimedRotatingFile();
  TimedRotatingFile(const TimedRotatingFile&) = delete;
  TimedRotatingFile& operator=(const TimedRotatingFile&) = delete;

  // Rotates if due, then appends `text` and flushes it. Errors writing are dropped, as a
  // logging handler's are.
  void Write(absl::string_view text);

  const std::string& path() const { return path_; }

 private:
  TimedRotatingFile(std::string path, int64_t interval_seconds, int backup_count, Clock clock);
  int64_t NowSeconds() const;
  void Rotate(int64_t now);
  void DeleteOldBackups() const;

  const std::string path_;
  const int64_t interval_seconds_;
  const int backup_count_;
  const Clock clock_;
  std::FILE* file_ = nullptr;
  int64_t rollover_at_ = 0;
};

}  // namespace flwr::core

#endif  // FLWR_CORE_TIMED_ROTATING_FILE_H_
