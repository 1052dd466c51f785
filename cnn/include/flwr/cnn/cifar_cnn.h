// The demo's CIFAR-10 CNN on libtorch: model weights as Flower ArrayRecords, the node's data
// partition, local training and evaluation (the weights themselves, without libtorch, are
// cnn_weights.h's).
//
// Weights cross this interface only as `core::ArrayRecord`s laid out exactly as flwr's
// `ArrayRecord(net.state_dict())` holds them, so a C++ and a Python/PyTorch ClientApp exchange
// them with no conversion. No exception escapes: libtorch errors become absl::Status values.
#ifndef FLWR_CNN_CIFAR_CNN_H_
#define FLWR_CNN_CIFAR_CNN_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "flwr/cnn/cnn_weights.h"
#include "flwr/core/records.h"

namespace flwr::cnn {

// Where a node's data lives and which part of it is the node's.
struct CifarPartitionOptions {
  std::string data_path;  // directory with data_batch_1..5.bin and test_batch.bin
  int64_t partition_id = 0;
  int64_t num_partitions = 1;
  uint64_t seed = 42;  // seeds the partition and its 80/20 train/test split; same on all nodes
  // libtorch intra-op threads (process-wide): > 0 sets that many; 0 uses every core
  // (std::thread::hardware_concurrency) unless OMP_NUM_THREADS is set, which then wins.
  // Several ClientApps sharing a machine should split its cores: oversubscribed OpenMP
  // threads are several times slower than one thread each.
  int num_threads = 0;
};

struct TrainOptions {
  int64_t local_epochs = 1;
  double lr = 0.1;
  double momentum = 0.9;
  int64_t batch_size = 32;
};

struct TrainResult {
  double train_loss = 0;     // mean of the per-batch cross-entropy losses of all epochs
  int64_t num_examples = 0;  // training examples of the partition (one epoch's worth)
};

struct EvalResult {
  double loss = 0;      // mean cross-entropy over the partition's test examples
  double accuracy = 0;  // fraction in [0, 1]
  int64_t num_examples = 0;
};

// One node's CNN client: its data partition in memory (normalised float32 tensors) and a
// model that is loaded from the ArrayRecord of each call. Not thread-safe: one call at a time.
class CifarCnnClient {
 public:
  // Loads the node's partition. The dataset is the concatenation of data_batch_1..5.bin and
  // test_batch.bin in `data_path` (CIFAR-10 binary: 3073-byte records, a label byte then 3072
  // bytes of CHW RGB pixels). As in the demo, the training set (data_batch_1..5.bin) is what
  // is partitioned: PartitionSplitIndices() (cifar_data.h) gives the partition's equal-size
  // IID share and its 80/20 train/test split for `seed`; test_batch.bin (CIFAR's held-out set)
  // is not read here. Pixels are normalised to (x / 255 - 0.5) / 0.5 per batch.
  // Returns NotFound for a missing directory or file; InvalidArgument for a file size that is
  // not a multiple of 3073, a label above 9, num_partitions < 1, a partition id outside
  // [0, num_partitions), or a partition with fewer than 2 examples (nothing to split);
  // Internal for a libtorch failure. Sets libtorch's threads as `num_threads` says; places
  // model and data on CUDA when torch::cuda::is_available().
  static absl::StatusOr<std::unique_ptr<CifarCnnClient>> Create(
      const CifarPartitionOptions& options);

  ~CifarCnnClient();
  CifarCnnClient(const CifarCnnClient&) = delete;
  CifarCnnClient& operator=(const CifarCnnClient&) = delete;

  // Loads `arrays` into the model, trains `local_epochs` epochs of SGD (lr, momentum; each
  // epoch over freshly shuffled batches of `batch_size`) on the train split and writes the
  // trained weights back into `arrays` (same names, order, dtype and shapes). Returns
  // InvalidArgument (and leaves `arrays` unchanged) if `arrays` fails ValidateCnnArrays() or
  // an option is out of range (local_epochs < 1, batch_size < 1, lr or momentum negative or
  // not finite); Internal for a libtorch failure.
  absl::StatusOr<TrainResult> Train(core::ArrayRecord& arrays, const TrainOptions& options);

  // Evaluates `arrays` on the test split (loss: mean cross-entropy per example). Returns
  // InvalidArgument if `arrays` fails ValidateCnnArrays(); Internal for a libtorch failure.
  absl::StatusOr<EvalResult> Evaluate(const core::ArrayRecord& arrays);

  int64_t num_train_examples() const;
  int64_t num_test_examples() const;
  // True when the model and the data live on a CUDA device.
  bool uses_cuda() const;

 private:
  struct State;
  explicit CifarCnnClient(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace flwr::cnn

#endif  // FLWR_CNN_CIFAR_CNN_H_
