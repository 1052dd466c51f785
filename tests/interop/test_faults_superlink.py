"""SuperLink faults with real processes: `kill -9` of our SQLite SuperLink while the ServerApp
is pushing a 100 MB model to it.

The test watches the SQLite file (a second reader, as WAL allows) and kills the SuperLink while
the model's objects are part stored, part only preregistered. Then it restarts the SuperLink on
the same file and checks what a user relies on: every object the SuperLink had stored before
the kill is still there, the ServerApp (in its own session, it outlives the SuperLink) finishes
the push through the restarted one, and the run does not hang: it ends `finished:completed`, or
`finished:failed` with a reason.

A SuperLink killed between committing an instruction's delivery and sending it to the SuperNode
leaves an instruction marked delivered that the SuperNode never got. The window is short, so the
test leaves the file in that state itself (every instruction not yet pulled is marked delivered)
before the restart: the restarted SuperLink must hand those out again, or the run would hang.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

from harness import app_pids, flwr, list_runs, superlink_argv, wait_for_port, wait_for_status
from test_superlink_with_stock_components import app_dir, start_federation  # noqa: F401


def object_counts(database: Path) -> tuple[set[str], int]:
    """(IDs of stored objects, number of preregistered ones not stored yet)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as db:
        stored = {row[0] for row in db.execute("SELECT object_id FROM objects WHERE is_available = 1")}
        pending = db.execute("SELECT COUNT(*) FROM objects WHERE is_available = 0").fetchone()[0]
        return stored, pending


def wait_for_objects(database: Path, done, what: str, timeout: float, logs) -> tuple[set[str], int]:
    """Poll the SQLite file until `done(stored, pending)` (no file or no table yet: not done)."""
    deadline = time.monotonic() + timeout
    counts: tuple[set[str], int] = (set(), 0)
    while True:
        try:
            counts = object_counts(database)
            if done(*counts):
                return counts
        except sqlite3.OperationalError:
            pass
        assert time.monotonic() < deadline, f"{what} after {timeout}s: {counts[1]} pending\n{logs()}"
        time.sleep(0.005)


def test_kill_9_while_a_100mb_model_is_pushed(tmp_path: Path, build_dir: Path, app_dir: Path) -> None:  # noqa: F811
    database = tmp_path / "state.db"
    procs, env, ports = start_federation("cpp", tmp_path, build_dir, str(database))
    supernodes = [proc for name, proc in procs.procs if name.startswith("supernode")]
    try:
        # 25 M float32 = 100 MB in 5 MiB ArrayChunks (identical chunks are one object).
        result = flwr(
            env, "run", str(app_dir), "--format", "json",
            "--run-config", "num-server-rounds=1 array-size=25000000", timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr + procs.logs()
        run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)

        seen, _ = wait_for_objects(
            database, lambda stored, pending: stored and pending, "never saw the model part pushed", 180, procs.logs
        )
        procs.stop("superlink", signal.SIGKILL)
        # The SuperNodes wait while the SuperLink restarts: they are the only ones that may
        # legitimately delete objects (confirming a received instruction deletes its objects).
        for node in supernodes:
            os.kill(node.pid, signal.SIGSTOP)
        committed, _ = object_counts(database)
        assert committed >= seen
        with contextlib.closing(sqlite3.connect(database)) as db, db:
            delivered_at = datetime.now(timezone.utc).isoformat()
            db.execute("UPDATE message_ins SET delivered_at = ? WHERE delivered_at = ''", (delivered_at,))

        restarted = procs.start(
            "superlink-restarted", superlink_argv("cpp", ports, str(database), build_dir / "superlink/flower-superlink")
        )
        for port in (ports.control, ports.fleet, ports.runtime):
            wait_for_port(port, proc=restarted)
        assert any(r["run-id"] == run_id for r in list_runs(env)), procs.logs()
        after, _ = wait_for_objects(
            database, lambda stored, pending: pending == 0, "the ServerApp did not finish the push", 120, procs.logs
        )
        assert committed <= after, f"{len(committed - after)} stored objects lost over the restart"
        for node in supernodes:
            os.kill(node.pid, signal.SIGCONT)

        run = wait_for_status(env, run_id, "finished", timeout=180)
        if run["status"] == "finished:failed":
            assert run.get("status-details"), (run, procs.logs())
        else:
            assert run["status"] == "finished:completed", (run, procs.logs())
            log = flwr(env, "log", run_id, "--show", timeout=60).stdout
            assert "round 1: 2 replies" in log, log + procs.logs()
    finally:
        for node in supernodes:
            if node.poll() is None:
                os.kill(node.pid, signal.SIGCONT)
        procs.stop_all()
        for pid in app_pids("flwr-serverapp", ports.runtime):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
