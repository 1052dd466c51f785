// The demo CNN's weights without libtorch: its parameters' names and shapes, its seeded initial
// weights, their validation and the final model as `.pt` / `.npz` files. The native ServerApp
// "fedavg-cifar-cnn" needs nothing else, so flwr-serverapp (and the server image) carries no
// libtorch; training and evaluation are cifar_cnn.h's, on libtorch.
#ifndef FLWR_CNN_CNN_WEIGHTS_H_
#define FLWR_CNN_CNN_WEIGHTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
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

// Freshly initialised weights: the bytes `torch.manual_seed(seed); Net()` gives with PyTorch's
// default initialisation on this machine, computed without libtorch (cnn_weights.cc says how) as an
// ArrayRecord in state_dict order, each Array exactly as flwr's `ArrayRecord(net.state_dict())`
// holds it: dtype "float32", the parameter's shape, stype "numpy.ndarray", `np.save` bytes.
core::ArrayRecord InitialCnnArrays(uint64_t seed);

// Checks that `arrays` holds exactly the CNN's parameters: the names of CnnParameterNames() in
// that order, each float32 with its shape and valid numpy data. Returns InvalidArgument
// naming the first mismatch.
absl::Status ValidateCnnArrays(const core::ArrayRecord& arrays);

// The final global model as run artifacts. SaveArraysPt writes a file that Python's
// `torch.load` returns as an OrderedDict of tensors (a state_dict that
// `Net().load_state_dict` accepts); SaveArraysNpz writes an `.npz` whose `np.load` gives the
// same arrays by name. Both accept any ArrayRecord of numpy arrays of dtypes torch supports
// (.pt, core/torch_pt.h, written without libtorch) / numpy supports (.npz). Returns InvalidArgument
// for an array that cannot be parsed, Internal when the file cannot be written.
absl::Status SaveArraysPt(const core::ArrayRecord& arrays, const std::string& path);
absl::Status SaveArraysNpz(const core::ArrayRecord& arrays, const std::string& path);

}  // namespace flwr::cnn

#endif  // FLWR_CNN_CNN_WEIGHTS_H_
