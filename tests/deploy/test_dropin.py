"""Drop-in, proven (issue 15): a deployment written for the OFFICIAL Flower images of a line
(tests/deploy/stock_style: flwr/superlink, flwr/supernode, flwr/superexec with their stock
entrypoints and the args of Flower's Docker quickstart) runs on this project's images with
nothing changed but each container's `image:`. The pods run as processes in network
namespaces (netns_cluster.py) with our binaries, as test_manifest_e2e.py runs manifests/, and
`flwr run ./demo liqo` with the line's stock CLI must reach finished:completed with every
node's result in every round."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

import kustomize_lite
from conftest import MANIFESTS, stock_style_for
from demo_run import assert_native_client_app_ran, flwr_run_demo_liqo, start_cluster, wait_ready
from harness import Line
from manifest_pods import image_config

# The official images: `flwr/<name>:<Flower version>`, each running `flower-<name>` as the user
# `app` (uid 49999) in /app (Flower's framework/docker/*/Dockerfile).
STOCK_IMAGE = re.compile(r"^flwr/(superlink|supernode|superexec):(\d+\.\d+\.\d+)$")
STOCK_USER = "app"
STOCK_WORKDIR = "/app"


def pod_containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def workloads(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in rendered if "template" in o.get("spec", {})]


def stock_role(workload: dict[str, Any], container: dict[str, Any]) -> str:
    """The role of a container of a stock-style deployment: its image's name; flwr/superexec
    runs the ClientApps of the SuperNode it shares a pod with, else the ServerApps."""
    name = STOCK_IMAGE.match(container["image"])[1]
    if name != "superexec":
        return name
    beside_supernode = any(STOCK_IMAGE.match(c["image"])[1] == "supernode" for c in pod_containers(workload))
    return "superexec-clientapp" if beside_supernode else "superexec-serverapp"


def our_images() -> dict[str, str]:
    """Our image of each role, as manifests/ names it (kustomization.yaml sets the tags)."""
    images = {c["name"]: c["image"] for w in workloads(kustomize_lite.render(MANIFESTS)) for c in pod_containers(w)}
    return {"superlink": images["superlink"], "supernode": images["supernode"],
            "superexec-serverapp": images["superexec"], "superexec-clientapp": images["clientapp"]}


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """The paths at which `a` and `b` differ (a missing key, a list of another length, or a
    different scalar)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += differences(a[key], b[key], f"{path}.{key}") if key in a and key in b else [f"{path}.{key}"]
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


def stock_style(line: Line) -> list[dict[str, Any]]:
    """The line's stock-style deployment as `kubectl apply -k` sends it: official images of
    the line only."""
    rendered = kustomize_lite.render(stock_style_for(line))
    for workload in workloads(rendered):
        for container in pod_containers(workload):
            match = STOCK_IMAGE.match(container["image"])
            assert match and match[2] == line.version, container["image"]
    return rendered


def with_our_images(stock: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`stock` with each container's image swapped for ours of the same role, and nothing else
    changed (asserted)."""
    ours = our_images()
    swapped = copy.deepcopy(stock)
    for workload, target in zip(workloads(stock), workloads(swapped)):
        for container, swapped_container in zip(pod_containers(workload), pod_containers(target)):
            swapped_container["image"] = ours[stock_role(workload, container)]
    changed = differences(stock, swapped)
    image_field = re.compile(r"^\[\d+\]\.spec\.template\.spec\.(initContainers|containers)\[\d+\]\.image$")
    assert changed and all(image_field.match(path) for path in changed), changed
    assert len(changed) == sum(len(pod_containers(w)) for w in workloads(stock))
    return swapped


def test_stock_style_deployments_are_valid_and_render_as_kubectl_does(line) -> None:
    """The fixture is what a user applies: valid Kubernetes objects of the official images of
    the line, rendered by kustomize_lite as `kubectl kustomize` renders them."""
    rendered = stock_style(line)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in rendered) == [
        ("Deployment", "superexec-serverapp"), ("Deployment", "superlink"), ("Deployment", "supernode-1"),
        ("Deployment", "supernode-2"), ("Service", "superlink")]
    for obj in rendered:
        kubernetes_validate.validate(obj, "1.29.0", strict=True)
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (scripts/setup.sh installs it)")
    result = subprocess.run(["kubectl", "kustomize", str(stock_style_for(line))], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr

    def key(obj: dict[str, Any]) -> tuple[str, str]:
        return obj["kind"], obj["metadata"]["name"]

    assert sorted(yaml.safe_load_all(result.stdout), key=key) == sorted(rendered, key=key)


def test_our_images_run_what_the_official_image_of_the_role_runs(line) -> None:
    """Our image of each role has the official image's ENTRYPOINT, user and WORKDIR (so args
    alone carry over), and swapping changes the image fields and nothing else."""
    stock = stock_style(line)
    with_our_images(stock)
    ours = our_images()
    for workload in workloads(stock):
        for container in pod_containers(workload):
            role = stock_role(workload, container)
            config = image_config(ours[role])
            assert config.entrypoint == [f"flower-{STOCK_IMAGE.match(container['image'])[1]}"], (role, config)
            assert (config.user, config.workdir, config.env.get("HOME")) == (STOCK_USER, STOCK_WORKDIR, "/app")


@pytest.mark.timeout(300)
def test_stock_style_deployment_with_our_images_runs_flwr_run_demo_liqo(line, scratch, build_dir,
                                                                        synthetic_cifar, netns_capable) -> None:
    """The line's stock-style deployment with only the images swapped for ours: every
    container takes its stock args and stays up, and `flwr run ./demo liqo` (the line's stock
    CLI, through `kubectl port-forward deploy/superlink`) completes with both SuperNodes'
    results in every round, each trained by our native ClientApp."""
    cluster, pods = start_cluster(with_our_images(stock_style(line)), scratch, build_dir, synthetic_cifar)
    try:
        wait_ready(cluster, pods)
        server = next(p for p in pods if p.labels["app"] == "superlink")
        nodes = [p for p in pods if any(c.name == "supernode" for c in p.containers)]
        flwr_run_demo_liqo(cluster, server, line, scratch, len(nodes))
        for pod in nodes:
            assert_native_client_app_ran(scratch, pod, "superexec")
            # The stock args name no transport: each SuperNode found the one its SuperLink
            # serves (1.36: gRPC on 9092; 1.42: HTTP on 8000).
            supernode_log = (scratch / "logs" / f"{pod.name}.supernode.log").read_text()
            assert ("serves the gRPC Fleet API" in supernode_log) != line.http_fleet, supernode_log
        cluster.check_alive()
    finally:
        cluster.close()
