"""The legacy Python ClientApp: a NumPyClient behind `client_fn`, the twin of the native
"cifar-cnn" (clientapp/cli/src/cifar_cnn_app.cc) answering legacy messages:

  get_parameters -> the Net seeded with run config "seed"
  fit            -> trained weights, train examples, {"train_loss"}
  evaluate       -> eval_loss, test examples, {"eval_loss", "eval_acc"}

Options come from the fit config, else the run config (as in the native app). It uses the
demo's cifar_app/task.py, which must sit next to this package in the FAB.
"""

from __future__ import annotations

import numpy as np
import torch

from flwr.app import Context
from flwr.client import Client, ClientApp, NumPyClient
from flwr.common import NDArrays, Scalar

from cifar_app import task


class CifarClient(NumPyClient):
    def __init__(self, context: Context) -> None:
        self.node_config = context.node_config
        self.run_config = context.run_config

    def _option(self, config: dict[str, Scalar], key: str) -> Scalar:
        return config.get(key, self.run_config[key])

    def _data(self) -> task.Partition:
        data_path = str(self.node_config.get("data-path", self.run_config["data-path"]))
        return task.load_data(data_path, int(self.node_config["partition-id"]),
                              int(self.node_config["num-partitions"]),
                              int(self.run_config.get("seed", 42)))

    def _net(self, parameters: NDArrays) -> task.Net:
        net = task.Net()
        names = list(net.state_dict())
        net.load_state_dict({k: torch.from_numpy(np.copy(v)) for k, v in zip(names, parameters)})
        return net

    def get_parameters(self, config: dict[str, Scalar]) -> NDArrays:
        net = task.initial_net(int(self.run_config.get("seed", 42)))
        return [v.numpy() for v in net.state_dict().values()]

    def fit(self, parameters: NDArrays, config: dict[str, Scalar]):
        net = self._net(parameters)
        data = self._data()
        loss = task.train(net, data, epochs=int(self._option(config, "local-epochs")),
                          lr=float(self._option(config, "lr")), device=task.device(),
                          momentum=float(self._option(config, "momentum")),
                          batch_size=int(self._option(config, "batch-size")))
        weights = [v.cpu().numpy() for v in net.state_dict().values()]
        return weights, int(data.train_labels.shape[0]), {"train_loss": loss}

    def evaluate(self, parameters: NDArrays, config: dict[str, Scalar]):
        net = self._net(parameters)
        data = self._data()
        loss, accuracy = task.test(net, data, task.device())
        metrics = {"eval_loss": loss, "eval_acc": accuracy}
        return float(loss), int(data.test_labels.shape[0]), metrics


def client_fn(context: Context) -> Client:
    return CifarClient(context).to_client()


app = ClientApp(client_fn=client_fn)
