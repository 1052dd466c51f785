"""Manifest-driven end-to-end test: the pods of manifests/ (rendered as `kubectl apply -k`
would) run as processes in network namespaces (netns_cluster.py), with the commands, args,
env, volumes, Services and probes the manifests give and the binaries their images ship
(mapped to the CMake build tree); then the seed's command, `flwr run ./demo liqo`, with the
stock CLI of each pinned line must reach finished:completed: the demo app's own `liqo`
connection (127.0.0.1:8000, migrated from demo/pyproject.toml by the CLI) reaches the server pod
through `kubectl port-forward deploy/server 8000:<port>` — 8000 (the SuperLink's one HTTP port)
for the 1.42 line on manifests/, 9093 (gRPC Control) for the 1.36 line on
manifests/overlays/flower-1.36.

A manifest whose args our binaries reject fails here: every container must stay up, and the
negative tests below prove that a rejected flag is caught.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

import kustomize_lite
from conftest import DATA_HOST_PATH, NAMESPACE, control_port_in_pod, kustomization_for
from harness import Line, copy_demo_app
from manifest_pods import Pod, pods_from, services_from
from netns_cluster import ContainerExited, NetnsCluster

# Where the demo app's `liqo` connection points (demo/pyproject.toml) and the port-forward listens.
FORWARDED_PORT = 8000


def start_cluster(rendered: list[dict[str, Any]], scratch: Path, build_dir: Path,
                  data: Path) -> tuple[NetnsCluster, list[Pod]]:
    pods = pods_from(rendered, NAMESPACE)
    services = services_from(rendered, pods, NAMESPACE)
    cluster = NetnsCluster(scratch, build_dir, {DATA_HOST_PATH: data})
    try:
        cluster.create_network(pods, services)
        for pod in pods:  # the Deployment first, then the StatefulSet's pods (Parallel)
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


@pytest.mark.timeout(300)
def test_demo_manifests_run_flwr_run_demo_liqo_to_completion(line, scratch, build_dir, synthetic_cifar,
                                                             netns_capable) -> None:
    """Server pod + 2 client pods from the line's manifests, `flwr run ./demo liqo` (the line's
    stock CLI) through the forwarded port: finished:completed, every container alive and probed
    healthy throughout, each client trained on its own partition in every round, and the final
    model on the server's PVC."""
    workstation = scratch / "workstation"
    copy_demo_app(workstation / "demo", connections=True)
    env = cli_env(scratch, line)
    flwr = str(line.venv_bin / "flwr")
    rendered = kustomize_lite.render(kustomization_for(line))
    cluster, pods = start_cluster(rendered, scratch, build_dir, synthetic_cifar)
    try:
        wait_ready(cluster, pods)
        server = next(p for p in pods if p.labels["app.kubernetes.io/component"] == "server")
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

        # FedAvg completes even when ClientApps fail: every round must have had every client.
        log = cluster.on_workstation([flwr, "log", run_id, "liqo", "--show"], env, timeout=60)
        text = log.stdout + log.stderr
        assert "Running native ServerApp 'fedavg-cifar-cnn'" in text, text
        clients = sum(p.labels["app.kubernetes.io/component"] == "client" for p in pods)
        rounds = int(re.search(r"\[ROUND \d+/(\d+)\]", text)[1])
        for phase in ("train", "evaluate"):
            received = re.findall(rf"aggregate_{phase}: Received (\d+) results and (\d+) failures", text)
            assert received == [(str(clients), "0")] * rounds, text
        for pod in pods:
            if pod.labels["app.kubernetes.io/component"] == "client":
                clientapp_log = (scratch / "logs" / f"{pod.name}.clientapp.log").read_text()
                assert "Running native ClientApp 'cifar-cnn'" in clientapp_log, clientapp_log
                assert "ERROR" not in clientapp_log, clientapp_log
        # Still up and healthy after the run: nothing crashed or went unhealthy meanwhile.
        cluster.check_alive()
        wait_ready(cluster, pods, timeout=10)
        # The native ServerApp saved the final model under FLWR_HOME = the PVC (subPath).
        artifacts = scratch / "pvc" / "server-state" / "flwr-home" / "artifacts" / run_id
        assert (artifacts / "final_model.npz").is_file(), (sorted(scratch.rglob("final_model*")), cluster.logs())
        # Each SuperNode got its partition from its pod index (downward API).
        for pod in pods:
            if pod.labels["app.kubernetes.io/component"] == "client":
                index = pod.labels["apps.kubernetes.io/pod-index"]
                argv = " ".join(pod.container("supernode").argv)
                assert f"partition-id={index} num-partitions=2" in argv
    finally:
        cluster.close()


def _container_spec(rendered: list[dict[str, Any]], workload: str, container: str) -> dict[str, Any]:
    obj = next(o for o in rendered if o["metadata"]["name"] == workload and "template" in o.get("spec", {}))
    spec = obj["spec"]["template"]["spec"]
    return next(c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == container)


@pytest.mark.parametrize("workload,container,mutate,expect", [
    # A misspelled SuperNode flag: the sidecar exits at once with a usage error.
    ("client", "supernode", lambda c: c["args"].append("--isolaton=process"),
     "argument was not expected: --isolaton=process"),
    # The 1.11 demo's ClientApp container: 1.36's flwr-clientapp needs a task token.
    ("client", "clientapp", lambda c: c.update(command=["flwr-clientapp"],
                                                args=["--supernode", "127.0.0.1:9094", "--insecure"]),
     "one of the arguments --token --token-file is required"),
    # A SuperLink flag stock has retired is an error, never ignored.
    ("server", "superlink",
     lambda c: c["args"].extend(["--serverappio-api-address", "127.0.0.1:9091"]),
     "this option is no longer supported; use --host and --port instead"),
])
def test_manifest_args_our_binaries_reject_fail_the_e2e(rendered, scratch, build_dir, synthetic_cifar,
                                                        netns_capable, workload, container, mutate,
                                                        expect) -> None:
    """The e2e harness notices a container whose args are rejected (the same check guards
    the completed run above)."""
    mutate(_container_spec(rendered, workload, container))
    with pytest.raises(ContainerExited) as caught:
        cluster, pods = start_cluster(rendered, scratch, build_dir, synthetic_cifar)
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                cluster.check_alive()
                time.sleep(0.3)
        finally:
            cluster.close()
    assert caught.value.container == container
    assert caught.value.returncode == 2, str(caught.value)
    assert expect in caught.value.output, str(caught.value)
