// The CNN's weights without libtorch (cnn_weights.h).
//
// InitialCnnArrays repeats what `torch.manual_seed(seed); Net()` does, number for number:
// torch's CPU generator is the standard 32-bit Mersenne Twister seeded with the seed's low 32
// bits; each nn.Conv2d / nn.Linear, in the Net's order, fills its weight with
// kaiming_uniform_(a=sqrt(5)) (bound sqrt(3) * sqrt(2 / (1 + a^2)) / sqrt(fan_in)) and then
// its bias uniformly within 1 / sqrt(fan_in), the bounds computed in double and cast to
// float. Each element takes one 32-bit draw r: x = (r & (2^24 - 1)) * 2^-24, then
// x * (to - from) + from in float (ATen's uniform_real_distribution<float>). ATen computes that
// last step in the kernel its CPU dispatch picks: the AVX2 kernel, built with FMA, rounds the
// multiply-add once; the default kernel rounds twice. So the bytes depend on the machine in
// PyTorch itself, and this follows the same choice (ATEN_CPU_CAPABILITY, else AVX2 + FMA).
// tests/ml/cifar_cnn_test.cc compares the result with libtorch's for several seeds, and
// tests/ml/test_ml_twin.py with Python's Net.
#include "flwr/cnn/cnn_weights.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "flwr/core/npz.h"
#include "flwr/core/torch_pt.h"

namespace flwr::cnn {
namespace {

// Whether ATen's CPU dispatch on this machine picks a kernel that fuses uniform_'s multiply-add
// (aten/src/ATen/native/DispatchStub.cpp: compute_cpu_capability in torch 1.13).
bool TorchFusesMultiplyAdd() {
  if (const char* capability = std::getenv("ATEN_CPU_CAPABILITY"); capability != nullptr) {
    if (std::strcmp(capability, "avx512") == 0 || std::strcmp(capability, "avx2") == 0) {
      return true;
    }
    if (std::strcmp(capability, "default") == 0) return false;
  }
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return true;  // one kernel, which GCC contracts on targets with FMA (aarch64)
#endif
}

// `n` draws of tensor.uniform_(-bound, bound) on float32.
void Uniform(std::mt19937& generator, bool fused, double bound, size_t n, std::vector<float>& out) {
  const auto from = static_cast<float>(-bound);
  const auto to = static_cast<float>(bound);
  const float range = to - from;
  for (size_t i = 0; i < n; ++i) {
    const float x = static_cast<float>(generator() & ((1u << 24) - 1)) * (1.0f / (1u << 24));
    if (fused) {
      out.push_back(std::fma(x, range, from));
    } else {
      const float scaled = x * range;  // this file is built with -ffp-contract=off
      out.push_back(scaled + from);
    }
  }
}

}  // namespace

std::vector<std::string> CnnParameterNames() {
  return {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight",
          "fc1.bias",     "fc2.weight", "fc2.bias",     "fc3.weight", "fc3.bias"};
}

std::vector<std::vector<int64_t>> CnnParameterShapes() {
  return {{6, 3, 5, 5}, {6},       {16, 6, 5, 5}, {16},     {120, 400},
          {120},        {84, 120}, {84},          {10, 84}, {10}};
}

core::ArrayRecord InitialCnnArrays(uint64_t seed) {
  std::mt19937 generator(static_cast<uint32_t>(seed));
  const bool fused = TorchFusesMultiplyAdd();
  const std::vector<std::string> names = CnnParameterNames();
  const std::vector<std::vector<int64_t>> shapes = CnnParameterShapes();
  core::ArrayRecord arrays;
  int64_t fan_in = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::vector<int64_t>& shape = shapes[i];
    size_t n = 1;
    for (int64_t dim : shape) n *= static_cast<size_t>(dim);
    double bound = 0;
    if (shape.size() > 1) {  // a weight: [out, in, (k, k)]
      fan_in = static_cast<int64_t>(n) / shape[0];
      const double a = std::sqrt(5.0);
      const double gain = std::sqrt(2.0 / (1 + std::pow(a, 2)));
      bound = std::sqrt(3.0) * (gain / std::sqrt(static_cast<double>(fan_in)));
    } else {  // its bias, after it
      bound = 1 / std::sqrt(static_cast<double>(fan_in));
    }
    std::vector<float> values;
    values.reserve(n);
    Uniform(generator, fused, bound, n, values);
    // Cannot fail: the values match the shape.
    arrays.Set(names[i], *core::Array::FromFloats(values, shape));
  }
  return arrays;
}

absl::Status ValidateCnnArrays(const core::ArrayRecord& arrays) {
  const std::vector<std::string> names = CnnParameterNames();
  const std::vector<std::vector<int64_t>> shapes = CnnParameterShapes();
  for (size_t i = 0; i < names.size(); ++i) {
    const core::Array* array = arrays.Find(names[i]);
    if (array == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the CNN's arrays lack '", names[i], "' (expected ", absl::StrJoin(names, ", "), ")"));
    }
    if (array->dtype != "float32") {
      return absl::InvalidArgumentError(
          absl::StrCat("array '", names[i], "' has dtype ", array->dtype, ", not float32"));
    }
    if (array->shape != shapes[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("array '", names[i], "' has shape [", absl::StrJoin(array->shape, ","),
                       "], the CNN's is [", absl::StrJoin(shapes[i], ","), "]"));
    }
    absl::StatusOr<core::NpyArray> npy = array->Numpy();
    if (!npy.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("array '", names[i], "': ", npy.status().message()));
    }
    if (npy->fortran_order && npy->shape.size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("array '", names[i], "' is Fortran-ordered; C order expected"));
    }
  }
  if (arrays.size() != names.size()) {
    for (const auto& [name, array] : arrays) {
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("array '", name, "' is not a parameter of the CNN"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status SaveArraysPt(const core::ArrayRecord& arrays, const std::string& path) {
  return core::WriteTorchPt(arrays, path);
}

absl::Status SaveArraysNpz(const core::ArrayRecord& arrays, const std::string& path) {
  return core::WriteNpz(arrays, path);
}

}  // namespace flwr::cnn
