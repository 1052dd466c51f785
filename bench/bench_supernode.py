#!/usr/bin/env python3
"""Python SuperNode vs ours, side by side in one run.

Both SuperNodes (the stock ``flower-supernode`` of the pinned flwr in .venv and our
build/supernode/flower-supernode) run on this machine in this run, against the same C++
SuperLink, with the same app (tests/apps/native_numpy_app) and the same ClientApp executable:
our native ``flwr-clientapp`` (numpy-echo), which the stock SuperNode's ``flower-superexec``
child finds first in PATH and ours starts itself. So the ClientApp costs the same for both and
what differs is the SuperNode runtime. Everything binds to 127.0.0.1.

"Node" memory is the SuperNode's own process tree without ClientApps: for the stock SuperNode
that is ``flower-supernode`` plus its ``flower-superexec`` child (the stock node needs both to
run apps); for ours the one process (its launcher is built in). Read from /proc: VmRSS (resident),
RssAnon (private, what each extra node really costs) and VmHWM (peak).

1. Idle: one node of each kind, registered and idle for a few seconds: VmRSS and RssAnon.
2. In a round: the same nodes train R rounds of a float32 array of --array-mb MB: the node
   trees' peak RSS (VmHWM) and wall time per round.
3. Capacity: for each N in --nodes, N nodes of one kind; a run of 5 rounds that needs all N
   (min-available-nodes = N). A node is started only while MemAvailable stays above
   --reserve-gib; the result is whether all N started and the run completed, the start-up time,
   the total node RSS and the time per round.

Usage: bench/bench_supernode.py [--nodes 10,50,200] [--rounds 5] [--array-mb 4]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(os.path.abspath(__file__)).parent.parent
APP_DIR = REPO_ROOT / "tests" / "apps" / "native_numpy_app"
LABELS = {"python": "Python", "cpp": "C++"}

sys.path.insert(0, str(REPO_ROOT / "tests" / "interop"))
from harness import (  # noqa: E402
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


def status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def node_tree(pid: int) -> list[int]:
    """The SuperNode process and its flower-superexec child (never ClientApps)."""
    return [pid] + [c for c in children(pid) if "flower-superexec" in cmdline(c)]


def tree_kib(pid: int, key: str) -> int:
    return sum(status_kib(p, key) for p in node_tree(pid))


def mem_available_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return 0.0


class Bench:
    def __init__(self, build_dir: Path, work: Path):
        self.build_dir = build_dir
        self.work = work
        self.native_bin = work / "native-bin"
        self.native_bin.mkdir(parents=True, exist_ok=True)
        clientapp = build_dir / "clientapp" / "cli" / "flwr-clientapp"
        if not clientapp.exists():
            raise SystemExit(f"{clientapp} is missing: build the native ClientApp first")
        (self.native_bin / "flwr-clientapp").symlink_to(clientapp)

    def federation(self, name: str):
        home = self.work / name / "flwr_home"
        env = base_env(home)
        # The stock SuperExec runs `flwr-clientapp` from PATH: ours, as our SuperNode does.
        env["PATH"] = f"{self.native_bin}:{env['PATH']}"
        ports = Ports()
        write_cli_config(home, ports.control_for())
        logs = self.work / name
        logs.mkdir(parents=True, exist_ok=True)
        procs = Processes(logs, env)
        link = procs.start("superlink", superlink_argv("cpp", ports, ":flwr-in-memory:", self.build_dir / "superlink/flower-superlink"))
        wait_for_superlink(ports, link)
        return procs, env, ports

    def start_node(self, procs, ports, kind: str, i: int, n: int):
        argv = supernode_argv(ports.fleet_for(), free_port(), f"partition-id={i} num-partitions={n}", kind=kind, build_dir=self.build_dir)
        return procs.start(f"{kind}-node{i}", argv)

    def app_copy(self, name: str) -> Path:
        dst = self.work / name / "app"
        if not dst.exists():
            shutil.copytree(APP_DIR, dst, ignore=shutil.ignore_patterns("__pycache__"))
        return dst

    def run(self, procs, env, app: Path, nodes: int, rounds: int, array_size: int, timeout: float) -> tuple[str, list[float], float]:
        """Start a run, follow it; returns (status, per-round times from the log stream, total s)."""
        config = f"num-server-rounds={rounds} min-available-nodes={nodes} array-size={array_size} fraction-train=1.0 fraction-evaluate=0.0"
        started = time.monotonic()
        result = flwr(env, "run", str(app), "--run-config", config, "--format", "json", timeout=120)
        if result.returncode != 0:
            return f"flwr run failed: {result.stdout[-300:]} {result.stderr[-300:]}", [], 0.0
        run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)
        stamps: list[float] = []
        proc = subprocess.Popen([str(Path(sys.executable).parent / "flwr"), "log", run_id, "--stream"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        try:
            for raw in proc.stdout:
                if re.search(rb"\[ROUND \d+", raw):
                    stamps.append(time.monotonic())
                if time.monotonic() > deadline:
                    break
        finally:
            proc.kill()
            proc.wait()
        status = "timeout"
        while time.monotonic() < deadline:
            run = next((r for r in list_runs(env) if r["run-id"] == run_id), None)
            if run and run["status"].startswith("finished"):
                status = run["status"]
                break
            time.sleep(1)
        total = time.monotonic() - started
        per_round = [b - a for a, b in zip(stamps, stamps[1:])]
        return status, per_round, total


def median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="10,50,200")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--array-mb", type=float, default=4.0)
    parser.add_argument("--reserve-gib", type=float, default=3.0)
    parser.add_argument("--run-timeout", type=float, default=900)
    parser.add_argument("--build-dir", default=os.environ.get("FLWR_BUILD_DIR", str(REPO_ROOT / "build")))
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "supernode.md"))
    parser.add_argument("--skip-capacity", action="store_true")
    parser.add_argument("--skip-pair", action="store_true", help="skip the one-node-of-each-kind part")
    parser.add_argument("--kinds", default="python,cpp", help="SuperNode kinds for the capacity part")
    args = parser.parse_args()
    node_counts = [int(x) for x in args.nodes.split(",") if x]
    work = Path(tempfile.mkdtemp(prefix="bench_supernode_"))
    bench = Bench(Path(args.build_dir), work)
    lines: list[str] = []

    def out(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    load = os.getloadavg()
    out("# SuperNode: stock Python vs C++, same SuperLink, same native ClientApp")
    out()
    out(f"- Date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}")
    out(f"- Machine: nproc = {os.cpu_count()}, {platform.machine()}, MemAvailable {mem_available_gib():.1f} GiB at start; "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    out(f"- Command: `{' '.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}`")
    out("- SuperLink: ours (in memory). App: tests/apps/native_numpy_app (native numpy-fedavg ServerApp, "
        "native numpy-echo ClientApp for both SuperNode kinds).")
    out("- Node memory = the SuperNode process tree without ClientApps (stock: flower-supernode + its "
        "flower-superexec child; ours: one process).")
    out()

    # 1 + 2: one node of each kind, idle then in rounds.
    array_size = int(args.array_mb * 2**20 / 4)
    if args.skip_pair:
        pass
    else:
        pair(bench, args, array_size, out)
    capacity(bench, args, node_counts, out)
    Path(args.out).write_text("\n".join(lines) + "\n")


def pair(bench: Bench, args, array_size: int, out) -> None:
    procs, env, ports = bench.federation("pair")
    try:
        nodes = {kind: bench.start_node(procs, ports, kind, i, 2) for i, kind in enumerate(("python", "cpp"))}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
            "SuperNode ID" in procs.log(f"{k}-node{i}") for i, k in enumerate(("python", "cpp"))
        ):
            time.sleep(0.5)
        time.sleep(8)  # the stock SuperExec child starts after registration
        idle = {k: (tree_kib(p.pid, "VmRSS"), tree_kib(p.pid, "RssAnon")) for k, p in nodes.items()}
        status, per_round, _ = bench.run(procs, env, bench.app_copy("pair"), 2, args.rounds, array_size, args.run_timeout)
        peak = {k: tree_kib(p.pid, "VmHWM") for k, p in nodes.items()}
    finally:
        procs.stop_all_at_once()
    out("## One node of each kind")
    out()
    out(f"| metric | Python | C++ | Python/C++ |")
    out(f"|---|---:|---:|---:|")
    for label, idx in (("idle VmRSS (MiB)", 0), ("idle RssAnon (MiB)", 1)):
        py, cpp = idle["python"][idx] / 1024, idle["cpp"][idx] / 1024
        out(f"| {label} | {py:.1f} | {cpp:.1f} | {py / cpp:.1f}x |")
    py, cpp = peak["python"] / 1024, peak["cpp"] / 1024
    out(f"| peak VmHWM over {args.rounds} rounds of a {args.array_mb:g} MB array (MiB) | {py:.1f} | {cpp:.1f} | {py / cpp:.1f}x |")
    out()
    out(f"Run status: {status}; median round {median(per_round):.2f} s (both nodes in every round).")
    out()



def capacity(bench: Bench, args, node_counts: list[int], out) -> None:
    if args.skip_capacity:
        return
    out(f"## Capacity: N nodes of one kind, {args.rounds} rounds needing all N (array 1000 floats)")
    out()
    out("| N | kind | nodes started | start-up (s) | node RSS total (MiB) | node RssAnon total (MiB) | run | median round (s) |")
    out("|---:|---|---:|---:|---:|---:|---|---:|")
    best = {"python": 0, "cpp": 0}
    for n in node_counts:
        for kind in args.kinds.split(","):
            name = f"{kind}-{n}"
            procs, env, ports = bench.federation(name)
            try:
                t0 = time.monotonic()
                started = []
                for i in range(n):
                    if mem_available_gib() < args.reserve_gib:
                        break
                    started.append(bench.start_node(procs, ports, kind, i, n))
                    if kind == "python":
                        time.sleep(0.3)  # let CPython start-ups spread out
                # Wait for registration (and the stock SuperExec children).
                deadline = time.monotonic() + max(120, 3 * n)
                while time.monotonic() < deadline:
                    up = sum("SuperNode ID" in procs.log(f"{kind}-node{i}") for i in range(len(started)))
                    if up == len(started):
                        break
                    time.sleep(1)
                startup = time.monotonic() - t0
                time.sleep(5)
                rss = sum(tree_kib(p.pid, "VmRSS") for p in started) / 1024
                anon = sum(tree_kib(p.pid, "RssAnon") for p in started) / 1024
                if len(started) < n:
                    status, per_round = f"not run: memory for {len(started)} nodes only", []
                else:
                    status, per_round, _ = bench.run(procs, env, bench.app_copy(name), n, args.rounds, 1000, args.run_timeout)
                if status == "finished:completed":
                    best[kind] = max(best[kind], n)
                out(f"| {n} | {LABELS[kind]} | {len(started)} | {startup:.0f} | {rss:.0f} | {anon:.0f} | {status} | {median(per_round):.2f} |")
            finally:
                procs.stop_all_at_once()
    out()
    out(f"Most nodes that completed {args.rounds} rounds here: Python {best['python']}, C++ {best['cpp']} "
        f"(capped by the N tried).")


if __name__ == "__main__":
    main()
