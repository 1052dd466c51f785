#!/usr/bin/env python3
"""Deflate + object IDs of a float32 ArrayRecord: C++ flwr::core vs stock Python flwr.

Both sides run on this machine in this run, on a record of the same shape (--arrays
float32 arrays, --mb MB of values in total, random values):

* Python: exactly what flwr's runtime does before it pushes a message's objects
  (flwr/supernode/start_client_internal.py, flwr/superlink/servicer/runtime/
  runtime_handlers.py): under ``no_object_id_recompute()``, ``get_all_nested_objects``
  then ``deflate()`` of every object. Each repeat gets a fresh ArrayRecord with fresh
  Array objects (flwr caches chunk IDs on Array objects), built outside the timed region.
* C++: build/bench/bench_deflate (flwr::core::DeflateArrayRecord), run as a subprocess.
* Physical limit: single-core SHA-256 throughput from ``openssl speed``, and that times
  the number of usable cores (the C++ side may hash chunks in parallel).

Usage: bench/bench_deflate.py [--mb 100] [--arrays 10] [--repeats 5] [--cpp-bin PATH]
                              [--out bench/results/deflate.md]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.metadata
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord
from flwr.supercore.inflatable.inflatable_object import (
    get_all_nested_objects,
    no_object_id_recompute,
)

REPO_ROOT = Path(os.path.abspath(__file__)).parent.parent
OPENSSL_CMD = ["openssl", "speed", "-evp", "sha256", "-bytes", "16384", "-seconds", "2"]


@dataclass
class Row:
    """One line of the results table: an implementation and its timings in seconds."""

    name: str
    median_s: float
    best_s: float


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mb", type=float, default=100, help="MB (1e6 bytes) of float32 values")
    parser.add_argument("--arrays", type=int, default=10, help="number of arrays in the record")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per side")
    parser.add_argument(
        "--cpp-bin",
        type=Path,
        default=REPO_ROOT / "build" / "bench" / "bench_deflate",
        help="C++ benchmark binary (default: build/bench/bench_deflate)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "bench" / "results" / "deflate.md",
        help="Markdown report to write (default: bench/results/deflate.md)",
    )
    args = parser.parse_args()
    if args.mb <= 0 or args.arrays <= 0 or args.repeats <= 0:
        parser.error("--mb, --arrays and --repeats must be positive")
    return args


def make_ndarrays(mb: float, arrays: int) -> list[np.ndarray]:
    """Return `arrays` random float32 arrays of mb*1e6/4/arrays elements each."""
    rng = np.random.default_rng(42)
    size = int(mb * 1e6 / 4 / arrays)
    return [rng.uniform(-1, 1, size).astype(np.float32) for _ in range(arrays)]


def make_record(ndarrays: list[np.ndarray]) -> ArrayRecord:
    """Build a fresh ArrayRecord (fresh Array objects) named layer0..layerN-1."""
    record = ArrayRecord()
    for i, ndarray in enumerate(ndarrays):
        record[f"layer{i}"] = Array(ndarray)
    return record


def deflate_all(record: ArrayRecord) -> dict[str, bytes]:
    """Compute every object's ID and content, as flwr's runtime does before a push."""
    with no_object_id_recompute():
        objs = get_all_nested_objects(record)
        return {oid: o.deflate() for oid, o in objs.items()}


def bench_python(mb: float, arrays: int, repeats: int) -> tuple[list[float], int, int]:
    """Time deflate_all on fresh records; return (seconds, object count, content bytes)."""
    ndarrays = make_ndarrays(mb, arrays)
    seconds = []
    objects = content_bytes = 0
    for _ in range(repeats):
        record = make_record(ndarrays)
        gc.collect()
        start = time.perf_counter()
        contents = deflate_all(record)
        seconds.append(time.perf_counter() - start)
        objects = len(contents)
        content_bytes = sum(len(c) for c in contents.values())
        del record, contents
    return seconds, objects, content_bytes


def cpp_command(args: argparse.Namespace) -> list[str]:
    """Return the command line that runs the C++ benchmark."""
    return [
        str(args.cpp_bin),
        "--mb", f"{args.mb:g}",
        "--arrays", str(args.arrays),
        "--repeats", str(args.repeats),
    ]  # fmt: skip


def bench_cpp(args: argparse.Namespace) -> dict:
    """Run the C++ benchmark binary and return its parsed JSON line."""
    proc = subprocess.run(cpp_command(args), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"error: {args.cpp_bin} exited {proc.returncode}: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def sha256_bytes_per_s() -> float:
    """Return single-core SHA-256 throughput (bytes/s) for 16384-byte blocks via openssl."""
    try:
        proc = subprocess.run(OPENSSL_CMD, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        sys.exit(f"error: `{shlex.join(OPENSSL_CMD)}` failed: {err}")
    match = re.search(r"^sha256\s+([\d.]+)k\s*$", proc.stdout, re.MULTILINE)
    if not match:
        sys.exit(f"error: no sha256 line in the output of `{shlex.join(OPENSSL_CMD)}`")
    return float(match.group(1)) * 1000


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def table(rows: list[Row], mb: float, markdown: bool) -> str:
    """Render the rows as an aligned plain-text or Markdown table."""
    python_median = rows[0].median_s
    header = ["implementation", "median s", "best s", "MB/s (median)", "vs Python"]
    cells = [
        [
            r.name,
            f"{r.median_s:.4f}",
            f"{r.best_s:.4f}",
            f"{mb / r.median_s:.0f}",
            f"{python_median / r.median_s:.1f}x",
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]

    def fmt(line: list[str]) -> str:
        padded = [c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    lines = [fmt(header), rule if markdown else rule.replace(":", "-")]
    return "\n".join(lines + [fmt(c) for c in cells])


def goal_lines(rows: list[Row]) -> str:
    """Return the two goal lines: C++ vs Python speed-up and C++ vs 1-core SHA-256 time."""
    python, cpp, sha_1core = rows[0], rows[1], rows[2]
    speedup = python.median_s / cpp.median_s
    vs_sha = cpp.median_s / sha_1core.median_s
    speedup_met = "met" if speedup >= 5 else "NOT met"
    vs_sha_met = "met" if vs_sha <= 2 else "NOT met"
    return (
        f"C++ / Python speed-up: {speedup:.1f}x (goal >= 5x, {speedup_met})\n"
        f"C++ time / 1-core SHA-256 time: {vs_sha:.1f}x (goal <= 2x, {vs_sha_met})"
    )


def display_path(path: Path) -> str:
    """Return path relative to the repo root when it lies inside it."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def write_markdown(args: argparse.Namespace, rows: list[Row], notes: str, cores: int) -> None:
    """Write the results table and the run's context to args.out."""
    command = shlex.join(
        [display_path(Path(sys.executable)), display_path(Path(__file__)), *sys.argv[1:]]
    )
    report = f"""# Deflate + object IDs of a {args.mb:g} MB float32 ArrayRecord

- Date: {datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
- Machine: nproc = {cores}, CPU: {cpu_model()}
- flwr {importlib.metadata.version("flwr")}, numpy {np.__version__}
- Command: `{command}`
- C++ command: `{shlex.join([display_path(args.cpp_bin), *cpp_command(args)[1:]])}`
- SHA-256 limit: `{shlex.join(OPENSSL_CMD)}`, time to hash all object content once

{table(rows, args.mb, markdown=True)}

{notes}
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)


def main() -> None:
    """Run both sides and the SHA-256 limit, print the table, write the Markdown report."""
    args = parse_args()
    if not args.cpp_bin.is_file():
        sys.exit(
            f"error: C++ benchmark binary not found: {args.cpp_bin}"
            " (build it: ninja -C build bench_deflate)"
        )
    cores = len(os.sched_getaffinity(0))

    sha_rate = sha256_bytes_per_s()
    cpp = bench_cpp(args)
    py_seconds, py_objects, content_bytes = bench_python(args.mb, args.arrays, args.repeats)
    if cpp["objects"] != py_objects:
        sys.exit(f"error: object count differs: C++ {cpp['objects']}, Python {py_objects}")

    sha_1core = content_bytes / sha_rate
    cpp_seconds = cpp["seconds"]
    rows = [
        Row(
            f"Python flwr {importlib.metadata.version('flwr')}",
            statistics.median(py_seconds),
            min(py_seconds),
        ),
        Row("C++ flwr::core", statistics.median(cpp_seconds), min(cpp_seconds)),
        Row("SHA-256 limit (1 core)", sha_1core, sha_1core),
        Row(f"SHA-256 limit ({cores} cores)", sha_1core / cores, sha_1core / cores),
    ]
    notes = (
        f"{goal_lines(rows)}\n"
        f"Objects: {py_objects} on both sides ({content_bytes} bytes of content); "
        f"{args.repeats} repeats each; MB/s = {args.mb:g} MB of values / time.\n"
        f"Python seconds: {', '.join(f'{t:.4f}' for t in py_seconds)}\n"
        f"C++ seconds: {', '.join(f'{t:.4f}' for t in cpp_seconds)}\n"
        f"SHA-256 (openssl, 16384-byte blocks): {sha_rate / 1e6:.0f} MB/s per core; "
        f"the {cores}-core row assumes perfect parallel hashing."
    )
    print(table(rows, args.mb, markdown=False))
    print(notes)
    write_markdown(args, rows, notes.replace("\n", "  \n"), cores)
    print(f"wrote {display_path(args.out)}")


if __name__ == "__main__":
    main()
