"""One local epoch of the CIFAR-10 CNN: our C++ ClientApp training vs the demo's Python logic.

    .venv/bin/python bench/bench_train.py [--data DIR] [--threads 1] [--repeat 3]
                                          [--build-dir build] [--out bench/results/train.md]

Side by side, in one run, on the same 10,000 CIFAR-format images (the train split of
partition 0: 12,500 examples per partition) and the same libtorch build and thread count:
  C++ ClientApp   bench_train_cnn --mode client   (CifarCnnClient::Create + Train)
  Python demo     demo_train_python.py --mode demo (PIL + per-image transforms + DataLoader)
  libtorch limit  bench_train_cnn --mode compute  (SGD steps on batches already in memory)
  Python limit    demo_train_python.py --mode compute (for reference)
Each run is its own process (so peak RSS is the whole process's), the runtimes interleave
and repeat; the table shows medians. Without --data it writes a SYNTHETIC dataset
(scripts/gen_synthetic_cifar.py) and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "demo"))
from cifar_app import task  # noqa: E402

IMAGES = 10_000
PER_PARTITION = 12_500  # 80% of it is the 10,000-image train split


def run_json(command: list[str]) -> dict:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="CIFAR-10 binary directory (default: synthetic)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--build-dir", type=Path,
                        default=Path(os.environ.get("FLWR_BUILD_DIR", REPO / "build")))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "train.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "synthetic"
            subprocess.run([sys.executable, str(REPO / "scripts" / "gen_synthetic_cifar.py"),
                            "--out", str(data), "--train-per-batch", str(PER_PARTITION // 5),
                            "--test", "100"], check=True, stdout=subprocess.DEVNULL)
        synthetic = task.is_synthetic(data)
        total = task.count_train_examples(data)
        num_partitions = max(1, total // PER_PARTITION)
        common = ["--data", str(data), "--threads", str(args.threads),
                  "--num-partitions", str(num_partitions)]
        cpp = str(args.build_dir / "cnn" / "bench_train_cnn")
        py = [sys.executable, str(REPO / "bench" / "demo_train_python.py")]
        runs: dict[str, list[dict]] = {"cpp": [], "python": [], "limit": [], "pylimit": []}
        for r in range(args.repeat):
            runs["cpp"].append(run_json([cpp, "--mode", "client", *common]))
            runs["python"].append(run_json([*py, "--mode", "demo", *common]))
            runs["limit"].append(run_json([cpp, "--mode", "compute", *common]))
            runs["pylimit"].append(run_json([*py, "--mode", "compute", *common]))
            print(f"round {r + 1}/{args.repeat}: " + ", ".join(
                f"{k} {v[-1]['images_per_cpu_s']:.0f} img/cpu-s" for k, v in runs.items()), flush=True)
        load = os.getloadavg()

    def med(key: str, field: str) -> float:
        return statistics.median(run[field] for run in runs[key])

    images = runs["cpp"][0]["images"]
    # Throughput per CPU-second of the training process decides the goals: with one thread it
    # equals images/s on an idle machine, and other load on a shared machine barely moves it.
    cpp_ips, py_ips = med("cpp", "images_per_cpu_s"), med("python", "images_per_cpu_s")
    limit_ips, pylimit_ips = med("limit", "images_per_cpu_s"), med("pylimit", "images_per_cpu_s")
    cpp_rss, py_rss = med("cpp", "peak_rss_mb"), med("python", "peak_rss_mb")
    rows = [
        ("C++ ClientApp (flwr::cnn)", "cpp"),
        ("Python demo client logic", "python"),
        ("libtorch compute limit (C++, batches in memory)", "limit"),
        ("Python compute limit (batches in memory)", "pylimit"),
    ]
    lines = [
        "# One local epoch: C++ ClientApp vs the demo's Python client",
        "",
        f"Made by `bench/bench_train.py` ({args.repeat} interleaved runs per row, medians; "
        "each run its own process).",
        "",
        f"- Data: {images:,} training images of "
        + ("**SYNTHETIC** CIFAR-format data (scripts/gen_synthetic_cifar.py), not CIFAR-10"
           if synthetic else f"CIFAR-10 binary files in `{data}`")
        + f" (train split of partition 0 of {num_partitions}).",
        f"- Same libtorch for both: Debian 1.13.1 (`libtorch-dev` / `python3-torch`), "
        f"{args.threads} intra-op thread(s), batch 32, SGD lr 0.1 momentum 0.9, "
        f"{'CUDA' if runs['cpp'][0]['cuda'] else 'CPU'}.",
        f"- Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, load average "
        f"{load[0]:.2f} at the end (a shared machine: absolute numbers vary between runs, "
        "ratios less so).",
        "",
        "| runtime | images per CPU-s | images/s (wall) | training s (wall) | load s | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, key in rows:
        lines.append(f"| {label} | {med(key, 'images_per_cpu_s'):,.0f} | "
                     f"{med(key, 'images_per_s'):,.0f} | {med(key, 'seconds'):.2f} | "
                     f"{med(key, 'load_seconds'):.2f} | {med(key, 'peak_rss_mb'):.0f} |")
    lines += [
        "",
        "Goals are judged on images per CPU-second (training phase, whole process): with one "
        "thread that is images/s on an idle machine, and unlike wall time it does not depend on "
        "what else the shared machine runs.",
        "",
        "| goal | result | met |",
        "|---|---|---|",
        f"| >= 2x Python images/s | {cpp_ips / py_ips:.2f}x | {'yes' if cpp_ips >= 2 * py_ips else 'no'} |",
        f"| within 10% of the compute limit | {100 * cpp_ips / limit_ips:.1f}% of it | "
        f"{'yes' if cpp_ips >= 0.9 * limit_ips else 'no'} |",
        f"| lower peak RSS than Python | {cpp_rss:.0f} MB vs {py_rss:.0f} MB "
        f"({100 * cpp_rss / py_rss:.0f}%) | {'yes' if cpp_rss < py_rss else 'no'} |",
        "",
        f"The Python baseline holds decoded PIL images in memory; the demo also PNG-decoded each "
        f"image from Arrow on every access, so the real demo is slower than this row. On batches "
        f"already in memory Python reaches {pylimit_ips:,.0f} and C++ {limit_ips:,.0f} images per "
        f"CPU-s: the model's compute is the same libtorch; the gap between the runtimes is data "
        f"handling. The C++ client can beat the 'limit' row: it keeps uint8 images (31 MB) and "
        f"normalises each batch in cache, where the limit row streams 123 MB of floats.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"ratios: C++/Python {cpp_ips / py_ips:.2f}x, C++/limit {cpp_ips / limit_ips:.3f}, "
          f"RSS C++/Python {cpp_rss / py_rss:.2f}")


if __name__ == "__main__":
    main()
