"""manifests/ (the Flower 1.42 line) and its overlay manifests/overlays/flower-1.36, rendered as
`kubectl apply -k` would: valid against the Kubernetes OpenAPI schemas (kubernetes-validate,
offline, strict: unknown fields are errors) of the oldest Kubernetes the manifests need (1.29:
native sidecars on by default; the pod-index label since 1.28) and of a current one; and the
demo topology the issue asks for, on each line's ports."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

import kustomize_lite
from conftest import MANIFESTS, NAMESPACE, OVERLAY_136, control_port_in_pod, kustomization_for
from harness import Line
from manifest_pods import pods_from

K8S_VERSIONS = ("1.29.0", "1.33.0")
KUSTOMIZATIONS = pytest.mark.parametrize("kustomization", [MANIFESTS, OVERLAY_136],
                                         ids=["flower-1.42", "flower-1.36"])


def validate(obj: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(obj, version, strict=True)


def find(rendered: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in rendered if o["kind"] == kind and o["metadata"]["name"] == name)


def containers(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return {c["name"]: c for c in spec.get("initContainers", []) + spec["containers"]}


@KUSTOMIZATIONS
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_rendered_manifest_validates_against_the_kubernetes_schema(kustomization, version) -> None:
    rendered = kustomize_lite.render(kustomization)
    kinds = sorted(o["kind"] for o in rendered)
    services = 2 if kustomization == MANIFESTS else 3  # 1.36: the gRPC Control API's Service too
    assert kinds == ["Deployment", "PersistentVolumeClaim", *["Service"] * services, "StatefulSet"]
    for obj in rendered:
        validate(obj, version)


def test_every_manifest_file_validates_before_kustomize_too() -> None:
    """`kubectl apply -f manifests/base/<file>` of a single file works as well (with the defaults)."""
    files = sorted(MANIFESTS.rglob("*.yaml"))
    assert len(files) == 6, files
    for path in files:
        if path.name == "kustomization.yaml":
            continue
        for obj in yaml.safe_load_all(path.read_text()):
            validate(obj, K8S_VERSIONS[0])


@pytest.mark.parametrize("mutation,expected", [
    # a misspelled field: strict validation rejects what the API server would drop or reject
    (lambda r: containers(find(r, "StatefulSet", "client"))["supernode"].update(restartPolicyy="Always"),
     "restartPolicyy"),
    # a wrong type: a port number as a word
    (lambda r: containers(find(r, "Deployment", "server"))["superlink"]["ports"][0].update(containerPort="fleet"),
     "fleet"),
    # a required field missing
    (lambda r: find(r, "StatefulSet", "client")["spec"].pop("selector"), "selector"),
])
def test_validation_rejects_broken_manifests(rendered, mutation, expected) -> None:
    """The validator is not a no-op: each broken copy fails with an error naming the problem."""
    broken = copy.deepcopy(rendered)
    mutation(broken)
    errors = []
    for obj in broken:
        try:
            validate(obj, K8S_VERSIONS[0])
        except kubernetes_validate.ValidationError as err:
            errors.append(str(err))
    assert len(errors) == 1 and expected in errors[0], errors


def test_native_sidecar_needs_kubernetes_1_29() -> None:
    """The pinned minimum is real: an init container's restartPolicy does not exist in 1.27."""
    statefulset = find(kustomize_lite.render(MANIFESTS), "StatefulSet", "client")
    with pytest.raises(kubernetes_validate.ValidationError, match="restartPolicy"):
        validate(statefulset, "1.27.0")


@KUSTOMIZATIONS
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_lite_renders_what_kubectl_kustomize_renders(kustomization) -> None:
    rendered = kustomize_lite.render(kustomization)
    result = subprocess.run(["kubectl", "kustomize", str(kustomization)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    theirs = list(yaml.safe_load_all(result.stdout))

    def key(obj: dict[str, Any]) -> tuple[str, str]:
        return obj["kind"], obj["metadata"]["name"]

    assert sorted(theirs, key=key) == sorted(rendered, key=key)


def test_num_partitions_follows_the_replica_count_set_in_one_place(tmp_path: Path) -> None:
    """Changing only `replicas` in base/kustomization.yaml changes the pods and every pod's
    num-partitions on both lines; partition-id is the pod index."""
    copy_dir = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, copy_dir)
    base = copy_dir / "base" / "kustomization.yaml"
    kustomization = yaml.safe_load(base.read_text())
    kustomization["replicas"][0]["count"] = 3
    base.write_text(yaml.safe_dump(kustomization))
    for directory in (copy_dir, copy_dir / OVERLAY_136.relative_to(MANIFESTS)):
        assert "replicas" not in yaml.safe_load((directory / "kustomization.yaml").read_text())
        rendered = kustomize_lite.render(directory)
        assert find(rendered, "StatefulSet", "client")["spec"]["replicas"] == 3
        clients = [p for p in pods_from(rendered, NAMESPACE) if p.name.startswith("client-")]
        assert [p.name for p in clients] == ["client-0", "client-1", "client-2"]
        for i, pod in enumerate(clients):
            argv = pod.container("supernode").argv
            node_config = argv[argv.index("--node-config") + 1]
            assert node_config.startswith(f"partition-id={i} num-partitions=3 "), node_config


def arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_default_manifests_serve_the_1_42_line_on_one_http_port(rendered) -> None:
    """The SuperLink serves Control, Fleet and Runtime on 8000 only; the leaf clusters reach it
    through the ClusterIP Service `server:8000` with our SuperNode's HTTP Fleet client."""
    link = containers(find(rendered, "Deployment", "server"))["superlink"]
    args = link["args"]
    assert (arg(args, "--host"), arg(args, "--port")) == ("0.0.0.0", "8000")
    assert "--disable-grpc-apis" in args
    assert not {"--fleet-api-address", "--control-api-address"} & set(args)
    assert {p["name"]: p["containerPort"] for p in link["ports"]} == {"http": 8000, "health": 9095}
    service = find(rendered, "Service", "server")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http"}]
    supernode = containers(find(rendered, "StatefulSet", "client"))["supernode"]["args"]
    assert arg(supernode, "--superlink") == "server:8000" and "--grpc-rere" not in supernode
    assert [o["metadata"]["name"] for o in rendered if o["kind"] == "Service"] == ["server", "client"]


def test_overlay_serves_the_1_36_line_on_grpc_fleet_and_control(rendered_136) -> None:
    """gRPC Fleet 9092 (Service `server`, SuperNodes with --grpc-rere), gRPC Control 9093 (the
    port-forward's target), the Runtime API on the pod's loopback."""
    link = containers(find(rendered_136, "Deployment", "server"))["superlink"]
    args = link["args"]
    assert arg(args, "--fleet-api-address") == "0.0.0.0:9092"
    assert arg(args, "--control-api-address") == "0.0.0.0:9093"
    assert (arg(args, "--host"), arg(args, "--port")) == ("127.0.0.1", "8000")
    assert "--disable-grpc-apis" not in args
    assert {p["name"]: p["containerPort"] for p in link["ports"]} == {"fleet": 9092, "control": 9093,
                                                                      "health": 9095}
    assert find(rendered_136, "Service", "server")["spec"]["ports"] == [
        {"name": "fleet", "port": 9092, "targetPort": "fleet"}]
    assert find(rendered_136, "Service", "server-control")["spec"]["ports"][0]["port"] == 9093
    supernode = containers(find(rendered_136, "StatefulSet", "client"))["supernode"]["args"]
    assert supernode[:4] == ["--insecure", "--grpc-rere", "--superlink", "server:9092"]


def without_transport(args: list[str]) -> list[str]:
    """args less the flags (and their values) that choose the line's ports and transports."""
    with_value = {"--fleet-api-address", "--control-api-address", "--host", "--superlink"}
    out: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a in with_value:
            skip = True
        elif a not in ("--disable-grpc-apis", "--grpc-rere"):
            out.append(a)
    return out


def test_overlay_changes_only_the_ports_and_transports(rendered, rendered_136) -> None:
    """Everything else (images, replicas, probes, volumes, Liqo) is the base's, unchanged."""
    def strip(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        out = {}
        for obj in copy.deepcopy(objects):
            if obj["kind"] == "Service" and obj["metadata"]["name"] == "server":
                del obj["spec"]["ports"]
            if obj["kind"] in ("Deployment", "StatefulSet"):
                for name, container in containers(obj).items():
                    if name in ("superlink", "supernode"):
                        container.pop("ports", None)
                        container["args"] = without_transport(container["args"])
            out[(obj["kind"], obj["metadata"]["name"])] = obj
        return out

    base, overlay = strip(rendered), strip(rendered_136)
    assert overlay.pop(("Service", "server-control"))
    assert overlay == base


@pytest.mark.parametrize("version,name,port", [("1.42.0", "http", 8000), ("1.36.0", "control", 9093)])
def test_the_port_forward_target_is_the_line_s_control_port(version, name, port) -> None:
    """docs/deploy.md forwards 8000 to this container port of the server pod, per line."""
    line = Line(version)
    assert control_port_in_pod(line) == port
    link = containers(find(kustomize_lite.render(kustomization_for(line)), "Deployment", "server"))["superlink"]
    assert {p["name"]: p["containerPort"] for p in link["ports"]}[name] == port


def test_server_pod_runs_superlink_and_serverapp_executor_with_state_on_a_pvc(rendered) -> None:
    server = find(rendered, "Deployment", "server")
    assert server["spec"]["strategy"]["type"] == "Recreate"  # one SQLite writer on an RWO volume
    by_name = containers(server)
    assert set(by_name) == {"superlink", "superexec"}
    link = by_name["superlink"]
    args = link["args"]
    assert args[args.index("--isolation") + 1] == "process"
    database = args[args.index("--database") + 1]
    mounts = {m["mountPath"]: m for m in link["volumeMounts"]}
    # state/state.db is relative to WORKDIR /app: it must be on the PVC's mount.
    assert database == "state/state.db" and mounts["/app/state"]["name"] == "state"
    volumes = {v["name"]: v for v in server["spec"]["template"]["spec"]["volumes"]}
    claim = volumes["state"]["persistentVolumeClaim"]["claimName"]
    assert find(rendered, "PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteOnce"]
    executor = by_name["superexec"]["args"]
    assert executor[executor.index("--plugin-type") + 1] == "serverapp"
    # The executor reaches the SuperLink's Runtime API on the pod's loopback.
    assert executor[executor.index("--runtime-api-address") + 1] == f"127.0.0.1:{arg(args, '--port')}"


@KUSTOMIZATIONS
def test_client_pods_follow_the_liqo_sidecar_layout(kustomization) -> None:
    rendered = kustomize_lite.render(kustomization)
    clients = find(rendered, "StatefulSet", "client")
    spec = clients["spec"]["template"]["spec"]
    assert spec["runtimeClassName"] == "liqo"
    assert clients["spec"]["podManagementPolicy"] == "Parallel"
    anti = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["labelSelector"]["matchLabels"].items() <= clients["spec"]["template"]["metadata"]["labels"].items()
    supernode = containers(clients)["supernode"]
    assert supernode in spec["initContainers"] and supernode["restartPolicy"] == "Always"
    args = supernode["args"]
    assert args[args.index("--isolation") + 1] == "process"
    env = {e["name"]: e for e in supernode["env"]}
    assert env["ID_CLIENT"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"
    assert env["NUM_CLIENTS"]["value"] == str(clients["spec"]["replicas"])
    clientapp = containers(clients)["clientapp"]
    assert clientapp["args"] == ["--insecure", "--plugin-type", "clientapp", "--runtime-api-address",
                                 f"127.0.0.1:{args[args.index('--port') + 1]}", "--health-server-address",
                                 "0.0.0.0:9096"]
    data = {m["name"]: m for m in clientapp["volumeMounts"]}["data"]
    assert data["readOnly"] and f'data-path="{data["mountPath"]}"' in args[args.index("--node-config") + 1]


@KUSTOMIZATIONS
def test_every_container_has_resources_probes_and_runs_as_non_root(kustomization) -> None:
    rendered = kustomize_lite.render(kustomization)
    for kind, name in (("Deployment", "server"), ("StatefulSet", "client")):
        workload = find(rendered, kind, name)
        pod_security = workload["spec"]["template"]["spec"]["securityContext"]
        assert pod_security["runAsNonRoot"] and pod_security["runAsUser"] == 49999
        for cname, container in containers(workload).items():
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys() and {"cpu", "memory"} <= resources["limits"].keys(), cname
            assert "grpc" in container["livenessProbe"], cname
            assert container["securityContext"]["readOnlyRootFilesystem"], cname
            health = container["args"][container["args"].index("--health-server-address") + 1]
            assert health == f"0.0.0.0:{container['livenessProbe']['grpc']['port']}", cname
