"""SuperNode faults with real processes: `kill -9` of a SuperNode while it uploads its reply.

Two C++ SuperNodes train on a 20 MB model. The victim replies random weights (faulty_app's
"distinct" fault: its upload shares no object with the other reply) and reaches the SuperLink
through a proxy in the test that stops forwarding what the victim sends once 10 MB of it went
through. Nothing a node sends before its reply's objects comes near 10 MB, and PushObject
follows PushMessages, so the victim's reply message is then stored and its objects part stored,
part only preregistered. The test kills the victim there, SuperNode and ClientApp (which runs
in a session of its own), as a machine that goes down.

What a user relies on, as stock Flower does (1.36 and 1.42 alike):
- the SuperLink keeps serving;
- the round ends as the strategy says (aggregate the replies that came) and does not hang: the
  ServerApp got the half-uploaded reply (the SuperLink hands a reply out once it is pushed; its
  objects follow) and pulls its objects with retries for up to 2 h, but once the reply's object
  push session expires (180 s after its last object came; this test's SuperLink is given
  PUSH_SESSION_TTL_S instead, through a test hook), the SuperLink drops the reply and
  its objects at the next pull of a missing one (flwr's LinkState.get_object) and the pull
  answers "not found": the ServerApp's grid turns the reply into a MESSAGE_UNAVAILABLE error;
- the next round's instruction to the killed node gets a "Node Unavailable" error reply (its
  heartbeat lapsed);
- the run completes, and the node, restarted, joins again.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from harness import (
    PRIMARY,
    Line,
    Ports,
    Processes,
    app_pids,
    base_env,
    flwr,
    free_port,
    superlink_argv,
    supernode_argv,
    wait_for_port,
    wait_for_status,
    write_cli_config,
)
from test_supernode import faulty_app  # noqa: F401  (fixture)

# 5 M float32 = 20 MB of reply objects (four 5 MiB ArrayChunks); the proxy lets half through.
ARRAY_SIZE = 5_000_000
FORWARD_LIMIT = 10_000_000
PUSH_SESSION_TTL_S = 15  # stock: 180 s (flwr.common.constant), kPushSessionTtl


class StallingProxy:
    """A TCP proxy on 127.0.0.1 to `target_port`. It forwards both ways, but of what its clients
    send only the first `limit` bytes in all: the rest it reads and drops, as if the sender had
    stalled mid-request (the sender's writes still complete). `stalled` is set at `limit`."""

    def __init__(self, target_port: int, limit: int) -> None:
        self.target_port = target_port
        self.limit = limit
        self.forwarded = 0
        self.stalled = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while data := src.recv(1 << 20):
                if upstream:
                    with self._lock:
                        data = data[: max(self.limit - self.forwarded, 0)]
                        self.forwarded += len(data)
                        if self.forwarded >= self.limit:
                            self.stalled.set()
                if data:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


def kill_9(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def online_nodes(metrics_port: int) -> int:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith('flwr_superlink_nodes{status="online"}'):
            return int(float(line.split()[-1]))
    return 0


# One line: the expiry is the SuperLink's object store, the same for either Fleet transport. The
# SuperLink's push sessions live PUSH_SESSION_TTL_S instead of stock's 180 s (a test hook), so
# the case does not wait out 3 minutes; the expiry path is the same.
@pytest.mark.parametrize("line", [PRIMARY], ids=str)
def test_kill_9_of_a_supernode_mid_upload(line: Line, tmp_path: Path, build_dir: Path, faulty_app: Path) -> None:  # noqa: F811
    flwr_home = tmp_path / "flwr_home"
    env = base_env(flwr_home, line)
    ports = Ports()
    write_cli_config(flwr_home, ports.control_for(line))
    procs = Processes(tmp_path, env)
    fleet = ports.fleet_for(line)
    metrics = free_port()
    proxy: StallingProxy | None = None

    victim_appio = free_port()

    def start_node(name: str, fleet_port: int, partition: int, appio_port: int | None = None):
        return procs.start(name, supernode_argv(fleet_port, appio_port or free_port(),
                                                f"partition-id={partition} num-partitions=2",
                                                kind="cpp", build_dir=build_dir, line=line))

    try:
        argv = superlink_argv("cpp", ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink", line)
        link = procs.start("superlink", argv + ["--metrics-address", f"127.0.0.1:{metrics}"],
                           env={"FLWR_TEST_PUSH_SESSION_TTL_S": str(PUSH_SESSION_TTL_S)})
        for port in (ports.control_for(line), fleet, metrics):
            wait_for_port(port, proc=link)
        proxy = StallingProxy(fleet, FORWARD_LIMIT)
        victim = start_node("victim", proxy.port, 0, victim_appio)
        start_node("survivor", fleet, 1)
        result = flwr(env, "run", str(faulty_app), "--format", "json", "--run-config",
                      f'num-server-rounds=2 array-size={ARRAY_SIZE} fault-round=1 fault="distinct"', timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr + procs.logs()
        run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)

        assert proxy.stalled.wait(timeout=240), f"the victim never uploaded 10 MB\n{procs.logs()}"
        assert victim.poll() is None, procs.logs()
        kill_9(app_pids("flwr-clientapp", victim_appio))
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        killed = time.monotonic()

        # The push session expires PUSH_SESSION_TTL_S after the victim's last object; then the
        # ServerApp's next pull (its backoff is at most 10 s) ends its wait.
        run = wait_for_status(env, run_id, "finished", timeout=300)
        assert run["status"] == "finished:completed", (run, procs.logs())
        assert link.poll() is None, procs.logs()
        log = flwr(env, "log", run_id, "--show", timeout=60).stdout
        # (the reason holds a quote: Python's repr puts it in double quotes)
        assert re.search(r"round 1: 1 ok, errors \[.3:Reply message objects are unavailable", log), log
        assert re.search(r"round 2: 1 ok, errors \['5:Error: Node Unavailable", log), log
        print(f"run finished {time.monotonic() - killed:.0f} s after the kill")

        start_node("victim-restarted", fleet, 0)
        deadline = time.monotonic() + 60
        while online_nodes(metrics) != 2:
            assert time.monotonic() < deadline, procs.logs()
            time.sleep(0.2)
    finally:
        procs.stop_all()
        kill_9(app_pids("flwr-clientapp", victim_appio))
        if proxy is not None:
            proxy.close()
