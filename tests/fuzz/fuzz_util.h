// Helpers shared by the libFuzzer targets in tests/fuzz: an invariant check that aborts (so
// libFuzzer records the input as a crash) and a NaN-aware comparison of inflated values.
#ifndef FLWR_TESTS_FUZZ_FUZZ_UTIL_H_
#define FLWR_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "flwr/core/message.h"
#include "flwr/core/records.h"

// Aborts with `what` (and the failing condition) when an invariant does not hold.
#define FUZZ_CHECK(cond, what)                                                                 \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n  %s\n", __FILE__, __LINE__, #cond, \
                   std::string(what).c_str());                                                 \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)

namespace flwr::fuzz {

// Short printable form of bytes for invariant messages.
inline std::string Show(absl::string_view bytes) {
  constexpr size_t kMax = 200;
  std::string out = absl::CHexEscape(bytes.substr(0, kMax));
  if (bytes.size() > kMax) out += "...";
  return "\"" + out + "\"";
}

// True if a double anywhere in the value is NaN. operator== of core values compares doubles
// with ==, so a value holding NaN never equals its own copy; callers fall back to comparing
// the deflated object IDs (bit-exact) for such values.
inline bool HasNaN(double d) { return std::isnan(d); }
template <typename T>
bool HasNaN(const std::vector<T>& values) {
  if constexpr (std::is_same_v<T, double>) {
    for (double d : values) {
      if (std::isnan(d)) return true;
    }
  }
  return false;
}
inline bool HasNaN(const core::Array&) { return false; }
// MetricValue and ConfigValue: NaN can only hide in their double alternatives.
template <typename... Ts>
bool HasNaN(const std::variant<Ts...>& v) {
  return std::visit(
      [](const auto& x) {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, double>) return std::isnan(x);
        if constexpr (std::is_same_v<X, std::vector<double>>) return HasNaN(x);
        return false;
      },
      v);
}
bool HasNaN(const core::Record& r);
template <typename V>
bool HasNaN(const core::OrderedMap<V>& map) {
  for (const auto& [key, value] : map) {
    if (HasNaN(value)) return true;
  }
  return false;
}
inline bool HasNaN(const core::Record& r) {
  return std::visit([](const auto& x) { return HasNaN(x); }, r);
}
inline bool HasNaN(const core::Message& m) {
  return std::isnan(m.metadata.ttl) || std::isnan(m.metadata.created_at) ||
         (m.content && HasNaN(*m.content));
}

}  // namespace flwr::fuzz

#endif  // FLWR_TESTS_FUZZ_FUZZ_UTIL_H_
