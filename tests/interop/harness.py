"""Process harness for interop tests: real stock Flower processes and ours on loopback.

Every process runs in its own session with its output in a log file, and is killed (with its
process group) when the test ends. Ports are chosen free at run time (free_port: a range of
its own for each pytest-xdist worker).
"""

from __future__ import annotations

import functools
import importlib.metadata
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
APPS = REPO_ROOT / "tests" / "apps"
# The demo's Flower App (demo/pyproject.toml + demo/cifar_app/): `flwr run ./demo liqo`.
DEMO_APP = REPO_ROOT / "demo"


@functools.cache
def pinned_versions() -> list[str]:
    """flower-version.txt's pins, the primary line first (read once)."""
    return [line.split("==", 1)[1].strip()
            for line in (REPO_ROOT / "flower-version.txt").read_text().splitlines()
            if line.startswith("flwr==")]


@dataclass(frozen=True)
class Line:
    """One pinned Flower line: its version and the venv (scripts/setup.sh) holding its stock
    components. From 1.37 the CLI, from 1.40 SuperNodes reach the SuperLink over HTTP on its
    one port; before, over gRPC (Control, Fleet)."""

    version: str

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1])

    @property
    def venv_bin(self) -> Path:
        """scripts/setup.sh's venv of the line: `.venv` for the primary pin, else `.venv-X`."""
        if self.version == pinned_versions()[0]:
            return REPO_ROOT / ".venv" / "bin"
        return REPO_ROOT / f".venv-{self.version}" / "bin"

    @property
    def http_control(self) -> bool:
        return self.minor >= 37

    @property
    def http_fleet(self) -> bool:
        return self.minor >= 40

    def __str__(self) -> str:
        return self.version


LINES = [Line(v) for v in pinned_versions()]
PRIMARY = LINES[0]
# The line whose stock flwr this interpreter imports: the primary one, except for the test
# modules that drive another line's stock modules in-process (tests/conftest.py), which run in
# that line's venv. Processes default to this line, so that they match what the test imports.
IN_PROCESS = Line(importlib.metadata.version("flwr"))
# The newest pinned line (1.42: HTTP-only Fleet and Control on the SuperLink's one port).
NEWEST = max(LINES, key=lambda line: tuple(int(p) for p in line.version.split(".")))


def line_of(env: dict[str, str]) -> Line:
    """The line a base_env() environment was made for."""
    return Line(env.get("FLWR_TEST_LINE", IN_PROCESS.version))


def set_task_identity(run_id: int, node_id: int, task_id: int = 1) -> None:
    """From 1.42, flwr's Message() takes its run, node and task IDs from the process's
    TaskIdentity, which flwr's app runtime sets; code that builds messages in-process (outside
    a task) sets it as a task's would be. A no-op on lines without it (1.36)."""
    try:
        from flwr.supercore.task_identity import TaskIdentity
    except ImportError:
        return
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = run_id, node_id, task_id


def copy_test_app(name: str, dst: Path) -> Path:
    """A private copy of the test app tests/apps/<name> at `dst` (the stock CLI may rewrite its
    pyproject.toml)."""
    shutil.copytree(APPS / name, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def app_fab_bytes(name: str) -> bytes:
    """The test app tests/apps/<name> as FAB bytes (its files zipped, sorted, no caches)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        root = APPS / name
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                z.write(path, path.relative_to(root).as_posix())
    return buf.getvalue()


def copy_demo_app(dst: Path, connections: bool = False) -> Path:
    """A private copy of demo/ at `dst` (the stock CLI's first `flwr run` rewrites the app's
    pyproject.toml). Without `connections`, the copy is as the CLI leaves the app after that
    first run: [tool.flwr.federations] commented out, so that the run uses the test's own
    connection (migrating the app's would make its `local` the default)."""
    from flwr.cli.config_migration import _comment_out_legacy_toml_config

    shutil.copytree(DEMO_APP, dst, ignore=shutil.ignore_patterns("__pycache__"))
    if not connections:
        _comment_out_legacy_toml_config(dst)
    return dst


# free_port's ports: below the kernel's ephemeral range (net.ipv4.ip_local_port_range, from 32768
# by default), so that no outgoing connection's source port takes a port handed out, split into
# one range per pytest-xdist worker, so that two workers never hand out the same port.
PORT_RANGE = (10000, 32000)


def _port_block() -> tuple[int, int]:
    """[first, last) of this process's ports: worker i of n (PYTEST_XDIST_WORKER=gw<i>,
    PYTEST_XDIST_WORKER_COUNT=n) gets the i-th of n equal blocks; without xdist, all of them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), index + 1)
    size = (PORT_RANGE[1] - PORT_RANGE[0]) // count
    return PORT_RANGE[0] + index * size, PORT_RANGE[0] + (index + 1) * size


_next_port: int | None = None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, never the same twice in one
    process: the next of this worker's block (from an offset that depends on the pid, so that
    two test runs side by side start apart) that a socket can bind."""
    global _next_port
    first, last = _port_block()
    if _next_port is None:
        _next_port = first + (os.getpid() * 7919) % (last - first)
    for _ in range(last - first):
        port = _next_port
        _next_port = first if _next_port + 1 >= last else _next_port + 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{last - 1}")


# How long a process may take to listen: a stock Python server starts in a few seconds on a quiet
# machine, but a fresh-clone run measured over 30 s under a load average of 25. A readiness wait
# ends as soon as the port answers, so a generous limit costs nothing when all is well.
READY_TIMEOUT_S = 120.0


def wait_for_port(port: int, timeout: float = READY_TIMEOUT_S, proc: subprocess.Popen | None = None) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def app_pids(program: str, port: int) -> list[int]:
    """The stock `program` (flwr-serverapp, flwr-clientapp) processes whose arguments hold the
    API address 127.0.0.1:`port`. Their SuperLink or SuperNode starts them in sessions of their
    own: killing its process group leaves them."""
    address = f"127.0.0.1:{port}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.endswith(program.encode()) for arg in argv[:2]) and address in argv:
            pids.append(int(entry.name))
    return pids


@dataclass
class Processes:
    """Starts processes for one test and stops them all afterwards."""

    log_dir: Path
    env: dict[str, str]
    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**self.env, **(env or {})},
            start_new_session=True,
        )
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        for n, proc in self.procs:
            if n == name:
                return _stop(proc, sig, timeout)
        raise KeyError(name)

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            _stop(proc, signal.SIGTERM, 5.0)

    def stop_all_at_once(self, grace: float = 10.0) -> None:
        """SIGTERM every process group at once, SIGKILL what is left after `grace` s (hundreds
        of SuperNodes retrying the SuperLink on their way out: one at a time takes minutes)."""
        for _, proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for _, proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _stop(proc, signal.SIGKILL, grace)

    def logs(self) -> str:
        return "\n".join(f"===== {n} =====\n{self.log(n)[-6000:]}" for n, _ in self.procs)


def _stop(proc: subprocess.Popen, sig: int, timeout: float) -> int | None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    return proc.returncode


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
    ca_key, ca, key, csr, cert = (directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=flwr-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return ca, cert, key


def base_env(flwr_home: Path, line: Line = IN_PROCESS) -> dict[str, str]:
    """Environment for Flower processes: the line's venv first in PATH, a private FLWR_HOME."""
    env = dict(os.environ)
    env["PATH"] = f"{line.venv_bin}:{env.get('PATH', '')}"
    env["FLWR_TEST_LINE"] = line.version
    env["FLWR_HOME"] = str(flwr_home)
    env["FLWR_TELEMETRY_ENABLED"] = "0"
    env["FLWR_DISABLE_UPDATE_CHECK"] = "1"
    env["FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_cli_config(flwr_home: Path, control_port: int, name: str = "test") -> None:
    """Point the flwr CLI at a SuperLink on loopback (never its ':local:' default)."""
    flwr_home.mkdir(parents=True, exist_ok=True)
    (flwr_home / "config.toml").write_text(
        f'[superlink]\ndefault = "{name}"\n\n'
        f'[superlink.{name}]\naddress = "127.0.0.1:{control_port}"\ninsecure = true\n'
    )


@dataclass
class Ports:
    fleet: int = field(default_factory=free_port)
    control: int = field(default_factory=free_port)
    runtime: int = field(default_factory=free_port)

    def control_for(self, line: Line = IN_PROCESS) -> int:
        """Where the line's CLI reaches the SuperLink: gRPC Control, or the HTTP port."""
        return self.runtime if line.http_control else self.control

    def fleet_for(self, line: Line = IN_PROCESS) -> int:
        """Where the line's SuperNodes reach the SuperLink: gRPC Fleet, or the HTTP port."""
        return self.runtime if line.http_fleet else self.fleet

    def serving(self, line: Line = IN_PROCESS) -> list[int]:
        """The ports a SuperLink serves the line's CLI, SuperNodes and apps on."""
        return sorted({self.control_for(line), self.fleet_for(line), self.runtime})


def wait_for_superlink(ports: Ports, proc: subprocess.Popen, line: Line = IN_PROCESS,
                       timeout: float = READY_TIMEOUT_S) -> None:
    """Wait until a SuperLink accepts connections on every port the line's peers use."""
    for port in ports.serving(line):
        wait_for_port(port, timeout, proc=proc)


def superlink_argv(kind: str, ports: Ports, database: str, superlink_bin: Path,
                   line: Line = IN_PROCESS) -> list[str]:
    """Command line of a SuperLink, ours ('cpp') or the line's stock one ('python')."""
    program = str(superlink_bin) if kind == "cpp" else str(line.venv_bin / "flower-superlink")
    return [
        program,
        "--insecure",
        "--fleet-api-address", f"127.0.0.1:{ports.fleet}",
        "--control-api-address", f"127.0.0.1:{ports.control}",
        "--host", "127.0.0.1",
        "--port", str(ports.runtime),
        "--database", database,
        "--disable-runtime-dependency-installation",
    ]


def supernode_argv(
    fleet_port: int,
    appio_port: int,
    node_config: str,
    kind: str = "python",
    build_dir: Path | None = None,
    isolation: str = "subprocess",
    line: Line = IN_PROCESS,
) -> list[str]:
    """Command line of a SuperNode of the line: the line's stock Python one, or ours ('cpp',
    from build_dir; 1.42's HTTP Fleet client, or with --grpc-rere the gRPC one of 1.36).
    `fleet_port` is the port of the line's Fleet transport (Ports.fleet_for)."""
    program = (
        str(build_dir / "supernode" / "flower-supernode") if kind == "cpp"
        else str(line.venv_bin / "flower-supernode")
    )
    return [
        program,
        *(["--grpc-rere"] if kind == "cpp" and not line.http_fleet else []),
        "--isolation", isolation,
        "--insecure",
        "--superlink", f"127.0.0.1:{fleet_port}",
        "--host", "127.0.0.1",
        "--port", str(appio_port),
        "--node-config", node_config,
    ]


def flwr(env: dict[str, str], *args: str, timeout: float = 120.0, cwd: Path | None = None,
         venv_bin: Path | None = None) -> subprocess.CompletedProcess:
    """Run the stock `flwr` CLI of the environment's line (or of the venv whose bin/ is
    `venv_bin`)."""
    return subprocess.run(
        [str((venv_bin or line_of(env).venv_bin) / "flwr"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def normalise_cli_output(text: str, port: int) -> str:
    """`flwr` CLI output with the SuperLink's port, times and whitespace made comparable between
    two SuperLinks."""
    text = text.replace(str(port), "PORT")
    text = re.sub(r"\d{4}-\d\d-\d\d[T ][\d:.]+(\+00:00|Z)?", "TIME", text)
    return re.sub(r"\s+", " ", text).strip()


def list_runs(env: dict[str, str], venv_bin: Path | None = None) -> list[dict]:
    """`flwr ls --format json` as a list of run dicts."""
    result = flwr(env, "ls", "--format", "json", venv_bin=venv_bin)
    assert result.returncode == 0, result.stdout + result.stderr
    payload = json.loads(result.stdout)
    assert payload["success"], payload
    return payload["runs"]


def wait_for_status(env: dict[str, str], run_id: str, prefix: str, timeout: float = 180.0,
                    venv_bin: Path | None = None) -> dict:
    """Poll `flwr ls` until the run's status starts with `prefix`."""
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        for run in list_runs(env, venv_bin):
            if run["run-id"] == run_id:
                last = run
                if run["status"].startswith(prefix):
                    return run
        time.sleep(1.0)
    raise TimeoutError(f"run {run_id} did not reach {prefix!r}; last seen {last}")
