// Native (C++) ServerApps and how the C++ `flwr-serverapp` picks one for a FAB.
//
// A FAB selects its native ServerApp in pyproject.toml, beside the Python components that
// stock Flower uses (and ignores this table):
//
//     [tool.flwr.app.native]
//     serverapp = "fedavg-cifar-cnn"
//
// Apps of this build (all run FedAvg, fedavg.h, configured by the run config):
//   "numpy-fedavg"      initial arrays {"w": float32 zeros of `array-size` (default 1000)};
//                       the twin of tests/apps/native_numpy_app's Python ServerApp.
//   "fedavg"            initial arrays from the `.npz` file named by `initial-arrays` (a path
//                       on the ServerApp's machine).
//   "fedavg-cifar-cnn"  initial arrays flwr::cnn::InitialCnnArrays(`seed`, default 42), the
//                       demo CNN's as PyTorch initialises them, computed without libtorch
//                       (flwr/cnn/cnn_weights.h): flwr-serverapp links no libtorch.
// Run config keys read (stock defaults): num-server-rounds (3), fraction-train (1.0; the
// legacy fraction-fit is accepted), fraction-evaluate (1.0), min-train-nodes (2),
// min-evaluate-nodes (2), min-available-nodes (2), round-timeout (3600 s); lr, local-epochs,
// momentum and batch-size are passed to the ClientApps in the train ConfigRecord.
// The final global arrays are saved as `final_model.npz` (and, by fedavg-cifar-cnn, as
// `final_model.pt`) in run config `artifacts-dir`, by default `$FLWR_HOME/artifacts/<run_id>/`
// (FLWR_HOME defaults to ~/.flwr), and the paths are logged.
#ifndef FLWR_SERVERAPP_NATIVE_SERVER_APP_H_
#define FLWR_SERVERAPP_NATIVE_SERVER_APP_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flwr/core/fab.h"
#include "flwr/core/message.h"
#include "flwr/core/npz.h"
#include "flwr/serverapp/fedavg.h"
#include "flwr/serverapp/grid.h"

namespace flwr::serverapp {

// Runs the app on `grid` with `context` (run_config filled in). An error ends the run failed.
using NativeServerApp = std::function<absl::Status(Grid& grid, core::Context& context)>;

class NativeServerAppRegistry {
 public:
  void Add(std::string name, NativeServerApp app);
  // The registered names, sorted.
  std::vector<std::string> Names() const;
  // The app, or nullptr for an unknown name.
  const NativeServerApp* Find(absl::string_view name) const;

 private:
  std::map<std::string, NativeServerApp, std::less<>> apps_;
};

// Every native ServerApp of this build (see the top of this file).
const NativeServerAppRegistry& BuiltinServerApps();

// The app the FAB selects ([tool.flwr.app.native] serverapp). FailedPrecondition naming the
// requested app and the available ones when the FAB selects none or one the registry lacks.
absl::StatusOr<NativeServerApp> LoadNativeServerApp(const NativeServerAppRegistry& registry,
                                                    const core::FabInfo& fab);

// FedAvg options from the run config keys above. InvalidArgument for a value of the wrong
// type or out of range (fractions outside [0, 1], negative counts or timeout).
absl::StatusOr<FedAvgOptions> FedAvgOptionsFromRunConfig(const core::UserConfig& run_config);

// Run config `key` as a non-negative integer, `fallback` when absent. InvalidArgument naming
// the key for another type or a negative value.
absl::StatusOr<int64_t> RunConfigCount(const core::UserConfig& config, absl::string_view key,
                                       int64_t fallback);

// Writes the final arrays into directory `dir` in an app's own format (e.g. the CNN's `.pt`);
// returns the path written.
using FinalModelWriter = std::function<absl::StatusOr<std::string>(const core::ArrayRecord& arrays,
                                                                   const std::string& dir)>;

// Runs FedAvg from `initial_arrays` with the run config's settings, then saves the final
// arrays (SaveFinalModel, with `write_extra`) in ArtifactsDir().
absl::Status RunFedAvgApp(Grid& grid, const core::Context& context,
                          core::ArrayRecord initial_arrays,
                          const FinalModelWriter& write_extra = nullptr);

// Run config `artifacts-dir`, else $FLWR_HOME/artifacts/<run_id> (FLWR_HOME: ~/.flwr).
std::string ArtifactsDir(const core::Context& context);

// Writes `arrays` to <dir>/final_model.npz (np.load gives the arrays by name) and, when
// `write_extra` is set, what it writes; creates `dir`. Returns the paths written. Internal
// when a file cannot be written, InvalidArgument for arrays that are not numpy data, else
// `write_extra`'s error.
absl::StatusOr<std::vector<std::string>> SaveFinalModel(
    const core::ArrayRecord& arrays, const std::string& dir,
    const FinalModelWriter& write_extra = nullptr);

// `.npz` files: core/npz.h.
using core::ReadNpz;
using core::WriteNpz;

}  // namespace flwr::serverapp

#endif  // FLWR_SERVERAPP_NATIVE_SERVER_APP_H_
