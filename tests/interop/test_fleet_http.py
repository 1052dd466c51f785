"""Our SuperNode on the HTTP Fleet API of Flower 1.42 (its default transport) against the stock
1.42 SuperLink (the newest pin's venv), driven by the stock 1.42 `flwr` CLI:

* two of our `flower-supernode`s (no transport flag, `--superlink 127.0.0.1:PORT`) complete a
  run of tests/apps/native_numpy_app, over HTTP and over HTTPS (a CA made at test time; the
  SuperLink's --ssl-*, the nodes' and the CLI's root certificates): the stock 1.42 ServerApp
  (stock FedAvg) and our native numpy-echo ClientApp on each node. (The demo app's Python
  ServerApp needs torch, which the 1.42 venv does not have; the Fleet traffic is the same.)
* the FleetClient (fleet_client_probe) over HTTPS, with a CA made at test time: with that CA it
  connects, heartbeats and disconnects; with another CA the handshake fails and, as stock, is
  not retried;
* a SuperLink restarted in memory answers the node's next call with 401: "node rejected".
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from harness import (
    NEWEST,
    Ports,
    Processes,
    base_env,
    copy_test_app,
    flwr,
    free_port,
    make_certificates,
    wait_for_port,
    wait_for_status,
    write_cli_config,
)

# native_numpy_app's twins with partition ids 0 and 1 report train_loss 1 and 2 with weights
# 10 and 20: FedAvg's weighted mean shows both nodes' replies were aggregated.
TRAIN_LOSS = 1.0 * (10 / 30) + 2.0 * (20 / 30)


def env_142(flwr_home: Path) -> dict[str, str]:
    """base_env with the stock 1.42 executables (flower-superexec, flwr-serverapp) first on PATH."""
    env = base_env(flwr_home)
    env["PATH"] = f"{NEWEST.venv_bin}:{env['PATH']}"
    return env


def start_superlink_142(procs: Processes, port: int, *tls: str, name: str = "superlink") -> None:
    """The stock 1.42 SuperLink: Control, Fleet and Runtime on one HTTP(S) port."""
    argv = [str(NEWEST.venv_bin / "flower-superlink"), "--database", ":flwr-in-memory:",
            "--host", "127.0.0.1", "--port", str(port)]
    link = procs.start(name, argv + (list(tls) if tls else ["--insecure"]))
    wait_for_port(port, proc=link)


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_cpp_supernodes_over_http_complete_a_stock_142_run(tls: bool, tmp_path: Path, build_dir: Path) -> None:
    flwr_home = tmp_path / "flwr_home"
    env = env_142(flwr_home)
    port = free_port()
    write_cli_config(flwr_home, port)
    procs = Processes(tmp_path, env)
    app = copy_test_app("native_numpy_app", tmp_path / "app")
    node_tls = ["--insecure"]
    link_tls: list[str] = []
    if tls:
        ca, cert, key = make_certificates(tmp_path)
        (flwr_home / "config.toml").write_text(
            f'[superlink]\ndefault = "tls"\n\n[superlink.tls]\naddress = "127.0.0.1:{port}"\n'
            f'root-certificates = "{ca}"\n')
        node_tls = ["--root-certificates", str(ca)]
        link_tls = ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key), "--ssl-ca-certfile", str(ca)]
    try:
        start_superlink_142(procs, port, *link_tls)
        for i in range(2):
            procs.start(f"supernode{i}", [
                str(build_dir / "supernode/flower-supernode"), *node_tls, "--superlink", f"127.0.0.1:{port}",
                "--host", "127.0.0.1", "--port", str(free_port()),
                "--node-config", f"partition-id={i} num-partitions=2"])
        result = flwr(env, "run", str(app), "--format", "json", timeout=120, venv_bin=NEWEST.venv_bin)
        assert result.returncode == 0, result.stdout + result.stderr + procs.logs()
        run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)
        try:
            run = wait_for_status(env, run_id, "finished", timeout=240, venv_bin=NEWEST.venv_bin)
        except TimeoutError as e:
            raise AssertionError(f"{e}\n{procs.logs()}") from None
        log = flwr(env, "log", run_id, "--show", timeout=60, venv_bin=NEWEST.venv_bin).stdout
        assert run["status"] == "finished:completed", log + procs.logs()
        assert log.count("aggregate_train: Received 2 results and 0 failures") == 2, log + procs.logs()
        assert repr(TRAIN_LOSS) in log, log
        for i in range(2):
            node_log = procs.log(f"supernode{i}")
            assert ("Starting insecure HTTP channel" in node_log) != tls, node_log
            assert node_log.count("Sent successfully") >= 4, node_log  # 2 rounds of train + evaluate
    finally:
        procs.stop_all()


def test_fleet_client_over_https_with_stock_142_superlink(tmp_path: Path, build_dir: Path) -> None:
    (tmp_path / "other").mkdir()
    ca, cert, key = make_certificates(tmp_path)
    other_ca, _, _ = make_certificates(tmp_path / "other")
    procs = Processes(tmp_path, env_142(tmp_path / "flwr_home"))
    port = free_port()
    probe = [str(build_dir / "supernode/fleet_client_probe"), f"127.0.0.1:{port}"]
    try:
        start_superlink_142(procs, port, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
                            "--ssl-ca-certfile", str(ca))
        good = subprocess.run(probe + ["--root-certificates", str(ca)], input="connect\nheartbeats\ndisconnect\nquit\n",
                              capture_output=True, text=True, timeout=60)
        connected, heartbeats, disconnected = (json.loads(line) for line in good.stdout.splitlines())
        assert connected["ok"] and connected["node_id"] > 0, good.stdout + good.stderr
        assert heartbeats["status"] == "OK" and disconnected["ok"], good.stdout + good.stderr
        bad = subprocess.run(probe + ["--root-certificates", str(other_ca), "--max-retries", "3"],
                             input="connect\nquit\n", capture_output=True, text=True, timeout=60)
        out = json.loads(bad.stdout.splitlines()[0])
        assert not out["ok"] and out["code"] == "UNAVAILABLE", out
        assert "TLS handshake failed" in out["error"], out
        assert "SSL/TLS handshake error detected." in bad.stderr, bad.stderr
        assert "retrying in" not in bad.stderr, bad.stderr
    finally:
        procs.stop_all()


def test_restarted_in_memory_superlink_rejects_the_node(tmp_path: Path, build_dir: Path) -> None:
    """The stock 1.42 SuperLink forgets the node when restarted in memory: its next call gets 401,
    which the FleetClient reports as "node rejected" (the stock SuperNode shuts down)."""
    procs = Processes(tmp_path, env_142(tmp_path / "flwr_home"))
    port = free_port()
    probe = subprocess.Popen([str(build_dir / "supernode/fleet_client_probe"), f"127.0.0.1:{port}"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def command(line: str) -> dict:
        probe.stdin.write(line + "\n")
        probe.stdin.flush()
        return json.loads(probe.stdout.readline())

    try:
        start_superlink_142(procs, port)
        assert command("connect")["ok"]
        assert command("pull 0")["ok"]
        procs.stop("superlink")
        start_superlink_142(procs, port, name="restarted-superlink")
        rejected = command("pull 0")
        assert not rejected["ok"] and rejected["node_rejected"], rejected
        assert "Invalid SuperNode authentication" in rejected["error"], rejected
    finally:
        probe.kill()
        probe.communicate()
        procs.stop_all()
