// The demo's CIFAR-10 CNN on libtorch: model weights as Flower ArrayRecords, the node's data
// partition, local training and evaluation, and the final model as `.pt` / `.npz` artifacts.
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
#include "flwr/core/records.h"

namespace flwr::cnn {

// The demo's CNN (PyTorch's "60 minute blitz" Net): conv1 3->6 k5, 2x2 max-pool, conv2 6->16
// k5, fc1 400->120, fc2 120->84, fc3 84->10, ReLU. Its state_dict, in order, all float32:
// conv1.weight [6,3,5,5], conv1.bias [6], conv2.weight [16,6,5,5], conv2.bias [16],
// fc1.weight [120,400], fc1.bias [120], fc2.weight [84,120], fc2.bias [84],
// fc3.weight [10,84], fc3.bias [10].
std::vector<std::string> CnnParameterNames();

// The shape of each parameter, in CnnParameterNames() order.
std::vector<std::vector<int64_t>> CnnParameterShapes();

// Freshly initialised weights (PyTorch's default initialisation, from a generator seeded with
// `seed`: the same seed gives the same bytes) as an ArrayRecord in state_dict order, each
// Array exactly as flwr's `ArrayRecord(net.state_dict())` holds it: dtype "float32", the
// parameter's shape, stype "numpy.ndarray", `np.save` bytes.
core::ArrayRecord InitialCnnArrays(uint64_t seed);

// Checks that `arrays` holds exactly the CNN's parameters: the names of CnnParameterNames() in
// that order, each float32 with its shape and valid numpy data. Returns InvalidArgument
// naming the first mismatch.
absl::Status ValidateCnnArrays(const core::ArrayRecord& arrays);

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

// The final global model as run artifacts. SaveArraysPt writes a file that Python's
// `torch.load` returns as an OrderedDict of tensors (a state_dict that
// `Net().load_state_dict` accepts); SaveArraysNpz writes an `.npz` whose `np.load` gives the
// same arrays by name. Both accept any ArrayRecord of numpy arrays of dtypes torch supports
// (.pt) / numpy supports (.npz). Returns InvalidArgument for an array that cannot be parsed,
// Internal when the file cannot be written.
absl::Status SaveArraysPt(const core::ArrayRecord& arrays, const std::string& path);
absl::Status SaveArraysNpz(const core::ArrayRecord& arrays, const std::string& path);

}  // namespace flwr::cnn

#endif  // FLWR_CNN_CIFAR_CNN_H_
