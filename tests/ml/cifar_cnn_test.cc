// The CNN client (flwr/cnn/cifar_cnn.h): parameters, validation, loader errors through
// Create, training and evaluation, artifacts.
#include "flwr/cnn/cifar_cnn.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "cnn_net.h"
#include "flwr/cnn/cifar_data.h"

namespace flwr::cnn {
namespace {

namespace fs = std::filesystem;

// A temporary CIFAR directory whose classes are easy to tell apart: class c is an image of a
// colour of its own (R and G from c's base-3 digits, B for class 9) with uniform noise, so the
// CNN learns it within a few epochs.
class LearnableCifarDir {
 public:
  explicit LearnableCifarDir(int64_t records_per_file) {
    path_ = fs::temp_directory_path() /
            ("cifar_cnn_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
    std::mt19937 rng(7);
    for (const std::string& name : CifarTrainFileNames()) {
      std::string bytes;
      for (int64_t r = 0; r < records_per_file; ++r) {
        const int label = static_cast<int>(rng() % 10);
        bytes.push_back(static_cast<char>(label));
        const int colour[3] = {68 + 60 * (label % 3), 68 + 60 * (label / 3 % 3),
                               label == 9 ? 200 : 100};
        for (int64_t p = 0; p < kCifarImageBytes; ++p) {
          const int noise = static_cast<int>(rng() % 41) - 20;
          bytes.push_back(static_cast<char>(colour[p / 1024] + noise));
        }
      }
      std::ofstream(path_ / name, std::ios::binary) << bytes;
    }
  }
  ~LearnableCifarDir() { fs::remove_all(path_); }
  std::string path() const { return path_.string(); }
  fs::path file(const std::string& name) const { return path_ / name; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

TEST(CnnParametersTest, InitialArraysHaveTheStateDictLayout) {
  const core::ArrayRecord arrays = InitialCnnArrays(42);
  const std::vector<std::string> names = CnnParameterNames();
  const std::vector<std::vector<int64_t>> shapes = CnnParameterShapes();
  ASSERT_EQ(arrays.size(), 10u);
  size_t i = 0;
  for (const auto& [name, array] : arrays) {
    EXPECT_EQ(name, names[i]);
    EXPECT_EQ(array.shape, shapes[i]);
    EXPECT_EQ(array.dtype, "float32");
    EXPECT_EQ(array.stype, core::kStypeNumpy);
    absl::StatusOr<core::NpyArray> npy = array.Numpy();
    ASSERT_TRUE(npy.ok()) << npy.status();
    EXPECT_EQ(npy->dtype.descr, "<f4");
    ++i;
  }
  EXPECT_TRUE(ValidateCnnArrays(arrays).ok());
}

// InitialCnnArrays computes without libtorch what `torch::manual_seed(seed); Net()` gives with it,
// to the bit (seeds beyond 32 bits keep their low 32, as torch's generator does).
TEST(CnnParametersTest, InitialArraysAreLibtorchsToTheBit) {
  for (uint64_t seed :
       {uint64_t{0}, uint64_t{1}, uint64_t{42}, uint64_t{123456789}, (uint64_t{1} << 32) + 7}) {
    torch::manual_seed(seed);
    internal::Net net;
    const core::ArrayRecord arrays = InitialCnnArrays(seed);
    for (const auto& param : net->named_parameters()) {
      const core::Array* array = arrays.Find(param.key());
      ASSERT_NE(array, nullptr) << param.key();
      const torch::Tensor tensor = param.value().contiguous();
      const absl::string_view expected(static_cast<const char*>(tensor.data_ptr()),
                                       tensor.numel() * sizeof(float));
      EXPECT_EQ(array->Numpy()->data, expected) << "seed " << seed << ", " << param.key();
    }
  }
}

TEST(CnnParametersTest, InitialisationIsSeeded) {
  EXPECT_EQ(InitialCnnArrays(1), InitialCnnArrays(1));
  EXPECT_NE(InitialCnnArrays(1), InitialCnnArrays(2));
}

TEST(CnnParametersTest, ValidateNamesTheFirstMismatch) {
  core::ArrayRecord missing = InitialCnnArrays(0);
  missing.Erase("fc2.bias");
  EXPECT_NE(ValidateCnnArrays(missing).message().find("fc2.bias"), absl::string_view::npos);

  core::ArrayRecord shape = InitialCnnArrays(0);
  shape.Set("fc1.bias", *core::Array::FromFloats(std::vector<float>(12, 0), {12}));
  EXPECT_NE(ValidateCnnArrays(shape).message().find("shape [12]"), absl::string_view::npos);

  core::ArrayRecord dtype = InitialCnnArrays(0);
  dtype.Set("conv1.bias", *core::Array::FromRaw("float64", {6}, std::string(48, '\0')));
  EXPECT_NE(ValidateCnnArrays(dtype).message().find("float64"), absl::string_view::npos);

  core::ArrayRecord extra = InitialCnnArrays(0);
  extra.Set("fc4.weight", *core::Array::FromFloats(std::vector<float>(1, 0), {1}));
  EXPECT_NE(ValidateCnnArrays(extra).message().find("fc4.weight"), absl::string_view::npos);

  core::ArrayRecord corrupt = InitialCnnArrays(0);
  corrupt.Find("conv2.weight")->data = corrupt.Find("conv2.weight")->data.str().substr(0, 100);
  EXPECT_EQ(ValidateCnnArrays(corrupt).code(), absl::StatusCode::kInvalidArgument);
}

TEST(CnnClientTest, CreateReportsLoaderErrors) {
  LearnableCifarDir dir(10);
  auto code = [](const CifarPartitionOptions& options) {
    return CifarCnnClient::Create(options).status().code();
  };
  EXPECT_EQ(code({"/nonexistent/cifar", 0, 1, 42}), absl::StatusCode::kNotFound);
  EXPECT_EQ(code({dir.path(), 2, 2, 42}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({dir.path(), -1, 2, 42}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({dir.path(), 0, 0, 42}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({dir.path(), 0, 100, 42}), absl::StatusCode::kInvalidArgument);  // empty
  std::ofstream(dir.file("data_batch_4.bin"), std::ios::app) << "x";
  EXPECT_EQ(code({dir.path(), 0, 2, 42}), absl::StatusCode::kInvalidArgument);
  fs::remove(dir.file("data_batch_4.bin"));
  EXPECT_EQ(code({dir.path(), 0, 2, 42}), absl::StatusCode::kNotFound);
  std::string bad_label(kCifarRecordBytes, '\0');
  bad_label[0] = static_cast<char>(200);
  std::ofstream(dir.file("data_batch_4.bin"), std::ios::binary) << bad_label;
  absl::Status status = CifarCnnClient::Create({dir.path(), 0, 2, 42}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("label 200"), absl::string_view::npos) << status;
}

TEST(CnnClientTest, TrainingLowersTheLossAndRaisesAccuracy) {
  LearnableCifarDir dir(100);  // 500 examples: 400 train, 100 test
  absl::StatusOr<std::unique_ptr<CifarCnnClient>> client =
      CifarCnnClient::Create({dir.path(), 0, 1, 42, 1});
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->num_train_examples(), 400);
  EXPECT_EQ((*client)->num_test_examples(), 100);
  core::ArrayRecord arrays = InitialCnnArrays(42);
  const core::ArrayRecord initial = arrays;
  absl::StatusOr<EvalResult> before = (*client)->Evaluate(arrays);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->num_examples, 100);
  TrainOptions options;
  options.lr = 0.01;
  options.local_epochs = 4;
  absl::StatusOr<TrainResult> trained = (*client)->Train(arrays, options);
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(trained->num_examples, 400);
  EXPECT_TRUE(std::isfinite(trained->train_loss));
  EXPECT_NE(arrays, initial);
  EXPECT_TRUE(ValidateCnnArrays(arrays).ok());
  absl::StatusOr<EvalResult> after = (*client)->Evaluate(arrays);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_LT(after->loss, before->loss - 0.3);
  EXPECT_GT(after->accuracy, 0.3);
  EXPECT_GT(after->accuracy, before->accuracy + 0.15);
}

TEST(CnnClientTest, TrainRejectsBadArraysAndOptionsWithoutTouchingTheArrays) {
  LearnableCifarDir dir(4);
  absl::StatusOr<std::unique_ptr<CifarCnnClient>> client =
      CifarCnnClient::Create({dir.path(), 0, 1, 42, 1});
  ASSERT_TRUE(client.ok()) << client.status();
  core::ArrayRecord arrays = InitialCnnArrays(0);
  arrays.Erase("fc3.weight");
  const core::ArrayRecord bad = arrays;
  EXPECT_EQ((*client)->Train(arrays, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(arrays, bad);
  EXPECT_EQ((*client)->Evaluate(arrays).status().code(), absl::StatusCode::kInvalidArgument);

  core::ArrayRecord good = InitialCnnArrays(0);
  const core::ArrayRecord copy = good;
  for (TrainOptions options :
       {TrainOptions{0, 0.1, 0.9, 32}, TrainOptions{1, 0.1, 0.9, 0}, TrainOptions{1, -1, 0.9, 32},
        TrainOptions{1, NAN, 0.9, 32}, TrainOptions{1, 0.1, -0.5, 32}}) {
    EXPECT_EQ((*client)->Train(good, options).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(good, copy);
}

TEST(CnnArtifactsTest, UnwritablePathsAreErrorsNotCrashes) {
  const core::ArrayRecord arrays = InitialCnnArrays(0);
  EXPECT_FALSE(SaveArraysPt(arrays, "/nonexistent/dir/model.pt").ok());
  EXPECT_FALSE(SaveArraysNpz(arrays, "/nonexistent/dir/model.npz").ok());
  core::ArrayRecord corrupt = arrays;
  corrupt.Find("fc1.bias")->data = "not npy";
  EXPECT_EQ(SaveArraysPt(corrupt, "/tmp/unused.pt").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SaveArraysNpz(corrupt, "/tmp/unused.npz").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace flwr::cnn
