// Where our native executables and app modules are, for the servers that start them (the app
// launcher) and the app executables that load their modules (native_module.h).
#ifndef FLWR_CORE_NATIVE_PROGRAM_H_
#define FLWR_CORE_NATIVE_PROGRAM_H_

#include <string>

namespace flwr::core {

// Where our native executable `name` is: $`env_var` if set, else beside the running binary
// (an installation), else `<binary dir>/../<build_subdir>/<name>` (the build tree). Empty if
// none exists.
std::string FindNativeProgram(const std::string& env_var, const std::string& name,
                              const std::string& build_subdir);

}  // namespace flwr::core

#endif  // FLWR_CORE_NATIVE_PROGRAM_H_
