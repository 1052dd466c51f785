#include "flwr/cnn/cifar_data.h"

#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "flwr/cnn/seeded_permutation.h"

namespace flwr::cnn {
namespace {

namespace fs = std::filesystem;

absl::Status CheckDirectory(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("CIFAR-10 data directory '", dir, "' does not exist (or is not a directory)"));
  }
  return absl::OkStatus();
}

// The number of records in `path`, from its size.
absl::StatusOr<int64_t> CountRecords(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("CIFAR-10 file '", path.string(), "' is missing"));
  }
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the size of '", path.string(), "': ", ec.message()));
  }
  if (size % kCifarRecordBytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CIFAR-10 file '", path.string(), "' has ", size, " bytes, not a multiple of the ",
        kCifarRecordBytes, "-byte record (label byte + 3072 pixel bytes)"));
  }
  return static_cast<int64_t>(size / kCifarRecordBytes);
}

// Reads `path` whole and checks its size and every label.
absl::StatusOr<std::string> ReadCheckedFile(const fs::path& path) {
  absl::StatusOr<int64_t> records = CountRecords(path);
  if (!records.ok()) return records.status();
  std::ifstream in(path, std::ios::binary);
  std::string bytes(static_cast<size_t>(*records * kCifarRecordBytes), '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) {
    return absl::NotFoundError(absl::StrCat("cannot read CIFAR-10 file '", path.string(), "'"));
  }
  for (int64_t r = 0; r < *records; ++r) {
    const auto label = static_cast<uint8_t>(bytes[static_cast<size_t>(r * kCifarRecordBytes)]);
    if (label >= kCifarNumClasses) {
      return absl::InvalidArgumentError(absl::StrCat("CIFAR-10 file '", path.string(), "': record ",
                                                     r, " has label ", label,
                                                     " (labels are 0..9)"));
    }
  }
  return bytes;
}

void AppendRecord(absl::string_view record, CifarExamples& out) {
  out.labels.push_back(static_cast<uint8_t>(record[0]));
  out.pixels.append(record.data() + 1, kCifarImageBytes);
}

}  // namespace

std::vector<std::string> CifarTrainFileNames() {
  std::vector<std::string> names;
  for (int i = 1; i <= 5; ++i) names.push_back(absl::StrCat("data_batch_", i, ".bin"));
  return names;
}

absl::StatusOr<PartitionSplit> PartitionSplitIndices(int64_t num_examples, int64_t partition_id,
                                                     int64_t num_partitions, uint64_t seed) {
  if (num_partitions < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num-partitions must be at least 1, got ", num_partitions));
  }
  if (partition_id < 0 || partition_id >= num_partitions) {
    return absl::InvalidArgumentError(absl::StrCat("partition-id ", partition_id,
                                                   " is out of range [0, ", num_partitions,
                                                   ") for num-partitions ", num_partitions));
  }
  const int64_t size = num_examples / num_partitions;
  if (size < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("partition ", partition_id, " of ", num_partitions, " over ", num_examples,
                     " examples holds ", size, " examples; a train/test split needs at least 2"));
  }
  const std::vector<int64_t> permutation = SeededPermutation(num_examples, seed);
  const int64_t num_test = (size + 4) / 5;
  const auto begin = permutation.begin() + partition_id * size;
  PartitionSplit split;
  split.train.assign(begin, begin + (size - num_test));
  split.test.assign(begin + (size - num_test), begin + size);
  return split;
}

absl::StatusOr<int64_t> CountCifarTrainExamples(const std::string& dir) {
  if (absl::Status s = CheckDirectory(dir); !s.ok()) return s;
  int64_t total = 0;
  for (const std::string& name : CifarTrainFileNames()) {
    absl::StatusOr<int64_t> records = CountRecords(fs::path(dir) / name);
    if (!records.ok()) return records.status();
    total += *records;
  }
  return total;
}

absl::StatusOr<CifarExamples> ReadCifarTrainExamples(const std::string& dir,
                                                     absl::Span<const int64_t> indices) {
  absl::StatusOr<int64_t> total = CountCifarTrainExamples(dir);
  if (!total.ok()) return total.status();
  for (int64_t index : indices) {
    if (index < 0 || index >= *total) {
      return absl::InvalidArgumentError(
          absl::StrCat("example index ", index, " is out of range [0, ", *total, ")"));
    }
  }
  CifarExamples out;
  out.labels.resize(indices.size());
  out.pixels.resize(indices.size() * kCifarImageBytes);
  // One file in memory at a time: each wanted index is copied while its file is loaded.
  int64_t file_begin = 0;
  for (const std::string& name : CifarTrainFileNames()) {
    absl::StatusOr<std::string> bytes = ReadCheckedFile(fs::path(dir) / name);
    if (!bytes.ok()) return bytes.status();
    const int64_t file_end = file_begin + static_cast<int64_t>(bytes->size()) / kCifarRecordBytes;
    for (size_t i = 0; i < indices.size(); ++i) {
      if (indices[i] < file_begin || indices[i] >= file_end) continue;
      const char* record = bytes->data() + (indices[i] - file_begin) * kCifarRecordBytes;
      out.labels[i] = static_cast<uint8_t>(record[0]);
      std::copy(record + 1, record + kCifarRecordBytes, out.pixels.begin() + i * kCifarImageBytes);
    }
    file_begin = file_end;
  }
  return out;
}

absl::StatusOr<CifarExamples> ReadCifarFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadCheckedFile(path);
  if (!bytes.ok()) return bytes.status();
  CifarExamples out;
  const size_t records = bytes->size() / kCifarRecordBytes;
  out.labels.reserve(records);
  out.pixels.reserve(records * kCifarImageBytes);
  for (size_t r = 0; r < records; ++r) {
    AppendRecord(absl::string_view(*bytes).substr(r * kCifarRecordBytes, kCifarRecordBytes), out);
  }
  return out;
}

}  // namespace flwr::cnn
