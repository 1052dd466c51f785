// The ServerApp's output as the SuperLink's run log (flwr's mirror_output_to_queue and
// log uploader): everything written to stdout and stderr is still written to the original
// stderr and is also queued; once the run is known, a thread sends the queue with PushLogs
// every 0.2 s, so `flwr log` shows the ServerApp's lines.
#ifndef FLWR_SERVERAPP_LOG_UPLOADER_H_
#define FLWR_SERVERAPP_LOG_UPLOADER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "flwr/core/app_runtime_client.h"

namespace flwr::serverapp {

class LogUploader {
 public:
  // Redirects file descriptors 1 and 2 into a pipe read by a thread. Internal if the pipe
  // cannot be made.
  static absl::StatusOr<std::unique_ptr<LogUploader>> CaptureOutput();
  ~LogUploader();

  // Starts sending the queued output of run `run_id` through `client` (which must outlive
  // this object or Stop()).
  void Start(core::AppRuntimeClient* client, uint64_t run_id);
  // Waits up to `timeout` until all output written so far has been sent (flush_logs).
  void Flush(absl::Duration timeout);
  // Sends what is left and stops the upload thread, waiting up to 3 s for it.
  void Stop();
  // Puts file descriptors 1 and 2 back on the original stderr once the reader has copied
  // everything written so far there: before the process exits, so that no output (a reason
  // for exiting early, say) stays in the pipe.
  void RestoreOutput();

 private:
  LogUploader() = default;
  void ReadLoop();
  void UploadLoop();
  bool Idle();

  int read_fd_ = -1;
  int original_stderr_ = -1;
  std::thread reader_;
  absl::Notification reader_done_;  // the pipe reached EOF
  std::thread uploader_;
  core::AppRuntimeClient* client_ = nullptr;
  uint64_t run_id_ = 0;

  absl::Mutex mu_;
  std::vector<std::string> queue_ ABSL_GUARDED_BY(mu_);
  bool uploading_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace flwr::serverapp

#endif  // FLWR_SERVERAPP_LOG_UPLOADER_H_
