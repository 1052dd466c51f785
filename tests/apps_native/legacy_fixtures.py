"""The Python half of legacy_client_app_test: legacy instructions made by the pinned stock flwr,
and the stock flwr's verdict on the C++ ClientApp's replies to them.

    python legacy_fixtures.py make DIR    # DIR/in/*.pb, DIR/data, DIR/manifest.json
    python legacy_fixtures.py check DIR   # reads DIR/out/*.pb (written by the C++ test)

`make` builds FitIns / EvaluateIns / GetParametersIns / GetPropertiesIns RecordDicts with
flwr's compat functions (as the legacy ServerApp's GridClientProxy does) from the demo Net's
weights (demo/cifar_app/task.py) and writes them as `serde.recorddict_to_proto` bytes, plus a small
synthetic CIFAR-format data set. `check` decodes each reply with flwr's recorddict_to_* (as
GridClientProxy does), re-encodes it with flwr's *_to_recorddict (as a stock NumPyClient
replies) and demands the same bytes and object ID, checks the values against the Python twin,
and aggregates the FitRes / EvaluateRes with the stock legacy FedAvg. Exit status 0: all good.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import flwr
from flwr.app import RecordDict
from flwr.common import (
    Code,
    EvaluateIns,
    FitIns,
    GetParametersIns,
    GetPropertiesIns,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
    serde,
)
from flwr.compat.common import recorddict_compat as compat
from flwr.proto.recorddict_pb2 import RecordDict as ProtoRecordDict  # pylint: disable=E0611
from flwr.server.strategy import FedAvg

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "demo"))

from cifar_app import task  # noqa: E402

FIT_SEED = 7  # the weights the instructions carry
PARTITION_SEED = 42  # the C++ app partitions with 42
GET_PARAMETERS_SEEDS = (42, 3)  # run config "seed" of the two get_parameters calls
NUM_PARTITIONS = 2


def _write(path: Path, rd: RecordDict) -> None:
    path.write_bytes(serde.recorddict_to_proto(rd).SerializeToString(deterministic=True))


def _read(path: Path) -> tuple[bytes, RecordDict]:
    data = path.read_bytes()
    proto = ProtoRecordDict()
    proto.ParseFromString(data)
    return data, serde.recorddict_from_proto(proto)


def _state(seed: int) -> list[np.ndarray]:
    return [v.numpy() for v in task.initial_net(seed).state_dict().values()]


def make(out: Path) -> None:
    (out / "in").mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    parameters = ndarrays_to_parameters(_state(FIT_SEED))
    fit_config = {"lr": 0.05, "local-epochs": 1, "server-round": 1}
    _write(out / "in" / "fitins.pb",
           compat.fitins_to_recorddict(FitIns(parameters, fit_config), keep_input=True))
    _write(out / "in" / "evaluateins.pb",
           compat.evaluateins_to_recorddict(EvaluateIns(parameters, {"server-round": 1}),
                                            keep_input=True))
    _write(out / "in" / "getparametersins.pb",
           compat.getparametersins_to_recorddict(GetParametersIns({})))
    _write(out / "in" / "getpropertiesins.pb",
           compat.getpropertiesins_to_recorddict(GetPropertiesIns({})))
    subprocess.run([sys.executable, str(REPO / "scripts" / "gen_synthetic_cifar.py"),
                    "--out", str(out / "data"), "--train-per-batch", "40", "--test", "10"],
                   check=True, stdout=subprocess.DEVNULL)
    partitions = []
    net = task.initial_net(FIT_SEED)
    for partition_id in range(NUM_PARTITIONS):
        data = task.load_data(out / "data", partition_id, NUM_PARTITIONS, PARTITION_SEED)
        loss, accuracy = task.test(net, data, torch.device("cpu"))
        partitions.append({"partition_id": partition_id,
                           "num_train": int(data.train_labels.shape[0]),
                           "num_test": int(data.test_labels.shape[0]),
                           "eval_loss": loss, "eval_acc": accuracy})
    manifest = {"flwr_version": flwr.__version__, "names": list(task.Net().state_dict()),
                "num_partitions": NUM_PARTITIONS, "partitions": partitions,
                "get_parameters_seeds": list(GET_PARAMETERS_SEEDS)}
    (out / "manifest.json").write_text(json.dumps(manifest))


class Checker:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            self.failures.append(what)

    def same_as_stock(self, name: str, data: bytes, got: RecordDict, stock: RecordDict) -> None:
        """The C++ reply is what the stock NumPyClient path makes of the same values."""
        self.expect(list(got.keys()) == list(stock.keys()),
                    f"{name}: keys {list(got.keys())} != stock {list(stock.keys())}")
        stock_bytes = serde.recorddict_to_proto(stock).SerializeToString(deterministic=True)
        self.expect(data == stock_bytes, f"{name}: protobuf bytes differ from the stock reply's")
        self.expect(got.object_id == stock.object_id,
                    f"{name}: object ID {got.object_id} != stock {stock.object_id}")


def check(out: Path) -> int:
    manifest = json.loads((out / "manifest.json").read_text())
    c = Checker()
    net = task.Net()
    shapes = [tuple(v.shape) for v in net.state_dict().values()]
    initial = _state(FIT_SEED)

    fit_results = []
    for p in manifest["partitions"]:
        name = f"fit_{p['partition_id']}"
        data, rd = _read(out / "out" / f"{name}.pb")
        fitres = compat.recorddict_to_fitres(rd, keep_input=True)
        c.same_as_stock(name, data, rd, compat.fitres_to_recorddict(fitres, keep_input=True))
        c.expect(fitres.status.code == Code.OK and fitres.status.message == "Success",
                 f"{name}: status {fitres.status}")
        c.expect(fitres.num_examples == p["num_train"],
                 f"{name}: num_examples {fitres.num_examples} != {p['num_train']}")
        c.expect(set(fitres.metrics) == {"train_loss"}, f"{name}: metrics {fitres.metrics}")
        loss = fitres.metrics.get("train_loss")
        c.expect(isinstance(loss, float) and math.isfinite(loss) and loss > 0,
                 f"{name}: train_loss {loss}")
        ndarrays = parameters_to_ndarrays(fitres.parameters)
        c.expect([a.shape for a in ndarrays] == shapes, f"{name}: shapes differ from Net's")
        c.expect(all(a.dtype == np.float32 for a in ndarrays), f"{name}: dtypes not float32")
        c.expect(any(not np.array_equal(a, b) for a, b in zip(ndarrays, initial)),
                 f"{name}: weights unchanged by training")
        net.load_state_dict({k: torch.from_numpy(a) for k, a in zip(manifest["names"], ndarrays)})
        fit_results.append((None, fitres))

    aggregated, _ = FedAvg().aggregate_fit(1, fit_results, [])
    c.expect(aggregated is not None, "stock FedAvg aggregated nothing")
    if aggregated is not None:
        total = sum(r.num_examples for _, r in fit_results)
        for i, layer in enumerate(parameters_to_ndarrays(aggregated)):
            expected = sum(parameters_to_ndarrays(r.parameters)[i] * (r.num_examples / total)
                           for _, r in fit_results)
            c.expect(np.allclose(layer, expected, atol=1e-6), f"aggregate of tensor {i}")

    eval_results = []
    for p in manifest["partitions"]:
        name = f"evaluate_{p['partition_id']}"
        data, rd = _read(out / "out" / f"{name}.pb")
        res = compat.recorddict_to_evaluateres(rd)
        c.same_as_stock(name, data, rd, compat.evaluateres_to_recorddict(res))
        c.expect(res.status.code == Code.OK and res.status.message == "Success",
                 f"{name}: status {res.status}")
        c.expect(set(res.metrics) == {"eval_loss", "eval_acc"}, f"{name}: metrics {res.metrics}")
        c.expect(res.num_examples == p["num_test"], f"{name}: num_examples {res.num_examples}")
        c.expect(res.loss == res.metrics.get("eval_loss"), f"{name}: loss != eval_loss")
        # The same weights on the same test split as the Python twin.
        c.expect(abs(res.loss - p["eval_loss"]) < 1e-4,
                 f"{name}: loss {res.loss} != Python twin's {p['eval_loss']}")
        c.expect(abs(res.metrics.get("eval_acc", -1) - p["eval_acc"]) < 1e-9,
                 f"{name}: eval_acc {res.metrics.get('eval_acc')} != Python's {p['eval_acc']}")
        eval_results.append((None, res))
    loss, _ = FedAvg().aggregate_evaluate(1, eval_results, [])
    total = sum(r.num_examples for _, r in eval_results)
    c.expect(loss is not None and abs(loss - sum(r.loss * r.num_examples for _, r in eval_results)
                                      / total) < 1e-9, f"aggregated loss {loss}")

    for seed in manifest["get_parameters_seeds"]:
        name = f"get_parameters_{seed}"
        data, rd = _read(out / "out" / f"{name}.pb")
        res = compat.recorddict_to_getparametersres(rd, keep_input=True)
        c.same_as_stock(name, data, rd, compat.getparametersres_to_recorddict(res, keep_input=True))
        c.expect(res.status.code == Code.OK and res.status.message == "Success",
                 f"{name}: status {res.status}")
        # Byte-identical to torch.manual_seed(seed); Net() in Python.
        c.expect(res.parameters.tensors == ndarrays_to_parameters(_state(seed)).tensors,
                 f"{name}: not the Python Net seeded with {seed}")

    data, rd = _read(out / "out" / "get_properties.pb")
    res = compat.recorddict_to_getpropertiesres(rd)
    c.same_as_stock("get_properties", data, rd, compat.getpropertiesres_to_recorddict(res))
    c.expect(res.status.code == Code.GET_PROPERTIES_NOT_IMPLEMENTED and res.properties == {},
             f"get_properties: {res}")

    for failure in c.failures:
        print(f"FAIL {failure}")
    print("OK" if not c.failures else f"{len(c.failures)} failures")
    return 1 if c.failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "check"):
        sys.exit(__doc__)
    if sys.argv[1] == "make":
        make(Path(sys.argv[2]))
    else:
        sys.exit(check(Path(sys.argv[2])))
