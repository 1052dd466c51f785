"""Our `flower-superexec` answers the flags that have no other test as the stock one of each line:
`--executor-config` (which the subprocess executor refuses with flwr_exit 402) and the deprecated
`--appio-api-address` (a hidden alias of `--runtime-api-address`, with a warning, excluding it).
`--executor kubernetes` is ours alone to refuse (README, "What is not supported").
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from harness import PRIMARY, Line, Processes, base_env, free_port

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def superexec(kind: str, line: Line, build_dir: Path) -> list[str]:
    """The SuperExec's program and the plugin type 1.36 requires (1.42 ignores it)."""
    program = (str(build_dir / "superexec/flower-superexec") if kind == "cpp"
               else str(line.venv_bin / "flower-superexec"))
    return [program, "--plugin-type", "clientapp"]


def run(argv: list[str], line: Line, home: Path) -> tuple[int, str]:
    result = subprocess.run(argv, env=base_env(home, line), capture_output=True, text=True,
                            timeout=60)
    return result.returncode, ANSI.sub("", result.stdout + result.stderr)


def test_executor_config_is_refused_by_the_subprocess_executor_as_stock(
    flwr_line: str, tmp_path: Path, build_dir: Path
) -> None:
    line = Line(flwr_line)
    config = tmp_path / "executor.yaml"
    config.write_text("namespace: flwr\n")
    answers = {}
    for kind in ("cpp", "python"):
        argv = [*superexec(kind, line, build_dir), "--insecure", "--runtime-api-address",
                f"127.0.0.1:{free_port()}", "--executor-config", str(config)]
        answers[kind] = run(argv, line, tmp_path / kind)
    for kind, (rc, out) in answers.items():
        assert rc == 1, (kind, out)
        assert "Exit Code: 402" in out, (kind, out)
        assert (f"Failed to load executor config from '{config}': subprocess executor does not "
                "support --executor-config.\nFailed to select, load, or apply the SuperExec "
                "executor configuration.") in out, (kind, out)
        # (ours names the docs of the primary line: it knows no peer's version yet)
        assert "/en/ref-exit-codes/402.html>" in out, (kind, out)


def test_appio_api_address_excludes_runtime_api_address_as_stock(
    flwr_line: str, tmp_path: Path, build_dir: Path
) -> None:
    line = Line(flwr_line)
    for kind in ("cpp", "python"):
        rc, out = run([*superexec(kind, line, build_dir), "--insecure", "--runtime-api-address",
                       "127.0.0.1:9091", "--appio-api-address", "127.0.0.1:9091"], line,
                      tmp_path / kind)
        assert rc == 2, (kind, out)
        assert ("argument --appio-api-address: not allowed with argument --runtime-api-address"
                in out), (kind, out)


def test_appio_api_address_is_the_runtime_api_address_with_a_warning(
    flwr_line: str, tmp_path: Path, build_dir: Path
) -> None:
    """Both SuperExecs start with the old name, warn as stock does, and poll that address (a
    port where nothing listens: they keep retrying until stopped)."""
    line = Line(flwr_line)
    procs = Processes(tmp_path, base_env(tmp_path / "home", line))
    warning = ("The `--appio-api-address` argument has been renamed to `--runtime-api-address`. "
               "Please update your command; the old name will be removed in a future release.")
    try:
        for kind in ("cpp", "python"):
            procs.start(kind, [*superexec(kind, line, build_dir), "--insecure",
                               "--appio-api-address", f"127.0.0.1:{free_port()}"])
        deadline = time.monotonic() + 60
        for kind in ("cpp", "python"):
            while "Starting Flower SuperExec" not in procs.log(kind):
                assert time.monotonic() < deadline, procs.logs()
                assert dict(procs.procs)[kind].poll() is None, procs.logs()
                time.sleep(0.1)
            assert warning in ANSI.sub("", procs.log(kind)), procs.logs()
    finally:
        procs.stop_all()


def test_kubernetes_executor_is_a_one_line_refusal(tmp_path: Path, build_dir: Path) -> None:
    rc, out = run([str(build_dir / "superexec/flower-superexec"), "--insecure",
                   "--runtime-api-address", "127.0.0.1:9091", "--executor", "kubernetes"],
                  PRIMARY, tmp_path)
    assert rc == 2, out
    assert out.strip() == "flower-superexec: --executor kubernetes is not supported by this SuperExec", out
