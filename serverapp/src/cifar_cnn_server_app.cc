// "fedavg-cifar-cnn": FedAvg from the demo CNN's seeded initial weights (run config "seed",
// default 42), saving the final model also as `final_model.pt` (torch.load gives the Net's
// state_dict). Built as the module flwr-serverapp-cnn.so, which flwr-serverapp loads only when
// a FAB selects this app, so the other ServerApps start without libtorch.
#include <string>

#include "absl/strings/str_cat.h"
#include "cnn_module.h"
#include "flwr/cnn/cifar_cnn.h"

namespace flwr::serverapp {
namespace {

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
}  // namespace flwr::serverapp

extern "C" void FlwrAddCnnServerApps(flwr::serverapp::NativeServerAppRegistry& apps) {
  apps.Add("fedavg-cifar-cnn", flwr::serverapp::CifarCnnFedAvg);
}
