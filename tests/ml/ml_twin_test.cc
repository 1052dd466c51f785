// flwr::cnn against its Python twin (demo/cifar_app/task.py) and the pinned flwr: the fixtures
// that make_ml_fixtures.py writes into the directory given as the first argument.
//
//   ml_twin_test FIXTURE_DIR [gtest flags]
//
// Also writes FIXTURE_DIR/artifacts/model.pt and model.npz, which test_ml_twin.py loads with
// Python's torch and numpy.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cnn_net.h"
#include "flwr/cnn/cifar_cnn.h"
#include "flwr/cnn/cifar_data.h"
#include "flwr/core/npy.h"
#include "torch_arrays.h"

namespace flwr::cnn {
namespace {

namespace fs = std::filesystem;

fs::path g_dir;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

const nlohmann::json& Manifest() {
  static const nlohmann::json manifest = nlohmann::json::parse(ReadFile(g_dir / "manifest.json"));
  return manifest;
}

// Python's `ArrayRecord(initial_net(seed).state_dict())`, Array by Array.
core::ArrayRecord PythonArrays() {
  core::ArrayRecord arrays;
  for (const nlohmann::json& entry : Manifest()["state"]) {
    arrays.Set(entry["name"],
               core::Array{entry["dtype"], entry["shape"].get<std::vector<int64_t>>(),
                           entry["stype"], ReadFile(g_dir / entry["file"].get<std::string>())});
  }
  return arrays;
}

torch::Tensor NpyTensor(const std::string& file) {
  const std::string bytes = ReadFile(g_dir / file);
  absl::StatusOr<core::NpyArray> npy = core::ParseNpy(bytes);
  EXPECT_TRUE(npy.ok()) << npy.status();
  absl::StatusOr<torch::Tensor> tensor = internal::TensorFromArray(
      core::Array{npy->dtype.name, npy->shape, std::string(core::kStypeNumpy), bytes});
  EXPECT_TRUE(tensor.ok()) << tensor.status();
  return *tensor;
}

TEST(TwinTest, StateDictLayoutMatchesPython) {
  const core::ArrayRecord python = PythonArrays();
  const core::ArrayRecord cpp = InitialCnnArrays(Manifest()["seed"]);
  ASSERT_EQ(python.size(), cpp.size());
  auto p = python.begin();
  for (auto c = cpp.begin(); c != cpp.end(); ++c, ++p) {
    EXPECT_EQ(c->first, p->first);
    EXPECT_EQ(c->second.dtype, p->second.dtype) << c->first;
    EXPECT_EQ(c->second.shape, p->second.shape) << c->first;
    EXPECT_EQ(c->second.stype, p->second.stype) << c->first;
  }
  EXPECT_TRUE(ValidateCnnArrays(python).ok()) << ValidateCnnArrays(python);
}

TEST(TwinTest, SeededInitialWeightsAreBytewiseThoseOfPython) {
  const core::ArrayRecord python = PythonArrays();
  const core::ArrayRecord cpp = InitialCnnArrays(Manifest()["seed"]);
  for (const auto& [name, array] : python) {
    ASSERT_NE(cpp.Find(name), nullptr) << name;
    EXPECT_TRUE(cpp.Find(name)->data == array.data) << name << ": npy bytes differ";
  }
}

TEST(TwinTest, ForwardPassWithPythonWeightsMatchesPython) {
  internal::Net net;
  const core::ArrayRecord python = PythonArrays();
  torch::NoGradGuard no_grad;
  for (auto& param : net->named_parameters()) {
    absl::StatusOr<torch::Tensor> tensor = internal::TensorFromArray(*python.Find(param.key()));
    ASSERT_TRUE(tensor.ok()) << tensor.status();
    param.value().copy_(*tensor);
  }
  const torch::Tensor output = net->forward(NpyTensor(Manifest()["input"]));
  const torch::Tensor expected = NpyTensor(Manifest()["output"]);
  ASSERT_EQ(output.sizes(), expected.sizes());
  const double max_diff = (output - expected).abs().max().item<double>();
  EXPECT_LE(max_diff, 1e-5);
}

TEST(TwinTest, PartitionsAndSplitsPickPythonsIndices) {
  for (const nlohmann::json& c : Manifest()["partitions"]) {
    absl::StatusOr<PartitionSplit> split =
        PartitionSplitIndices(c["num_examples"], c["partition_id"], c["num_partitions"], c["seed"]);
    ASSERT_TRUE(split.ok()) << split.status();
    EXPECT_EQ(split->train, c["train"].get<std::vector<int64_t>>()) << c["num_examples"];
    EXPECT_EQ(split->test, c["test"].get<std::vector<int64_t>>()) << c["num_examples"];
  }
}

TEST(TwinTest, EvaluationOfPythonWeightsMatchesPython) {
  const nlohmann::json& e = Manifest()["eval"];
  absl::StatusOr<std::unique_ptr<CifarCnnClient>> client = CifarCnnClient::Create(
      {(g_dir / "data").string(), e["partition_id"], e["num_partitions"], e["seed"]});
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->num_train_examples(), e["num_train_examples"]);
  absl::StatusOr<EvalResult> result = (*client)->Evaluate(PythonArrays());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->num_examples, e["num_examples"]);
  EXPECT_NEAR(result->loss, e["loss"], 1e-5);
  EXPECT_DOUBLE_EQ(result->accuracy, e["accuracy"]);
}

TEST(TwinTest, TrainingOnTheSyntheticSetRaisesAccuracy) {
  absl::StatusOr<std::unique_ptr<CifarCnnClient>> client =
      CifarCnnClient::Create({(g_dir / "data").string(), 0, 1, 42, 1});
  ASSERT_TRUE(client.ok()) << client.status();
  core::ArrayRecord arrays = PythonArrays();
  absl::StatusOr<EvalResult> before = (*client)->Evaluate(arrays);
  ASSERT_TRUE(before.ok()) << before.status();
  TrainOptions options;
  options.lr = 0.01;
  options.local_epochs = 3;
  absl::StatusOr<TrainResult> trained = (*client)->Train(arrays, options);
  ASSERT_TRUE(trained.ok()) << trained.status();
  absl::StatusOr<EvalResult> after = (*client)->Evaluate(arrays);
  ASSERT_TRUE(after.ok()) << after.status();
  std::printf("synthetic set: accuracy %.3f -> %.3f, loss %.3f -> %.3f, train_loss %.3f\n",
              before->accuracy, after->accuracy, before->loss, after->loss, trained->train_loss);
  EXPECT_LT(after->loss, before->loss);
  EXPECT_GT(after->accuracy, 0.4);
  EXPECT_GT(after->accuracy, before->accuracy + 0.2);
}

TEST(TwinTest, WritesArtifactsForPython) {
  fs::create_directories(g_dir / "artifacts");
  const core::ArrayRecord python = PythonArrays();
  EXPECT_TRUE(SaveArraysPt(python, (g_dir / "artifacts" / "model.pt").string()).ok());
  EXPECT_TRUE(SaveArraysNpz(python, (g_dir / "artifacts" / "model.npz").string()).ok());
  EXPECT_TRUE(SaveArraysNpz({}, (g_dir / "artifacts" / "empty.npz").string()).ok());
}

// core::WriteTorchPt beyond the CNN: every dtype torch has a storage for, a scalar, an empty
// array and Fortran order; test_ml_twin.py loads "mixed.pt" with torch.load.
TEST(TwinTest, WritesTorchFilesOfEveryStorageType) {
  fs::create_directories(g_dir / "artifacts");
  auto iota = [](size_t n, size_t width) {
    std::string raw(n * width, '\0');
    for (size_t i = 0; i < n; ++i) raw[i * width] = static_cast<char>(i);
    return raw;
  };
  core::ArrayRecord mixed;
  for (const char* dtype : {"int8", "uint8", "int16", "int32", "int64"}) {
    const size_t width = core::DTypeFromName(dtype)->itemsize;
    mixed.Set(dtype, *core::Array::FromRaw(dtype, {2, 3}, iota(6, width)));
  }
  mixed.Set("bool", *core::Array::FromRaw("bool", {3}, std::string("\1\0\1", 3)));
  const double half = 2.5;
  mixed.Set("float64", *core::Array::FromRaw("float64", {},
                                             std::string(reinterpret_cast<const char*>(&half), 8)));
  mixed.Set("float16", *core::Array::FromRaw("float16", {2}, std::string("\x00\x3c\x00\xc0", 4)));
  mixed.Set("complex64", *core::Array::FromRaw("complex64", {1},
                                               std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8)));
  mixed.Set("empty", *core::Array::FromFloats({}, {0, 3}));
  core::Array fortran = *core::Array::FromFloats({0, 1, 2, 3, 4, 5}, {2, 3});
  std::string npy = fortran.data.str();
  npy.replace(npy.find("False"), 5, "True ");
  fortran.data = npy;
  mixed.Set("fortran", fortran);
  EXPECT_TRUE(SaveArraysPt(mixed, (g_dir / "artifacts" / "mixed.pt").string()).ok());
  EXPECT_TRUE(SaveArraysPt({}, (g_dir / "artifacts" / "empty.pt").string()).ok());
  core::ArrayRecord unsigned_wide;
  unsigned_wide.Set("u16", *core::Array::FromRaw("uint16", {1}, std::string(2, '\0')));
  EXPECT_EQ(SaveArraysPt(unsigned_wide, (g_dir / "artifacts" / "u16.pt").string()).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace flwr::cnn

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: ml_twin_test FIXTURE_DIR [gtest flags]\n");
    return 2;
  }
  flwr::cnn::g_dir = argv[1];
  return RUN_ALL_TESTS();
}
