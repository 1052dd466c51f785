#include "builtin_apps.h"

namespace flwr::clientapp {

const NativeClientAppRegistry& BuiltinClientApps() {
  static const NativeClientAppRegistry* const registry = [] {
    auto* apps = new NativeClientAppRegistry;
    apps->Add("numpy-echo", MakeNumpyEchoApp);
#ifdef FLWR_HAVE_CNN
    apps->Add("cifar-cnn", MakeCifarCnnApp);
#endif
    return apps;
  }();
  return *registry;
}

}  // namespace flwr::clientapp
