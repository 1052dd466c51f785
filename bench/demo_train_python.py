"""One local epoch with the demo's Python/PyTorch client logic, timed (for bench_train.py).

    python bench/demo_train_python.py --data DIR [--mode demo|compute] [--threads N]
                                      [--num-partitions N] [--seed 42]

demo:    the seed demo's data path: every example a PIL image (the demo's Hugging Face
         dataset yields PIL images), per-image torchvision ToTensor + Normalize((0.5,)*3,
         (0.5,)*3) applied on access, DataLoader(batch_size=32, shuffle=True), and the demo's
         train() loop (SGD lr 0.1 momentum 0.9, loss.item() per step). The images are the
         train split of partition 0 that the C++ bench trains on (demo/cifar_app/task.py). The demo
         also PNG-decoded every image from Arrow on each access; that cost is not counted
         here, so this is an upper bound on the demo's speed.
compute: the same SGD steps on normalised batches already in memory (Python's own limit).
Prints one JSON object like bench_train_cnn's.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import Compose, Normalize, ToTensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demo"))
from cifar_app import task  # noqa: E402


class PilDataset(Dataset):
    """Examples as PIL images with the demo's per-image transforms, as its task.py did."""

    def __init__(self, labels, images) -> None:
        self.labels = [int(label) for label in labels]
        # HWC uint8, as PIL holds CIFAR images.
        self.images = [Image.fromarray(image.transpose(1, 2, 0)) for image in images]
        self.transforms = Compose([ToTensor(), Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"img": self.transforms(self.images[i]), "label": self.labels[i]}


def demo_train(net, trainloader, epochs, device) -> float:
    """The demo's train() (seed demo src/task.py)."""
    net.to(device)
    criterion = torch.nn.CrossEntropyLoss().to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net.train()
    running_loss = 0.0
    for _ in range(epochs):
        for batch in trainloader:
            images = batch["img"]
            labels = batch["label"]
            optimizer.zero_grad()
            loss = criterion(net(images.to(device)), labels.to(device))
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
    return running_loss / len(trainloader)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--mode", choices=("demo", "compute"), default="demo")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--num-partitions", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = task.device()
    start = time.perf_counter()
    total = task.count_train_examples(args.data)
    train_indices, _ = task.partition_split_indices(total, 0, args.num_partitions, args.seed)
    labels, images = task.read_train_examples(args.data, train_indices)
    net = task.initial_net(args.seed)
    if args.mode == "demo":
        loader = DataLoader(PilDataset(labels, images), batch_size=32, shuffle=True)
        load_seconds = time.perf_counter() - start
        train_start = time.perf_counter()
        cpu_start = time.process_time()
        train_loss = demo_train(net, loader, 1, device)
    else:
        x = task.normalise(torch.from_numpy(images))
        y = torch.from_numpy(labels.astype("int64"))
        batches = [(x[b:b + 32].contiguous().to(device), y[b:b + 32].to(device))
                   for b in range(0, len(y), 32)]
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        net.to(device).train()
        load_seconds = time.perf_counter() - start
        train_start = time.perf_counter()
        cpu_start = time.process_time()
        loss_sum = torch.zeros((), device=device)
        for xb, yb in batches:
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xb), yb)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
        train_loss = float(loss_sum.item()) / len(batches)
    cpu_seconds = time.process_time() - cpu_start
    seconds = time.perf_counter() - train_start
    n = len(labels)
    print(json.dumps({
        "mode": args.mode, "images": n, "seconds": seconds, "cpu_seconds": cpu_seconds,
        "load_seconds": load_seconds, "images_per_s": n / seconds,
        "images_per_cpu_s": n / cpu_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(), "train_loss": train_loss,
        "cuda": torch.cuda.is_available(),
    }))


if __name__ == "__main__":
    main()
