// Constructors of the native ClientApps this build registers (builtin_client_apps.cc).
#ifndef FLWR_CLIENTAPP_CLI_BUILTIN_APPS_H_
#define FLWR_CLIENTAPP_CLI_BUILTIN_APPS_H_

#include <memory>

#include "flwr/clientapp/native_client_app.h"

namespace flwr::clientapp {

// "numpy-echo": the torch-free test app (tests/apps/native_numpy_app has its Python twin).
std::unique_ptr<NativeClientApp> MakeNumpyEchoApp();

#ifdef FLWR_HAVE_CNN
// "cifar-cnn": the demo's CNN on libtorch (flwr::cnn).
std::unique_ptr<NativeClientApp> MakeCifarCnnApp();
#endif

}  // namespace flwr::clientapp

#endif  // FLWR_CLIENTAPP_CLI_BUILTIN_APPS_H_
