// RuntimeService: the Runtime API logic (SuperExec and ServerApp processes <-> SuperLink) of
// flwr's runtime handlers, transport-free (core/runtime_service.h is the interface).
#ifndef FLWR_SUPERLINK_RUNTIME_SERVICE_H_
#define FLWR_SUPERLINK_RUNTIME_SERVICE_H_

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/runtime_service.h"
#include "flwr/superlink/link_state.h"

namespace flwr::superlink {

class RuntimeService final : public core::RuntimeService {
 public:
  RuntimeService(LinkState* state, Clock clock = absl::Now)
      : core::RuntimeService(state->tasks()), state_(state), clock_(clock) {}

  FLWR_RUNTIME_SERVICE_OVERRIDES

  // Sees the time between consecutive batches of instructions a run's ServerApp pushes: one
  // round of a synchronous strategy (e.g. the `round_seconds` metric). Set before serving.
  void set_round_observer(std::function<void(absl::Duration)> observer) {
    round_observer_ = std::move(observer);
  }
  // The runs whose last batch time is kept (for tests).
  size_t timed_runs() const {
    absl::MutexLock lock(&batches_mu_);
    return last_batch_.size();
  }

 private:
  // Feeds the round observer with the time since the run's previous batch.
  void ObserveBatch(uint64_t run_id);
  // Forgets the batch times of runs that ended without their ServerApp pushing its output (it
  // crashed, or the run was stopped), but `current`.
  void ForgetEndedRuns(uint64_t current);
  // Stores a SuperLink-made error reply's objects so the ServerApp can pull them.
  void StoreGeneratedReply(uint64_t run_id, const proto::Message& reply);

  LinkState* state_;
  Clock clock_;
  std::function<void(absl::Duration)> round_observer_;
  mutable absl::Mutex batches_mu_;
  // When each running ServerApp last pushed a batch of instructions, by run.
  absl::flat_hash_map<uint64_t, absl::Time> last_batch_ ABSL_GUARDED_BY(batches_mu_);
};

}  // namespace flwr::superlink

#endif  // FLWR_SUPERLINK_RUNTIME_SERVICE_H_
