"""The demo's CNN, data and training, defined once for the Python ClientApp and ServerApp.

This module is the Python twin of flwr::cnn (cnn/): the same Net, the same CIFAR-10
binary files, the same partition and train/test split (SplitMix64 + Fisher-Yates, so both
languages pick the same examples for the same seed), the same normalisation
(x / 255 - 0.5) / 0.5 and the same SGD. Weights cross between the two as flwr ArrayRecords of
this Net's state_dict with no conversion.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IMAGE_BYTES = 3 * 32 * 32
RECORD_BYTES = 1 + IMAGE_BYTES
NUM_CLASSES = 10
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
SYNTHETIC_MARKER = "SYNTHETIC.txt"  # written by scripts/gen_synthetic_cifar.py

_MASK64 = (1 << 64) - 1


class Net(nn.Module):
    """The demo's CNN (PyTorch's "60 minute blitz" model)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def initial_net(seed: int) -> Net:
    """A freshly initialised Net; the C++ InitialCnnArrays(seed) holds the same weights."""
    torch.manual_seed(seed)
    return Net()


# --- The random source shared with C++ (cnn/src/seeded_permutation.cc) ---------------


class SplitMix64:
    """Steele, Lea and Flood's SplitMix64 on Python ints masked to 64 bits."""

    def __init__(self, seed: int) -> None:
        self.state = seed & _MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def below(self, bound: int) -> int:
        """Uniform in [0, bound) by rejection, as SplitMix64::Below."""
        threshold = ((1 << 64) - bound) % bound
        while True:
            r = self.next()
            if r >= threshold:
                return r % bound


def seeded_permutation(n: int, seed: int) -> list[int]:
    """The Fisher-Yates permutation of range(n) that C++ SeededPermutation(n, seed) gives."""
    permutation = list(range(max(n, 0)))
    rng = SplitMix64(seed)
    for i in range(n - 1, 0, -1):
        j = rng.below(i + 1)
        permutation[i], permutation[j] = permutation[j], permutation[i]
    return permutation


def partition_split_indices(
    num_examples: int, partition_id: int, num_partitions: int, seed: int
) -> tuple[list[int], list[int]]:
    """(train, test) global indices of a partition, as C++ PartitionSplitIndices().

    m = num_examples // num_partitions examples per partition (the remainder belongs to no
    partition); partition p is permutation[p*m:(p+1)*m], whose last ceil(m/5) are the test split.
    """
    if num_partitions < 1:
        raise ValueError(f"num-partitions must be at least 1, got {num_partitions}")
    if not 0 <= partition_id < num_partitions:
        raise ValueError(
            f"partition-id {partition_id} is out of range [0, {num_partitions}) "
            f"for num-partitions {num_partitions}"
        )
    size = num_examples // num_partitions
    if size < 2:
        raise ValueError(
            f"partition {partition_id} of {num_partitions} over {num_examples} examples "
            f"holds {size} examples; a train/test split needs at least 2"
        )
    part = seeded_permutation(num_examples, seed)[partition_id * size : (partition_id + 1) * size]
    num_test = (size + 4) // 5
    return part[: size - num_test], part[size - num_test :]


# --- CIFAR-10 binary files ------------------------------------------------------------------


def _record_count(path: Path) -> int:
    """The records in one file, from its size: a missing file or a partial record is an error."""
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 file '{path}' is missing")
    size = path.stat().st_size
    if size % RECORD_BYTES:
        raise ValueError(
            f"CIFAR-10 file '{path}' has {size} bytes, not a multiple of the "
            f"{RECORD_BYTES}-byte record (label byte + 3072 pixel bytes)"
        )
    return size // RECORD_BYTES


def _records(path: Path) -> np.ndarray:
    """The [n, 3073] uint8 records of one file, with the same checks as the C++ reader."""
    _record_count(path)
    records = np.fromfile(path, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    bad = np.flatnonzero(records[:, 0] >= NUM_CLASSES)
    if bad.size:
        raise ValueError(
            f"CIFAR-10 file '{path}': record {bad[0]} has label {records[bad[0], 0]} "
            "(labels are 0..9)"
        )
    return records


def _check_dir(data_path: str | os.PathLike[str]) -> Path:
    path = Path(data_path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"CIFAR-10 data directory '{path}' does not exist (or is not a directory)"
        )
    return path


def count_train_examples(data_path: str | os.PathLike[str]) -> int:
    """Examples in data_batch_1..5.bin, from their sizes."""
    path = _check_dir(data_path)
    total = 0
    for name in TRAIN_FILES:
        total += _record_count(path / name)
    return total


def read_train_examples(
    data_path: str | os.PathLike[str], indices: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(labels uint8 [n], images uint8 [n, 3, 32, 32]) of the training examples at `indices`."""
    path = _check_dir(data_path)
    records = np.concatenate([_records(path / name) for name in TRAIN_FILES])
    picked = records[np.asarray(indices, dtype=np.int64)]
    return picked[:, 0].copy(), picked[:, 1:].reshape(-1, 3, 32, 32).copy()


def is_synthetic(data_path: str | os.PathLike[str]) -> bool:
    """True for a directory scripts/gen_synthetic_cifar.py wrote."""
    return (Path(data_path) / SYNTHETIC_MARKER).is_file()


@dataclass
class Partition:
    """One node's data: uint8 images [n, 3, 32, 32] and int64 labels, train and test."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


_PARTITIONS: dict[tuple[str, int, int, int], Partition] = {}


def load_data(
    data_path: str | os.PathLike[str], partition_id: int, num_partitions: int, seed: int = 42
) -> Partition:
    """The node's partition (cached per process, as the demo cached its dataset)."""
    key = (str(Path(data_path).resolve()), partition_id, num_partitions, seed)
    if key not in _PARTITIONS:
        total = count_train_examples(data_path)
        train, test = partition_split_indices(total, partition_id, num_partitions, seed)
        train_labels, train_images = read_train_examples(data_path, train)
        test_labels, test_images = read_train_examples(data_path, test)
        _PARTITIONS[key] = Partition(
            torch.from_numpy(train_images),
            torch.from_numpy(train_labels.astype(np.int64)),
            torch.from_numpy(test_images),
            torch.from_numpy(test_labels.astype(np.int64)),
        )
    return _PARTITIONS[key]


def normalise(images: torch.Tensor) -> torch.Tensor:
    """(x / 255 - 0.5) / 0.5 in float32, in ToTensor + Normalize's order (as C++ Normalise)."""
    return images.to(torch.float32).div_(255).sub_(0.5).div_(0.5)


# --- Training and evaluation ----------------------------------------------------------------


def train(
    net: Net,
    data: Partition,
    epochs: int,
    lr: float,
    device: torch.device,
    momentum: float = 0.9,
    batch_size: int = 32,
    generator: torch.Generator | None = None,
) -> float:
    """SGD over shuffled batches; returns the mean of the per-batch losses of all epochs."""
    net.to(device)
    net.train()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    n = data.train_labels.shape[0]
    loss_sum = torch.zeros((), device=device)
    batches = 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for begin in range(0, n, batch_size):
            index = order[begin : begin + batch_size]
            images = normalise(data.train_images[index]).to(device)
            labels = data.train_labels[index].to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(net(images), labels)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            batches += 1
    return float(loss_sum.item()) / batches


def test(net: Net, data: Partition, device: torch.device) -> tuple[float, float]:
    """(mean cross-entropy per example, accuracy) on the partition's test split."""
    net.to(device)
    net.eval()
    n = data.test_labels.shape[0]
    loss_sum = 0.0
    correct = 0
    with torch.no_grad():
        for begin in range(0, n, 512):
            logits = net(normalise(data.test_images[begin : begin + 512]).to(device))
            labels = data.test_labels[begin : begin + 512].to(device)
            loss_sum += float(F.cross_entropy(logits, labels, reduction="sum").item())
            correct += int((logits.argmax(1) == labels).sum().item())
    return loss_sum / n, correct / n


def device() -> torch.device:
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
