#include "flwr/core/native_program.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace flwr::core {

std::string FindNativeProgram(const std::string& env_var, const std::string& name,
                              const std::string& build_subdir) {
  if (const char* env = std::getenv(env_var.c_str()); env != nullptr && *env) return env;
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  for (const std::filesystem::path& candidate :
       {self.parent_path() / name, self.parent_path().parent_path() / build_subdir / name}) {
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate.string();
  }
  return "";
}

}  // namespace flwr::core
