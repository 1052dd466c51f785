#include "flwr/core/native_module.h"

#include <dlfcn.h>

#include "absl/strings/str_cat.h"
#include "flwr/core/logging.h"
#include "flwr/core/native_program.h"

namespace flwr::core {

absl::StatusOr<void*> LoadNativeModuleEntry(const NativeModule& module) {
  const std::string path = FindNativeProgram(module.env_var, module.file_name, module.build_subdir);
  const std::string hint =
      absl::StrCat("install ", module.file_name, " beside this executable or set ", module.env_var,
                   " to its path");
  if (path.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("native app module ", module.file_name, " not found (", hint, ")"));
  }
  // RTLD_NOW: a missing symbol fails here, with a reason, not later in the middle of a task.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load native app module ", path, ": ", ::dlerror(), " (", hint, ")"));
  }
  void* entry = ::dlsym(handle, module.entry_point.c_str());
  if (entry == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("native app module ", path, " lacks ", module.entry_point, ": ", ::dlerror()));
  }
  LogDebug(absl::StrCat("Loaded native app module ", path));
  return entry;
}

}  // namespace flwr::core
