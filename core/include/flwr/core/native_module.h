// Native apps that need a heavy library (libtorch) live in shared modules installed beside the
// app executables, loaded with dlopen only when a FAB selects one of their apps: the other apps
// start without mapping that library.
//
// A module exports one C entry point that adds its apps to a registry (the executable's
// NativeClientAppRegistry or NativeServerAppRegistry):
//
//     extern "C" void FlwrAddCnnClientApps(flwr::clientapp::NativeClientAppRegistry& apps);
//
// The executable is linked with its symbols exported (CMake ENABLE_EXPORTS), so a module's
// copies of the static flwr libraries bind to the executable's: one logging state, one set of
// registered protobuf descriptors.
#ifndef FLWR_CORE_NATIVE_MODULE_H_
#define FLWR_CORE_NATIVE_MODULE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace flwr::core {

// Where a module is and what it exports.
struct NativeModule {
  std::string file_name;     // e.g. "flwr-clientapp-cnn.so"
  std::string env_var;       // overrides the path, e.g. "FLWR_CLIENTAPP_CNN_MODULE"
  std::string build_subdir;  // its directory in the build tree, as FindNativeProgram's
  std::string entry_point;   // the exported C function, e.g. "FlwrAddCnnClientApps"
};

// Loads `module` (found as FindNativeProgram finds programs: $env_var, else beside the running
// binary) and returns its entry point. The module stays loaded; loading it again is cheap.
// Thread-safe. FailedPrecondition, naming the module, where it was looked for and the env
// var, when it is missing, cannot be loaded (dlerror's reason) or lacks the entry point.
absl::StatusOr<void*> LoadNativeModuleEntry(const NativeModule& module);

// Loads `module` and calls its entry point on `registry`: the module's apps are added to it.
template <typename Registry>
absl::Status AddNativeModuleApps(const NativeModule& module, Registry& registry) {
  absl::StatusOr<void*> entry = LoadNativeModuleEntry(module);
  if (!entry.ok()) return entry.status();
  reinterpret_cast<void (*)(Registry&)> (*entry)(registry);
  return absl::OkStatus();
}

}  // namespace flwr::core

#endif  // FLWR_CORE_NATIVE_MODULE_H_
