#include "log_uploader.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <utility>

namespace flwr::serverapp {
namespace {

constexpr absl::Duration kUploadInterval = absl::Milliseconds(200);  // LOG_UPLOAD_INTERVAL

void WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<LogUploader>> LogUploader::CaptureOutput() {
  int fds[2];
  if (::pipe(fds) != 0) return absl::InternalError("cannot create the output pipe");
  std::unique_ptr<LogUploader> uploader(new LogUploader());
  std::fflush(stdout);
  std::fflush(stderr);
  uploader->original_stderr_ = ::dup(STDERR_FILENO);
  uploader->read_fd_ = fds[0];
  ::dup2(fds[1], STDOUT_FILENO);
  ::dup2(fds[1], STDERR_FILENO);
  ::close(fds[1]);
  uploader->reader_ = std::thread([u = uploader.get()] { u->ReadLoop(); });
  return uploader;
}

LogUploader::~LogUploader() {
  Stop();
  // The reader blocks on the pipe for the rest of the process; callers end with _exit().
  if (reader_.joinable()) reader_.detach();
}

void LogUploader::ReadLoop() {
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(read_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      reader_done_.Notify();
      return;
    }
    WriteAll(original_stderr_, buffer, static_cast<size_t>(n));
    absl::MutexLock lock(&mu_);
    queue_.emplace_back(buffer, static_cast<size_t>(n));
  }
}

void LogUploader::Start(core::AppRuntimeClient* client, uint64_t run_id) {
  client_ = client;
  run_id_ = run_id;
  uploader_ = std::thread([this] { UploadLoop(); });
}

void LogUploader::UploadLoop() {
  while (true) {
    std::vector<std::string> batch;
    bool exit = false;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), kUploadInterval);
      batch.swap(queue_);
      exit = stop_;
      uploading_ = !batch.empty();
    }
    if (!batch.empty()) {
      // Transport errors keep the lines for the next try, as stock does; other errors drop
      // them (e.g. 401 after `flwr stop`).
      const absl::Status status = client_->PushLogs(run_id_, batch);
      absl::MutexLock lock(&mu_);
      if (status.code() == absl::StatusCode::kUnavailable) {
        batch.insert(batch.end(), std::make_move_iterator(queue_.begin()),
                     std::make_move_iterator(queue_.end()));
        queue_.swap(batch);
      }
      uploading_ = false;
    }
    if (exit) {
      absl::MutexLock lock(&mu_);
      stopped_ = true;
      return;
    }
  }
}

bool LogUploader::Idle() {
  int pending = 0;
  if (::ioctl(read_fd_, FIONREAD, &pending) == 0 && pending > 0) return false;
  absl::MutexLock lock(&mu_);
  return queue_.empty() && !uploading_;
}

void LogUploader::Flush(absl::Duration timeout) {
  std::fflush(stdout);
  std::fflush(stderr);
  const absl::Time deadline = absl::Now() + timeout;
  while (uploader_.joinable() && !Idle() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
}

void LogUploader::RestoreOutput() {
  std::fflush(stdout);
  std::fflush(stderr);
  // Replacing 1 and 2 closes the pipe's last write ends: the reader drains it and sees EOF.
  ::dup2(original_stderr_, STDOUT_FILENO);
  ::dup2(original_stderr_, STDERR_FILENO);
  // Bounded: a write end held elsewhere would keep the pipe open.
  reader_done_.WaitForNotificationWithTimeout(absl::Seconds(1));
}

void LogUploader::Stop() {
  if (!uploader_.joinable()) return;
  std::fflush(stdout);
  std::fflush(stderr);
  absl::SleepFor(absl::Milliseconds(20));  // let the reader queue what was just written
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    mu_.AwaitWithTimeout(absl::Condition(&stopped_), absl::Seconds(3));
    if (!stopped_) {
      uploader_.detach();
      return;
    }
  }
  uploader_.join();
}

}  // namespace flwr::serverapp
