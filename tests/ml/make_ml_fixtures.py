"""Write the fixtures of ml_twin_test with the Python twin (demo/cifar_app/task.py) and stock flwr.

    python tests/ml/make_ml_fixtures.py OUT_DIR

OUT_DIR/manifest.json describes: the state_dict of the seeded Python Net as flwr's
`ArrayRecord(net.state_dict())` holds it (one file of Array bytes per parameter), an input
batch and the Net's output on it, partition/split indices for several cases, a SYNTHETIC
CIFAR-format dataset (OUT_DIR/data) and the Python evaluation of the Net on one partition.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import flwr
from flwr.app import ArrayRecord

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "demo"))

from cifar_app import task  # noqa: E402

SEED = 42


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "state").mkdir(exist_ok=True)
    torch.set_num_threads(1)
    net = task.initial_net(SEED)
    state = []
    for i, (name, array) in enumerate(ArrayRecord(net.state_dict()).items()):
        (out / "state" / f"{i}.bin").write_bytes(array.data)
        state.append({"name": name, "dtype": array.dtype, "shape": list(array.shape),
                      "stype": array.stype, "file": f"state/{i}.bin"})

    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(4, 3, 32, 32, generator=generator)
    with torch.no_grad():
        y = net(x)
    np.save(out / "input.npy", x.numpy())
    np.save(out / "output.npy", y.numpy())

    partitions = []
    for num_examples, partition_id, num_partitions, seed in [
        (50000, 0, 2, 42), (50000, 1, 2, 42), (10, 0, 1, 42), (1003, 3, 4, 7),
        (12500, 2, 5, 2**64 - 1), (2, 0, 1, 0),
    ]:
        train, test = task.partition_split_indices(num_examples, partition_id, num_partitions, seed)
        partitions.append({"num_examples": num_examples, "partition_id": partition_id,
                           "num_partitions": num_partitions, "seed": seed,
                           "train": train, "test": test})

    subprocess.run([sys.executable, str(REPO / "scripts" / "gen_synthetic_cifar.py"),
                    "--out", str(out / "data"), "--train-per-batch", "400", "--test", "50"],
                   check=True, stdout=subprocess.DEVNULL)
    data = task.load_data(out / "data", 1, 3, SEED)
    loss, accuracy = task.test(net, data, torch.device("cpu"))
    evaluation = {"partition_id": 1, "num_partitions": 3, "seed": SEED, "loss": loss,
                  "accuracy": accuracy, "num_examples": int(data.test_labels.shape[0]),
                  "num_train_examples": int(data.train_labels.shape[0])}

    manifest = {"flwr_version": flwr.__version__, "torch_version": torch.__version__,
                "seed": SEED, "state": state, "input": "input.npy", "output": "output.npy",
                "partitions": partitions, "eval": evaluation}
    (out / "manifest.json").write_text(json.dumps(manifest))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
