#include "flwr/core/task.h"

namespace flwr::core {

bool IsAllowedFinish(absl::string_view status, absl::string_view sub_status) {
  if (status == kStatusFinished) return false;
  if (sub_status == kSubStatusCompleted) return status == kStatusRunning;
  return sub_status == kSubStatusFailed || sub_status == kSubStatusStopped;
}

}  // namespace flwr::core
