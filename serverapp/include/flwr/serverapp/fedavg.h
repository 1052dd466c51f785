// FedAvg as the stock message-API strategy of flwr 1.36 (flwr/serverapp/strategy/fedavg.py,
// strategy.py and strategy_utils.py): the same sampling, messages, reply checks, weighted
// averaging (numpy's arithmetic, so results match the Python strategy bit for bit) and log
// lines, plus one summary line per round (round, train loss, evaluation loss and accuracy,
// time).
#ifndef FLWR_SERVERAPP_FEDAVG_H_
#define FLWR_SERVERAPP_FEDAVG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "flwr/core/message.h"
#include "flwr/core/records.h"
#include "flwr/serverapp/grid.h"

namespace flwr::serverapp {

struct FedAvgOptions {
  double fraction_train = 1.0;
  double fraction_evaluate = 1.0;
  int64_t min_train_nodes = 2;
  int64_t min_evaluate_nodes = 2;
  int64_t min_available_nodes = 2;
  std::string weighted_by_key = "num-examples";
  std::string arrayrecord_key = "arrays";
  std::string configrecord_key = "config";
  // How long each round waits for replies (Strategy.start's `timeout`).
  absl::Duration round_timeout = absl::Seconds(3600);
  // Seeds node sampling (random.sample in stock); unset: random.
  std::optional<uint64_t> seed;
  // Test hook: replaces the 1 s waits for nodes to connect.
  std::function<void(absl::Duration)> sleep;
};

// Strategy.start's Result: the final global arrays and the aggregated metrics by round.
struct FedAvgResult {
  core::ArrayRecord arrays;
  std::map<int64_t, core::MetricRecord> train_metrics;
  std::map<int64_t, core::MetricRecord> evaluate_metrics;
  // Wall time of each round (train + evaluate), seconds.
  std::map<int64_t, double> round_seconds;
};

// The exit code a ServerApp ends with for `status` (InconsistentMessageReplies: 200,
// AggregationError: 202, anything else: 201, the stock SERVERAPP_EXCEPTION).
int ServerAppExitCode(const absl::Status& status);

// strategy_utils.validate_message_reply_consistency. FailedPrecondition (exit code 200) with
// the stock reason when a reply lacks exactly one ArrayRecord (if `check_arrayrecord`) or
// MetricRecord, the records' keys differ, or the weight key is missing or a list.
absl::Status ValidateReplyConsistency(const std::vector<const core::RecordDict*>& replies,
                                      absl::string_view weighted_by_key, bool check_arrayrecord);

// strategy_utils.aggregate_arrayrecords: sum over replies of array * (w / sum of w), in
// reply order, with numpy's types: float32 and float64 arrays keep their dtype (the weight is
// rounded to it before multiplying), integer and bool arrays become float64. Needs consistent
// replies (ValidateReplyConsistency). InvalidArgument (exit code 202) for an array that is
// not numpy data, a dtype other than float16/32/64, (u)int8-64 or bool, shapes that differ
// between replies, or a total weight of 0.
absl::StatusOr<core::ArrayRecord> AggregateArrayRecords(
    const std::vector<const core::RecordDict*>& replies, absl::string_view weighted_by_key);

// strategy_utils.aggregate_metricrecords: the weighted mean of every metric but the weight,
// as float (lists element-wise). Needs consistent replies.
absl::StatusOr<core::MetricRecord> AggregateMetricRecords(
    const std::vector<const core::RecordDict*>& replies, absl::string_view weighted_by_key);

// Python's repr of a MetricRecord, e.g. "{'train_loss': 1.6666666666666667, 'n': 3}".
std::string MetricRecordRepr(const core::MetricRecord& record);

class FedAvg {
 public:
  explicit FedAvg(FedAvgOptions options);

  // Logs the strategy's configuration (Strategy.summary).
  void Summary() const;

  // One "train" message per sampled node with {"arrays": arrays, "config": config +
  // "server-round"}. Sampling: max(int(#nodes * fraction_train), min_train_nodes) nodes, after
  // waiting (1 s polls) for max(min_available_nodes, that) nodes to be online. None if
  // fraction_train is 0.
  absl::StatusOr<std::vector<core::Message>> ConfigureTrain(int64_t server_round,
                                                            const core::ArrayRecord& arrays,
                                                            core::ConfigRecord config, Grid& grid);
  // Checks and aggregates the train replies. Both results are unset when no reply carries
  // content.
  absl::StatusOr<std::pair<std::optional<core::ArrayRecord>, std::optional<core::MetricRecord>>>
  AggregateTrain(int64_t server_round, const std::vector<core::Message>& replies);

  // As ConfigureTrain with "evaluate", fraction_evaluate and min_evaluate_nodes.
  absl::StatusOr<std::vector<core::Message>> ConfigureEvaluate(int64_t server_round,
                                                               const core::ArrayRecord& arrays,
                                                               core::ConfigRecord config,
                                                               Grid& grid);
  absl::StatusOr<std::optional<core::MetricRecord>> AggregateEvaluate(
      int64_t server_round, const std::vector<core::Message>& replies);

  // Strategy.start: `num_rounds` rounds of train + evaluate from `initial_arrays`.
  absl::StatusOr<FedAvgResult> Start(Grid& grid, core::ArrayRecord initial_arrays,
                                     int64_t num_rounds, core::ConfigRecord train_config,
                                     core::ConfigRecord evaluate_config);

 private:
  absl::StatusOr<std::vector<core::Message>> Configure(int64_t server_round,
                                                       const core::ArrayRecord& arrays,
                                                       core::ConfigRecord config, Grid& grid,
                                                       bool train);
  // The replies with content; logs the counts and the errors; validates the content.
  absl::StatusOr<std::vector<const core::RecordDict*>> CheckAndLogReplies(
      const std::vector<core::Message>& replies, bool train);

  FedAvgOptions options_;
  std::mt19937_64 rng_;
};

// sample_nodes: waits (logging, `sleep` 1 s between polls) until at least
// max(min_available_nodes, sample_size) nodes are online, then samples `sample_size` of them
// without replacement. Returns {sampled, all online}.
absl::StatusOr<std::pair<std::vector<uint64_t>, std::vector<uint64_t>>> SampleNodes(
    Grid& grid, int64_t min_available_nodes, int64_t sample_size, std::mt19937_64& rng,
    const std::function<void(absl::Duration)>& sleep);

}  // namespace flwr::serverapp

#endif  // FLWR_SERVERAPP_FEDAVG_H_
