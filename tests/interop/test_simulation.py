"""`flower-superlink --simulation` on every pinned line: the Control answers for the simulation
federation (`flwr federation list`, `flwr federation simulation-config`) of our SuperLink and the
line's stock one side by side, and a small simulation run with the stock `flwr run` through our
SuperLink: the numpy test app, 2 rounds on simulated SuperNodes in the stock `flwr-simulation`
(Ray, the `simulation` extra scripts/setup.sh installs), which our SuperLink starts itself
(`--isolation subprocess`) or a SuperExec the user started (`--isolation process`): the stock
one, or ours.

Cost: three simulations on the primary line, two on the other, each about 15 s on a quiet 2-core
machine (most of it Ray's start), and 10 s for each line's side-by-side walk: about 65 s for
1.42 and 45 s for 1.36; up to twice that under a full CI run's load."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import (
    PRIMARY,
    Line,
    Ports,
    Processes,
    app_pids,
    base_env,
    copy_test_app,
    flwr,
    normalise_cli_output,
    superlink_argv,
    wait_for_port,
    wait_for_status,
    write_cli_config,
)

DEFAULT = "@none/default"
# In order: each sees what the ones before it configured.
FEDERATION_COMMANDS = [
    ("federation", "list", "--format", "json"),
    ("federation", "list", "--federation", DEFAULT),
    ("federation", "simulation-config", "@alice/other", "--num-supernodes", "3"),
    ("federation", "simulation-config", DEFAULT, "--num-supernodes", "3", "--init-args-num-cpus", "2",
     "--format", "json"),
    ("federation", "simulation-config", "--client-resources-num-cpus", "1", "--verbose"),
    ("federation", "list", "--federation", DEFAULT, "--format", "json"),
    ("federation", "invite", "create", DEFAULT, "bob"),
]

@dataclass
class SimulationLink:
    """A SuperLink with --simulation and the line's CLI pointed at it."""

    line: Line
    env: dict[str, str]
    ports: Ports
    procs: Processes
    proc: subprocess.Popen

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return flwr(self.env, *args, timeout=timeout)


def start_simulation_link(kind: str, line: Line, directory: Path, build_dir: Path, isolation: str) -> SimulationLink:
    """Our SuperLink ('cpp') or the line's stock one ('python') with `--simulation`, once it
    serves the line's CLI and apps (no Fleet API of the line: simulated SuperNodes need none)."""
    directory.mkdir(parents=True)
    ports = Ports()
    env = base_env(directory / "home", line)
    write_cli_config(directory / "home", ports.control_for(line))
    procs = Processes(directory, env)
    argv = superlink_argv(kind, ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink", line)
    proc = procs.start("superlink", argv + ["--simulation", "--isolation", isolation])
    for port in {ports.control_for(line), ports.runtime}:
        wait_for_port(port, proc=proc)
    return SimulationLink(line, env, ports, procs, proc)


def listens(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_simulation_federation_answers_as_the_stock_superlink(flwr_line: str, tmp_path: Path,
                                                             build_dir: Path) -> None:
    line = Line(flwr_line)
    links = {kind: start_simulation_link(kind, line, tmp_path / kind, build_dir, "process")
             for kind in ("cpp", "python")}
    try:
        for kind, link in links.items():
            # As stock: no gRPC Fleet API (1.42 serves its HTTP Fleet routes on the one port).
            assert not listens(link.ports.fleet), kind
        def answer(link: SimulationLink, command: tuple[str, ...]) -> tuple[int, str]:
            result = link.cli(*command)
            return result.returncode, normalise_cli_output(result.stdout + result.stderr,
                                                           link.ports.control_for(line))

        with ThreadPoolExecutor(len(links)) as pool:
            for command in FEDERATION_COMMANDS:
                ours, stock = pool.map(answer, links.values(), [command] * len(links))
                assert ours == stock, command
        assert "Fleet API" not in links["cpp"].procs.log("superlink")
    finally:
        for link in links.values():
            link.procs.stop_all()


@pytest.mark.parametrize("executor", ["superlink", "stock-superexec", "our-superexec"])
def test_a_simulation_runs_through_our_superlink(flwr_line: str, executor: str, tmp_path: Path,
                                                 build_dir: Path) -> None:
    """The stock CLI configures the federation, then runs the numpy app with a federation-config
    override: 2 rounds on 2 simulated SuperNodes (the run's config wins over the federation's
    3), to finished:completed, its log holding every round's result. The stock `flwr-simulation`
    is started by our SuperLink (`--isolation subprocess`), or by a SuperExec beside it
    (`--isolation process`): the stock one or ours."""
    line = Line(flwr_line)
    if executor == "our-superexec" and line != PRIMARY:
        pytest.skip("bounded cost: our SuperExec's simulations are run on the primary line only (its "
                    "task polling per line is what test_runtime_lines.py covers)")
    isolation = "subprocess" if executor == "superlink" else "process"
    link = start_simulation_link("cpp", line, tmp_path / "link", build_dir, isolation)
    try:
        if isolation == "process":
            # What the user starts beside a SuperLink with --isolation process (1.36 runs
            # simulations with its ServerApp plugin, 1.42 takes every task type).
            program = (line.venv_bin / "flower-superexec" if executor == "stock-superexec"
                       else build_dir / "superexec/flower-superexec")
            plugin = [] if line.minor >= 42 else ["--plugin-type", "serverapp"]
            link.procs.start("superexec", [str(program), "--insecure",
                                           "--runtime-api-address", f"127.0.0.1:{link.ports.runtime}", *plugin])
        configured = link.cli("federation", "simulation-config", DEFAULT, "--num-supernodes", "3")
        assert configured.returncode == 0, configured.stdout + configured.stderr
        app = copy_test_app("numpy_app", tmp_path / "app")
        started = time.monotonic()
        result = link.cli("run", str(app), "--run-config", "num-server-rounds=2 array-size=10",
                          "--federation-config", "num-supernodes=2", "--stream", timeout=120)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output + link.procs.logs()
        match = re.search(r"Successfully started run (\d+)", output)
        assert match, output
        run = wait_for_status(link.env, match.group(1), "finished", timeout=30)
        assert run["status"] == "finished:completed", (run, output, link.procs.logs())
        # flwr-simulation's log, streamed by our SuperLink: the federation it simulated and the
        # ServerApp's result of each round.
        assert "Federation `@none/default` (2 simulated SuperNodes)" in output, output
        for server_round in (1, 2):
            assert f"round {server_round}: 2 replies, mean weight {server_round}.000" in output, output
        print(f"simulation through our SuperLink ({line}, {executor}): {time.monotonic() - started:.1f} s")
        # The simulation's process exits with its run (Ray with it).
        deadline = time.monotonic() + 15
        while app_pids("flwr-simulation", link.ports.runtime) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not app_pids("flwr-simulation", link.ports.runtime)
    finally:
        link.procs.stop_all()
