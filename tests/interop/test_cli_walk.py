"""Every `flwr` CLI command that talks to a SuperLink, of each pinned line, against our SuperLink
and the line's stock one side by side: the same exit code and the same output (ports, times and
IDs normalised). No SuperNodes and no runs: the commands meet an empty SuperLink, as the
Control rpcs of the open-source SuperLink answer them (listings, NoOp federation management,
no account auth, no artifact provider)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import LINES, Line, Ports, Processes, base_env, flwr, normalise_cli_output, superlink_argv, \
    wait_for_superlink, write_cli_config

DEFAULT = "@none/default"
COMMANDS = [
    ("ls",),
    ("ls", "--format", "json"),
    ("ls", "--run-id", "4242"),
    ("log", "4242"),
    ("stop", "4242"),
    ("pull", "4242"),
    ("login",),
    ("supernode", "list"),
    ("supernode", "list", "--format", "json"),
    ("supernode", "unregister", "4242"),
    ("federation", "list"),
    ("federation", "list", "--format", "json"),
    ("federation", "list", "--federation", DEFAULT),
    ("federation", "list", "--federation", "@alice/other"),
    ("federation", "create", "fed-1"),
    ("federation", "create", "1fed"),
    ("federation", "archive", DEFAULT),
    ("federation", "add-supernode", "4242", DEFAULT),
    ("federation", "remove-supernode", "4242", DEFAULT),
    ("federation", "remove-account", DEFAULT, "bob"),
    ("federation", "simulation-config", DEFAULT),
    ("federation", "invite", "list"),
    ("federation", "invite", "create", DEFAULT, "bob"),
    ("federation", "invite", "accept", DEFAULT),
    ("federation", "invite", "reject", DEFAULT),
    ("federation", "invite", "revoke", DEFAULT, "bob"),
]


@pytest.fixture(scope="module", params=LINES, ids=str)
def superlinks(request, tmp_path_factory, build_dir: Path):
    """Per line: our SuperLink and the stock one, each with its own CLI configuration."""
    line: Line = request.param
    tmp = tmp_path_factory.mktemp(f"walk-{line}")
    sides = {}
    procs = Processes(tmp, base_env(tmp / "home", line))
    for kind in ("cpp", "python"):
        env = base_env(tmp / kind, line)
        ports = Ports()
        write_cli_config(tmp / kind, ports.control_for(line))
        proc = procs.start(kind, superlink_argv(kind, ports, ":flwr-in-memory:",
                                                build_dir / "superlink/flower-superlink", line))
        sides[kind] = (env, ports.control_for(line), proc, ports)
    for env, _, proc, ports in sides.values():
        wait_for_superlink(ports, proc, line)
    yield sides
    procs.stop_all()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_cli_command_answers_as_the_stock_superlink(command: tuple[str, ...], superlinks) -> None:
    answers = {}
    for kind, (env, port, _, _) in superlinks.items():
        result = flwr(env, *command, timeout=60)
        answers[kind] = (result.returncode, normalise_cli_output(result.stdout + result.stderr, port))
    assert answers["cpp"] == answers["python"], command
