#include <type_traits>

#include "builtin_apps.h"
#include "flwr/core/native_module.h"

namespace flwr::clientapp {
namespace {

static_assert(std::is_same_v<decltype(&FlwrAddCnnClientApps), void (*)(NativeClientAppRegistry&)>,
              "the module's entry point is called as AddNativeModuleApps calls it");

// App `name` of the libtorch module, which is loaded on the first call.
absl::StatusOr<std::unique_ptr<NativeClientApp>> CreateCnnModuleApp(absl::string_view name) {
  const core::NativeModule module{.file_name = "flwr-clientapp-cnn.so",
                                  .env_var = "FLWR_CLIENTAPP_CNN_MODULE",
                                  .build_subdir = "clientapp/cli",
                                  .entry_point = "FlwrAddCnnClientApps"};
  NativeClientAppRegistry module_apps;
  if (absl::Status s = core::AddNativeModuleApps(module, module_apps); !s.ok()) return s;
  return module_apps.Create(name);
}

}  // namespace

const NativeClientAppRegistry& BuiltinClientApps() {
  static const NativeClientAppRegistry* const registry = [] {
    auto* apps = new NativeClientAppRegistry;
    apps->Add("numpy-echo", MakeNumpyEchoApp);
    apps->Add("cifar-cnn", [] { return CreateCnnModuleApp("cifar-cnn"); });
    return apps;
  }();
  return *registry;
}

}  // namespace flwr::clientapp
