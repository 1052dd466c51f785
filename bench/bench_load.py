#!/usr/bin/env python3
"""Load on the SuperLink: a 1 GB model to 4 SuperNodes and back, and 500 SuperNodes.

Two parts, each on a private federation on 127.0.0.1 (ports from the kernel), driven by the
stock `flwr` CLI of the primary line, with our C++ SuperNodes (`--isolation subprocess`) and the
native apps of tests/apps/native_numpy_app (numpy-fedavg ServerApp, numpy-echo ClientApp), so
that the machine's memory and CPU go to the SuperLink under test rather than to app processes:

1. **Model** (`--model-gb`, `--model-nodes`, `--model-rounds`): one float32 array of that size
   (random values, through the native `fedavg` ServerApp),
   trained by every node each round (fraction-train 1, no evaluation). The SuperLink's VmRSS is
   sampled every 0.1 s from /proc. Reported: idle RSS before the run, the peak (VmHWM), the
   lowest RSS between rounds, and the RSS once the run is finished and its objects delivered.
   Ours and the stock SuperLink (`--model-impls`) run the same thing, one after the other.
2. **Nodes** (`--nodes`, `--rounds`): N C++ SuperNodes, a run of R rounds that needs all N
   (min-available-nodes = N). Reported per round: the results and failures the ServerApp's
   FedAvg logs (`aggregate_train: Received X results and Y failures`), and the failures that
   are "Node Unavailable" replies (the SuperLink answering for a node it takes for offline).
   Goal: zero failures of any kind.

Usage: bench/bench_load.py [--model-gb 1] [--model-nodes 4] [--nodes 500] [--rounds 5]
                           [--skip-model] [--skip-nodes] [--out bench/results/load.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(os.path.abspath(__file__)).parent.parent
APP_DIR = REPO_ROOT / "tests" / "apps" / "native_numpy_app"
LABELS = {"python": "Python", "cpp": "C++"}
AGGREGATE_LINE = re.compile(r"aggregate_train: Received (\d+) results and (\d+) failures")
UNAVAILABLE_LINE = re.compile(r"Received error in reply from node \d+: .*Node Unavailable")

sys.path.insert(0, str(REPO_ROOT / "tests" / "interop"))
from harness import (  # noqa: E402
    PRIMARY,
    Ports,
    Processes,
    base_env,
    flwr,
    free_port,
    list_runs,
    superlink_argv,
    supernode_argv,
    wait_for_superlink,
    write_cli_config,
)


class BenchError(RuntimeError):
    """A measurement that could not be taken."""


def status_kib(pid: int, key: str) -> int:
    """Return a /proc/PID/status field in KiB (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


class RssSampler:
    """Samples a process's VmRSS every `period` seconds on a thread."""

    def __init__(self, pid: int, period: float = 0.1) -> None:
        self.pid, self.period = pid, period
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), status_kib(self.pid, "VmRSS")))
            self._stop.wait(self.period)

    def between(self, start: float, end: float) -> list[int]:
        """Return the samples taken in [start, end]."""
        return [kib for t, kib in self.samples if start <= t <= end]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Federation:
    """A SuperLink (ours or stock) with C++ SuperNodes, driven by the stock CLI."""

    def __init__(self, impl: str, work: Path, build_dir: Path) -> None:
        self.impl, self.work, self.build_dir = impl, work, build_dir
        work.mkdir(parents=True, exist_ok=True)
        self.env = base_env(work / "flwr_home")
        if impl == "python":
            # The stock SuperLink's flower-superexec runs `flwr-serverapp` from PATH: our native
            # one, as our SuperLink runs it, so that both serve the same ServerApp.
            native_bin = work / "native-bin"
            native_bin.mkdir()
            (native_bin / "flwr-serverapp").symlink_to(build_dir / "serverapp" / "flwr-serverapp")
            self.env["PATH"] = f"{native_bin}:{self.env['PATH']}"
        self.ports = Ports()
        write_cli_config(work / "flwr_home", self.ports.control_for(PRIMARY))
        self.procs = Processes(work, self.env)
        self.superlink: subprocess.Popen | None = None
        self.app = work / "app"
        shutil.copytree(APP_DIR, self.app, ignore=shutil.ignore_patterns("__pycache__"))

    def __enter__(self) -> "Federation":
        binary = self.build_dir / "superlink" / "flower-superlink"
        argv = superlink_argv(self.impl, self.ports, ":flwr-in-memory:", binary, PRIMARY)
        self.superlink = self.procs.start("superlink", argv)
        wait_for_superlink(self.ports, self.superlink, PRIMARY)
        return self

    def __exit__(self, *exc: object) -> None:
        self.procs.stop_all_at_once()

    def fail(self, what: str) -> BenchError:
        tail = self.procs.log("superlink")[-3000:]
        return BenchError(f"{LABELS[self.impl]} SuperLink: {what}\nlogs: {self.work}\n{tail}")

    def start_node(self, i: int, count: int, attempt: int = 0) -> subprocess.Popen:
        argv = supernode_argv(self.ports.fleet_for(PRIMARY), free_port(),
                              f"partition-id={i} num-partitions={count}", kind="cpp",
                              build_dir=self.build_dir, line=PRIMARY)
        return self.procs.start(f"node{i}" + (f"-retry{attempt}" if attempt else ""), argv)

    def start_nodes(self, count: int, timeout: float, port_retries: int = 3) -> float:
        """Start `count` C++ SuperNodes; return seconds until `flwr supernode list` shows all
        of them online. A node whose Runtime API port was taken between free_port() and its
        bind (hundreds of processes open connections meanwhile) starts again on a new port."""
        start = time.monotonic()
        nodes = [self.start_node(i, count) for i in range(count)]
        retries = [0] * count
        while self.online_nodes() < count:
            for i, proc in enumerate(nodes):
                if proc.poll() is None:
                    continue
                name = f"node{i}" + (f"-retry{retries[i]}" if retries[i] else "")
                if "cannot listen" not in self.procs.log(name) or retries[i] == port_retries:
                    raise self.fail(f"SuperNode {i} exited with {proc.returncode}: "
                                    f"{self.procs.log(name)[-500:]}")
                retries[i] += 1
                nodes[i] = self.start_node(i, count, retries[i])
            if time.monotonic() - start > timeout:
                raise self.fail(f"{self.online_nodes()} of {count} nodes online after {timeout:.0f}s")
            time.sleep(1.0)
        return time.monotonic() - start

    def online_nodes(self) -> int:
        result = flwr(self.env, "supernode", "list", "--format", "json", timeout=120)
        if result.returncode != 0:
            raise self.fail(f"`flwr supernode list` exited {result.returncode}: {result.stdout}")
        import json  # noqa: PLC0415

        return sum(1 for n in json.loads(result.stdout)["nodes"] if n["status"] == "online")

    def run(self, config: str, timeout: float) -> tuple[str, list[tuple[float, str]], dict]:
        """Submit a run and follow its log to the end; return (run id, timestamped log lines,
        the run's `flwr ls` entry once finished)."""
        result = flwr(self.env, "run", str(self.app), "--run-config", config, "--format", "json",
                      timeout=300)
        match = re.search(r'"run-id": "(\d+)"', result.stdout)
        if result.returncode != 0 or not match:
            raise self.fail(f"`flwr run` failed: {result.stdout[-500:]} {result.stderr[-500:]}")
        run_id = match[1]
        proc = subprocess.Popen([str(PRIMARY.venv_bin / "flwr"), "log", run_id, "--stream"],
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace")
        lines: list[tuple[float, str]] = []
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            for text in proc.stdout:
                lines.append((time.monotonic(), text))
        finally:
            timer.cancel()
            proc.kill()
            proc.wait()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run = next((r for r in list_runs(self.env) if r["run-id"] == run_id), None)
            if run and run["status"].startswith("finished"):
                return run_id, lines, run
            time.sleep(1.0)
        raise self.fail(f"run {run_id} not finished {timeout:.0f}s after it started")


# ------------------------------------------------------------------------------------------
# 1. The model


@dataclass
class ModelResult:
    impl: str
    status: str
    idle_mib: float
    peak_mib: float  # VmHWM at the end
    between_rounds_mib: float  # the lowest sample between the first and last round lines
    after_mib: float  # once the run is finished and the objects delivered
    round_s: list[float]
    traffic_mb: float
    superlink_cpu_s: float  # over the run


def random_model(path: Path, gigabytes: float) -> Path:
    """Write an .npz of one float32 array of random values (every 5 MiB chunk distinct, so
    that no object is stored once for many, as an all-zero model would be), once."""
    if not path.exists():
        import numpy as np  # noqa: PLC0415

        values = np.random.default_rng(0).random(int(gigabytes * 1e9 / 4), dtype=np.float32)
        np.savez(path, w=values)
    return path


def measure_model(impl: str, args: argparse.Namespace, work: Path) -> ModelResult:
    model = random_model(work.parent / "model.npz", args.model_gb)
    config = (f"num-server-rounds={args.model_rounds} min-available-nodes={args.model_nodes} "
              f"initial-arrays='{model}' fraction-train=1.0 fraction-evaluate=0.0 "
              f"artifacts-dir='{work / 'artifacts'}'")
    with Federation(impl, work, args.build_dir) as fed:
        # The native "fedavg" ServerApp starts from `initial-arrays` (numpy-fedavg from zeros).
        pyproject = fed.app / "pyproject.toml"
        text = pyproject.read_text().replace('serverapp = "numpy-fedavg"', 'serverapp = "fedavg"')
        pyproject.write_text(text.replace("[tool.flwr.app.config]\n",
                                          '[tool.flwr.app.config]\ninitial-arrays = ""\n'))
        fed.start_nodes(args.model_nodes, args.nodes_timeout)
        pid = fed.superlink.pid
        time.sleep(args.settle)
        idle = status_kib(pid, "VmRSS")
        sampler = RssSampler(pid)
        cpu = cpu_seconds(pid)
        try:
            submitted = time.monotonic()
            _, lines, run = fed.run(config, args.run_timeout)
            cpu = cpu_seconds(pid) - cpu
            time.sleep(args.settle)
            after = status_kib(pid, "VmRSS")
        finally:
            sampler.stop()
        peak = status_kib(pid, "VmHWM")
        rounds = [t for t, text in lines if AGGREGATE_LINE.search(text)]
        if run["status"] != "finished:completed" or len(rounds) != args.model_rounds:
            raise fed.fail(f"run ended {run['status']} with {len(rounds)} rounds aggregated")
        return ModelResult(
            impl=impl,
            status=run["status"],
            idle_mib=idle / 1024,
            peak_mib=peak / 1024,
            between_rounds_mib=min(sampler.between(rounds[0], rounds[-1]), default=0) / 1024,
            after_mib=after / 1024,
            round_s=round_times(submitted, rounds),
            traffic_mb=int(run["network-traffic"]["total-bytes"]) / 1e6,
            superlink_cpu_s=cpu,
        )


# ------------------------------------------------------------------------------------------
# 2. Many nodes


@dataclass
class NodesResult:
    nodes: int
    status: str
    online_s: float
    rounds: list[tuple[int, int, int]] = field(default_factory=list)  # results, failures, unavailable
    round_s: list[float] = field(default_factory=list)
    superlink_hwm_mib: float = 0.0
    superlink_cpu_s: float = 0.0


def round_times(submitted: float, ends: list[float]) -> list[float]:
    """Return each round's wall time: from the previous round's end (the first: from `flwr
    run`, so it includes the ServerApp's start-up) to its `aggregate_train` line."""
    return [b - a for a, b in zip([submitted, *ends], ends)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_nodes(args: argparse.Namespace, work: Path) -> NodesResult:
    config = (f"num-server-rounds={args.rounds} min-available-nodes={args.nodes} "
              f"array-size={args.array_size} fraction-train=1.0 fraction-evaluate=0.0 "
              f"artifacts-dir='{work / 'artifacts'}'")
    with Federation("cpp", work, args.build_dir) as fed:
        online = fed.start_nodes(args.nodes, args.nodes_timeout)
        time.sleep(args.settle)
        pid = fed.superlink.pid
        cpu = cpu_seconds(pid)
        submitted = time.monotonic()
        _, lines, run = fed.run(config, args.run_timeout)
        result = NodesResult(args.nodes, run["status"], online)
        result.superlink_cpu_s = cpu_seconds(pid) - cpu
        result.superlink_hwm_mib = status_kib(pid, "VmHWM") / 1024
        unavailable = 0
        ends = []
        for t, text in lines:
            if UNAVAILABLE_LINE.search(text):
                unavailable += 1
            if match := AGGREGATE_LINE.search(text):
                result.rounds.append((int(match[1]), int(match[2]), unavailable))
                unavailable = 0
                ends.append(t)
        result.round_s = round_times(submitted, ends)
        (work / "serverapp.log").write_text("".join(text for _, text in lines))
        return result


# ------------------------------------------------------------------------------------------
# Report


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(args: argparse.Namespace, model: list[ModelResult], nodes: NodesResult | None,
           failures: list[str], started: str) -> str:
    parts = ([f"a {args.model_gb:g} GB model to {args.model_nodes} SuperNodes"] if model else []) + (
        [f"{args.nodes} SuperNodes"] if nodes else [])
    out = [f"# Load: {' and '.join(parts) or 'nothing measured'}", ""]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    out += [f"- Date: {started}; machine: nproc = {os.cpu_count()}, {platform.machine()}; "
            f"load average at the end: {load}",
            f"- flwr {PRIMARY.version} (stock CLI; stock SuperLink for the Python column); our "
            "SuperLink, SuperNodes (HTTP Fleet, `--isolation subprocess`) and native apps from "
            "build/: the ServerApp `fedavg` (model part: from a random float32 `initial-arrays` "
            ".npz) or `numpy-fedavg` (nodes part), the ClientApp `numpy-echo` (replies every "
            "array + 1: the nodes' replies are alike, so a content-addressed object store, "
            "ours as stock's, keeps one copy of them while the transfers still move each)",
            f"- Command: `{' '.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}`", ""]
    if model:
        out += [f"## {args.model_gb:g} GB model, {args.model_nodes} C++ SuperNodes, "
                f"{args.model_rounds} rounds (train only)", ""]
        rows = []
        for m in model:
            rows.append([LABELS[m.impl], m.status, f"{m.idle_mib:.0f}", f"{m.peak_mib:.0f}",
                         f"{m.between_rounds_mib:.0f}", f"{m.after_mib:.0f}",
                         " / ".join(f"{s:.0f}" for s in m.round_s), f"{m.superlink_cpu_s:.1f}",
                         f"{m.traffic_mb:.0f}"])
        out += [table(["SuperLink", "run", "idle RSS (MiB)", "peak RSS, VmHWM (MiB)",
                       "lowest RSS between rounds (MiB)", "RSS after the run (MiB)",
                       "round wall (s)", "SuperLink CPU, run (s)", "traffic (MB)"], rows), ""]
        byimpl = {m.impl: m for m in model}
        if {"python", "cpp"} <= byimpl.keys():
            out += [f"- Peak RSS Python/C++: {byimpl['python'].peak_mib / byimpl['cpp'].peak_mib:.1f}x", ""]
    if nodes:
        total = sum(r[0] for r in nodes.rounds)
        failed = sum(r[1] for r in nodes.rounds)
        out += [f"## {nodes.nodes} C++ SuperNodes, {args.rounds} rounds needing all of them "
                f"(array {args.array_size} floats)", "",
                f"- Run: {nodes.status}; all {nodes.nodes} online {nodes.online_s:.0f} s after "
                f"the first started; SuperLink CPU over the run {nodes.superlink_cpu_s:.1f} s, "
                f"peak RSS {nodes.superlink_hwm_mib:.0f} MiB", ""]
        rows = [[str(i + 1), str(r[0]), str(r[1]), str(r[2]),
                 f"{nodes.round_s[i]:.0f}" if i < len(nodes.round_s) else "—"]
                for i, r in enumerate(nodes.rounds)]
        out += [table(["round", "results", "failures", "of them Node Unavailable", "wall (s)"],
                      rows), ""]
        verdict = "met" if failed == 0 and nodes.status == "finished:completed" else "NOT met"
        out += [f"- Goal, zero failed replies: {verdict} ({total} results, {failed} failures)", ""]
    if failures:
        out += ["## Failures", ""] + [f"- {f.splitlines()[0]}" for f in failures] + [""]
    out += ["## Definitions", "",
            "- RSS: VmRSS of the SuperLink process from /proc, sampled every 0.1 s; 'idle' just "
            f"before the run ({args.settle:g} s after all nodes were online); 'after the run' "
            f"{args.settle:g} s after `flwr ls` showed it finished; peak = VmHWM.",
            "- Round wall: from the previous round's `aggregate_train` line (round 1: from "
            "`flwr run`, so with the ServerApp's start-up) to this round's, as they arrive "
            "through `flwr log --stream` (the ServerApp uploads its log every 0.2 s and the "
            "CLI polls every 0.5 s: up to ~0.7 s jitter).",
            "- Failures: the `aggregate_train: Received X results and Y failures` lines of the "
            "native FedAvg; 'Node Unavailable' counts its `Received error in reply` lines "
            "naming that error (the SuperLink's reply for a node it takes for offline)."]
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model-gb", type=float, default=1.0)
    parser.add_argument("--model-nodes", type=int, default=4)
    parser.add_argument("--model-rounds", type=int, default=2)
    parser.add_argument("--model-impls", default="cpp,python",
                        help="SuperLinks for the model part (default: cpp,python)")
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--array-size", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--nodes-timeout", type=float, default=900)
    parser.add_argument("--run-timeout", type=float, default=3600)
    parser.add_argument("--skip-model", action="store_true")
    parser.add_argument("--skip-nodes", action="store_true")
    parser.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "load.md")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the processes on the way out
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    logs = Path(tempfile.mkdtemp(prefix="bench_load_"))
    print(f"logs: {logs}", flush=True)
    failures: list[str] = []
    model: list[ModelResult] = []
    nodes: NodesResult | None = None
    if not args.skip_model:
        for impl in [i for i in args.model_impls.split(",") if i]:
            print(f"[{time.strftime('%H:%M:%S')}] {args.model_gb:g} GB model: {LABELS[impl]}", flush=True)
            try:
                model.append(measure_model(impl, args, logs / f"model-{impl}"))
                print(f"  {model[-1]}", flush=True)
            except (BenchError, subprocess.TimeoutExpired) as err:
                failures.append(f"model, {LABELS[impl]}: {err}")
                print(f"FAILED: {err}", flush=True)
    if not args.skip_nodes:
        print(f"[{time.strftime('%H:%M:%S')}] {args.nodes} nodes x {args.rounds} rounds", flush=True)
        try:
            nodes = measure_nodes(args, logs / f"nodes{args.nodes}")
            print(f"  {nodes}", flush=True)
        except (BenchError, subprocess.TimeoutExpired) as err:
            failures.append(f"nodes: {err}")
            print(f"FAILED: {err}", flush=True)
    text = report(args, model, nodes, failures, started)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}; logs in {logs}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
