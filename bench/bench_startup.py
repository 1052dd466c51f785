"""Start-up of one ClientApp task: our flwr-clientapp (numpy-echo, cifar-cnn) vs the stock
Python flwr-clientapp. Run by hand, not in CI:

    .venv/bin/python bench/bench_startup.py [--repeat 7] [--build-dir build]
                                            [--out bench/results/startup.md]

Each run starts the executable against a small fake Runtime API
(tests/apps_native/fake_runtime_api.py) that serves a FAB and one "query" instruction, as a
SuperNode's Runtime API would, and records when the first request arrives:
  start to first request  from fork/exec to the first HTTP request (the process is up)
  whole task              from start to exit (FAB, instruction, reply and task output done)
  CPU                     user + system CPU seconds of the whole process
  peak RSS                the process's VmHWM when it pushes its task output (its last call)
  private                 its Private_Clean + Private_Dirty then: the memory it does not
                          share with other processes (libraries' file pages are shared by all
                          the ClientApps of a machine)
Rows: numpy-echo and cifar-cnn (the FAB selects them; cifar-cnn loads flwr-clientapp-cnn.so
and libtorch when it gets its instruction) and the stock `.venv/bin/flwr-clientapp` (whose FAB
names a Python ClientApp it cannot import: it answers with an error reply, as ours answer the
query they do not handle). Runs interleave; the table shows medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "apps_native"))
from fake_runtime_api import TOKEN, FakeRuntimeApi, make_fab  # noqa: E402


def memory_mb(pid: int) -> tuple[float, float]:
    """VmHWM, the peak RSS of the process's own address space (the child's ru_maxrss would
    also count this benchmark's pages, shared between fork and exec), and its private memory
    now (Private_Clean + Private_Dirty: what it does not share with other processes)."""
    def kb(path: str, *keys: str) -> int:
        return sum(int(line.split()[1]) for line in Path(f"/proc/{pid}/{path}").read_text().splitlines()
                   if line.split(":")[0] in keys)
    return kb("status", "VmHWM") / 1024, kb("smaps_rollup", "Private_Clean", "Private_Dirty") / 1024


def run_once(argv: list[str], fab: bytes, env: dict[str, str]) -> dict[str, float]:
    memory: list[tuple[float, float]] = []
    proc: subprocess.Popen | None = None
    # The task output is the task's last call: memory is read then, while the process runs.
    with FakeRuntimeApi(fab, on_task_output=lambda: memory.append(memory_mb(proc.pid))) as api:
        start = time.monotonic()
        proc = subprocess.Popen(argv + ["--insecure", "--runtime-api-address", api.address, "--token", TOKEN],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        end = time.monotonic()
        proc.returncode = os.waitstatus_to_exitcode(status)
    if api.first_request_at is None or not memory:
        raise SystemExit(f"{argv[0]} did not complete its task (exit {proc.returncode}, calls {api.paths})")
    return {"first": api.first_request_at - start, "whole": end - start,
            "cpu": usage.ru_utime + usage.ru_stime, "rss": memory[0][0], "private": memory[0][1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--build-dir", type=Path, default=REPO / "build")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "startup.md")
    args = parser.parse_args()

    native = str(args.build_dir / "clientapp" / "cli" / "flwr-clientapp")
    stock = str(REPO / ".venv" / "bin" / "flwr-clientapp")
    home = tempfile.mkdtemp(prefix="bench_startup_")
    env = dict(os.environ, FLWR_HOME=home, FLWR_TELEMETRY_ENABLED="0", FLWR_DISABLE_UPDATE_CHECK="1",
               OMP_NUM_THREADS="1")
    cases = {"C++ flwr-clientapp, numpy-echo": ([native], make_fab("numpy-echo")),
             "C++ flwr-clientapp, cifar-cnn": ([native], make_fab("cifar-cnn")),
             "stock Python flwr-clientapp": ([stock], make_fab(None))}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, (argv, fab) in cases.items():
            runs[name].append(run_once(argv, fab, env))

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    echo, cnn, py = cases
    lines = [
        "# Start-up of one ClientApp task: C++ flwr-clientapp vs the stock Python one",
        "",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}; medians of {args.repeat} interleaved runs.",
        f"Command: `.venv/bin/python bench/bench_startup.py --repeat {args.repeat}`",
        "",
        "| ClientApp | start to first request (ms) | whole task (ms) | CPU (ms) | peak RSS (MB) | private (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in cases:
        lines.append(f"| {name} | {1000 * med(name, 'first'):.1f} | {1000 * med(name, 'whole'):.1f} | "
                     f"{1000 * med(name, 'cpu'):.1f} | {med(name, 'rss'):.1f} | {med(name, 'private'):.1f} |")
    first_ratio = med(py, "first") / med(echo, "first")
    rss_ratio = med(py, "rss") / med(echo, "rss")
    private_ratio = med(py, "private") / med(echo, "private")
    lines += [
        "",
        "| goal | result | met |",
        "|---|---|---|",
        f"| numpy-echo starts >= 20x faster than stock | {first_ratio:.0f}x | {'yes' if first_ratio >= 20 else 'no'} |",
        f"| numpy-echo >= 10x smaller than stock (peak RSS) | {rss_ratio:.1f}x | {'yes' if rss_ratio >= 10 else 'no'} |",
        f"| numpy-echo >= 10x smaller than stock (private memory) | {private_ratio:.1f}x | "
        f"{'yes' if private_ratio >= 10 else 'no'} |",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"ratios vs stock: numpy-echo start {first_ratio:.1f}x faster, RSS {rss_ratio:.1f}x and "
          f"private {private_ratio:.1f}x smaller; cifar-cnn start {med(py, 'first') / med(cnn, 'first'):.1f}x "
          f"faster, RSS {med(py, 'rss') / med(cnn, 'rss'):.2f}x")


if __name__ == "__main__":
    main()
