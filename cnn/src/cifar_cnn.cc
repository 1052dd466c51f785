#include "flwr/cnn/cifar_cnn.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cnn_net.h"
#include "flwr/cnn/cifar_data.h"
#include "flwr/cnn/seeded_permutation.h"
#include "torch_arrays.h"

namespace flwr::cnn {
namespace {

using internal::InternalFromException;
using internal::Net;

// Copies validated `arrays` into `net`'s parameters.
absl::Status LoadArrays(const core::ArrayRecord& arrays, Net& net) {
  if (absl::Status s = ValidateCnnArrays(arrays); !s.ok()) return s;
  torch::NoGradGuard no_grad;
  for (auto& param : net->named_parameters()) {
    absl::StatusOr<torch::Tensor> tensor = internal::TensorFromArray(*arrays.Find(param.key()));
    if (!tensor.ok()) return tensor.status();
    param.value().copy_(*tensor);
  }
  return absl::OkStatus();
}

// Writes `net`'s parameters into `arrays`, keeping each name's position.
absl::Status StoreArrays(Net& net, core::ArrayRecord& arrays) {
  for (const auto& param : net->named_parameters()) {
    absl::StatusOr<core::Array> array = internal::ArrayFromTensor(param.value());
    if (!array.ok()) return array.status();
    arrays.Set(param.key(), *std::move(array));
  }
  return absl::OkStatus();
}

absl::Status CheckTrainOptions(const TrainOptions& options) {
  if (options.local_epochs < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("local-epochs must be at least 1, got ", options.local_epochs));
  }
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch-size must be at least 1, got ", options.batch_size));
  }
  if (!std::isfinite(options.lr) || options.lr < 0) {
    return absl::InvalidArgumentError(absl::StrCat("lr must be finite and >= 0, got ", options.lr));
  }
  if (!std::isfinite(options.momentum) || options.momentum < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("momentum must be finite and >= 0, got ", options.momentum));
  }
  return absl::OkStatus();
}

// The CHW uint8 images of `examples` as a [n, 3, 32, 32] tensor and their labels as int64.
std::pair<torch::Tensor, torch::Tensor> ToTensors(const CifarExamples& examples,
                                                  const torch::Device& device) {
  const int64_t n = examples.size();
  torch::Tensor images = torch::empty({n, 3, 32, 32}, torch::kUInt8);
  std::memcpy(images.data_ptr(), examples.pixels.data(), examples.pixels.size());
  torch::Tensor labels = torch::empty({n}, torch::kInt64);
  std::copy(examples.labels.begin(), examples.labels.end(), labels.data_ptr<int64_t>());
  return {images.to(device), labels.to(device)};
}

// (x / 255 - 0.5) / 0.5 in float32, in the order torchvision's ToTensor + Normalize compute it.
torch::Tensor Normalise(const torch::Tensor& images) {
  return images.to(torch::kFloat32).div_(255).sub_(0.5).div_(0.5);
}

void SetThreads(int num_threads) {
  if (num_threads > 0) {
    torch::set_num_threads(num_threads);
    return;
  }
  if (std::getenv("OMP_NUM_THREADS") != nullptr) return;  // libtorch already follows it
  const unsigned cores = std::thread::hardware_concurrency();
  if (cores > 0) torch::set_num_threads(static_cast<int>(cores));
}

}  // namespace

struct CifarCnnClient::State {
  torch::Device device = torch::kCPU;
  Net net{nullptr};
  torch::Tensor train_images, train_labels;  // uint8 [n, 3, 32, 32], int64 [n]
  torch::Tensor test_images, test_labels;
  SplitMix64 shuffle_rng{0};
};

CifarCnnClient::CifarCnnClient(std::unique_ptr<State> state) : state_(std::move(state)) {}
CifarCnnClient::~CifarCnnClient() = default;

absl::StatusOr<std::unique_ptr<CifarCnnClient>> CifarCnnClient::Create(
    const CifarPartitionOptions& options) {
  absl::StatusOr<int64_t> total = CountCifarTrainExamples(options.data_path);
  if (!total.ok()) return total.status();
  absl::StatusOr<PartitionSplit> split =
      PartitionSplitIndices(*total, options.partition_id, options.num_partitions, options.seed);
  if (!split.ok()) return split.status();
  absl::StatusOr<CifarExamples> train = ReadCifarTrainExamples(options.data_path, split->train);
  if (!train.ok()) return train.status();
  absl::StatusOr<CifarExamples> test = ReadCifarTrainExamples(options.data_path, split->test);
  if (!test.ok()) return test.status();
  try {
    SetThreads(options.num_threads);
    auto state = std::make_unique<State>();
    if (torch::cuda::is_available()) state->device = torch::Device(torch::kCUDA, 0);
    state->net = Net();
    state->net->to(state->device);
    std::tie(state->train_images, state->train_labels) = ToTensors(*train, state->device);
    std::tie(state->test_images, state->test_labels) = ToTensors(*test, state->device);
    // Each node shuffles differently, and reproducibly, from its partition's seed.
    state->shuffle_rng = SplitMix64(options.seed ^ (0x5DEECE66DULL * (options.partition_id + 1)));
    return std::unique_ptr<CifarCnnClient>(new CifarCnnClient(std::move(state)));
  } catch (const std::exception& e) {
    return InternalFromException("setting up the CNN client", e);
  }
}

absl::StatusOr<TrainResult> CifarCnnClient::Train(core::ArrayRecord& arrays,
                                                  const TrainOptions& options) {
  if (absl::Status s = CheckTrainOptions(options); !s.ok()) return s;
  try {
    Net& net = state_->net;
    if (absl::Status s = LoadArrays(arrays, net); !s.ok()) return s;
    net->train();
    torch::optim::SGD optimizer(net->parameters(),
                                torch::optim::SGDOptions(options.lr).momentum(options.momentum));
    const int64_t n = state_->train_labels.size(0);
    // Losses are summed on the device and read once, so CUDA never waits per batch.
    torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().device(state_->device));
    int64_t batches = 0;
    for (int64_t epoch = 0; epoch < options.local_epochs; ++epoch) {
      const std::vector<int64_t> order = SeededPermutation(n, state_->shuffle_rng.Next());
      const torch::Tensor order_tensor =
          torch::from_blob(const_cast<int64_t*>(order.data()), {n}, torch::kInt64)
              .to(state_->device);
      for (int64_t begin = 0; begin < n; begin += options.batch_size) {
        const torch::Tensor index =
            order_tensor.slice(0, begin, std::min(n, begin + options.batch_size));
        const torch::Tensor images = Normalise(state_->train_images.index_select(0, index));
        const torch::Tensor labels = state_->train_labels.index_select(0, index);
        optimizer.zero_grad();
        torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(images), labels);
        loss.backward();
        optimizer.step();
        loss_sum += loss.detach();
        ++batches;
      }
    }
    TrainResult result;
    result.train_loss = loss_sum.item<double>() / static_cast<double>(batches);
    result.num_examples = n;
    core::ArrayRecord trained = arrays;
    if (absl::Status s = StoreArrays(net, trained); !s.ok()) return s;
    arrays = std::move(trained);
    return result;
  } catch (const std::exception& e) {
    return InternalFromException("training the CNN", e);
  }
}

absl::StatusOr<EvalResult> CifarCnnClient::Evaluate(const core::ArrayRecord& arrays) {
  try {
    Net& net = state_->net;
    if (absl::Status s = LoadArrays(arrays, net); !s.ok()) return s;
    net->eval();
    torch::NoGradGuard no_grad;
    const int64_t n = state_->test_labels.size(0);
    constexpr int64_t kChunk = 512;  // bounds the activations held at once
    torch::Tensor loss_sum =
        torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(state_->device));
    torch::Tensor correct =
        torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(state_->device));
    for (int64_t begin = 0; begin < n; begin += kChunk) {
      const int64_t end = std::min(n, begin + kChunk);
      const torch::Tensor logits =
          net->forward(Normalise(state_->test_images.slice(0, begin, end)));
      const torch::Tensor labels = state_->test_labels.slice(0, begin, end);
      loss_sum += torch::nn::functional::cross_entropy(
                      logits, labels,
                      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                      .to(torch::kFloat64);
      correct += logits.argmax(1).eq(labels).sum();
    }
    EvalResult result;
    result.num_examples = n;
    result.loss = loss_sum.item<double>() / static_cast<double>(n);
    result.accuracy = static_cast<double>(correct.item<int64_t>()) / static_cast<double>(n);
    return result;
  } catch (const std::exception& e) {
    return InternalFromException("evaluating the CNN", e);
  }
}

int64_t CifarCnnClient::num_train_examples() const { return state_->train_labels.size(0); }
int64_t CifarCnnClient::num_test_examples() const { return state_->test_labels.size(0); }
bool CifarCnnClient::uses_cuda() const { return state_->device.is_cuda(); }

}  // namespace flwr::cnn
