// "numpy-echo": a torch-free native ClientApp for protocol tests, the twin of the Python
// ClientApp in tests/apps/native_numpy_app. With p = node_config "partition-id" (default 0):
//   train:    every array of "arrays" plus 1 (float32 / float64 kept), metrics
//             {"train_loss": p + 1, "num-examples": 10 * (p + 1)}
//   evaluate: metrics {"eval_loss": mean of all elements of "arrays", "eval_acc": 0.5 + 0.1 p,
//             "num-examples": 10 * (p + 1)}
// Legacy FitIns / EvaluateIns are served the same way (tensors named "0", "1", ...), answered as
// a stock NumPyClient without get_parameters / get_properties.
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "builtin_apps.h"

namespace flwr::clientapp {
namespace {

absl::StatusOr<int64_t> PartitionId(const core::Context& context) {
  if (!context.node_config.Contains("partition-id")) return 0;
  return ConfigInt(context.node_config, "partition-id");
}

// Calls `fn(name, npy, values)` with each array's elements as doubles.
template <typename Fn>
absl::Status ForEachArray(const core::ArrayRecord& arrays, Fn fn) {
  for (const auto& [name, array] : arrays) {
    absl::StatusOr<core::NpyArray> npy = array.Numpy();
    if (!npy.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Array '", name, "' is not a numpy array: ", npy.status().message()));
    }
    std::vector<double> values;
    if (npy->dtype.name == "float32" && npy->dtype.descr == "<f4") {
      values.resize(npy->data.size() / sizeof(float));
      for (size_t i = 0; i < values.size(); ++i) {
        float f;
        std::memcpy(&f, npy->data.data() + i * sizeof(float), sizeof(float));
        values[i] = f;
      }
    } else if (npy->dtype.name == "float64" && npy->dtype.descr == "<f8") {
      values.resize(npy->data.size() / sizeof(double));
      std::memcpy(values.data(), npy->data.data(), values.size() * sizeof(double));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("Array '", name, "' has dtype ",
                                                     npy->dtype.name,
                                                     "; numpy-echo takes float32 or float64"));
    }
    if (absl::Status s = fn(name, *npy, values); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<core::RecordDict> Train(const core::Message& message, core::Context& context) {
  absl::StatusOr<int64_t> partition = PartitionId(context);
  if (!partition.ok()) return partition.status();
  absl::StatusOr<const core::ArrayRecord*> arrays = GetArrayRecord(*message.content, "arrays");
  if (!arrays.ok()) return arrays.status();
  core::ArrayRecord out;
  absl::Status status = ForEachArray(
      **arrays,
      [&](const std::string& name, const core::NpyArray& npy,
          const std::vector<double>& values) -> absl::Status {
        std::string raw;
        if (npy.dtype.name == "float32") {
          std::vector<float> next(values.size());
          for (size_t i = 0; i < values.size(); ++i) {
            next[i] = static_cast<float>(values[i]) + 1.0f;
          }
          raw.assign(reinterpret_cast<const char*>(next.data()), next.size() * sizeof(float));
        } else {
          std::vector<double> next(values.size());
          for (size_t i = 0; i < values.size(); ++i) next[i] = values[i] + 1.0;
          raw.assign(reinterpret_cast<const char*>(next.data()), next.size() * sizeof(double));
        }
        absl::StatusOr<core::Array> array = core::Array::FromRaw(npy.dtype.name, npy.shape, raw);
        if (!array.ok()) return array.status();
        out.Set(name, *std::move(array));
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  core::MetricRecord metrics;
  metrics.Set("train_loss", static_cast<double>(*partition + 1));
  metrics.Set("num-examples", int64_t{10} * (*partition + 1));
  core::RecordDict reply;
  reply.Set("arrays", std::move(out));
  reply.Set("metrics", std::move(metrics));
  return reply;
}

absl::StatusOr<core::RecordDict> Evaluate(const core::Message& message, core::Context& context) {
  absl::StatusOr<int64_t> partition = PartitionId(context);
  if (!partition.ok()) return partition.status();
  absl::StatusOr<const core::ArrayRecord*> arrays = GetArrayRecord(*message.content, "arrays");
  if (!arrays.ok()) return arrays.status();
  double sum = 0;
  size_t count = 0;
  absl::Status status = ForEachArray(**arrays,
                                     [&](const std::string&, const core::NpyArray&,
                                         const std::vector<double>& values) -> absl::Status {
                                       for (double v : values) sum += v;
                                       count += values.size();
                                       return absl::OkStatus();
                                     });
  if (!status.ok()) return status;
  if (count == 0) return absl::InvalidArgumentError("The ArrayRecord 'arrays' holds no elements");
  core::MetricRecord metrics;
  metrics.Set("eval_loss", sum / static_cast<double>(count));
  metrics.Set("eval_acc", 0.5 + 0.1 * static_cast<double>(*partition));
  metrics.Set("num-examples", int64_t{10} * (*partition + 1));
  core::RecordDict reply;
  reply.Set("metrics", std::move(metrics));
  return reply;
}

}  // namespace

std::unique_ptr<NativeClientApp> MakeNumpyEchoApp() {
  auto app = std::make_unique<NativeClientApp>();
  app->Register("train", "default", Train);
  app->Register("evaluate", "default", Evaluate);
  app->ServeLegacyMessages(LegacyOptions{});
  return app;
}

}  // namespace flwr::clientapp
