// CIFAR-10 in its binary form (https://www.cs.toronto.edu/~kriz/cifar.html) and the way a
// node takes its share of it: an equal-size IID partition and an 80/20 train/test split, both
// defined by SeededPermutation() so the Python twin (demo/cifar_app/task.py) picks the same
// examples.
#ifndef FLWR_CNN_CIFAR_DATA_H_
#define FLWR_CNN_CIFAR_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace flwr::cnn {

inline constexpr int64_t kCifarImageBytes = 3 * 32 * 32;            // CHW, R then G then B
inline constexpr int64_t kCifarRecordBytes = 1 + kCifarImageBytes;  // label byte + image
inline constexpr int64_t kCifarNumClasses = 10;
inline constexpr absl::string_view kCifarTestFileName = "test_batch.bin";

// data_batch_1.bin .. data_batch_5.bin: the training set, in the order it is concatenated.
std::vector<std::string> CifarTrainFileNames();

// Global example indices (into the concatenated training files) of one node's data.
struct PartitionSplit {
  std::vector<int64_t> train;
  std::vector<int64_t> test;
};

// The data of partition `partition_id` out of `num_partitions` over `num_examples` examples:
// with p = SeededPermutation(num_examples, seed) and m = num_examples / num_partitions (the
// num_examples % num_partitions left over belong to no partition, so all are equal in size),
// the partition is p[partition_id * m, (partition_id + 1) * m); its last ceil(m / 5) entries
// are the test split and the others the train split, each in permutation order.
// Returns InvalidArgument for num_partitions < 1, partition_id outside [0, num_partitions),
// or m < 2 (a partition too small to split).
absl::StatusOr<PartitionSplit> PartitionSplitIndices(int64_t num_examples, int64_t partition_id,
                                                     int64_t num_partitions, uint64_t seed);

// Examples in memory: labels[i] and the kCifarImageBytes raw pixels at pixels[i * 3072].
struct CifarExamples {
  std::vector<uint8_t> labels;
  std::string pixels;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

// Number of examples in the training files of `dir`, from their sizes. Returns NotFound for
// a missing directory or file; InvalidArgument for a size that is not a multiple of 3073.
absl::StatusOr<int64_t> CountCifarTrainExamples(const std::string& dir);

// Reads the training examples at `indices` (global, as PartitionSplitIndices() gives them),
// in that order. Every file is checked whole, so a bad label anywhere is reported. Returns
// NotFound for a missing directory or file; InvalidArgument for a size that is not a multiple
// of 3073, a label above 9 (naming the file and record), or an index out of range.
absl::StatusOr<CifarExamples> ReadCifarTrainExamples(const std::string& dir,
                                                     absl::Span<const int64_t> indices);

// Reads every example of one CIFAR binary file (e.g. test_batch.bin), with the same checks.
absl::StatusOr<CifarExamples> ReadCifarFile(const std::string& path);

}  // namespace flwr::cnn

#endif  // FLWR_CNN_CIFAR_DATA_H_
