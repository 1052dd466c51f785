// CIFAR-10 binary loading, partitioning and splitting (flwr/cnn/cifar_data.h).
#include "flwr/cnn/cifar_data.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "flwr/cnn/seeded_permutation.h"

namespace flwr::cnn {
namespace {

namespace fs = std::filesystem;

// A temporary directory with CIFAR-format files of `records` examples each (label i % 10,
// pixel bytes derived from the index so that every example is distinct).
class CifarDir {
 public:
  explicit CifarDir(int64_t records_per_file) {
    path_ = fs::temp_directory_path() /
            ("cifar_data_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
    int64_t index = 0;
    for (const std::string& name : CifarTrainFileNames()) {
      std::string bytes;
      for (int64_t r = 0; r < records_per_file; ++r, ++index) {
        bytes.push_back(static_cast<char>(index % 10));
        for (int64_t p = 0; p < kCifarImageBytes; ++p) {
          bytes.push_back(static_cast<char>((index * 7 + p) % 256));
        }
      }
      Write(name, bytes);
    }
  }
  ~CifarDir() { fs::remove_all(path_); }

  void Write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path_ / name, std::ios::binary) << bytes;
  }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

TEST(SeededPermutationTest, IsAPermutationAndDependsOnlyOnTheSeed) {
  const std::vector<int64_t> a = SeededPermutation(1000, 42);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) EXPECT_EQ(sorted[i], i);
  EXPECT_EQ(a, SeededPermutation(1000, 42));
  EXPECT_NE(a, SeededPermutation(1000, 43));
  EXPECT_TRUE(SeededPermutation(0, 42).empty());
  EXPECT_EQ(SeededPermutation(1, 42), std::vector<int64_t>{0});
}

TEST(SeededPermutationTest, SplitMix64MatchesTheReferenceSequence) {
  // First outputs of SplitMix64 seeded with 1234567 (the reference implementation's test).
  SplitMix64 rng(1234567);
  EXPECT_EQ(rng.Next(), 6457827717110365317ULL);
  EXPECT_EQ(rng.Next(), 3203168211198807973ULL);
  EXPECT_EQ(rng.Next(), 9817491932198370423ULL);
}

TEST(PartitionSplitTest, PartitionsAreEqualDisjointAndSplit80_20) {
  constexpr int64_t kExamples = 1003;
  std::set<int64_t> seen;
  for (int64_t p = 0; p < 4; ++p) {
    absl::StatusOr<PartitionSplit> split = PartitionSplitIndices(kExamples, p, 4, 42);
    ASSERT_TRUE(split.ok()) << split.status();
    EXPECT_EQ(split->train.size(), 200u);  // 250 per partition, ceil(250 / 5) = 50 test
    EXPECT_EQ(split->test.size(), 50u);
    for (const auto* part : {&split->train, &split->test}) {
      for (int64_t index : *part) {
        EXPECT_GE(index, 0);
        EXPECT_LT(index, kExamples);
        EXPECT_TRUE(seen.insert(index).second) << "index " << index << " used twice";
      }
    }
  }
  EXPECT_EQ(seen.size(), 1000u);  // the remainder of 3 belongs to no partition
}

TEST(PartitionSplitTest, IsDeterministicAndSeeded) {
  absl::StatusOr<PartitionSplit> a = PartitionSplitIndices(500, 1, 3, 42);
  absl::StatusOr<PartitionSplit> b = PartitionSplitIndices(500, 1, 3, 42);
  absl::StatusOr<PartitionSplit> c = PartitionSplitIndices(500, 1, 3, 7);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->train, b->train);
  EXPECT_EQ(a->test, b->test);
  EXPECT_NE(a->train, c->train);
}

TEST(PartitionSplitTest, SmallPartitionsStillGetATestExample) {
  absl::StatusOr<PartitionSplit> split = PartitionSplitIndices(2, 0, 1, 42);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->train.size(), 1u);
  EXPECT_EQ(split->test.size(), 1u);
}

TEST(PartitionSplitTest, RejectsBadPartitionArguments) {
  EXPECT_EQ(PartitionSplitIndices(100, 0, 0, 42).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionSplitIndices(100, 0, -1, 42).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionSplitIndices(100, 2, 2, 42).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionSplitIndices(100, -1, 2, 42).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status empty = PartitionSplitIndices(3, 0, 4, 42).status();
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(empty.message().find("holds 0 examples"), absl::string_view::npos) << empty;
}

TEST(CifarReaderTest, ReadsTheRequestedExamplesInOrder) {
  CifarDir dir(4);
  ASSERT_EQ(*CountCifarTrainExamples(dir.path()), 20);
  absl::StatusOr<CifarExamples> examples = ReadCifarTrainExamples(dir.path(), {17, 0, 5});
  ASSERT_TRUE(examples.ok()) << examples.status();
  ASSERT_EQ(examples->size(), 3);
  EXPECT_EQ(examples->labels, (std::vector<uint8_t>{7, 0, 5}));
  EXPECT_EQ(static_cast<uint8_t>(examples->pixels[0]), (17 * 7) % 256);
  EXPECT_EQ(static_cast<uint8_t>(examples->pixels[kCifarImageBytes + 1]), 1);
  EXPECT_EQ(static_cast<uint8_t>(examples->pixels[2 * kCifarImageBytes + 3071]),
            (5 * 7 + 3071) % 256);
}

TEST(CifarReaderTest, MissingDirectoryIsNotFound) {
  absl::Status status = CountCifarTrainExamples("/nonexistent/cifar").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find("/nonexistent/cifar"), absl::string_view::npos);
}

TEST(CifarReaderTest, MissingFileIsNotFound) {
  CifarDir dir(2);
  fs::remove(fs::path(dir.path()) / "data_batch_3.bin");
  absl::Status status = ReadCifarTrainExamples(dir.path(), {0}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find("data_batch_3.bin"), absl::string_view::npos) << status;
}

TEST(CifarReaderTest, TruncatedFileIsInvalidArgument) {
  CifarDir dir(2);
  dir.Write("data_batch_2.bin", std::string(kCifarRecordBytes + 5, '\1'));
  absl::Status status = CountCifarTrainExamples(dir.path()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("not a multiple of the 3073-byte record"),
            absl::string_view::npos)
      << status;
}

TEST(CifarReaderTest, LabelAboveNineIsInvalidArgumentEvenOutsideThePartition) {
  CifarDir dir(2);
  std::string bytes(2 * kCifarRecordBytes, '\0');
  bytes[kCifarRecordBytes] = 10;  // record 1
  dir.Write("data_batch_5.bin", bytes);
  absl::Status status = ReadCifarTrainExamples(dir.path(), {0}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("record 1 has label 10"), absl::string_view::npos) << status;
}

TEST(CifarReaderTest, IndexOutOfRangeIsInvalidArgument) {
  CifarDir dir(2);
  EXPECT_EQ(ReadCifarTrainExamples(dir.path(), {10}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CifarReaderTest, ReadsAWholeFile) {
  CifarDir dir(3);
  absl::StatusOr<CifarExamples> examples =
      ReadCifarFile((fs::path(dir.path()) / "data_batch_2.bin").string());
  ASSERT_TRUE(examples.ok()) << examples.status();
  EXPECT_EQ(examples->labels, (std::vector<uint8_t>{3, 4, 5}));
  EXPECT_EQ(ReadCifarFile((fs::path(dir.path()) / "test_batch.bin").string()).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace flwr::cnn
