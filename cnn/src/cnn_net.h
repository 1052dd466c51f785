// The demo's CNN as a libtorch module, private to flwr::cnn (and its benchmark tool).
#ifndef FLWR_CNN_SRC_CNN_NET_H_
#define FLWR_CNN_SRC_CNN_NET_H_

#include <torch/torch.h>

namespace flwr::cnn::internal {

// The demo's Net. Submodules are registered in the Python class's order, so named_parameters()
// lists the state_dict's names in its order, and seeded default initialisation draws the
// same random numbers as `torch.manual_seed(seed); Net()` in Python.
struct NetImpl : torch::nn::Module {
  NetImpl()
      : conv1(register_module("conv1", torch::nn::Conv2d(3, 6, 5))),
        conv2(register_module("conv2", torch::nn::Conv2d(6, 16, 5))),
        fc1(register_module("fc1", torch::nn::Linear(16 * 5 * 5, 120))),
        fc2(register_module("fc2", torch::nn::Linear(120, 84))),
        fc3(register_module("fc3", torch::nn::Linear(84, 10))) {}

  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1(x)), 2, 2);
    x = torch::max_pool2d(torch::relu(conv2(x)), 2, 2);
    x = x.view({-1, 16 * 5 * 5});
    x = torch::relu(fc1(x));
    x = torch::relu(fc2(x));
    return fc3(x);
  }

  torch::nn::Conv2d conv1;
  torch::nn::Conv2d conv2;
  torch::nn::Linear fc1;
  torch::nn::Linear fc2;
  torch::nn::Linear fc3;
};
TORCH_MODULE(Net);

}  // namespace flwr::cnn::internal

#endif  // FLWR_CNN_SRC_CNN_NET_H_
