#!/usr/bin/env python3
"""Three full rounds of the demo with two nodes: the Python Flower runtime vs ours, in one run.

    .venv/bin/python bench/bench_rounds.py [--data DIR] [--rounds 3] [--repeat 2]
                                           [--build-dir build] [--out bench/results/rounds.md]

The same app (the demo's, demo/: pyproject.toml + cifar_app/), the same data, the same run
config, the same stock `flwr run`, one libtorch thread per ClientApp:

  Python   stock flower-superlink (its flower-superexec runs the Python ServerApp,
           demo/cifar_app/server_app.py) + 2 stock flower-supernodes (Python ClientApp,
           demo/cifar_app/client_app.py, the demo's PyTorch logic)
  C++      our flower-superlink (native FedAvg ServerApp) + 2 of our flower-supernodes
           (libtorch ClientApp)

Both ServerApps write history.json next to the final model: each round's wall time (train and
evaluate, measured inside the ServerApp from the start of the round's train step) and the
aggregated train/evaluate metrics. The runtimes alternate for --repeat runs; the table shows
the median of the per-round times and the final accuracy of each run; the plot
(bench/results/rounds.svg) shows accuracy and loss per round of every run. Without --data it
writes a SYNTHETIC CIFAR-format set (scripts/gen_synthetic_cifar.py) and says so.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "demo"))
sys.path.insert(0, str(REPO / "tests" / "interop"))
from cifar_app import task  # noqa: E402
from harness import (  # noqa: E402
    Ports,
    Processes,
    base_env,
    copy_demo_app,
    flwr,
    free_port,
    superlink_argv,
    supernode_argv,
    wait_for_port,
    wait_for_status,
    write_cli_config,
)

LABELS = {"python": "Python Flower (stock, PyTorch)", "cpp": "C++ runtime (libtorch, native FedAvg)"}
PER_PARTITION = 12_500  # as bench_train.py: a 10,000-image train split per node


def one_run(kind: str, args, data: Path, work: Path) -> dict:
    """Start a whole federation of `kind`, run the app, return its history and timings."""
    home = work / "flwr_home"
    env = base_env(home)
    env["OMP_NUM_THREADS"] = str(args.threads)
    ports = Ports()
    write_cli_config(home, ports.control)
    procs = Processes(work, env)
    try:
        link = procs.start("superlink", superlink_argv(kind, ports, ":flwr-in-memory:",
                                                       args.build_dir / "superlink" / "flower-superlink"))
        wait_for_port(ports.control, proc=link)
        wait_for_port(ports.fleet, proc=link)
        for i in range(args.nodes):
            config = f'partition-id={i} num-partitions={args.nodes} data-path="{data}"'
            procs.start(f"supernode{i}", supernode_argv(ports.fleet, free_port(), config, kind=kind,
                                                        build_dir=args.build_dir))
        artifacts = work / "artifacts"
        run_config = (f"num-server-rounds={args.rounds} fraction-fit=1.0 fraction-evaluate=1.0 "
                      f"min-available-nodes={args.nodes} lr={args.lr} artifacts-dir=\"{artifacts}\"")
        started = time.monotonic()
        app = copy_demo_app(work / "app")
        result = flwr(env, "run", str(app), "--run-config", run_config, "--format", "json", timeout=180)
        payload = json.loads(result.stdout) if result.returncode == 0 else {}
        if "run-id" not in payload:
            raise SystemExit(f"{kind}: flwr run failed:\n{result.stdout}\n{result.stderr}")
        run_id = payload["run-id"]
        run = wait_for_status(env, str(run_id), "finished", timeout=args.run_timeout)
        total = time.monotonic() - started
        if run["status"] != "finished:completed":
            raise SystemExit(f"{kind}: run ended {run['status']}; logs in {work}\n{procs.logs()[-3000:]}")
        history = json.loads((artifacts / "history.json").read_text())["rounds"]
        return {"kind": kind, "total_s": total, "rounds": history}
    finally:
        procs.stop_all()


def plot(runs: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "flwr-bench"  # stable ids: the SVG diffs cleanly
    matplotlib.rcParams["svg.fonttype"] = "none"  # text as text: a small SVG
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    colors = {"python": "tab:blue", "cpp": "tab:orange"}
    seen: set[str] = set()
    for run in runs:
        rounds = [r["round"] for r in run["rounds"]]
        label = None if run["kind"] in seen else LABELS[run["kind"]]
        seen.add(run["kind"])
        style = dict(color=colors[run["kind"]], marker="o", alpha=0.8, label=label)
        axes[0].plot(rounds, [r["evaluate"]["eval_acc"] for r in run["rounds"]], **style)
        axes[1].plot(rounds, [r["evaluate"]["eval_loss"] for r in run["rounds"]], **style)
        axes[1].plot(rounds, [r["train"]["train_loss"] for r in run["rounds"]], linestyle="--",
                     color=colors[run["kind"]], marker="x", alpha=0.6)
    axes[0].set_title("Evaluation accuracy (weighted mean of the nodes)")
    axes[1].set_title("Loss: evaluation (solid), training (dashed)")
    for ax in axes:
        ax.set_xlabel("round")
        ax.grid(alpha=0.3)
        ax.set_xticks(sorted({r["round"] for run in runs for r in run["rounds"]}))
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="CIFAR-10 binary directory (default: synthetic)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="libtorch threads per ClientApp")
    parser.add_argument("--lr", type=float, help="default: 0.01 on synthetic data, else the app's 0.1")
    parser.add_argument("--run-timeout", type=float, default=900)
    parser.add_argument("--build-dir", type=Path,
                        default=Path(os.environ.get("FLWR_BUILD_DIR", REPO / "build")))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "rounds.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-rounds-") as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "synthetic"
            subprocess.run([sys.executable, str(REPO / "scripts" / "gen_synthetic_cifar.py"),
                            "--out", str(data), "--train-per-batch", str(PER_PARTITION * args.nodes // 5),
                            "--test", "100"], check=True, stdout=subprocess.DEVNULL)
        synthetic = task.is_synthetic(data)
        if args.lr is None:
            args.lr = 0.01 if synthetic else 0.1
        runs: list[dict] = []
        for r in range(args.repeat):
            for kind in ("python", "cpp"):
                run = one_run(kind, args, data, Path(tmp) / f"{kind}-{r}")
                runs.append(run)
                print(f"repeat {r + 1}/{args.repeat} {kind}: " + ", ".join(
                    f"round {x['round']} {x['seconds']:.1f} s acc {x['evaluate'].get('eval_acc', float('nan')):.3f}"
                    for x in run["rounds"]) + f", run {run['total_s']:.1f} s", flush=True)
        train_images = task.count_train_examples(data) // args.nodes * 4 // 5
        load = os.getloadavg()

    def of(kind: str) -> list[dict]:
        return [run for run in runs if run["kind"] == kind]

    def med_round(kind: str, rnd: int) -> float:
        return statistics.median(x["seconds"] for run in of(kind) for x in run["rounds"] if x["round"] == rnd)

    def med_all(kind: str) -> float:
        return statistics.median(x["seconds"] for run in of(kind) for x in run["rounds"])

    def finals(kind: str, key: str, section: str = "evaluate") -> list[float]:
        return [run["rounds"][-1][section][key] for run in of(kind)]

    lines = [
        f"# {args.rounds} rounds, {args.nodes} nodes: Python Flower vs the C++ runtime",
        "",
        f"Made by `bench/bench_rounds.py` on {datetime.date.today()} ({args.repeat} runs per runtime, alternating; medians).",
        "",
        f"- Data: {'**SYNTHETIC** CIFAR-format data (scripts/gen_synthetic_cifar.py), not CIFAR-10' if synthetic else 'CIFAR-10'}; "
        f"{args.nodes} IID partitions, ~{train_images:,} training images per node (80/20 split).",
        f"- App: the demo's, demo/ (stock `flwr run`), num-server-rounds={args.rounds}, fraction-fit=1.0, "
        f"fraction-evaluate=1.0, local-epochs=1, batch 32, SGD lr {args.lr} momentum 0.9, seed 42; "
        f"{args.threads} libtorch thread(s) per ClientApp, both nodes on this machine.",
        f"- Same libtorch for both: Debian 1.13.1 (`libtorch-dev` / `python3-torch`); flwr "
        f"{(REPO / 'flower-version.txt').read_text().strip()}.",
        f"- Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, load average {load[0]:.2f} at the end.",
        "",
        "| runtime | " + " | ".join(f"round {i} s" for i in range(1, args.rounds + 1))
        + " | median s/round | whole run s (`flwr run` to finished) | final eval accuracy | final eval loss |",
        "|---|" + "---:|" * (args.rounds + 4),
    ]
    for kind in ("python", "cpp"):
        lines.append(
            f"| {LABELS[kind]} | " + " | ".join(f"{med_round(kind, i):.2f}" for i in range(1, args.rounds + 1))
            + f" | {med_all(kind):.2f} | {statistics.median(run['total_s'] for run in of(kind)):.1f}"
            + f" | {', '.join(f'{a:.3f}' for a in finals(kind, 'eval_acc'))}"
            + f" | {', '.join(f'{a:.3f}' for a in finals(kind, 'eval_loss'))} |")
    speedup = med_all("python") / med_all("cpp")
    acc_py, acc_cpp = statistics.mean(finals("python", "eval_acc")), statistics.mean(finals("cpp", "eval_acc"))
    lines += [
        "",
        f"Wall time per round: C++ {speedup:.2f}x faster (median). Final accuracy: Python {acc_py:.3f}, "
        f"C++ {acc_cpp:.3f} (mean of the runs; difference {acc_cpp - acc_py:+.3f}).",
        "",
        "Accuracy and loss per round (every run): `bench/results/rounds.svg`.",
        "",
        "![accuracy and loss per round](rounds.svg)",
        "",
        "Raw per-run history (from each ServerApp's history.json):",
        "",
        "```json",
        json.dumps(runs, indent=None),
        "```",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    title = (f"{args.rounds} rounds x {args.nodes} nodes, "
             f"{'SYNTHETIC CIFAR-format data' if synthetic else 'CIFAR-10'}, lr {args.lr}")
    plot(runs, args.out.with_suffix(".svg"), title)
    print(f"wrote {args.out} and {args.out.with_suffix('.svg')}")


if __name__ == "__main__":
    main()
