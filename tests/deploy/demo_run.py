"""The seed's user path on a network-namespace cluster, shared by the manifest-driven e2e
tests (test_manifest_e2e.py: our manifests; test_dropin.py: a manifest for the official images
with our images swapped in): start the pods of rendered manifests, wait for their probes,
forward the server pod's Control port to the workstation's 127.0.0.1:8000, and run
`flwr run ./demo liqo` with a line's stock CLI to finished:completed with every node's result
in every round."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from conftest import DATA_HOST_PATH, NAMESPACE, control_port_in_pod
from harness import Line, copy_demo_app
from manifest_pods import Pod, pods_from, services_from
from netns_cluster import NetnsCluster

# Where the demo app's `liqo` connection points (demo/pyproject.toml) and the port-forward listens.
FORWARDED_PORT = 8000


def start_cluster(rendered: list[dict[str, Any]], scratch: Path, build_dir: Path,
                  data: Path) -> tuple[NetnsCluster, list[Pod]]:
    pods = pods_from(rendered, NAMESPACE)
    services = services_from(rendered, pods, NAMESPACE)
    cluster = NetnsCluster(scratch, build_dir, {DATA_HOST_PATH: data})
    try:
        cluster.create_network(pods, services)
        for pod in pods:  # in the order of the manifests (a StatefulSet's pods: Parallel)
            cluster.start_pod(pod)
    except BaseException:
        cluster.close()
        raise
    return cluster, pods


def wait_ready(cluster: NetnsCluster, pods: list[Pod], timeout: float = 60.0) -> None:
    """Every readiness and liveness probe of every container passes, as the kubelet sees it."""
    for pod in pods:
        probes = [p for c in pod.containers for p in c.probes if p.kind in ("readiness", "liveness")]
        cluster.wait_for_probes(pod, probes, timeout)


def cli_env(scratch: Path, line: Line) -> dict[str, str]:
    """The line's stock CLI with an empty Flower configuration (the first `flwr run ./demo`
    writes it from demo/pyproject.toml)."""
    return {"PATH": f"{line.venv_bin}:/usr/bin:/bin", "HOME": str(scratch), "FLWR_HOME": str(scratch / "cli-home"),
            "FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1", "PYTHONUNBUFFERED": "1"}


def run_status(cluster: NetnsCluster, flwr: str, env: dict[str, str], run_id: str) -> dict:
    result = cluster.on_workstation([flwr, "ls", "liqo", "--run-id", run_id, "--format", "json"], env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = json.loads(result.stdout)["runs"]
    return next(r for r in runs if r["run-id"] == run_id)


def flwr_run_demo_liqo(cluster: NetnsCluster, server: Pod, line: Line, scratch: Path,
                       clients: int) -> str:
    """`kubectl port-forward <server> 8000:<the line's Control port>`, then `flwr run ./demo
    liqo` with the line's stock CLI on the workstation: finished:completed, every container
    alive throughout, the native ServerApp ran, and each of its rounds aggregated `clients`
    results and no failure in both phases (FedAvg completes even when ClientApps fail).
    Returns the run id."""
    workstation = scratch / "workstation"
    copy_demo_app(workstation / "demo", connections=True)
    env = cli_env(scratch, line)
    flwr = str(line.venv_bin / "flwr")
    cluster.port_forward(server, FORWARDED_PORT, control_port_in_pod(line))
    started = cluster.on_workstation([flwr, "run", "./demo", "liqo", "--format", "json"],
                                     env, timeout=120, cwd=workstation)
    assert started.returncode == 0, started.stdout + started.stderr + cluster.logs()
    run_id = json.loads(started.stdout[started.stdout.index("{"):])["run-id"]
    # The CLI took the connection from the app, as the seed's users had it.
    config = (scratch / "cli-home" / "config.toml").read_text()
    assert f'address = "127.0.0.1:{FORWARDED_PORT}"' in config, config

    deadline = time.monotonic() + 220
    status = {}
    while time.monotonic() < deadline:
        cluster.check_alive()
        status = run_status(cluster, flwr, env, run_id)
        if status["status"].startswith("finished"):
            break
        time.sleep(2)
    assert status.get("status") == "finished:completed", (status, cluster.logs())

    log = cluster.on_workstation([flwr, "log", run_id, "liqo", "--show"], env, timeout=60)
    text = log.stdout + log.stderr
    assert "Running native ServerApp 'fedavg-cifar-cnn'" in text, text
    rounds = int(re.search(r"\[ROUND \d+/(\d+)\]", text)[1])
    for phase in ("train", "evaluate"):
        received = re.findall(rf"aggregate_{phase}: Received (\d+) results and (\d+) failures", text)
        assert received == [(str(clients), "0")] * rounds, text
    return run_id


def assert_native_client_app_ran(scratch: Path, pod: Pod, container: str) -> None:
    """The ClientApp executor `container` of `pod` started our native ClientApp, without errors."""
    clientapp_log = (scratch / "logs" / f"{pod.name}.{container}.log").read_text()
    assert "Running native ClientApp 'cifar-cnn'" in clientapp_log, clientapp_log
    assert "ERROR" not in clientapp_log, clientapp_log
