"""The app executables' argv against the stock argparse, at test time: our `flwr-clientapp` and
`flwr-serverapp` and the stock ones of each pinned line get the same command lines and must
agree on what is accepted and, for what is not, print the same error and exit the same way.

Rejected forms exit at once: exit status and output (argparse's usage and error lines, or
flwr's one-line reason) must match. Accepted forms start the task: both executables then try
a Runtime API where nothing listens and keep retrying, so "accepted" is "no parse error and
still running" after a short while, for both.
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import Line, free_port

# Rejected by argparse (exit 2) or by flwr's own checks (exit 1), as the stock executables do.
REJECTED = [
    [],
    ["--token", "a", "--token-file", "f"],
    ["--token", "a", "--bogus", "x"],
    ["--token", "a", "--bogus"],
    ["--token"],
    ["--token", "-x"],
    ["--token", "a", "--parent-pid", "p"],
    ["--token", "a", "--parent-pid", "1.5"],
    ["--tok", "a"],  # an ambiguous abbreviation: --token or --token-file
    ["--token", "a", "--", "x"],
    ["--token", "a", "--root-cert"],
    ["--token", "a", "--runtime-api-address"],
    ["--token", "   "],
    ["--token-file", "/nonexistent/token"],
    ["--token", "a", "--insecure", "--root-certificates", "ca.pem"],
    ["--token", "a", "--root-certificates", "/nonexistent/ca.pem"],
]
# Accepted; "{address}" is a port where nothing listens.
ACCEPTED = [
    ["--token", "a", "--insecure", "--runtime-api-address", "{address}"],
    ["--token=a", "--insecure", "--runtime-api-address={address}"],
    ["--token", "a", "--ins", "--runtime-api", "{address}", "--allow-runtime"],  # abbreviations
    ["--token", "a", "--insecure", "--parent-pid", "1", "--parent-pid", "1",
     "--runtime-api-address", "{address}"],  # the last value wins
]
ACCEPTED_WAIT_S = 4.0  # the stock executable parses within about a second


def closed_address() -> str:
    return f"127.0.0.1:{free_port()}"


def run(argv: list[str], cwd: Path, timeout: float | None = 180) -> tuple[int | None, str]:
    """Exit status (None: still running after `timeout`) and output, colours stripped."""
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env={"PATH": "/usr/bin:/bin", "FLWR_HOME": str(cwd)})
        status, out = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        status = None
        out = (expired.stdout or b"").decode(errors="replace") + (expired.stderr or b"").decode(errors="replace")
    return status, re.sub(r"\x1b\[[0-9;]*m", "", out)


def exit_reason(out: str) -> str:
    """What the process says before it exits: argparse's usage and error, or flwr's reason
    (the flwr_exit banner's first lines). The banner's docs link names a Flower version: ours
    names the primary line's (an app exiting before it reaches its Runtime API cannot know the
    server's line), so the link's version is left out of the comparison."""
    text = "\n".join(line.rstrip() for line in out.strip().splitlines()[:8])
    return re.sub(r"/docs/framework/\d+\.\d+/", "/docs/framework/<version>/", text)


@pytest.fixture(params=["flwr-clientapp", "flwr-serverapp"])
def executables(request, build_dir: Path, flwr_line: str) -> tuple[Path, Path]:
    ours = {"flwr-clientapp": "clientapp/cli/flwr-clientapp", "flwr-serverapp": "serverapp/flwr-serverapp"}
    return build_dir / ours[request.param], Line(flwr_line).venv_bin / request.param


def test_rejected_forms_fail_as_the_stock_argparse(executables: tuple[Path, Path], tmp_path: Path) -> None:
    ours, stock = executables
    (tmp_path / "ca.pem").write_text("not a certificate\n")

    def both(args: list[str]):
        return run([str(ours), *args], tmp_path), run([str(stock), *args], tmp_path)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(both, REJECTED))
    for args, ((our_status, our_out), (stock_status, stock_out)) in zip(REJECTED, results):
        assert stock_status in (1, 2), (args, stock_status, stock_out)
        assert our_status == stock_status, (args, our_out, stock_out)
        assert exit_reason(our_out) == exit_reason(stock_out), args


def test_accepted_forms_start_the_task_as_the_stock_argparse(executables: tuple[Path, Path],
                                                             tmp_path: Path) -> None:
    ours, stock = executables

    def both(args: list[str]):
        args = [a.replace("{address}", closed_address()) for a in args]
        return (run([str(ours), *args], tmp_path, ACCEPTED_WAIT_S),
                run([str(stock), *args], tmp_path, ACCEPTED_WAIT_S))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(both, ACCEPTED))
    for args, ((our_status, our_out), (stock_status, stock_out)) in zip(ACCEPTED, results):
        assert stock_status is None and "error:" not in stock_out, (args, stock_out)
        assert our_status is None and "error:" not in our_out, (args, our_out)
