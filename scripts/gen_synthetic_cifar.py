#!/usr/bin/env python3
"""Write a SYNTHETIC, learnable dataset in the exact CIFAR-10 binary format.

    scripts/gen_synthetic_cifar.py --out DIR [--train-per-batch 1000] [--test 1000] [--seed 0]

DIR gets data_batch_1..5.bin and test_batch.bin (3073-byte records: a label byte, then the
3072 bytes of a 32x32 image as R, G and B planes), batches.meta.txt (the class names) and
SYNTHETIC.txt, the marker that tells every tool using DIR that the data is synthetic.

It is not CIFAR-10: each class is a base colour plus an oriented stripe pattern of its own,
randomly shifted, scaled in contrast and covered in pixel noise, so a small CNN learns it
well above chance (10%) within a few short rounds but not instantly. Labels are drawn
uniformly at random, so any contiguous or random slice is IID. Same seed, same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
MARKER = "SYNTHETIC.txt"

# One base colour (RGB) and one stripe direction/frequency per class.
_COLOURS = np.array([
    [170, 100, 100], [100, 170, 100], [100, 100, 170], [170, 170, 100], [170, 100, 170],
    [100, 170, 170], [180, 140, 90], [128, 128, 128], [90, 120, 160], [150, 120, 90],
], dtype=np.float32)
_ANGLES = np.deg2rad(np.array([0, 36, 72, 108, 144, 18, 54, 90, 126, 162], dtype=np.float32))
_FREQS = np.array([2, 3, 2, 3, 2, 3, 2, 3, 2, 3], dtype=np.float32)


def make_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 images [n, 3, 32, 32] for `labels`."""
    n = labels.shape[0]
    ys, xs = np.mgrid[0:32, 0:32].astype(np.float32) / 32.0
    angle = _ANGLES[labels][:, None, None]
    freq = _FREQS[labels][:, None, None]
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1)).astype(np.float32)
    wave = np.sin(2 * np.pi * freq * (np.cos(angle) * xs + np.sin(angle) * ys) + phase)
    contrast = rng.uniform(20, 50, size=(n, 1, 1, 1)).astype(np.float32)
    colour = _COLOURS[labels][:, :, None, None] + rng.normal(0, 15, size=(n, 3, 1, 1))
    images = colour + contrast * wave[:, None, :, :] + rng.normal(0, 20, size=(n, 3, 32, 32))
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def write_file(path: Path, count: int, rng: np.random.Generator) -> None:
    labels = rng.integers(0, len(CLASSES), size=count).astype(np.uint8)
    records = np.empty((count, 3073), dtype=np.uint8)
    records[:, 0] = labels
    records[:, 1:] = make_images(labels, rng).reshape(count, 3072)
    path.write_bytes(records.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--train-per-batch", type=int, default=1000,
                        help="examples in each of data_batch_1..5.bin (CIFAR-10: 10000)")
    parser.add_argument("--test", type=int, default=1000,
                        help="examples in test_batch.bin (CIFAR-10: 10000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for i in range(1, 6):
        write_file(args.out / f"data_batch_{i}.bin", args.train_per_batch, rng)
    write_file(args.out / "test_batch.bin", args.test, rng)
    (args.out / "batches.meta.txt").write_text("\n".join(CLASSES) + "\n")
    (args.out / MARKER).write_text(
        "SYNTHETIC DATA - NOT CIFAR-10.\n"
        "Written by scripts/gen_synthetic_cifar.py in the CIFAR-10 binary format: each class is "
        "a colour and stripe pattern plus noise.\n"
        f"seed={args.seed} train-per-batch={args.train_per_batch} test={args.test}\n"
    )
    print(f"wrote SYNTHETIC CIFAR-format data (not CIFAR-10) to {args.out}: "
          f"{5 * args.train_per_batch} train + {args.test} test examples")


if __name__ == "__main__":
    main()
