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

import time
from typing import Any

import pytest

import kustomize_lite
from conftest import kustomization_for
from demo_run import assert_native_client_app_ran, flwr_run_demo_liqo, start_cluster, wait_ready
from netns_cluster import ContainerExited


@pytest.mark.timeout(300)
def test_demo_manifests_run_flwr_run_demo_liqo_to_completion(line, scratch, build_dir, synthetic_cifar,
                                                             netns_capable) -> None:
    """Server pod + 2 client pods from the line's manifests, `flwr run ./demo liqo` (the line's
    stock CLI) through the forwarded port: finished:completed, every container alive and probed
    healthy throughout, each client trained on its own partition in every round, and the final
    model on the server's PVC."""
    rendered = kustomize_lite.render(kustomization_for(line))
    cluster, pods = start_cluster(rendered, scratch, build_dir, synthetic_cifar)
    try:
        wait_ready(cluster, pods)
        server = next(p for p in pods if p.labels["app.kubernetes.io/component"] == "server")
        clients = [p for p in pods if p.labels["app.kubernetes.io/component"] == "client"]
        run_id = flwr_run_demo_liqo(cluster, server, line, scratch, len(clients))
        for pod in clients:
            assert_native_client_app_ran(scratch, pod, "clientapp")
        # Still up and healthy after the run: nothing crashed or went unhealthy meanwhile.
        cluster.check_alive()
        wait_ready(cluster, pods, timeout=10)
        # The native ServerApp saved the final model under FLWR_HOME = the PVC (subPath).
        artifacts = scratch / "pvc" / "server-state" / "flwr-home" / "artifacts" / run_id
        assert (artifacts / "final_model.npz").is_file(), (sorted(scratch.rglob("final_model*")), cluster.logs())
        # Each SuperNode got its partition from its pod index (downward API).
        for pod in clients:
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
