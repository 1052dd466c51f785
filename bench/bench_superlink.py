#!/usr/bin/env python3
"""Python SuperLink vs ours, same stock SuperNodes, side by side in one run.

Both SuperLinks (the stock ``flower-superlink`` of the pinned flwr in .venv and our
build/superlink/flower-superlink) run on this machine in this run, with the same stock Python
SuperNodes (``--isolation subprocess``), the same stock ``flwr-serverapp`` (started by the
stock SuperLink's ``flower-superexec`` child, by ours directly), the same stock ``flwr`` CLI and
the same app (tests/apps/numpy_app). Everything binds to 127.0.0.1 on
ports taken from the kernel; the CLI gets a private FLWR_HOME with a loopback connection.

Measurements (all "SuperLink" numbers are for the SuperLink process itself, read from /proc):

1. Idle: start-to-ready time (exec until the Fleet, Control and Runtime HTTP ports all accept
   TCP connections) and VmRSS a few seconds after start-up, once its ``flower-superexec`` child
   exists; that child's VmRSS is reported separately (the same stock program for both).
2. Rounds: the numpy app (array-size 10) for R rounds with N SuperNodes. Per-round wall time
   is the interval between consecutive ``round k:`` lines of the ServerApp, timestamped when
   they arrive through ``flwr log <run-id> --stream`` (rounds 2..R; median). The SuperLink's
   CPU time (utime+stime) is read when each line arrives; CPU per round is the total over
   rounds 2..R divided by R-1. Also: SuperLink CPU while the N SuperNodes are connected and
   no run is active, and over the whole run (``flwr run`` until ``flwr log`` ends).
3. Model: the same app with a float32 array of --model-mb MB, --model-rounds rounds (>= 2)
   with --model-nodes SuperNodes: the last round's wall time and SuperLink CPU (as in 2.),
   SuperLink CPU over the whole run, its peak RSS (VmHWM) and the traffic it reports.

Usage: bench/bench_superlink.py [--nodes 2,10,50] [--rounds 5] [--startups 5]
                                [--skip-idle] [--skip-rounds] [--skip-model] ...
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

REPO_ROOT = Path(os.path.abspath(__file__)).parent.parent
VENV_BIN = Path(sys.executable).parent
APP_DIR = REPO_ROOT / "tests" / "apps" / "numpy_app"
CLK_TCK = os.sysconf("SC_CLK_TCK")
IMPLS = ("python", "cpp")
LABELS = {"python": "Python", "cpp": "C++"}
ROUND_LINE = re.compile(rb"round (\d+): (\d+) replies")
# The Pull/PushMessages calls the stock 1.36 SuperLink logs at INFO, one line per call (flwr's
# fleet_servicer.py); the stock 1.42 one logs none of its HTTP Fleet calls, so its calls are not
# counted there. Ours is counted on its /metrics (--metrics-address): every Fleet call by route,
# and its signature checks with their CPU time (see Calls).
FLEET_LOG_LINE = re.compile(rb"\[Fleet\.(?:PullMessages|PushMessages)\]")
MESSAGES_ROUTE = re.compile(r'route="(?:[^"]*/)?(?:PullMessages|PushMessages|pull-messages|push-messages)"')
T = TypeVar("T")

# The interop tests' harness gives the environment Flower processes need; share it.
sys.path.insert(0, str(REPO_ROOT / "tests" / "interop"))
from harness import LINES, PRIMARY, Line, Ports, base_env  # noqa: E402

# The Flower line benchmarked (--line): its stock SuperLink, SuperNodes and CLI, and the ports
# they use (1.36: gRPC Fleet and Control; 1.42: the SuperLink's one HTTP port).
LINE: Line = PRIMARY


class BenchError(Exception):
    """A measurement failed; the message says what happened and where the logs are."""


# --------------------------------------------------------------------------------------------
# /proc helpers
# --------------------------------------------------------------------------------------------


def proc_stat(pid: int) -> list[str] | None:
    """Return the fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """Return utime+stime of the process (all its threads, not its children) in seconds."""
    fields = proc_stat(pid)
    if fields is None:
        raise BenchError(f"process {pid} is gone")
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid: int, key: str) -> int:
    """Return a kB value (VmRSS, VmHWM, ...) from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise BenchError(f"no {key} in /proc/{pid}/status")


def children_map() -> dict[int, list[int]]:
    """Return parent pid -> child pids for every process on the machine."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def descendants(pid: int, children: dict[int, list[int]]) -> list[int]:
    """Return every descendant of pid (children, grandchildren, ...)."""
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def find_child(pid: int, program: str) -> int | None:
    """Return the pid of a direct child of pid running `program` (any argv word's basename)."""
    for child in children_map().get(pid, []):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(os.path.basename(word.decode(errors="replace")) == program for word in argv):
            return child
    return None


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that the kernel just handed out."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port: int) -> bool:
    """Return whether something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Processes:
    """Processes started by the benchmark, each in a new session, with their log files.

    stop_all() stops each one and every descendant (including children that moved to their
    own session, like the SuperLink's flower-superexec): SIGTERM to all their process groups,
    then SIGKILL to whatever is left after a grace period.
    """

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        """Start nothing yet; logs go to log_dir/<name>.log."""
        self.log_dir = log_dir
        self.env = env
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], pipe: bool = False,
              extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start argv in a new session; stdout+stderr to <name>.log, or to a pipe if pipe."""
        env = {**self.env, **(extra_env or {})}
        if pipe:
            return self._popen(argv, subprocess.PIPE, env)
        with open(self.log_dir / f"{name}.log", "wb") as log:
            return self._popen(argv, log, env)

    def _popen(self, argv: list[str], stdout, env: dict[str, str]) -> subprocess.Popen:
        """Start argv in a new session with stdin from /dev/null and stderr to stdout."""
        proc = subprocess.Popen(
            argv,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def log_tail(self, name: str, lines: int = 40) -> str:
        """Return the last lines of <name>.log."""
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop_all(self, grace: float = 5.0) -> None:
        """Stop every started process and all their descendants."""
        children = children_map()
        pids = set()
        for proc in self.procs:
            if proc.poll() is None:
                pids.add(proc.pid)
            pids.update(descendants(proc.pid, children))
        stats = {pid: fields for pid in pids if (fields := proc_stat(pid)) is not None}
        starts = {pid: fields[19] for pid, fields in stats.items()}
        groups = {int(fields[2]) for fields in stats.values()} - {os.getpgrp()}
        self._signal(groups, starts, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self._alive(starts):
            for proc in self.procs:
                proc.poll()
            time.sleep(0.1)
        alive = self._alive(starts)  # only groups that still hold one of them get SIGKILL
        self._signal({int(stats[pid][2]) for pid in alive} - {os.getpgrp()}, alive, signal.SIGKILL)
        for proc in self.procs:
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self.procs.clear()

    @staticmethod
    def _alive(starts: dict[int, str]) -> dict[int, str]:
        """Return the processes of `starts` (pid -> start time) still alive, not zombies."""
        alive = {}
        for pid, start in starts.items():
            fields = proc_stat(pid)
            if fields is not None and fields[19] == start and fields[0] != "Z":
                alive[pid] = start
        return alive

    def _signal(self, groups: set[int], starts: dict[int, str], sig: int) -> None:
        """Send sig to each process group and to each still-living process of `starts`."""
        for group in groups:
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                pass
        for pid in self._alive(starts):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


# --------------------------------------------------------------------------------------------
# One federation: a SuperLink, N stock SuperNodes, the stock CLI
# --------------------------------------------------------------------------------------------


def superlink_argv(impl: str, program: str, fleet: int | str, control: int | str,
                   runtime: int | str) -> list[str]:
    """Return the command line of a SuperLink of implementation `impl` on these ports.

    On a line without gRPC Fleet and Control (1.42), ours runs as the stock one does: HTTP only.
    """
    if not LINE.http_fleet:
        grpc = ["--fleet-api-address", f"127.0.0.1:{fleet}",
                "--control-api-address", f"127.0.0.1:{control}"]
    else:
        grpc = ["--disable-grpc-apis"] if impl == "cpp" else []
    return [
        program,
        "--insecure",
        *grpc,
        "--host", "127.0.0.1",
        "--port", str(runtime),
        "--database", ":flwr-in-memory:",
        "--disable-runtime-dependency-installation",
    ]  # fmt: skip


def supernode_argv(fleet: int | str, appio: int | str, index: int | str, nodes: int | str
                   ) -> list[str]:
    """Return the command line of stock SuperNode `index` of `nodes`."""
    return [
        str(LINE.venv_bin / "flower-supernode"),
        "--insecure",
        "--superlink", f"127.0.0.1:{fleet}",
        "--host", "127.0.0.1",
        "--port", str(appio),
        "--isolation", "subprocess",
        "--node-config", f"partition-id={index} num-partitions={nodes}",
    ]  # fmt: skip


def flower_env(flwr_home: Path) -> dict[str, str]:
    """Return the environment for Flower processes: the line's venv first in PATH, a private
    FLWR_HOME."""
    return base_env(flwr_home, LINE)


@dataclass
class Calls:
    """Fleet calls a SuperLink served so far (None: not countable for that SuperLink)."""

    messages: int | None = None  # PullMessages/PushMessages
    all: int | None = None  # every Fleet call, heartbeats included (C++ only)
    checks: int | None = None  # signature checks of Fleet calls (C++ only)
    check_cpu_s: float | None = None  # the CPU time of those checks, on their threads


def scrape(text: str, name: str, *labels: re.Pattern[str]) -> float:
    """Return the sum of the samples of metric `name` in a /metrics page whose labels match
    every pattern of `labels`."""
    total = 0.0
    for line in text.splitlines():
        if (line.split("{", 1)[0].split(" ", 1)[0] == name
                and all(label.search(line) for label in labels)):
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class LogLine:
    """A line of `flwr log --stream` output, when it arrived and the SuperLink's CPU then."""

    time: float
    superlink_cpu: float
    text: bytes
    calls: Calls = field(default_factory=Calls)  # served so far (round lines only)


class Federation:
    """A SuperLink of one implementation plus stock SuperNodes, driven by the stock CLI.

    Use as a context manager: every process it started is stopped on exit.
    """

    def __init__(self, impl: str, work_dir: Path, superlink_bin: Path,
                 native_clientapp: Path | None = None) -> None:
        """Prepare work_dir (logs, FLWR_HOME with a loopback connection, a copy of the app).

        With native_clientapp (our flwr-clientapp), the app also names its native ClientApp
        twin (numpy-echo: the same replies as the app's Python ClientApp) and that executable
        comes first in PATH, so the stock SuperNodes' flower-superexec children start it
        instead of the Python ClientApp. The ServerApp stays the stock Python one.
        """
        self.impl = impl
        self.work_dir = work_dir
        self.superlink_bin = superlink_bin
        self.ports = Ports()
        work_dir.mkdir(parents=True)
        flwr_home = work_dir / "flwr_home"
        flwr_home.mkdir()
        (flwr_home / "config.toml").write_text(
            '[superlink]\ndefault = "bench"\n\n'
            f'[superlink.bench]\naddress = "127.0.0.1:{self.ports.control_for(LINE)}"\n'
            'insecure = true\n'
        )
        self.app = work_dir / "numpy_app"
        shutil.copytree(APP_DIR, self.app, ignore=shutil.ignore_patterns("__pycache__"))
        self.env = flower_env(flwr_home)
        if native_clientapp is not None:
            with open(self.app / "pyproject.toml", "a", encoding="utf-8") as pyproject:
                pyproject.write('\n[tool.flwr.app.native]\nclientapp = "numpy-echo"\n')
            native_bin = work_dir / "native-bin"
            native_bin.mkdir()
            (native_bin / "flwr-clientapp").symlink_to(native_clientapp.resolve())
            self.env["PATH"] = f"{native_bin}:{self.env['PATH']}"
        self.procs = Processes(work_dir, self.env)
        self.superlink: subprocess.Popen | None = None
        self.supernodes: list[subprocess.Popen] = []
        self.metrics_port = free_port() if impl == "cpp" else None

    def __enter__(self) -> Federation:
        """Return self."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop every process of this federation."""
        self.procs.stop_all()

    def fail(self, what: str, other_log: str | None = None) -> BenchError:
        """Return a BenchError for `what` with the log folder and the SuperLink's log tail.

        other_log names a second log (e.g. "supernode3") whose tail is included too.
        """
        names = ["superlink"] + ([other_log] if other_log else [])
        tails = "".join(
            f"\n--- last lines of {name}.log ---\n{self.procs.log_tail(name)}" for name in names
        )
        return BenchError(f"{LABELS[self.impl]} SuperLink: {what}\nlogs: {self.work_dir}{tails}")

    def start_superlink(self, timeout: float = 120.0, count_calls: bool = False) -> float:
        """Start the SuperLink; return seconds from exec until all its ports accept.

        count_calls: ours also serves /metrics (Calls), at its log level of INFO.
        """
        program = str(self.superlink_bin if self.impl == "cpp" else LINE.venv_bin / "flower-superlink")
        argv = superlink_argv(self.impl, program, self.ports.fleet, self.ports.control,
                              self.ports.runtime)
        waiting = {self.ports.fleet_for(LINE), self.ports.control_for(LINE), self.ports.runtime}
        if count_calls and self.metrics_port is not None:
            argv += ["--metrics-address", f"127.0.0.1:{self.metrics_port}"]
            waiting.add(self.metrics_port)
        start = time.perf_counter()
        self.superlink = self.procs.start("superlink", argv)
        while waiting:
            waiting = {port for port in waiting if not accepts(port)}
            if not waiting:
                break
            if self.superlink.poll() is not None:
                raise self.fail(f"exited with {self.superlink.returncode} during start-up")
            if time.perf_counter() - start > timeout:
                raise self.fail(f"ports {sorted(waiting)} not accepting after {timeout:.0f}s")
            time.sleep(0.005)
        return time.perf_counter() - start

    def superlink_pid(self) -> int:
        """Return the SuperLink's pid, failing if it has exited."""
        if self.superlink is None or self.superlink.poll() is not None:
            raise self.fail("is not running")
        return self.superlink.pid

    def wait_for_superexec(self, timeout: float = 60.0) -> int:
        """Wait until the SuperLink's flower-superexec child exists; return its pid."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            child = find_child(self.superlink_pid(), "flower-superexec")
            if child is not None:
                return child
            time.sleep(0.05)
        raise self.fail(f"no flower-superexec child after {timeout:.0f}s")

    def flwr(self, *args: str, timeout: float = 300.0) -> dict:
        """Run the stock `flwr` CLI with --format json; return the parsed output."""
        argv = [str(LINE.venv_bin / "flwr"), *args, "--format", "json"]
        try:
            result = subprocess.run(
                argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as err:
            raise self.fail(f"`{shlex.join(argv)}` timed out after {timeout:.0f}s") from err
        try:
            payload = json.loads(result.stdout)
        except json.JSONDecodeError:
            payload = {}
        if result.returncode != 0 or not payload.get("success"):
            raise self.fail(
                f"`{shlex.join(argv)}` exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return payload

    def start_supernode(self, index: int, nodes: int) -> subprocess.Popen:
        """Start stock SuperNode `index` of `nodes` on a fresh ClientAppIo port."""
        argv = supernode_argv(self.ports.fleet_for(LINE), free_port(), index, nodes)
        return self.procs.start(f"supernode{index}", argv)

    def start_supernodes(self, nodes: int, timeout: float, port_retries: int = 3,
                         batch: int = 10) -> None:
        """Start stock SuperNodes; wait until all are online and have their superexec child.

        They start `batch` at a time, each batch once the ones before are online: 50 starting
        at once overload the stock SuperLink on 2 cores, its answers to activate-node come
        after the SuperNodes' timeouts, their retries get 412 and they exit (code 305).
        A SuperNode whose ClientAppIo port was taken between free_port() and its bind (other
        processes open many connections while 50 SuperNodes start) is restarted on a new port,
        at most port_retries times.
        """
        self.supernodes = []
        retries = [0] * nodes
        deadline = time.monotonic() + timeout
        while True:
            listed = self.flwr("supernode", "list")["nodes"]
            online = sum(node["status"] == "online" for node in listed)
            if online >= nodes:
                break
            if online >= len(self.supernodes):
                started = len(self.supernodes)
                self.supernodes += [self.start_supernode(i, nodes)
                                    for i in range(started, min(nodes, started + batch))]
            for i, proc in enumerate(self.supernodes):
                if proc.poll() is None:
                    continue
                log = self.procs.log_tail(f"supernode{i}", lines=1000)
                if "address already in use" not in log or retries[i] == port_retries:
                    raise self.fail(f"SuperNode {i} exited with {proc.returncode}", f"supernode{i}")
                retries[i] += 1
                print(f"  SuperNode {i}: its port was taken before it bound it; restarting",
                      flush=True)
                self.supernodes[i] = self.start_supernode(i, nodes)
            if time.monotonic() > deadline:
                raise self.fail(f"only {online} of {nodes} SuperNodes online after {timeout:.0f}s")
            time.sleep(1 if len(self.supernodes) < nodes else 5)
        while any(find_child(proc.pid, "flower-superexec") is None for proc in self.supernodes):
            if time.monotonic() > deadline:
                raise self.fail(f"SuperNodes lack their flower-superexec after {timeout:.0f}s")
            time.sleep(0.5)

    def submit(self, rounds: int, nodes: int, array_size: int) -> str:
        """`flwr run` the app; return the run ID."""
        config = f"num-server-rounds={rounds} min-nodes={nodes} array-size={array_size}"
        return self.flwr("run", str(self.app), "--run-config", config)["run-id"]

    def follow_log(self, run_id: str, timeout: float) -> list[LogLine]:
        """Stream the run's log until the SuperLink ends it; timestamp every line on arrival."""
        pid = self.superlink_pid()
        argv = [str(LINE.venv_bin / "flwr"), "log", run_id, "--stream"]
        proc = self.procs.start("flwr-log", argv, pipe=True)
        lines: list[LogLine] = []
        errors: list[BenchError] = []

        def read() -> None:
            """Collect lines with their arrival time and the SuperLink's CPU time."""
            with open(self.work_dir / "flwr-log.log", "wb") as log:
                for text in iter(proc.stdout.readline, b""):
                    log.write(text)
                    log.flush()
                    try:
                        line = LogLine(time.monotonic(), cpu_seconds(pid), text)
                        if ROUND_LINE.search(text):
                            line.calls = self.fleet_calls()
                        lines.append(line)
                    except BenchError as err:
                        errors.append(err)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            raise self.fail(f"run {run_id} still streaming logs after {timeout:.0f}s", "flwr-log")
        if errors or self.superlink.poll() is not None:
            raise self.fail(f"exited with {self.superlink.returncode} during run {run_id}")
        if proc.wait() != 0:
            raise self.fail(f"`flwr log` exited {proc.returncode}", "flwr-log")
        return lines

    def fleet_calls(self) -> Calls:
        """Return the Fleet calls the SuperLink served so far: ours from its /metrics, the
        stock one's Pull/PushMessages from its log where it logs them (1.36)."""
        if self.metrics_port is not None:
            url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    page = response.read().decode()
            except OSError as err:
                raise self.fail(f"{url}: {err}") from err
            fleet = re.compile(r'api="fleet"')
            return Calls(
                messages=round(scrape(page, "flwr_superlink_requests_total", fleet,
                                      MESSAGES_ROUTE)),
                all=round(scrape(page, "flwr_superlink_requests_total", fleet)),
                checks=round(scrape(page, "flwr_superlink_fleet_signature_checks")),
                check_cpu_s=scrape(page, "flwr_superlink_fleet_signature_check_cpu_seconds"),
            )
        if LINE.http_fleet:
            return Calls()
        log = (self.work_dir / "superlink.log").read_bytes()
        return Calls(messages=len(FLEET_LOG_LINE.findall(log)))

    def finished_run(self, run_id: str, timeout: float = 120.0) -> dict:
        """Poll `flwr ls` until the run is finished; return its entry."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.flwr("ls", "--run-id", run_id)["runs"][0]
            if run["status"].startswith("finished"):
                return run
            if time.monotonic() > deadline:
                raise self.fail(f"run {run_id} not finished after {timeout:.0f}s: {run}")
            time.sleep(1)


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


@dataclass
class Startup:
    """One SuperLink start: time to ready, and idle RSS of it and of its ServerApp executor
    child (the stock SuperLink's flower-superexec; ours has its launcher built in: 0)."""

    ready_s: float
    rss_kib: int
    rss_anon_kib: int
    superexec_rss_kib: int


@dataclass
class AppRun:
    """One run of the numpy app on one SuperLink."""

    round_wall_s: list[float]  # intervals between consecutive round lines (rounds 2..R)
    round_cpu_s: list[float]  # SuperLink CPU in the same intervals
    run_cpu_s: float  # SuperLink CPU from `flwr run` until `flwr log` ended
    idle_cpu_ms_per_s: float  # SuperLink CPU with the SuperNodes connected, no run
    idle_window_s: float  # the idle window
    idle_calls: Calls  # served in the idle window
    round_calls: list[Calls]  # served in each round interval (rounds 2..R)
    hwm_kib: int  # SuperLink VmHWM at the end of the run
    traffic_bytes: int  # network-traffic total-bytes as the SuperLink reports it
    bare_call_us: float  # SuperLink CPU of one `GET /health` on a kept-alive connection

    def wall_per_round(self) -> float:
        """Return the median wall time of rounds 2..R in seconds."""
        return statistics.median(self.round_wall_s)

    def cpu_per_round(self) -> float:
        """Return the SuperLink's CPU time over rounds 2..R divided by R-1, in seconds."""
        return sum(self.round_cpu_s) / len(self.round_cpu_s)

    def per_round(self, get: Callable[[Calls], float | None]) -> float:
        """Return a Calls value per round (rounds 2..R); NaN where it was not counted."""
        values = [get(calls) for calls in self.round_calls]
        return math.nan if None in values else sum(values) / len(values)

    def idle_cpu_per_call_ms(self) -> float:
        """Return the idle SuperLink CPU divided by the Pull/PushMessages calls it served then
        (ms per call); NaN where they were not counted."""
        if not self.idle_calls.messages:
            return math.nan
        return self.idle_cpu_ms_per_s * self.idle_window_s / self.idle_calls.messages

    def cpu_per_check_cpu(self) -> float:
        """Return the SuperLink's CPU per round over the CPU its signature checks took in the
        same rounds (C++; NaN otherwise): how close to the in-process floor it runs."""
        check_cpu = self.per_round(lambda c: c.check_cpu_s)
        return self.cpu_per_round() / check_cpu if check_cpu else math.nan


def calls_between(a: Calls, b: Calls) -> Calls:
    """Return the calls served between two readings (None where either was not counted)."""
    def delta(x: float | None, y: float | None) -> float | None:
        return None if x is None or y is None else y - x
    return Calls(delta(a.messages, b.messages), delta(a.all, b.all), delta(a.checks, b.checks),
                 delta(a.check_cpu_s, b.check_cpu_s))


def measure_startup(impl: str, work_dir: Path, superlink_bin: Path, idle_wait: float) -> Startup:
    """Start a SuperLink alone; measure start-to-ready, then idle VmRSS after idle_wait s."""
    with Federation(impl, work_dir, superlink_bin) as fed:
        ready = fed.start_superlink()
        superexec = fed.wait_for_superexec() if impl == "python" else None
        time.sleep(idle_wait)
        pid = fed.superlink_pid()
        return Startup(
            ready_s=ready,
            rss_kib=status_kib(pid, "VmRSS"),
            rss_anon_kib=status_kib(pid, "RssAnon"),
            superexec_rss_kib=status_kib(superexec, "VmRSS") if superexec else 0,
        )


def run_app(
    impl: str,
    work_dir: Path,
    args: argparse.Namespace,
    nodes: int,
    rounds: int,
    array_size: int,
) -> AppRun:
    """Run the numpy app for `rounds` rounds on `nodes` SuperNodes and measure the SuperLink."""
    native = args.clientapp_bin if args.clientapp == "native" else None
    with Federation(impl, work_dir, args.superlink_bin, native) as fed:
        fed.start_superlink(count_calls=True)
        fed.start_supernodes(nodes, args.nodes_timeout)
        time.sleep(args.settle)
        pid = fed.superlink_pid()
        idle_start, idle_calls = cpu_seconds(pid), fed.fleet_calls()
        time.sleep(args.idle_window)
        idle = (cpu_seconds(pid) - idle_start) / args.idle_window * 1000
        idle_calls = calls_between(idle_calls, fed.fleet_calls())

        submit_cpu = cpu_seconds(pid)
        run_id = fed.submit(rounds, nodes, array_size)
        lines = fed.follow_log(run_id, args.run_timeout)
        run_cpu = cpu_seconds(pid) - submit_cpu
        hwm = status_kib(pid, "VmHWM")
        run = fed.finished_run(run_id)
        if run["status"] != "finished:completed":
            raise fed.fail(f"run {run_id} ended {run['status']} ({run['status-details']})")

        bare_call_us = measure_bare_calls(pid, fed.ports.fleet_for(LINE), idle)

        marks, seen = [], []  # the round lines, and (round, replies) of each
        for line in lines:
            if match := ROUND_LINE.search(line.text):
                marks.append(line)
                seen.append((int(match[1]), int(match[2])))
        if seen != [(k, nodes) for k in range(1, rounds + 1)]:
            raise fed.fail(f"run {run_id}: (round, replies) seen {seen}, expected rounds "
                           f"1..{rounds} with {nodes} replies each", "flwr-log")
        return AppRun(
            round_wall_s=[b.time - a.time for a, b in zip(marks, marks[1:])],
            round_cpu_s=[b.superlink_cpu - a.superlink_cpu for a, b in zip(marks, marks[1:])],
            run_cpu_s=run_cpu,
            idle_cpu_ms_per_s=idle,
            idle_window_s=args.idle_window,
            idle_calls=idle_calls,
            round_calls=[calls_between(a.calls, b.calls) for a, b in zip(marks, marks[1:])],
            hwm_kib=hwm,
            traffic_bytes=int(run["network-traffic"]["total-bytes"]),
            bare_call_us=bare_call_us,
        )


BARE_CALLS = 2000


def measure_bare_calls(pid: int, port: int, idle_ms_per_s: float) -> float:
    """Return the SuperLink CPU of one HTTP call that does no work (us): `GET /health`,
    BARE_CALLS times over one kept-alive connection to its Fleet port, with the SuperNodes
    still connected (their own polling, at the idle rate measured before, is subtracted).
    NaN where that port does not answer it (the gRPC Fleet port of the 1.36 line)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        start_cpu, start = cpu_seconds(pid), time.monotonic()
        for _ in range(BARE_CALLS):
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                return math.nan
        elapsed = time.monotonic() - start
        cpu = cpu_seconds(pid) - start_cpu - idle_ms_per_s / 1000 * elapsed
    except (OSError, http.client.HTTPException):
        return math.nan
    finally:
        connection.close()
    return max(cpu, 0.0) / BARE_CALLS * 1e6


def measure_verify(args: argparse.Namespace) -> dict[str, float]:
    """Time the verification of one signed Fleet call by each SuperLink's code (us, median).

    Every Fleet call of a stock SuperNode carries a fresh timestamp signed with its ECDSA key;
    both SuperLinks check every call. The requests are signed here by the stock SuperNode's own
    code (--verify-keys keys, --verify-calls each); Python verifies them as the stock
    NodeAuthServerInterceptor does (load the key from its PEM bytes, then verify), ours in
    build/bench/bench_node_auth (core::VerifyNodeSignature) on the same requests.
    """
    # pylint: disable=import-outside-toplevel
    from flwr.supercore.date import now
    from flwr.supercore.primitives.asymmetric import (
        bytes_to_public_key,
        generate_key_pairs,
        public_key_to_bytes,
        sign_message,
        verify_signature,
    )

    requests = []
    for _ in range(args.verify_keys):
        private_key, public_key = generate_key_pairs()
        pem = public_key_to_bytes(public_key)
        for _ in range(args.verify_calls):
            timestamp = now().isoformat().encode("ascii")
            requests.append((pem, timestamp, sign_message(private_key, timestamp)))
    python_us = []
    for _ in range(args.verify_repeats):
        start = time.perf_counter()
        for pem, timestamp, signature in requests:
            if not verify_signature(bytes_to_public_key(pem), timestamp, signature):
                raise BenchError("stock verify_signature rejected a stock signature")
        python_us.append((time.perf_counter() - start) / len(requests) * 1e6)
    lines = "".join(
        json.dumps({"public_key": pem.decode(), "timestamp": ts.decode(), "signature": sig.hex()})
        + "\n" for pem, ts, sig in requests)
    binary = args.superlink_bin.parent.parent / "bench" / "bench_node_auth"
    try:
        result = subprocess.run([str(binary), "--repeats", str(args.verify_repeats)], input=lines,
                                capture_output=True, text=True, timeout=300, check=False)
    except OSError as err:
        raise BenchError(f"cannot run {binary}: {err} (ninja -C build bench_node_auth)") from err
    if result.returncode != 0:
        raise BenchError(f"{binary} exited {result.returncode}: {result.stderr.strip()}")
    cpp_us = json.loads(result.stdout)["us_per_verify"]
    return {"python": statistics.median(python_us), "cpp": statistics.median(cpp_us)}


def in_order(step: int) -> tuple[str, ...]:
    """Return the implementations in the order to run them at this step (alternating)."""
    return IMPLS if step % 2 == 0 else IMPLS[::-1]


# --------------------------------------------------------------------------------------------
# Tables and report
# --------------------------------------------------------------------------------------------


def render(header: list[str], rows: list[list[str]], markdown: bool, left: int = 1) -> str:
    """Render an aligned plain-text or Markdown table; the first `left` columns align left."""
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]

    def fmt(line: list[str]) -> str:
        """Format one row."""
        padded = [
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ("-" if i < left else ":") for i, w in enumerate(widths))
    rule += "|"
    lines = [fmt(header), rule if markdown else rule.replace(":", "-")]
    return "\n".join(lines + [fmt(r) for r in rows])


def cells(values: dict[str, float | None], digits: int) -> list[str]:
    """Return the Python and C++ cells and the Python/C++ ratio for one metric."""
    py, cpp = values.get("python"), values.get("cpp")
    out = ["failed" if v is None else "n/a" if math.isnan(v) else f"{v:.{digits}f}"
           for v in (py, cpp)]
    countable = py is not None and cpp and not math.isnan(py) and not math.isnan(cpp)
    out.append(f"{py / cpp:.1f}x" if countable else "n/a")
    return out


def median_or_none(values: list[float]) -> float | None:
    """Return the median, or None for no values."""
    return statistics.median(values) if values else None


@dataclass
class Results:
    """Everything measured, per implementation, plus the failures."""

    startups: dict[str, list[Startup]] = field(default_factory=lambda: {i: [] for i in IMPLS})
    rounds: dict[int, dict[str, AppRun | None]] = field(default_factory=dict)
    model: dict[str, AppRun | None] = field(default_factory=dict)
    verify_us: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def per_impl(runs: dict[str, AppRun | None], get: Callable[[AppRun], float]
             ) -> dict[str, float | None]:
    """Return get(run) per implementation, None where its run failed."""
    return {impl: get(run) if run else None for impl, run in runs.items()}


def idle_table(results: Results, markdown: bool) -> str:
    """Table 1: start-to-ready and idle RSS (medians over the start-ups)."""

    def metric(get: Callable[[Startup], float]) -> dict[str, float | None]:
        """Return the per-implementation median of one Startup value."""
        return {i: median_or_none([get(s) for s in results.startups[i]]) for i in IMPLS}

    rows = [
        ["SuperLink VmRSS, idle (MiB)", *cells(metric(lambda s: s.rss_kib / 1024), 1)],
        ["  of which RssAnon (MiB)", *cells(metric(lambda s: s.rss_anon_kib / 1024), 1)],
        ["ServerApp executor child VmRSS (MiB)",
         *cells(metric(lambda s: s.superexec_rss_kib / 1024), 1)],
        ["SuperLink + executor VmRSS (MiB)",
         *cells(metric(lambda s: (s.rss_kib + s.superexec_rss_kib) / 1024), 1)],
        ["start-to-ready (ms)", *cells(metric(lambda s: s.ready_s * 1000), 0)],
    ]  # fmt: skip
    return render(["metric (median)", "Python", "C++", "Python/C++"], rows, markdown)


def rounds_table(results: Results, rounds: int, markdown: bool) -> str:
    """Table 2: per-round wall time and SuperLink CPU for each SuperNode count."""
    rows = []
    for nodes, runs in results.rounds.items():
        wall = per_impl(runs, AppRun.wall_per_round)
        diff = "n/a" if None in wall.values() else f"{wall['python'] - wall['cpp']:+.2f} s"
        rows += [
            [str(nodes), "wall per round (s, median)", *cells(wall, 2)],
            ["", "wall per round, Python - C++", "", "", diff],
            ["", "SuperLink CPU per round (ms)",
             *cells(per_impl(runs, lambda r: r.cpu_per_round() * 1000), 0)],
            ["", "SuperLink CPU, whole run (s)", *cells(per_impl(runs, lambda r: r.run_cpu_s), 2)],
            ["", "SuperLink CPU, idle (ms/s)",
             *cells(per_impl(runs, lambda r: r.idle_cpu_ms_per_s), 1)],
            ["", "  per Pull/PushMessages call (ms)",
             *cells(per_impl(runs, AppRun.idle_cpu_per_call_ms), 2)],
            ["", "Pull/PushMessages calls per round",
             *cells(per_impl(runs, lambda r: r.per_round(lambda c: c.messages)), 0)],
        ]  # fmt: skip
    header = ["nodes", f"metric ({rounds} rounds per run)", "Python", "C++", "Python/C++"]
    return render(header, rows, markdown, left=2)


def model_table(results: Results, markdown: bool) -> str:
    """Table 3: moving the big model to the SuperNodes and back."""
    runs = results.model
    rows = [
        ["wall, last round (s)", *cells(per_impl(runs, lambda r: r.round_wall_s[-1]), 2)],
        ["SuperLink CPU, last round (s)", *cells(per_impl(runs, lambda r: r.round_cpu_s[-1]), 2)],
        ["SuperLink CPU, whole run (s)", *cells(per_impl(runs, lambda r: r.run_cpu_s), 2)],
        ["SuperLink peak RSS, VmHWM (MiB)",
         *cells(per_impl(runs, lambda r: r.hwm_kib / 1024), 0)],
        ["traffic reported by the SuperLink (MB)",
         *cells(per_impl(runs, lambda r: r.traffic_bytes / 1e6), 0)],
    ]  # fmt: skip
    return render(["metric", "Python", "C++", "Python/C++"], rows, markdown)


def verify_table(results: Results, markdown: bool) -> str:
    """Table 4: the per-call floor, and what it leaves for the per-round ratio."""
    rows = [["verify one signed Fleet call (us, median)", *cells(results.verify_us, 0)]]
    for nodes, runs in results.rounds.items():
        if None in runs.values():
            continue
        cpp = runs["cpp"]
        checks = cpp.per_round(lambda c: c.checks)
        check_cpu_ms = cpp.per_round(lambda c: c.check_cpu_s) * 1000
        floor = checks * results.verify_us["cpp"] / 1000
        cpu_ms = cpp.cpu_per_round() * 1000
        rows += [
            [f"{nodes} nodes: Fleet calls per round (all, heartbeats too)", "",
             f"{cpp.per_round(lambda c: c.all):.0f}", ""],
            ["  signature checks per round", "", f"{checks:.0f}", ""],
            ["  floor: checks x one verify (ms per round)", "", f"{floor:.0f}", ""],
            ["  the checks' own CPU in the SuperLink (ms per round)", "", f"{check_cpu_ms:.0f}",
             ""],
            ["    per check, in place (us)", "",
             f"{check_cpu_ms * 1000 / checks:.0f}" if checks else "n/a", ""],
            ["    in place / one verify (the same checks under the run's load)", "",
             f"{check_cpu_ms / floor:.2f}x" if floor else "n/a", ""],
            ["  one HTTP call that does no work, in place (us: GET /health)",
             f"{runs['python'].bare_call_us:.0f}", f"{cpp.bare_call_us:.0f}", ""],
            ["  checks in place + that bare call per Fleet call, / floor", "",
             f"{(check_cpu_ms + cpp.per_round(lambda c: c.all) * cpp.bare_call_us / 1000) / floor:.2f}x"
             if floor else "n/a", ""],
            ["  C++ CPU per round / floor", "", f"{cpu_ms / floor:.2f}x" if floor else "n/a", ""],
            ["  C++ CPU per round / the checks' own CPU", "",
             f"{cpp.cpu_per_check_cpu():.2f}x", ""],
            ["  Python CPU per round / floor", "", "",
             f"{runs['python'].cpu_per_round() * 1000 / floor:.1f}x" if floor else "n/a"],
        ]  # fmt: skip
    return render(["metric", "Python", "C++", "Python/C++"], rows, markdown)


def goal_lines(results: Results) -> list[str]:
    """Return the goal lines: >= 10x lower idle RSS, >= 5x lower per-round overhead."""
    lines = []
    rss = {i: median_or_none([s.rss_kib for s in results.startups[i]]) for i in IMPLS}
    if None not in rss.values():
        ratio = rss["python"] / rss["cpp"]
        verdict = "met" if ratio >= 10 else "NOT met"
        lines.append(f"Idle RSS: Python/C++ = {ratio:.1f}x (goal >= 10x, {verdict})")
    completed = [n for n, runs in results.rounds.items() if None not in runs.values()]
    if completed:
        nodes = max(completed)
        runs = results.rounds[nodes]
        cpu = per_impl(runs, AppRun.cpu_per_round)
        wall = per_impl(runs, AppRun.wall_per_round)
        cpu_ratio = cpu["python"] / cpu["cpp"] if cpu["cpp"] else float("inf")
        verdict = "met" if cpu_ratio >= 5 else "NOT met"
        scope = "" if nodes == 50 else " (largest completed node count; 50 not measured)"
        lines.append(
            f"Per-round overhead at {nodes} nodes{scope}: SuperLink CPU per round Python/C++ = "
            f"{cpu_ratio:.1f}x (goal >= 5x, {verdict}); wall per round Python/C++ = "
            f"{wall['python'] / wall['cpp']:.2f}x (dominated by the stock components)"
        )
        cpp = runs["cpp"]
        checks = cpp.per_round(lambda c: c.checks)
        if results.verify_us and not math.isnan(checks) and checks:
            floor = checks * results.verify_us["cpp"] / 1e6
            over_floor = cpp.cpu_per_round() / floor
            in_place = cpp.cpu_per_check_cpu()
            inflation = cpp.per_round(lambda c: c.check_cpu_s) / floor
            lines.append(
                f"Per-round CPU at {nodes} nodes against the signature-check floor (goal <= "
                f"1.5x): against the checks' own CPU in the SuperLink (the same verify calls, "
                f"timed in place under the run's load) {in_place:.2f}x "
                f"({'met' if in_place <= 1.5 else 'NOT met'}); against checks x one verify "
                f"timed in a hot loop {over_floor:.2f}x "
                f"({'met' if over_floor <= 1.5 else 'NOT met'}; under this load the checks "
                f"alone cost {inflation:.2f}x of that)"
            )
    return lines


def definitions(args: argparse.Namespace) -> list[str]:
    """Return the items that define what every table measures."""
    return [
        "All SuperLink numbers are for the SuperLink process itself, read from /proc. The stock "
        "SuperLink runs ServerApps through a flower-superexec child, reported separately; ours "
        "has that launcher built in (no child, 0 MiB), so 'SuperLink + executor' is the "
        "like-for-like footprint of the server side.",
        "start-to-ready: from just before exec until the Fleet, Control and Runtime HTTP ports "
        "all accept TCP connections (polled every 5 ms). Idle VmRSS/RssAnon: read "
        f"{args.idle_wait:g} s after start-up (Python: after its flower-superexec child appeared). Medians of "
        f"{args.startups} start-ups per implementation.",
        "wall per round: interval between consecutive 'round k:' lines of the ServerApp "
        "(rounds 2..R), timestamped on arrival through `flwr log RUN --stream`; median. Both "
        "SuperLinks poll the log every 0.5 s and the ServerApp uploads it every 0.2 s (up to "
        "~0.7 s jitter per timestamp). It is dominated by the stock components: the stock "
        "Grid's send_and_receive pulls replies every 3 s, idle SuperNodes poll every 3 s, and "
        "each SuperNode starts a ClientApp process per round. The SuperLink's share is the "
        "Python - C++ difference.",
        "SuperLink CPU per round: its utime+stime, read when each round line arrives, summed "
        f"over rounds 2..R and divided by R-1 (1/{CLK_TCK} s resolution per reading).",
        "SuperLink CPU, whole run: from just before `flwr run` until `flwr log --stream` ended "
        "(the run finished): FAB upload, ServerApp start-up, all rounds, log streaming.",
        f"SuperLink CPU, idle: over {args.idle_window:g} s with the N SuperNodes online and "
        f"no run, {args.settle:g} s after the last one came online (serving their polling).",
        f"Model: a {args.model_mb:g} MB float32 array ({model_size(args)} values), "
        f"{args.model_rounds} rounds with {args.model_nodes} SuperNodes; 'last round' as in "
        "'per round' above (a first round cannot be timed from the log lines apart from the "
        "ServerApp start-up); VmHWM is the SuperLink's peak RSS since its start; traffic is "
        "network-traffic total-bytes from `flwr ls`.",
        "Pull/PushMessages calls: ours counted on its /metrics (flwr_superlink_requests_total, "
        "api fleet, those routes; it runs at its default log level, INFO, with "
        "--metrics-address); the stock SuperLink's from the [Fleet.PullMessages] and "
        "[Fleet.PushMessages] lines it logs at INFO on the gRPC line (1.36), n/a on the HTTP "
        "line (1.42 logs none). 'per call' divides the idle CPU by those calls in that window, "
        "so it includes the idle SuperLink's own background work and its heartbeats.",
        "Per-call floor: every Fleet call of a stock SuperNode carries a fresh timestamp signed "
        "with its ECDSA P-384 key, and both SuperLinks verify it on every call (flwr's "
        "NodeAuthServerInterceptor; it cannot be cached: the timestamp changes). Timed on "
        f"{args.verify_keys} x {args.verify_calls} requests signed by the stock SuperNode's code: "
        "Python as the interceptor does it (bytes_to_public_key + verify_signature, in the "
        "OpenSSL bundled with the `cryptography` wheel), C++ with core::VerifyNodeSignature "
        "(Debian's OpenSSL 3.0, parsed keys cached; build/bench/bench_node_auth); median of "
        f"{args.verify_repeats} passes. 'verification alone' = C++ Fleet calls per round x the "
        "C++ time per check, where the checks are those the C++ SuperLink counts on its "
        "/metrics (flwr_superlink_fleet_signature_checks: every Fleet call, heartbeats "
        "included) in the rounds benchmark: CPU the C++ SuperLink cannot avoid, so Python's "
        "CPU per round divided by it bounds the per-round ratio any C++ SuperLink on this "
        "OpenSSL could reach, before the transport and the kernel (which both pay) are "
        "counted. 'The checks' own CPU' is the thread CPU time the SuperLink measures around "
        "each check (flwr_superlink_fleet_signature_check_cpu_seconds): the same floor "
        "measured in place, under the run's load and cache pressure.",
        f"Bare call: after the run, with the SuperNodes still connected, the bench sends "
        f"{BARE_CALLS} `GET /health` over one kept-alive connection to the SuperLink's Fleet "
        "port and divides its CPU over them (minus the idle rate measured before the run): "
        "what one HTTP call costs that server with no work in it (the kernel's TCP, the "
        "readiness wait, parsing and writing). 'Checks in place + that bare call' is the "
        "per-round CPU of a SuperLink that did nothing but check each Fleet call and answer "
        "it, on this machine under this load.",
    ]


def model_size(args: argparse.Namespace) -> int:
    """Return the number of float32 values of the model."""
    return int(args.model_mb * 1e6 / 4)


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def display_path(path: Path) -> str:
    """Return path relative to the repo root when it lies inside it."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def git_revision() -> str:
    """Return the repo's HEAD commit, marked -dirty if the work tree has changes."""
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain",
                            "--untracked-files=no"], capture_output=True, text=True,
                           check=False).stdout.strip()
    return f"{head}-dirty" if dirty else head


def context_lines(args: argparse.Namespace) -> list[str]:
    """Return the date, machine, versions and commands of this run (call it at the start)."""
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpp_version = subprocess.run([str(args.superlink_bin), "--version"], capture_output=True,
                                 text=True, check=False).stdout.strip()
    built = datetime.datetime.fromtimestamp(args.superlink_bin.stat().st_mtime).astimezone()
    command = shlex.join([display_path(Path(sys.executable)), display_path(Path(__file__)),
                          *sys.argv[1:]])
    link = shlex.join(superlink_argv("cpp", "flower-superlink", "FLEET", "CONTROL", "RUNTIME"))
    node = shlex.join(["flower-supernode", *supernode_argv("FLEET", "APPIO", "I", "N")[1:]])
    return [
        f"Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"Machine: nproc = {len(os.sched_getaffinity(0))}, CPU: {cpu_model()}, "
        f"{mem_gib:.0f} GiB; load average (1/5/15 min) at start {load_avg()}",
        f"Python {platform.python_version()}, flwr {LINE.version} "
        f"(stock SuperLink, SuperNodes, superexec, CLI); C++ SuperLink "
        f"{display_path(args.superlink_bin)} ({cpp_version}, built "
        f"{built.isoformat(timespec='seconds')}), repo {git_revision()} at the start",
        f"Command: `{command}`",
        f"SuperLink: `{link}` (Python: .venv/bin/flower-superlink; "
        f"C++: {display_path(args.superlink_bin)})",
        f"SuperNodes: `{node}`; ClientApp: "
        + ("our native flwr-clientapp (numpy-echo, the same replies as the app's Python "
           "ClientApp), started by the SuperNodes' stock flower-superexec from PATH; the "
           "ServerApp is the app's Python one (stock flwr-serverapp) for both SuperLinks"
           if args.clientapp == "native" else "the app's Python ClientApp (stock flwr-clientapp)"),
        "Runs: `flwr run APP --run-config 'num-server-rounds=R min-nodes=N array-size=S' "
        "--format json`, then `flwr log RUN --stream`, `flwr ls --run-id RUN --format json`",
    ]


def load_avg() -> str:
    """Return the 1/5/15-minute load averages."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def report(args: argparse.Namespace, results: Results, context: list[str], markdown: bool
           ) -> str:
    """Return the report as plain text, or as Markdown with the run's context."""
    parts = []
    if not args.skip_idle:
        parts.append(("Idle SuperLink", idle_table(results, markdown)))
    if results.rounds:
        parts.append(("Rounds of the numpy app (array-size 10), stock SuperNodes",
                      rounds_table(results, args.rounds, markdown)))
    if results.model:
        parts.append((f"{args.model_mb:g} MB model to {args.model_nodes} SuperNodes and back",
                      model_table(results, markdown)))
    if results.verify_us:
        parts.append(("Per-call floor: the signature check of every Fleet call",
                      verify_table(results, markdown)))
    heading = "## " if markdown else ""
    sections = [f"{heading}{title}\n\n{table}" for title, table in parts]
    if goals := goal_lines(results):
        sections.append("\n".join(f"- {line}" for line in goals))
    sections.append(f"{heading}Definitions\n\n" +
                    "\n".join(f"- {item}" for item in definitions(args)))
    if results.failures:
        failures = "\n\n".join(results.failures)
        sections.append(f"{heading}Failures\n\n```\n{failures}\n```" if markdown
                        else f"FAILURES\n\n{failures}")
    if markdown:
        lines = [*context, f"Load average at the end: {load_avg()} (other work was running on "
                 "this machine: timings are noisy, hence medians)"]
        items = "\n".join(f"- {line}" for line in lines)
        sections.insert(0, f"# SuperLink: stock Python vs C++, same stock SuperNodes\n\n{items}")
    return "\n\n".join(sections) + "\n"


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", default="2,10,50",
                        help="SuperNode counts for the rounds benchmark (default: 2,10,50; with "
                        "--clientapp python, 50 stock SuperNodes exhaust a 2-core, 24 GiB "
                        "machine, see README.md)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per run (>= 2)")
    parser.add_argument("--startups", type=int, default=5, help="start-ups per SuperLink")
    parser.add_argument("--idle-wait", type=float, default=5.0,
                        help="seconds after the superexec child appears before reading VmRSS")
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds to wait after all SuperNodes are online")
    parser.add_argument("--idle-window", type=float, default=10.0,
                        help="seconds over which idle SuperLink CPU is measured")
    parser.add_argument("--model-mb", type=float, default=100, help="model size in MB")
    parser.add_argument("--model-nodes", type=int, default=10, help="SuperNodes for the model")
    parser.add_argument("--model-rounds", type=int, default=2, help="rounds for the model (>= 2)")
    parser.add_argument("--skip-idle", action="store_true", help="skip start-up and idle RSS")
    parser.add_argument("--skip-rounds", action="store_true", help="skip the rounds benchmark")
    parser.add_argument("--skip-model", action="store_true", help="skip the model benchmark")
    parser.add_argument("--skip-verify", action="store_true",
                        help="skip timing the signature check of a Fleet call")
    parser.add_argument("--verify-keys", type=int, default=50,
                        help="SuperNode keys for the signature check (default: 50)")
    parser.add_argument("--verify-calls", type=int, default=10,
                        help="signed calls per key (default: 10)")
    parser.add_argument("--verify-repeats", type=int, default=5,
                        help="passes over the signed calls (default: 5)")
    parser.add_argument("--nodes-timeout", type=float, default=900,
                        help="seconds for all SuperNodes to come online")
    parser.add_argument("--run-timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--superlink-bin", type=Path,
                        default=REPO_ROOT / "build" / "superlink" / "flower-superlink",
                        help="C++ SuperLink (default: build/superlink/flower-superlink)")
    parser.add_argument("--clientapp", choices=("native", "python"), default="native",
                        help="ClientApp the stock SuperNodes run: our native numpy-echo "
                        "(default; the same replies, milliseconds to start, so 50 SuperNodes "
                        "fit on 2 cores) or the app's Python one (stock flwr-clientapp)")
    parser.add_argument("--clientapp-bin", type=Path,
                        default=REPO_ROOT / "build" / "clientapp" / "cli" / "flwr-clientapp",
                        help="native ClientApp (default: build/clientapp/cli/flwr-clientapp)")
    parser.add_argument("--line", choices=[line.version for line in LINES], default=PRIMARY.version,
                        help="Flower line of the stock SuperLink, SuperNodes and CLI (default: "
                        f"{PRIMARY.version}); with an HTTP line, ours serves HTTP only too")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the logs folder even if everything succeeded")
    parser.add_argument("--out", type=Path,
                        default=REPO_ROOT / "bench" / "results" / "superlink.md",
                        help="Markdown report to write (default: bench/results/superlink.md)")
    args = parser.parse_args()
    global LINE  # pylint: disable=global-statement
    LINE = Line(args.line)
    try:
        args.node_counts = [int(n) for n in args.nodes.split(",") if n]
    except ValueError:
        parser.error("--nodes takes a comma-separated list of integers")
    if args.rounds < 2 or args.model_rounds < 2:
        parser.error("--rounds and --model-rounds must be at least 2 (rounds are intervals)")
    if min(args.verify_keys, args.verify_calls, args.verify_repeats) < 1:
        parser.error("--verify-keys, --verify-calls and --verify-repeats must be positive")
    if args.startups < 1 or args.model_nodes < 1 or min(args.node_counts, default=1) < 1:
        parser.error("--startups, --model-nodes and --nodes must be positive")
    if args.clientapp == "native" and not args.clientapp_bin.is_file():
        parser.error(f"native ClientApp not found: {args.clientapp_bin} (scripts/build.sh)")
    if not args.superlink_bin.is_file():
        parser.error(f"C++ SuperLink not found: {args.superlink_bin} (scripts/build.sh)")
    return args


def attempt(results: Results, what: str, impl: str, measure: Callable[[], T]) -> T | None:
    """Run one measurement; on failure record it (with its logs) and return None."""
    print(f"[{time.strftime('%H:%M:%S')}] {what}: {LABELS[impl]} ...", flush=True)
    try:
        value = measure()
    except BenchError as err:
        results.failures.append(f"{what}, {LABELS[impl]}: {err}")
        print(f"FAILED: {err}", flush=True)
        return None
    print(f"  {value}", flush=True)
    return value


def main() -> int:
    """Run the benchmarks, print the tables and write the Markdown report."""
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the processes on the way out
    context = context_lines(args)
    logs = Path(tempfile.mkdtemp(prefix="bench_superlink_"))
    print(f"logs: {logs}", flush=True)
    results = Results()

    if not args.skip_idle:
        for rep in range(args.startups):
            for impl in in_order(rep):
                measure = partial(measure_startup, impl, logs / f"startup{rep}-{impl}",
                                  args.superlink_bin, args.idle_wait)
                startup = attempt(results, f"start-up {rep + 1}", impl, measure)
                if startup:
                    results.startups[impl].append(startup)
    if not args.skip_rounds:
        for step, nodes in enumerate(args.node_counts):
            results.rounds[nodes] = {}
            for impl in in_order(step):
                measure = partial(run_app, impl, logs / f"rounds{nodes}-{impl}", args, nodes,
                                  args.rounds, 10)
                what = f"{nodes} nodes x {args.rounds} rounds"
                results.rounds[nodes][impl] = attempt(results, what, impl, measure)
    if not args.skip_model:
        for impl in in_order(len(args.node_counts)):
            measure = partial(run_app, impl, logs / f"model-{impl}", args, args.model_nodes,
                              args.model_rounds, model_size(args))
            results.model[impl] = attempt(results, f"{args.model_mb:g} MB model", impl, measure)

    if not args.skip_verify:
        print(f"[{time.strftime('%H:%M:%S')}] signature check of a Fleet call ...", flush=True)
        try:
            results.verify_us = measure_verify(args)
            print(f"  {results.verify_us}", flush=True)
        except BenchError as err:
            results.failures.append(f"signature check: {err}")
            print(f"FAILED: {err}", flush=True)

    print(report(args, results, context, markdown=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(args, results, context, markdown=True))
    print(f"wrote {display_path(args.out)}")
    if results.failures or args.keep_logs:
        print(f"logs kept in {logs}")
    else:
        shutil.rmtree(logs)
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
