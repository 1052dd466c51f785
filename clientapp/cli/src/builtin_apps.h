// The native ClientApps of this build (builtin_client_apps.cc registers them): numpy-echo is
// built into flwr-clientapp; cifar-cnn needs libtorch and lives in the module
// flwr-clientapp-cnn.so (cifar_cnn_app.cc), loaded only when a FAB selects it.
#ifndef FLWR_CLIENTAPP_CLI_BUILTIN_APPS_H_
#define FLWR_CLIENTAPP_CLI_BUILTIN_APPS_H_

#include <memory>

#include "flwr/clientapp/native_client_app.h"

namespace flwr::clientapp {

// "numpy-echo": the torch-free test app (tests/apps/native_numpy_app has its Python twin).
std::unique_ptr<NativeClientApp> MakeNumpyEchoApp();

}  // namespace flwr::clientapp

// The entry point of flwr-clientapp-cnn.so (core/native_module.h): adds "cifar-cnn", the demo's
// CNN on libtorch (flwr::cnn), to `apps`.
extern "C" void FlwrAddCnnClientApps(flwr::clientapp::NativeClientAppRegistry& apps);

#endif  // FLWR_CLIENTAPP_CLI_BUILTIN_APPS_H_
