// Deflate + object IDs of a float32 ArrayRecord: the C++ half of bench/bench_deflate.py.
//
//   bench_deflate [--mb 100] [--arrays 10] [--repeats 5]
// Prints one JSON line: {"impl": "cpp", "mb": ..., "seconds": [...], "objects": N, "root": ID}
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "flwr/core/inflatable.h"
#include "flwr/core/records.h"

namespace {

struct Options {
  double mb = 100;
  int arrays = 10;
  int repeats = 5;
};

bool ParseArgs(int argc, char** argv, Options* opts) {
  for (int i = 1; i + 1 < argc; i += 2) {
    absl::string_view flag = argv[i];
    if (flag == "--mb") {
      opts->mb = std::atof(argv[i + 1]);
    } else if (flag == "--arrays") {
      opts->arrays = std::atoi(argv[i + 1]);
    } else if (flag == "--repeats") {
      opts->repeats = std::atoi(argv[i + 1]);
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && opts->mb > 0 && opts->arrays > 0 && opts->repeats > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  if (!ParseArgs(argc, argv, &opts)) {
    std::fprintf(stderr, "usage: bench_deflate [--mb N] [--arrays N] [--repeats N]\n");
    return 2;
  }
  const size_t floats_per_array = static_cast<size_t>(opts.mb * 1e6 / 4 / opts.arrays);
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1, 1);
  flwr::core::ArrayRecord record;
  std::vector<float> values(floats_per_array);
  for (int a = 0; a < opts.arrays; ++a) {
    for (float& v : values) v = dist(rng);
    auto array = flwr::core::Array::FromFloats(values, {static_cast<int64_t>(values.size())});
    if (!array.ok()) return 1;
    record.Set("layer" + std::to_string(a), *std::move(array));
  }
  std::string seconds;
  size_t objects = 0;
  std::string root;
  for (int r = 0; r < opts.repeats; ++r) {
    auto start = std::chrono::steady_clock::now();
    auto bundle = flwr::core::DeflateArrayRecord(record);
    auto stop = std::chrono::steady_clock::now();
    if (!bundle.ok()) {
      std::fprintf(stderr, "deflate failed: %s\n", bundle.status().ToString().c_str());
      return 1;
    }
    objects = bundle->objects.size();
    root = bundle->root_id();
    seconds +=
        (r ? ", " : "") + std::to_string(std::chrono::duration<double>(stop - start).count());
  }
  std::printf(
      "{\"impl\": \"cpp\", \"mb\": %.3f, \"seconds\": [%s], \"objects\": %zu, \"root\": \"%s\"}\n",
      opts.mb, seconds.c_str(), objects, root.c_str());
  return 0;
}
