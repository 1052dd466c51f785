#include "flwr/serverapp/native_server_app.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "flwr/cnn/cnn_weights.h"
#include "flwr/core/logging.h"
#include "nlohmann/json.hpp"

namespace flwr::serverapp {
namespace {

// A number from the run config (int or float), or `fallback` when absent.
absl::StatusOr<double> Number(const core::UserConfig& config, absl::string_view key,
                              double fallback) {
  const core::UserConfigValue* value = config.Find(key);
  if (value == nullptr) return fallback;
  if (const double* d = std::get_if<double>(value)) return *d;
  if (const int64_t* i = std::get_if<int64_t>(value)) return static_cast<double>(*i);
  return absl::InvalidArgumentError(absl::StrCat("Run config key '", key, "' must be a number"));
}

absl::StatusOr<double> Fraction(const core::UserConfig& config, absl::string_view key,
                                absl::string_view legacy_key) {
  absl::StatusOr<double> value = config.Contains(key) || legacy_key.empty()
                                     ? Number(config, key, 1.0)
                                     : Number(config, legacy_key, 1.0);
  if (!value.ok()) return value.status();
  if (!(*value >= 0.0 && *value <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Run config key '", key, "' must be a fraction in [0, 1]"));
  }
  return *value;
}

absl::Status NumpyFedAvg(Grid& grid, core::Context& context) {
  absl::StatusOr<int64_t> size = RunConfigCount(context.run_config, "array-size", 1000);
  if (!size.ok()) return size.status();
  const std::vector<float> zeros(static_cast<size_t>(*size), 0.0f);
  absl::StatusOr<core::Array> w = core::Array::FromFloats(zeros, {*size});
  if (!w.ok()) return w.status();
  core::ArrayRecord arrays;
  arrays.Set("w", *std::move(w));
  return RunFedAvgApp(grid, context, std::move(arrays));
}

absl::Status GenericFedAvg(Grid& grid, core::Context& context) {
  const core::UserConfigValue* path = context.run_config.Find("initial-arrays");
  const std::string* text = path == nullptr ? nullptr : std::get_if<std::string>(path);
  if (text == nullptr) {
    return absl::InvalidArgumentError(
        "Native ServerApp 'fedavg' needs run config 'initial-arrays': the path of an .npz "
        "file with the initial model");
  }
  absl::StatusOr<core::ArrayRecord> arrays = ReadNpz(*text);
  if (!arrays.ok()) return arrays.status();
  return RunFedAvgApp(grid, context, *std::move(arrays));
}

// "fedavg-cifar-cnn": FedAvg from the demo CNN's seeded initial weights (run config "seed",
// default 42), saving the final model also as `final_model.pt` (torch.load gives the Net's
// state_dict). Neither needs libtorch (flwr/cnn/cnn_weights.h).
absl::StatusOr<std::string> WritePt(const core::ArrayRecord& arrays, const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/final_model.pt");
  if (absl::Status s = cnn::SaveArraysPt(arrays, path); !s.ok()) return s;
  return path;
}

absl::Status CifarCnnFedAvg(Grid& grid, core::Context& context) {
  absl::StatusOr<int64_t> seed = RunConfigCount(context.run_config, "seed", 42);
  if (!seed.ok()) return seed.status();
  return RunFedAvgApp(grid, context, cnn::InitialCnnArrays(static_cast<uint64_t>(*seed)), WritePt);
}

}  // namespace

absl::StatusOr<int64_t> RunConfigCount(const core::UserConfig& config, absl::string_view key,
                                       int64_t fallback) {
  const core::UserConfigValue* value = config.Find(key);
  if (value == nullptr) return fallback;
  const int64_t* i = std::get_if<int64_t>(value);
  if (i == nullptr || *i < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Run config key '", key, "' must be a non-negative integer"));
  }
  return *i;
}

void NativeServerAppRegistry::Add(std::string name, NativeServerApp app) {
  apps_[std::move(name)] = std::move(app);
}

std::vector<std::string> NativeServerAppRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, app] : apps_) names.push_back(name);
  return names;
}

const NativeServerApp* NativeServerAppRegistry::Find(absl::string_view name) const {
  auto it = apps_.find(name);
  return it == apps_.end() ? nullptr : &it->second;
}

const NativeServerAppRegistry& BuiltinServerApps() {
  static const NativeServerAppRegistry* const registry = [] {
    auto* apps = new NativeServerAppRegistry;
    apps->Add("numpy-fedavg", NumpyFedAvg);
    apps->Add("fedavg", GenericFedAvg);
    apps->Add("fedavg-cifar-cnn", CifarCnnFedAvg);
    return apps;
  }();
  return *registry;
}

absl::StatusOr<NativeServerApp> LoadNativeServerApp(const NativeServerAppRegistry& registry,
                                                    const core::FabInfo& fab) {
  const std::string available =
      absl::StrCat("available native ServerApps: ", absl::StrJoin(registry.Names(), ", "));
  const std::string* name = fab.native.Find("serverapp");
  if (name == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "The FAB selects no native ServerApp ([tool.flwr.app.native] serverapp is not set); "
        "this C++ flwr-serverapp runs native ServerApps only (",
        available, "); run Python ServerApps with the stock flwr-serverapp"));
  }
  const NativeServerApp* app = registry.Find(*name);
  if (app == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "The FAB requests native ServerApp '", *name,
        "' ([tool.flwr.app.native] serverapp), which this flwr-serverapp does not have (",
        available, ")"));
  }
  return *app;
}

absl::StatusOr<FedAvgOptions> FedAvgOptionsFromRunConfig(const core::UserConfig& run_config) {
  FedAvgOptions options;
  absl::StatusOr<double> fraction_train = Fraction(run_config, "fraction-train", "fraction-fit");
  if (!fraction_train.ok()) return fraction_train.status();
  absl::StatusOr<double> fraction_evaluate = Fraction(run_config, "fraction-evaluate", "");
  if (!fraction_evaluate.ok()) return fraction_evaluate.status();
  absl::StatusOr<int64_t> min_train = RunConfigCount(run_config, "min-train-nodes", 2);
  absl::StatusOr<int64_t> min_evaluate = RunConfigCount(run_config, "min-evaluate-nodes", 2);
  absl::StatusOr<int64_t> min_available = RunConfigCount(run_config, "min-available-nodes", 2);
  for (const auto* s : {&min_train, &min_evaluate, &min_available}) {
    if (!s->ok()) return s->status();
  }
  absl::StatusOr<double> timeout = Number(run_config, "round-timeout", 3600);
  if (!timeout.ok()) return timeout.status();
  if (!(*timeout >= 0) || !std::isfinite(*timeout)) {
    return absl::InvalidArgumentError("Run config key 'round-timeout' must be a number >= 0");
  }
  options.fraction_train = *fraction_train;
  options.fraction_evaluate = *fraction_evaluate;
  options.min_train_nodes = *min_train;
  options.min_evaluate_nodes = *min_evaluate;
  options.min_available_nodes = *min_available;
  options.round_timeout = absl::Seconds(*timeout);
  return options;
}

std::string ArtifactsDir(const core::Context& context) {
  if (const core::UserConfigValue* dir = context.run_config.Find("artifacts-dir")) {
    if (const std::string* text = std::get_if<std::string>(dir);
        text != nullptr && !text->empty()) {
      return *text;
    }
  }
  std::string home;
  if (const char* flwr_home = std::getenv("FLWR_HOME"); flwr_home != nullptr && *flwr_home) {
    home = flwr_home;
  } else {
    const char* user_home = std::getenv("HOME");
    home = absl::StrCat(user_home != nullptr ? user_home : ".", "/.flwr");
  }
  return absl::StrCat(home, "/artifacts/", context.run_id);
}

absl::StatusOr<std::vector<std::string>> SaveFinalModel(const core::ArrayRecord& arrays,
                                                        const std::string& dir,
                                                        const FinalModelWriter& write_extra) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot create '", dir, "': ", error.message()));
  }
  std::vector<std::string> paths;
  const std::string npz = absl::StrCat(dir, "/final_model.npz");
  if (absl::Status s = WriteNpz(arrays, npz); !s.ok()) return s;
  paths.push_back(npz);
  if (write_extra) {
    absl::StatusOr<std::string> extra = write_extra(arrays, dir);
    if (!extra.ok()) return extra.status();
    paths.push_back(*std::move(extra));
  }
  return paths;
}

// history.json: each round's wall time and aggregated metrics, as the Python twin
// (demo/cifar_app/server_app.py) writes it:
// {"rounds": [{"round", "seconds", "train": {..}, "evaluate": {..}}]}.
absl::Status SaveHistory(const FedAvgResult& result, const std::string& dir) {
  auto metrics_json = [](const std::map<int64_t, core::MetricRecord>& by_round, int64_t round) {
    nlohmann::json out = nlohmann::json::object();
    auto it = by_round.find(round);
    if (it == by_round.end()) return out;
    for (const auto& [key, value] : it->second) {
      std::visit([&out, &key](const auto& v) { out[key] = v; }, value);
    }
    return out;
  };
  nlohmann::json rounds = nlohmann::json::array();
  for (const auto& [round, seconds] : result.round_seconds) {
    rounds.push_back({{"round", round},
                      {"seconds", seconds},
                      {"train", metrics_json(result.train_metrics, round)},
                      {"evaluate", metrics_json(result.evaluate_metrics, round)}});
  }
  const std::string path = absl::StrCat(dir, "/history.json");
  std::ofstream out(path);
  out << nlohmann::json{{"rounds", rounds}}.dump(2) << "\n";
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write '", path, "'"));
  return absl::OkStatus();
}

absl::Status RunFedAvgApp(Grid& grid, const core::Context& context,
                          core::ArrayRecord initial_arrays, const FinalModelWriter& write_extra) {
  absl::StatusOr<FedAvgOptions> options = FedAvgOptionsFromRunConfig(context.run_config);
  if (!options.ok()) return options.status();
  absl::StatusOr<int64_t> rounds = RunConfigCount(context.run_config, "num-server-rounds", 3);
  if (!rounds.ok()) return rounds.status();
  core::ConfigRecord train_config;
  for (absl::string_view key : {"lr", "local-epochs", "momentum", "batch-size"}) {
    const core::UserConfigValue* value = context.run_config.Find(key);
    if (value == nullptr) continue;
    if (const double* d = std::get_if<double>(value)) {
      train_config.Set(std::string(key), *d);
    } else if (const int64_t* i = std::get_if<int64_t>(value)) {
      train_config.Set(std::string(key), *i);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("Run config key '", key, "' must be a number"));
    }
  }
  FedAvg strategy(*std::move(options));
  absl::StatusOr<FedAvgResult> result =
      strategy.Start(grid, std::move(initial_arrays), *rounds, std::move(train_config), {});
  if (!result.ok()) return result.status();
  absl::StatusOr<std::vector<std::string>> paths =
      SaveFinalModel(result->arrays, ArtifactsDir(context), write_extra);
  if (!paths.ok()) return paths.status();
  core::LogInfo(absl::StrCat("Saved the final model: ", absl::StrJoin(*paths, ", ")));
  if (absl::Status s = SaveHistory(*result, ArtifactsDir(context)); !s.ok()) return s;
  return absl::OkStatus();
}

}  // namespace flwr::serverapp
