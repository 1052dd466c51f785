// "cifar-cnn": the demo's CIFAR-10 CNN (flwr::cnn) as a native ClientApp, built as the module
// flwr-clientapp-cnn.so that flwr-clientapp loads when a FAB selects it, replying as the
// stock `flwr new` PyTorch template does, which is what the stock FedAvg of 1.36 aggregates:
//   train:    {"arrays": trained weights, "metrics": {"train_loss", "num-examples"}}
//   evaluate: {"metrics": {"eval_loss", "eval_acc", "num-examples"}}
// It also serves legacy ServerApps (`flwr.server.strategy`), as a stock NumPyClient would
// (legacy_messages.h): FitIns / EvaluateIns tensors are the state_dict in order; FitRes
// metrics {"train_loss"}, EvaluateRes loss = eval_loss, metrics {"eval_loss", "eval_acc"};
// get_parameters answers the seeded initial weights (run config "seed", default 42).
// Data: node_config "data-path" (else run_config "data-path"), "partition-id" (default 0),
// "num-partitions" (default 1). Training: "local-epochs", "lr", "momentum", "batch-size" from
// the message's "config" ConfigRecord, else the run config, else the library defaults.
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "builtin_apps.h"
#include "flwr/cnn/cifar_cnn.h"

namespace flwr::clientapp {
namespace {

using cnn::CifarCnnClient;
using cnn::CifarPartitionOptions;
using cnn::EvalResult;
using cnn::TrainOptions;
using cnn::TrainResult;

absl::StatusOr<int64_t> IntOr(const core::UserConfig& config, absl::string_view key,
                              int64_t fallback) {
  if (!config.Contains(key)) return fallback;
  return ConfigInt(config, key);
}

// A training option: the message's config, else the run config, else `fallback`.
absl::StatusOr<double> Option(const core::ConfigRecord* message_config,
                              const core::UserConfig& run_config, absl::string_view key,
                              double fallback) {
  if (message_config != nullptr) {
    absl::StatusOr<std::optional<double>> value = ConfigRecordNumber(*message_config, key);
    if (!value.ok()) return value.status();
    if (value->has_value()) return **value;
  }
  if (run_config.Contains(key)) return ConfigDouble(run_config, key);
  return fallback;
}

absl::StatusOr<std::unique_ptr<CifarCnnClient>> CreateClient(const core::Context& context) {
  CifarPartitionOptions options;
  if (context.node_config.Contains("data-path")) {
    absl::StatusOr<std::string> path = ConfigString(context.node_config, "data-path");
    if (!path.ok()) return path.status();
    options.data_path = *path;
  } else if (context.run_config.Contains("data-path")) {
    absl::StatusOr<std::string> path = ConfigString(context.run_config, "data-path");
    if (!path.ok()) return path.status();
    options.data_path = *path;
  } else {
    return absl::InvalidArgumentError(
        "No data directory: set node config 'data-path' (flower-supernode --node-config "
        "\"data-path='...'\") or run config 'data-path'");
  }
  absl::StatusOr<int64_t> partition_id = IntOr(context.node_config, "partition-id", 0);
  if (!partition_id.ok()) return partition_id.status();
  absl::StatusOr<int64_t> num_partitions = IntOr(context.node_config, "num-partitions", 1);
  if (!num_partitions.ok()) return num_partitions.status();
  // The partition's seed: run config "seed", as the Python twin (demo/cifar_app/client_app.py).
  absl::StatusOr<int64_t> seed = IntOr(context.run_config, "seed", 42);
  if (!seed.ok()) return seed.status();
  options.partition_id = *partition_id;
  options.num_partitions = *num_partitions;
  options.seed = static_cast<uint64_t>(*seed);
  return CifarCnnClient::Create(options);
}

absl::StatusOr<core::RecordDict> Train(const core::Message& message, core::Context& context) {
  absl::StatusOr<const core::ArrayRecord*> received = GetArrayRecord(*message.content, "arrays");
  if (!received.ok()) return received.status();
  absl::StatusOr<const core::ConfigRecord*> config = FindConfigRecord(*message.content, "config");
  if (!config.ok()) return config.status();
  TrainOptions options;
  absl::StatusOr<double> epochs = Option(*config, context.run_config, "local-epochs",
                                         static_cast<double>(options.local_epochs));
  absl::StatusOr<double> lr = Option(*config, context.run_config, "lr", options.lr);
  absl::StatusOr<double> momentum =
      Option(*config, context.run_config, "momentum", options.momentum);
  absl::StatusOr<double> batch =
      Option(*config, context.run_config, "batch-size", static_cast<double>(options.batch_size));
  for (const auto* s : {&epochs, &lr, &momentum, &batch}) {
    if (!s->ok()) return s->status();
  }
  options.local_epochs = static_cast<int64_t>(*epochs);
  options.lr = *lr;
  options.momentum = *momentum;
  options.batch_size = static_cast<int64_t>(*batch);

  absl::StatusOr<std::unique_ptr<CifarCnnClient>> client = CreateClient(context);
  if (!client.ok()) return client.status();
  core::ArrayRecord arrays = **received;
  absl::StatusOr<TrainResult> result = (*client)->Train(arrays, options);
  if (!result.ok()) return result.status();
  core::MetricRecord metrics;
  metrics.Set("train_loss", result->train_loss);
  metrics.Set("num-examples", result->num_examples);
  core::RecordDict reply;
  reply.Set("arrays", std::move(arrays));
  reply.Set("metrics", std::move(metrics));
  return reply;
}

absl::StatusOr<core::RecordDict> Evaluate(const core::Message& message, core::Context& context) {
  absl::StatusOr<const core::ArrayRecord*> arrays = GetArrayRecord(*message.content, "arrays");
  if (!arrays.ok()) return arrays.status();
  absl::StatusOr<std::unique_ptr<CifarCnnClient>> client = CreateClient(context);
  if (!client.ok()) return client.status();
  absl::StatusOr<EvalResult> result = (*client)->Evaluate(**arrays);
  if (!result.ok()) return result.status();
  core::MetricRecord metrics;
  metrics.Set("eval_loss", result->loss);
  metrics.Set("eval_acc", result->accuracy);
  metrics.Set("num-examples", result->num_examples);
  core::RecordDict reply;
  reply.Set("metrics", std::move(metrics));
  return reply;
}

std::unique_ptr<NativeClientApp> MakeCifarCnnApp() {
  auto app = std::make_unique<NativeClientApp>();
  app->Register("train", "default", Train);
  app->Register("evaluate", "default", Evaluate);
  LegacyOptions legacy;
  legacy.array_names = cnn::CnnParameterNames();
  legacy.initial_arrays = [](const core::Context& context) -> absl::StatusOr<core::ArrayRecord> {
    absl::StatusOr<int64_t> seed = IntOr(context.run_config, "seed", 42);
    if (!seed.ok()) return seed.status();
    return cnn::InitialCnnArrays(static_cast<uint64_t>(*seed));
  };
  app->ServeLegacyMessages(std::move(legacy));
  return app;
}

}  // namespace
}  // namespace flwr::clientapp

extern "C" void FlwrAddCnnClientApps(flwr::clientapp::NativeClientAppRegistry& apps) {
  apps.Add("cifar-cnn", flwr::clientapp::MakeCifarCnnApp);
}
