// bench_train_cnn: one node's local training on libtorch, timed, for bench/bench_train.py.
//
//   bench_train_cnn --data DIR [--mode client|compute] [--epochs 1] [--batch-size 32]
//                   [--threads N] [--seed 42] [--num-partitions 1]
//
// client:  CifarCnnClient::Create (partition 0 of --num-partitions: its train split) then
//          Train, exactly as the ClientApp runs them.
// compute: libtorch's own limit: the same number of SGD steps on normalised float batches
//          that are already in memory (no indexing, no conversion, no data handling).
// Prints one JSON object: images, seconds and cpu_seconds (training only), load_seconds,
// images_per_s, images_per_cpu_s,
// peak_rss_mb (VmHWM of the whole process), threads, train_loss.
#include <sys/resource.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cnn_net.h"
#include "flwr/cnn/cifar_cnn.h"
#include "flwr/cnn/cifar_data.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// CPU seconds of this process: robust to other load on a shared machine, unlike wall time.
double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double PeakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

struct Flags {
  std::string data;
  std::string mode = "client";
  int64_t epochs = 1;
  int64_t batch_size = 32;
  int64_t threads = 0;  // 0: the library's default (all cores)
  uint64_t seed = 42;
  int64_t num_partitions = 1;
};

bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    const char* value = argv[i + 1];
    bool ok = true;
    if (name == "--data") {
      flags.data = value;
    } else if (name == "--mode") {
      flags.mode = value;
    } else if (name == "--epochs") {
      ok = absl::SimpleAtoi(value, &flags.epochs);
    } else if (name == "--batch-size") {
      ok = absl::SimpleAtoi(value, &flags.batch_size);
    } else if (name == "--threads") {
      ok = absl::SimpleAtoi(value, &flags.threads);
    } else if (name == "--num-partitions") {
      ok = absl::SimpleAtoi(value, &flags.num_partitions);
    } else if (name == "--seed") {
      ok = absl::SimpleAtoi(value, &flags.seed);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "bad flag %s %s\n", name.c_str(), value);
      return false;
    }
  }
  return argc % 2 == 1 && !flags.data.empty() &&
         (flags.mode == "client" || flags.mode == "compute");
}

void Print(const Flags& flags, int64_t images, double seconds, double cpu_seconds,
           double load_seconds, double train_loss) {
  std::printf(
      "{\"mode\": \"%s\", \"images\": %lld, \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
      "\"load_seconds\": %.6f, \"images_per_s\": %.3f, \"images_per_cpu_s\": %.3f, "
      "\"peak_rss_mb\": %.3f, \"threads\": %d, \"train_loss\": %.6f, \"cuda\": %s}\n",
      flags.mode.c_str(), static_cast<long long>(images), seconds, cpu_seconds, load_seconds,
      static_cast<double>(images) / seconds, static_cast<double>(images) / cpu_seconds, PeakRssMb(),
      torch::get_num_threads(), train_loss, torch::cuda::is_available() ? "true" : "false");
}

int RunClient(const Flags& flags) {
  const Clock::time_point start = Clock::now();
  absl::StatusOr<std::unique_ptr<flwr::cnn::CifarCnnClient>> client =
      flwr::cnn::CifarCnnClient::Create(
          {flags.data, 0, flags.num_partitions, flags.seed, static_cast<int>(flags.threads)});
  if (!client.ok()) {
    std::fprintf(stderr, "%s\n", client.status().ToString().c_str());
    return 1;
  }
  flwr::core::ArrayRecord arrays = flwr::cnn::InitialCnnArrays(flags.seed);
  const double load_seconds = Seconds(start);
  flwr::cnn::TrainOptions options;
  options.local_epochs = flags.epochs;
  options.batch_size = flags.batch_size;
  const Clock::time_point train_start = Clock::now();
  const double cpu_start = CpuSeconds();
  absl::StatusOr<flwr::cnn::TrainResult> result = (*client)->Train(arrays, options);
  const double cpu_seconds = CpuSeconds() - cpu_start;
  const double seconds = Seconds(train_start);
  if (!result.ok()) {
    std::fprintf(stderr, "%s\n", result.status().ToString().c_str());
    return 1;
  }
  Print(flags, result->num_examples * flags.epochs, seconds, cpu_seconds, load_seconds,
        result->train_loss);
  return 0;
}

int RunCompute(const Flags& flags) {
  const Clock::time_point start = Clock::now();
  absl::StatusOr<int64_t> total = flwr::cnn::CountCifarTrainExamples(flags.data);
  if (!total.ok()) {
    std::fprintf(stderr, "%s\n", total.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<flwr::cnn::PartitionSplit> split =
      flwr::cnn::PartitionSplitIndices(*total, 0, flags.num_partitions, flags.seed);
  if (!split.ok()) {
    std::fprintf(stderr, "%s\n", split.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<flwr::cnn::CifarExamples> examples =
      flwr::cnn::ReadCifarTrainExamples(flags.data, split->train);
  if (!examples.ok()) {
    std::fprintf(stderr, "%s\n", examples.status().ToString().c_str());
    return 1;
  }
  const unsigned cores = std::thread::hardware_concurrency();
  torch::set_num_threads(flags.threads > 0 ? static_cast<int>(flags.threads)
                                           : static_cast<int>(cores > 0 ? cores : 1));
  const torch::Device device = torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  const int64_t n = examples->size();
  const torch::Tensor images =
      torch::from_blob(examples->pixels.data(), {n, 3, 32, 32}, torch::kUInt8)
          .to(torch::kFloat32)
          .div_(255)
          .sub_(0.5)
          .div_(0.5);
  const torch::Tensor labels =
      torch::tensor(std::vector<int64_t>(examples->labels.begin(), examples->labels.end()));
  std::vector<torch::Tensor> batch_images;
  std::vector<torch::Tensor> batch_labels;
  for (int64_t begin = 0; begin < n; begin += flags.batch_size) {
    const int64_t end = std::min(n, begin + flags.batch_size);
    batch_images.push_back(images.slice(0, begin, end).contiguous().to(device));
    batch_labels.push_back(labels.slice(0, begin, end).to(device));
  }
  torch::manual_seed(flags.seed);
  flwr::cnn::internal::Net net;
  net->to(device);
  net->train();
  torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  const double load_seconds = Seconds(start);
  const Clock::time_point train_start = Clock::now();
  const double cpu_start = CpuSeconds();
  torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().device(device));
  for (int64_t epoch = 0; epoch < flags.epochs; ++epoch) {
    for (size_t b = 0; b < batch_images.size(); ++b) {
      optimizer.zero_grad();
      torch::Tensor loss =
          torch::nn::functional::cross_entropy(net->forward(batch_images[b]), batch_labels[b]);
      loss.backward();
      optimizer.step();
      loss_sum += loss.detach();
    }
  }
  const double train_loss =
      loss_sum.item<double>() / static_cast<double>(batch_images.size() * flags.epochs);
  const double cpu_seconds = CpuSeconds() - cpu_start;
  const double seconds = Seconds(train_start);
  Print(flags, n * flags.epochs, seconds, cpu_seconds, load_seconds, train_loss);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) {
    std::fprintf(stderr,
                 "usage: bench_train_cnn --data DIR [--mode client|compute] [--epochs N] "
                 "[--batch-size N] [--threads N] [--seed N] [--num-partitions N]\n");
    return 2;
  }
  try {
    return flags.mode == "client" ? RunClient(flags) : RunCompute(flags);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "libtorch error: %s\n", e.what());
    return 1;
  }
}
