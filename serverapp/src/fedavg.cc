#include "flwr/serverapp/fedavg.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "flwr/core/logging.h"
#include "flwr/core/npy.h"
#include "flwr/core/python_compat.h"

namespace flwr::serverapp {

using core::PythonFloatRepr;

namespace {

constexpr absl::string_view kExitCodePayload = "flwr.dev/serverapp-exit-code";
constexpr int kPreconditionUnmet = 200;
constexpr int kAggregationError = 202;

absl::Status WithExitCode(absl::Status status, int code) {
  status.SetPayload(kExitCodePayload, absl::Cord(absl::StrCat(code)));
  return status;
}

absl::Status Inconsistent(absl::string_view reason) {
  return WithExitCode(absl::FailedPreconditionError(reason), kPreconditionUnmet);
}

absl::Status AggregationError(absl::string_view reason) {
  return WithExitCode(absl::InvalidArgumentError(reason), kAggregationError);
}

template <typename Record>
std::vector<std::pair<std::string, const Record*>> RecordsOf(const core::RecordDict& content) {
  std::vector<std::pair<std::string, const Record*>> out;
  for (const auto& [key, record] : content) {
    if (const Record* r = std::get_if<Record>(&record)) out.emplace_back(key, r);
  }
  return out;
}

// The keys of whatever record `content` holds under `key` (empty if none).
absl::flat_hash_set<std::string> KeysUnder(const core::RecordDict& content, absl::string_view key) {
  absl::flat_hash_set<std::string> keys;
  const core::Record* record = content.Find(key);
  if (record == nullptr) return keys;
  std::visit(
      [&](const auto& r) {
        for (const auto& entry : r) keys.insert(entry.first);
      },
      *record);
  return keys;
}

// A scalar metric as Python's float(value); nullopt for lists.
std::optional<double> ScalarMetric(const core::MetricValue& value) {
  if (const double* d = std::get_if<double>(&value)) return *d;
  if (const int64_t* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  if (const uint64_t* u = std::get_if<uint64_t>(&value)) return static_cast<double>(*u);
  return std::nullopt;
}

std::optional<std::vector<double>> ListMetric(const core::MetricValue& value) {
  std::vector<double> out;
  if (const auto* d = std::get_if<std::vector<double>>(&value)) return *d;
  if (const auto* i = std::get_if<std::vector<int64_t>>(&value)) {
    for (int64_t v : *i) out.push_back(static_cast<double>(v));
    return out;
  }
  if (const auto* u = std::get_if<std::vector<uint64_t>>(&value)) {
    for (uint64_t v : *u) out.push_back(static_cast<double>(v));
    return out;
  }
  return std::nullopt;
}

// The weight factors w_i / sum(w) of the replies (Python: a sum of ints stays exact).
absl::StatusOr<std::vector<double>> WeightFactors(
    const std::vector<const core::RecordDict*>& replies, absl::string_view key) {
  std::vector<double> weights;
  double total = 0;
  for (const core::RecordDict* reply : replies) {
    auto metrics = RecordsOf<core::MetricRecord>(*reply);
    const core::MetricValue* value = metrics.empty() ? nullptr : metrics[0].second->Find(key);
    std::optional<double> w = value == nullptr ? std::nullopt : ScalarMetric(*value);
    if (!w.has_value()) {
      return Inconsistent(
          absl::StrCat("Missing required key `", key, "` in the MetricRecord of reply messages."));
    }
    weights.push_back(*w);
    total += *w;
  }
  if (total == 0) return absl::InvalidArgumentError("float division by zero");
  for (double& w : weights) w /= total;
  return weights;
}

// Element-wise numpy arithmetic for one array: acc (+)= x * factor.
struct Accumulator {
  std::string out_dtype;  // "float32" or "float64"
  std::string in_dtype;
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<double> f64;
};

template <typename T>
void LoadElements(absl::string_view data, std::vector<double>* out) {
  const size_t n = data.size() / sizeof(T);
  out->resize(n);
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, data.data() + i * sizeof(T), sizeof(T));
    (*out)[i] = static_cast<double>(v);
  }
}

// Integer and bool elements as float64, as numpy promotes them when multiplied by a float.
absl::Status IntegerElements(const core::NpyArray& npy, std::vector<double>* out) {
  const std::string& d = npy.dtype.descr;
  if (d == "|b1" || d == "|u1") {
    LoadElements<uint8_t>(npy.data, out);
  } else if (d == "|i1") {
    LoadElements<int8_t>(npy.data, out);
  } else if (d == "<i2") {
    LoadElements<int16_t>(npy.data, out);
  } else if (d == "<u2") {
    LoadElements<uint16_t>(npy.data, out);
  } else if (d == "<i4") {
    LoadElements<int32_t>(npy.data, out);
  } else if (d == "<u4") {
    LoadElements<uint32_t>(npy.data, out);
  } else if (d == "<i8") {
    LoadElements<int64_t>(npy.data, out);
  } else if (d == "<u8") {
    LoadElements<uint64_t>(npy.data, out);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("dtype ", npy.dtype.name));
  }
  return absl::OkStatus();
}

absl::Status Accumulate(const std::string& key, const core::Array& array, double factor,
                        Accumulator* acc, bool first) {
  absl::StatusOr<core::NpyArray> npy = array.Numpy();
  if (!npy.ok()) {
    return AggregationError(
        absl::StrCat("Array '", key, "' is not numpy data: ", npy.status().message()));
  }
  if (npy->fortran_order) {
    return AggregationError(absl::StrCat("Array '", key, "' is in Fortran order"));
  }
  if (first) {
    acc->in_dtype = npy->dtype.descr;
    acc->shape = npy->shape;
    acc->out_dtype = npy->dtype.descr == "<f4" ? "float32" : "float64";
  } else if (npy->dtype.descr != acc->in_dtype || npy->shape != acc->shape) {
    return AggregationError(
        absl::StrCat("Array '", key, "' has a different dtype or shape in different replies"));
  }
  if (npy->dtype.descr == "<f4") {
    const size_t n = npy->data.size() / sizeof(float);
    const float f = static_cast<float>(factor);  // numpy casts the Python float to float32
    if (first) acc->f32.assign(n, 0.0f);
    for (size_t i = 0; i < n; ++i) {
      float x;
      std::memcpy(&x, npy->data.data() + i * sizeof(float), sizeof(float));
      const float term = x * f;
      acc->f32[i] = first ? term : acc->f32[i] + term;
    }
    return absl::OkStatus();
  }
  std::vector<double> values;
  if (npy->dtype.descr == "<f8") {
    LoadElements<double>(npy->data, &values);
  } else if (absl::Status s = IntegerElements(*npy, &values); !s.ok()) {
    return AggregationError(
        absl::StrCat("Array '", key, "' has dtype ", npy->dtype.name,
                     ", which FedAvg cannot average (float32, float64, integers, bool)"));
  }
  if (first) acc->f64.assign(values.size(), 0.0);
  for (size_t i = 0; i < values.size(); ++i) {
    const double term = values[i] * factor;
    acc->f64[i] = first ? term : acc->f64[i] + term;
  }
  return absl::OkStatus();
}

// Python's str() of a ConfigRecord value inside config_to_str.
std::string ConfigValueStr(const core::ConfigValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, double>) {
          return PythonFloatRepr(v);
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "True" : "False";
        } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t>) {
          return absl::StrCat(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else if constexpr (std::is_same_v<T, core::Bytes>) {
          return "<bytes>";
        } else {
          return "[...]";
        }
      },
      value);
}

std::string ConfigToStr(const core::ConfigRecord& config) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : config) {
    parts.push_back(absl::StrCat("'", key, "': ", ConfigValueStr(value)));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

std::string MetricValueRepr(const core::MetricValue& value) {
  if (std::optional<double> scalar = ScalarMetric(value)) {
    if (std::holds_alternative<double>(value)) return PythonFloatRepr(*scalar);
    return std::visit(
        [](const auto& v) -> std::string {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t>) {
            return absl::StrCat(v);
          } else {
            return "";
          }
        },
        value);
  }
  std::vector<std::string> items;
  if (const auto* d = std::get_if<std::vector<double>>(&value)) {
    for (double v : *d) items.push_back(PythonFloatRepr(v));
  } else if (const auto* i = std::get_if<std::vector<int64_t>>(&value)) {
    for (int64_t v : *i) items.push_back(absl::StrCat(v));
  } else if (const auto* u = std::get_if<std::vector<uint64_t>>(&value)) {
    for (uint64_t v : *u) items.push_back(absl::StrCat(v));
  }
  return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
}

// The per-round summary: "train_loss 1.2345" for each aggregated metric.
std::string MetricSummary(const std::optional<core::MetricRecord>& metrics) {
  if (!metrics.has_value() || metrics->empty()) return "-";
  std::vector<std::string> parts;
  for (const auto& [key, value] : *metrics) {
    if (std::optional<double> v = ScalarMetric(value)) {
      parts.push_back(absl::StrFormat("%s %.4f", key, *v));
    }
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace

int ServerAppExitCode(const absl::Status& status) {
  const auto payload = status.GetPayload(kExitCodePayload);
  int code = 0;
  if (payload.has_value() && absl::SimpleAtoi(std::string(*payload), &code)) return code;
  return 201;
}

std::string MetricRecordRepr(const core::MetricRecord& record) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : record) {
    parts.push_back(absl::StrCat(core::PythonRepr(key), ": ", MetricValueRepr(value)));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

absl::Status ValidateReplyConsistency(const std::vector<const core::RecordDict*>& replies,
                                      absl::string_view weighted_by_key, bool check_arrayrecord) {
  if (replies.empty()) return absl::OkStatus();
  if (check_arrayrecord) {
    for (const core::RecordDict* reply : replies) {
      if (RecordsOf<core::ArrayRecord>(*reply).size() != 1) {
        return Inconsistent("Expected exactly one ArrayRecord in replies. Skipping aggregation.");
      }
    }
    const std::string key = RecordsOf<core::ArrayRecord>(*replies[0])[0].first;
    const absl::flat_hash_set<std::string> keys = KeysUnder(*replies[0], key);
    for (size_t i = 1; i < replies.size(); ++i) {
      if (KeysUnder(*replies[i], key) != keys) {
        return Inconsistent(
            "All ArrayRecords must have the same keys for aggregation. This condition wasn't "
            "met. Skipping aggregation.");
      }
    }
  }
  for (const core::RecordDict* reply : replies) {
    if (RecordsOf<core::MetricRecord>(*reply).size() != 1) {
      return Inconsistent(
          "Expected exactly one MetricRecord in replies, but found more. Skipping aggregation.");
    }
  }
  const std::string key = RecordsOf<core::MetricRecord>(*replies[0])[0].first;
  const absl::flat_hash_set<std::string> keys = KeysUnder(*replies[0], key);
  for (size_t i = 1; i < replies.size(); ++i) {
    if (KeysUnder(*replies[i], key) != keys) {
      return Inconsistent(
          "All MetricRecords must have the same keys for aggregation. This condition wasn't "
          "met. Skipping aggregation.");
    }
  }
  if (!keys.contains(weighted_by_key)) {
    return Inconsistent(
        absl::StrCat("Missing required key `", weighted_by_key,
                     "` in the MetricRecord of reply messages. Cannot average ArrayRecords and "
                     "MetricRecords. Skipping aggregation."));
  }
  for (const core::RecordDict* reply : replies) {
    const auto* record = std::get_if<core::MetricRecord>(reply->Find(key));
    const core::MetricValue* weight = record == nullptr ? nullptr : record->Find(weighted_by_key);
    if (weight == nullptr || !ScalarMetric(*weight).has_value()) {
      return Inconsistent(absl::StrCat(
          "Key `", weighted_by_key,
          "` in the MetricRecord of reply messages must be a single value (int or float), but "
          "a list was found. Skipping aggregation."));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<core::ArrayRecord> AggregateArrayRecords(
    const std::vector<const core::RecordDict*>& replies, absl::string_view weighted_by_key) {
  absl::StatusOr<std::vector<double>> factors = WeightFactors(replies, weighted_by_key);
  if (!factors.ok()) return factors.status();
  std::vector<std::string> order;
  absl::flat_hash_map<std::string, Accumulator> sums;
  for (size_t r = 0; r < replies.size(); ++r) {
    for (const auto& [record_key, record] : RecordsOf<core::ArrayRecord>(*replies[r])) {
      for (const auto& [key, array] : *record) {
        auto [it, inserted] = sums.try_emplace(key);
        if (inserted) order.push_back(key);
        if (absl::Status s = Accumulate(key, array, (*factors)[r], &it->second, inserted);
            !s.ok()) {
          return s;
        }
      }
    }
  }
  core::ArrayRecord out;
  for (const std::string& key : order) {
    const Accumulator& acc = sums[key];
    absl::StatusOr<core::Array> array =
        acc.out_dtype == "float32"
            ? core::Array::FromRaw("float32", acc.shape,
                                   absl::string_view(reinterpret_cast<const char*>(acc.f32.data()),
                                                     acc.f32.size() * sizeof(float)))
            : core::Array::FromRaw("float64", acc.shape,
                                   absl::string_view(reinterpret_cast<const char*>(acc.f64.data()),
                                                     acc.f64.size() * sizeof(double)));
    if (!array.ok()) return AggregationError(array.status().message());
    out.Set(key, *std::move(array));
  }
  return out;
}

absl::StatusOr<core::MetricRecord> AggregateMetricRecords(
    const std::vector<const core::RecordDict*>& replies, absl::string_view weighted_by_key) {
  absl::StatusOr<std::vector<double>> factors = WeightFactors(replies, weighted_by_key);
  if (!factors.ok()) return factors.status();
  core::MetricRecord out;
  for (size_t r = 0; r < replies.size(); ++r) {
    const double w = (*factors)[r];
    for (const auto& [record_key, record] : RecordsOf<core::MetricRecord>(*replies[r])) {
      for (const auto& [key, value] : *record) {
        if (key == weighted_by_key) continue;
        core::MetricValue* current = out.Find(key);
        if (std::optional<double> scalar = ScalarMetric(value)) {
          if (current == nullptr) {
            out.Set(key, *scalar * w);
          } else if (double* sum = std::get_if<double>(current)) {
            *sum += *scalar * w;
          } else {
            return AggregationError(absl::StrCat("Metric '", key, "' mixes lists and numbers"));
          }
          continue;
        }
        std::vector<double> list = *ListMetric(value);
        if (current == nullptr) {
          for (double& v : list) v *= w;
          out.Set(key, std::move(list));
        } else if (auto* sums = std::get_if<std::vector<double>>(current);
                   sums != nullptr && sums->size() == list.size()) {
          for (size_t i = 0; i < list.size(); ++i) (*sums)[i] += list[i] * w;
        } else {
          return AggregationError(
              absl::StrCat("Metric '", key, "' has lists of different lengths or types"));
        }
      }
    }
  }
  return out;
}

absl::StatusOr<std::pair<std::vector<uint64_t>, std::vector<uint64_t>>> SampleNodes(
    Grid& grid, int64_t min_available_nodes, int64_t sample_size, std::mt19937_64& rng,
    const std::function<void(absl::Duration)>& sleep) {
  min_available_nodes = std::max(min_available_nodes, sample_size);
  std::vector<uint64_t> all;
  while (true) {
    absl::StatusOr<std::vector<uint64_t>> nodes = grid.GetNodeIds();
    if (!nodes.ok()) return nodes.status();
    all = *std::move(nodes);
    if (static_cast<int64_t>(all.size()) >= min_available_nodes) break;
    core::LogInfo(
        absl::StrFormat("Waiting for nodes to connect: %d connected (minimum required: %d).",
                        all.size(), min_available_nodes));
    if (sleep) {
      sleep(absl::Seconds(1));
    } else {
      absl::SleepFor(absl::Seconds(1));
    }
  }
  std::vector<uint64_t> sampled;
  std::sample(all.begin(), all.end(), std::back_inserter(sampled),
              std::max<int64_t>(sample_size, 0), rng);
  std::shuffle(sampled.begin(), sampled.end(), rng);
  return std::make_pair(std::move(sampled), std::move(all));
}

FedAvg::FedAvg(FedAvgOptions options)
    : options_(std::move(options)), rng_(options_.seed.value_or(std::random_device{}())) {
  if (options_.fraction_evaluate == 0.0) {
    options_.min_evaluate_nodes = 0;
    core::LogWarning("fraction_evaluate is set to 0.0. Federated evaluation will be skipped.");
  }
  if (options_.fraction_train == 0.0) {
    options_.min_train_nodes = 0;
    core::LogWarning("fraction_train is set to 0.0. Federated training will be skipped.");
  }
}

void FedAvg::Summary() const {
  core::LogInfo("\t├──> Sampling:");
  core::LogInfo(absl::StrFormat("\t│\t├──Fraction: train (%.2f) | evaluate ( %.2f)",
                                options_.fraction_train, options_.fraction_evaluate));
  core::LogInfo(absl::StrFormat("\t│\t├──Minimum nodes: train (%d) | evaluate (%d)",
                                options_.min_train_nodes, options_.min_evaluate_nodes));
  core::LogInfo(
      absl::StrFormat("\t│\t└──Minimum available nodes: %d", options_.min_available_nodes));
  core::LogInfo("\t└──> Keys in records:");
  core::LogInfo(absl::StrFormat("\t\t├── Weighted by: '%s'", options_.weighted_by_key));
  core::LogInfo(absl::StrFormat("\t\t├── ArrayRecord key: '%s'", options_.arrayrecord_key));
  core::LogInfo(absl::StrFormat("\t\t└── ConfigRecord key: '%s'", options_.configrecord_key));
}

absl::StatusOr<std::vector<core::Message>> FedAvg::Configure(int64_t server_round,
                                                             const core::ArrayRecord& arrays,
                                                             core::ConfigRecord config, Grid& grid,
                                                             bool train) {
  const double fraction = train ? options_.fraction_train : options_.fraction_evaluate;
  const int64_t min_nodes = train ? options_.min_train_nodes : options_.min_evaluate_nodes;
  std::vector<core::Message> messages;
  if (fraction == 0.0) return messages;
  absl::StatusOr<std::vector<uint64_t>> nodes = grid.GetNodeIds();
  if (!nodes.ok()) return nodes.status();
  const int64_t num_nodes = static_cast<int64_t>(static_cast<double>(nodes->size()) * fraction);
  const int64_t sample_size = std::max(num_nodes, min_nodes);
  absl::StatusOr<std::pair<std::vector<uint64_t>, std::vector<uint64_t>>> sampled =
      SampleNodes(grid, options_.min_available_nodes, sample_size, rng_, options_.sleep);
  if (!sampled.ok()) return sampled.status();
  core::LogInfo(absl::StrFormat("%s: Sampled %d nodes (out of %d)",
                                train ? "configure_train" : "configure_evaluate",
                                sampled->first.size(), sampled->second.size()));
  config.Set("server-round", server_round);
  core::RecordDict content;
  content.Set(options_.arrayrecord_key, arrays);
  content.Set(options_.configrecord_key, std::move(config));
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  for (uint64_t node_id : sampled->first) {
    core::Message message;
    message.metadata.dst_node_id = node_id;
    message.metadata.message_type = train ? "train" : "evaluate";
    message.metadata.created_at = now;
    message.content = content;
    messages.push_back(std::move(message));
  }
  return messages;
}

absl::StatusOr<std::vector<core::Message>> FedAvg::ConfigureTrain(int64_t server_round,
                                                                  const core::ArrayRecord& arrays,
                                                                  core::ConfigRecord config,
                                                                  Grid& grid) {
  return Configure(server_round, arrays, std::move(config), grid, /*train=*/true);
}

absl::StatusOr<std::vector<core::Message>> FedAvg::ConfigureEvaluate(
    int64_t server_round, const core::ArrayRecord& arrays, core::ConfigRecord config, Grid& grid) {
  return Configure(server_round, arrays, std::move(config), grid, /*train=*/false);
}

absl::StatusOr<std::vector<const core::RecordDict*>> FedAvg::CheckAndLogReplies(
    const std::vector<core::Message>& replies, bool train) {
  std::vector<const core::RecordDict*> valid;
  if (replies.empty()) return valid;
  std::vector<const core::Message*> errors;
  for (const core::Message& reply : replies) {
    if (reply.error.has_value() || !reply.content.has_value()) {
      errors.push_back(&reply);
    } else {
      valid.push_back(&*reply.content);
    }
  }
  core::LogInfo(absl::StrFormat("%s: Received %d results and %d failures",
                                train ? "aggregate_train" : "aggregate_evaluate", valid.size(),
                                errors.size()));
  for (const core::Message* error : errors) {
    core::LogInfo(absl::StrFormat("\t> Received error in reply from node %d: %s",
                                  error->metadata.src_node_id,
                                  error->error.has_value() ? error->error->reason : ""));
  }
  if (absl::Status s = ValidateReplyConsistency(valid, options_.weighted_by_key, train); !s.ok()) {
    return s;
  }
  return valid;
}

absl::StatusOr<std::pair<std::optional<core::ArrayRecord>, std::optional<core::MetricRecord>>>
FedAvg::AggregateTrain(int64_t, const std::vector<core::Message>& replies) {
  absl::StatusOr<std::vector<const core::RecordDict*>> valid =
      CheckAndLogReplies(replies, /*train=*/true);
  if (!valid.ok()) return valid.status();
  std::pair<std::optional<core::ArrayRecord>, std::optional<core::MetricRecord>> out;
  if (valid->empty()) return out;
  absl::StatusOr<core::ArrayRecord> arrays =
      AggregateArrayRecords(*valid, options_.weighted_by_key);
  if (!arrays.ok()) return arrays.status();
  absl::StatusOr<core::MetricRecord> metrics =
      AggregateMetricRecords(*valid, options_.weighted_by_key);
  if (!metrics.ok()) return metrics.status();
  out.first = *std::move(arrays);
  out.second = *std::move(metrics);
  return out;
}

absl::StatusOr<std::optional<core::MetricRecord>> FedAvg::AggregateEvaluate(
    int64_t, const std::vector<core::Message>& replies) {
  absl::StatusOr<std::vector<const core::RecordDict*>> valid =
      CheckAndLogReplies(replies, /*train=*/false);
  if (!valid.ok()) return valid.status();
  if (valid->empty()) return std::optional<core::MetricRecord>();
  absl::StatusOr<core::MetricRecord> metrics =
      AggregateMetricRecords(*valid, options_.weighted_by_key);
  if (!metrics.ok()) return metrics.status();
  return std::optional<core::MetricRecord>(*std::move(metrics));
}

absl::StatusOr<FedAvgResult> FedAvg::Start(Grid& grid, core::ArrayRecord initial_arrays,
                                           int64_t num_rounds, core::ConfigRecord train_config,
                                           core::ConfigRecord evaluate_config) {
  size_t bytes = 0;
  for (const auto& [key, array] : initial_arrays) bytes += array.data.size();
  core::LogInfo("Starting FedAvg strategy:");
  core::LogInfo(absl::StrFormat("\t├── Number of rounds: %d", num_rounds));
  core::LogInfo(absl::StrFormat("\t├── ArrayRecord (%.2f MB)", bytes / (1024.0 * 1024.0)));
  core::LogInfo(absl::StrCat("\t├── ConfigRecord (train): ",
                             train_config.empty() ? "(empty!)" : ConfigToStr(train_config)));
  core::LogInfo(absl::StrCat("\t├── ConfigRecord (evaluate): ",
                             evaluate_config.empty() ? "(empty!)" : ConfigToStr(evaluate_config)));
  Summary();
  core::LogInfo("");

  FedAvgResult result;
  result.arrays = initial_arrays;
  core::ArrayRecord arrays = std::move(initial_arrays);
  const absl::Time start = absl::Now();
  for (int64_t round = 1; round <= num_rounds; ++round) {
    const absl::Time round_start = absl::Now();
    core::LogInfo("");
    core::LogInfo(absl::StrFormat("[ROUND %d/%d]", round, num_rounds));

    absl::StatusOr<std::vector<core::Message>> train =
        ConfigureTrain(round, arrays, train_config, grid);
    if (!train.ok()) return train.status();
    absl::StatusOr<std::vector<core::Message>> train_replies =
        grid.SendAndReceive(*std::move(train), options_.round_timeout);
    if (!train_replies.ok()) return train_replies.status();
    auto aggregated = AggregateTrain(round, *train_replies);
    if (!aggregated.ok()) return aggregated.status();
    if (aggregated->first.has_value()) {
      arrays = *aggregated->first;
      result.arrays = arrays;
    }
    if (aggregated->second.has_value()) {
      core::LogInfo(
          absl::StrCat("\t└──> Aggregated MetricRecord: ", MetricRecordRepr(*aggregated->second)));
      result.train_metrics[round] = *aggregated->second;
    }

    absl::StatusOr<std::vector<core::Message>> evaluate =
        ConfigureEvaluate(round, arrays, evaluate_config, grid);
    if (!evaluate.ok()) return evaluate.status();
    absl::StatusOr<std::vector<core::Message>> evaluate_replies =
        grid.SendAndReceive(*std::move(evaluate), options_.round_timeout);
    if (!evaluate_replies.ok()) return evaluate_replies.status();
    absl::StatusOr<std::optional<core::MetricRecord>> evaluated =
        AggregateEvaluate(round, *evaluate_replies);
    if (!evaluated.ok()) return evaluated.status();
    if (evaluated->has_value()) {
      core::LogInfo(
          absl::StrCat("\t└──> Aggregated MetricRecord: ", MetricRecordRepr(**evaluated)));
      result.evaluate_metrics[round] = **evaluated;
    }
    result.round_seconds[round] = absl::ToDoubleSeconds(absl::Now() - round_start);
    core::LogInfo(absl::StrFormat("Round %d/%d: train [%s] | evaluate [%s] | %.2f s", round,
                                  num_rounds, MetricSummary(aggregated->second),
                                  MetricSummary(*evaluated), result.round_seconds[round]));
  }
  core::LogInfo("");
  core::LogInfo(absl::StrFormat("Strategy execution finished in %.2fs",
                                absl::ToDoubleSeconds(absl::Now() - start)));
  core::LogInfo("");
  size_t final_bytes = 0;
  for (const auto& [key, array] : result.arrays) final_bytes += array.data.size();
  core::LogInfo("Final results:");
  core::LogInfo("");
  core::LogInfo("\tGlobal Arrays:");
  core::LogInfo(absl::StrFormat("\t\tArrayRecord (%.3f MB)", final_bytes / (1024.0 * 1024.0)));
  core::LogInfo("");
  core::LogInfo("\tAggregated ClientApp-side Train Metrics:");
  for (const auto& [round, metrics] : result.train_metrics) {
    core::LogInfo(absl::StrCat("\t", round, ": ", MetricRecordRepr(metrics)));
  }
  core::LogInfo("");
  core::LogInfo("\tAggregated ClientApp-side Evaluate Metrics:");
  for (const auto& [round, metrics] : result.evaluate_metrics) {
    core::LogInfo(absl::StrCat("\t", round, ": ", MetricRecordRepr(metrics)));
  }
  core::LogInfo("");
  return result;
}

}  // namespace flwr::serverapp
