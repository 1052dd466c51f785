"""SuperLink faults with real processes: `kill -9` of our SQLite SuperLink while the ServerApp
is pushing a 100 MB model to it.

The test watches the SQLite file (a second reader, as WAL allows) and kills the SuperLink while
the model's objects are part stored, part only preregistered. Then it restarts the SuperLink on
the same file and checks what a user relies on: every object the SuperLink had committed
before the kill is still there, the SuperLink serves again, and the run does not hang — it ends
`finished:completed` (the ServerApp's retries carry the push on) or `finished:failed` with a
reason.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import time
from pathlib import Path

from harness import flwr, list_runs, superlink_argv, wait_for_port, wait_for_status
from test_superlink_with_stock_components import app_dir, start_federation  # noqa: F401


def object_counts(database: Path) -> tuple[set[str], int]:
    """(IDs of stored objects, number of preregistered ones not stored yet)."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=0.2) as db:
            stored = {row[0] for row in db.execute("SELECT object_id FROM objects WHERE is_available = 1")}
            pending = db.execute("SELECT COUNT(*) FROM objects WHERE is_available = 0").fetchone()[0]
            return stored, pending
    except sqlite3.Error:
        return set(), 0


def test_kill_9_while_a_100mb_model_is_pushed(tmp_path: Path, build_dir: Path, app_dir: Path) -> None:  # noqa: F811
    database = tmp_path / "state.db"
    procs, env, ports = start_federation("cpp", tmp_path, build_dir, str(database))
    try:
        # 25 M float32 = 100 MB: 20 ArrayChunks of 5 MiB pushed one by one.
        result = flwr(
            env, "run", str(app_dir), "--format", "json",
            "--run-config", "num-server-rounds=1 array-size=25000000", timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr + procs.logs()
        run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)

        deadline = time.monotonic() + 180
        while True:
            stored, pending = object_counts(database)
            if len(stored) >= 2 and pending > 0:
                break
            assert time.monotonic() < deadline, "never saw the model part pushed\n" + procs.logs()
            time.sleep(0.005)
        procs.stop("superlink", signal.SIGKILL)
        committed, _ = object_counts(database)
        import subprocess
        print("DEBUG ps", subprocess.run(["bash", "-c", "ps -eo pid,pgid,cmd | grep -i serverapp | grep -v grep"], capture_output=True, text=True).stdout)  # what the SuperLink had committed when it died
        assert committed >= stored

        restarted = procs.start(
            "superlink-restarted", superlink_argv("cpp", ports, str(database), build_dir / "superlink/flower-superlink")
        )
        wait_for_port(ports.control, proc=restarted)
        assert any(r["run-id"] == run_id for r in list_runs(env)), procs.logs()
        after, _ = object_counts(database)
        lost = committed - after
        # Objects can only go away with their run: as long as the run is not finished, none may.
        run = next(r for r in list_runs(env) if r["run-id"] == run_id)
        print(f"after restart: run {run['status']}, {len(lost)} of {len(committed)} committed objects gone")
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            for oid in lost:
                print("DEBUG", oid[:12], db.execute("SELECT is_available, ref_count, length(content) FROM objects WHERE object_id=?", (oid,)).fetchall())
            print("DEBUG sessions", db.execute("SELECT * FROM push_session").fetchall())
            print("DEBUG tasks", db.execute("SELECT * FROM task").fetchall()[:3])

        run = wait_for_status(env, run_id, "finished", timeout=300)
        assert run["status"] in ("finished:completed", "finished:failed"), (run, procs.logs())
        if run["status"] == "finished:failed":
            assert run.get("status-details") or "failed" in run["status"], (run, procs.logs())
        else:
            log = flwr(env, "log", run_id, "--show", timeout=60).stdout
            assert "round 1: 2 replies" in log, log + procs.logs()
        print(f"killed with {len(committed)} objects stored, {pending} pending; run ended {run['status']}")
    finally:
        procs.stop_all()
