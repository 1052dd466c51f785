// What this test process has mapped, for the tests that native apps load libtorch only on
// demand (core/native_module.h).
#ifndef FLWR_TESTS_APPS_NATIVE_PROCESS_MAPS_H_
#define FLWR_TESTS_APPS_NATIVE_PROCESS_MAPS_H_

#include <fstream>
#include <sstream>
#include <string>

namespace flwr::testutil {

// Whether a file whose path contains `needle` is mapped into this process (/proc/self/maps).
inline bool MapsFile(const std::string& needle) {
  std::ifstream maps("/proc/self/maps");
  std::stringstream text;
  text << maps.rdbuf();
  return text.str().find(needle) != std::string::npos;
}

}  // namespace flwr::testutil

#endif  // FLWR_TESTS_APPS_NATIVE_PROCESS_MAPS_H_
