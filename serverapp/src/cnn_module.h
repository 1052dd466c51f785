// The entry point of flwr-serverapp-cnn.so (cifar_cnn_server_app.cc; core/native_module.h):
// adds "fedavg-cifar-cnn", FedAvg for the demo's CNN on libtorch (flwr::cnn), to `apps`.
#ifndef FLWR_SERVERAPP_SRC_CNN_MODULE_H_
#define FLWR_SERVERAPP_SRC_CNN_MODULE_H_

#include "flwr/serverapp/native_server_app.h"

extern "C" void FlwrAddCnnServerApps(flwr::serverapp::NativeServerAppRegistry& apps);

#endif  // FLWR_SERVERAPP_SRC_CNN_MODULE_H_
