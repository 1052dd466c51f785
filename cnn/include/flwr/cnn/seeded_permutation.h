// The one random source that the C++ ClientApp and its Python twin (demo/cifar_app/task.py)
// implement identically: SplitMix64 and a Fisher-Yates shuffle on top of it. Both languages
// pick the same examples for the same seed, which torch.randperm does not guarantee.
#ifndef FLWR_CNN_SEEDED_PERMUTATION_H_
#define FLWR_CNN_SEEDED_PERMUTATION_H_

#include <cstdint>
#include <vector>

namespace flwr::cnn {

// Steele, Lea and Flood's SplitMix64 generator (the one java.util.SplittableRandom uses).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next();

  // A uniform integer in [0, bound) by rejection (no modulo bias). `bound` must be >= 1.
  uint64_t Below(uint64_t bound);

 private:
  uint64_t state_;
};

// The permutation of 0..n-1 that a Fisher-Yates shuffle (i from n-1 down to 1, swap with
// Below(i + 1)) of the identity makes with SplitMix64(seed). Empty for n <= 0.
std::vector<int64_t> SeededPermutation(int64_t n, uint64_t seed);

}  // namespace flwr::cnn

#endif  // FLWR_CNN_SEEDED_PERMUTATION_H_
