"""From rendered manifests to the processes Kubernetes would start, without Kubernetes.

* Workloads become pods: a Deployment gives `replicas` pods `<name>-<hash>-<suffix>`, a
  StatefulSet gives `<name>-<i>` with the labels the controller adds (pod-index, pod-name).
* Images become their Dockerfile stage: image `<anything>/<stage>:<tag>` is the stage named
  `<stage>` in Dockerfile.superexec or Dockerfile.clientapp, with the stage's ENTRYPOINT, CMD,
  ENV and WORKDIR (inherited through `FROM <stage>`), and the binaries the Dockerfile ships
  (`ARG FLWR_BINARIES`, paths in the CMake build tree, copied to /usr/local/bin).
* Containers become argv + env as the kubelet computes them: command/args over
  ENTRYPOINT/CMD, env with the downward API (fieldRef, resourceFieldRef), `$(VAR)` expansion
  with Kubernetes' rules (`$$` escapes, unknown references stay as written).

Everything unsupported raises ManifestError, so a manifest cannot use a feature these tests
silently skip.
"""

from __future__ import annotations

import hashlib
import math
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = (REPO_ROOT / "Dockerfile.superexec", REPO_ROOT / "Dockerfile.clientapp")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ManifestError(ValueError):
    """The manifests ask for something the images or these tests cannot provide."""


# ---------------------------------------------------------------------------- Dockerfiles


@dataclass
class ImageConfig:
    """The runtime view of one Dockerfile stage."""

    dockerfile: Path
    stage: str
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=lambda: {"PATH": DEFAULT_PATH})
    workdir: str = "/"
    user: str = "root"
    # path in the image -> path relative to the CMake build tree
    binaries: dict[str, str] = field(default_factory=dict)

    def which(self, name: str) -> str | None:
        """The image path `name` resolves to through the image's PATH, if it ships it."""
        if name.startswith("/"):
            return name if name in self.binaries else None
        for directory in self.env.get("PATH", DEFAULT_PATH).split(":"):
            candidate = f"{directory.rstrip('/')}/{name}"
            if candidate in self.binaries:
                return candidate
        return None


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) pairs, with continuation lines joined and comments dropped."""
    joined: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        joined.append(current + stripped)
        current = ""
    out = []
    for line in joined:
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _json_or_shell(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        import json

        return json.loads(value)
    return ["/bin/sh", "-c", value]


def _env_pairs(rest: str) -> dict[str, str]:
    return {k: v for k, _, v in (token.partition("=") for token in shlex.split(rest))}


def _substitute(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], ""), value)


def parse_dockerfile(path: Path) -> dict[str, ImageConfig]:
    """Every stage of `path` by name (stages without `AS name` are skipped)."""
    stages: dict[str, ImageConfig] = {}
    global_args: dict[str, str] = {}  # ARGs before the first FROM (used in FROM lines)
    current: ImageConfig | None = None
    binaries_arg: list[str] = []
    for word, rest in dockerfile_instructions(path.read_text()):
        if word == "ARG":
            name, _, default = rest.partition("=")
            default = default.strip().strip('"')
            if current is None:
                global_args[name.strip()] = default
            if name.strip() == "FLWR_BINARIES":
                binaries_arg = default.split()
        elif word == "FROM":
            tokens = rest.split()
            base = _substitute(tokens[0], global_args)
            name = tokens[2] if len(tokens) >= 3 and tokens[1].upper() == "AS" else f"#{len(stages)}"
            parent = stages.get(base)
            current = ImageConfig(path, name)
            if parent is not None:
                current.entrypoint = list(parent.entrypoint)
                current.cmd = list(parent.cmd)
                current.env = dict(parent.env)
                current.workdir = parent.workdir
                current.user = parent.user
                current.binaries = dict(parent.binaries)
            stages[name] = current
        elif current is None:
            continue
        elif word == "ENV":
            current.env.update({k: _substitute(v, current.env) for k, v in _env_pairs(rest).items()})
        elif word == "WORKDIR":
            current.workdir = rest
        elif word == "USER":
            current.user = rest
        elif word == "ENTRYPOINT":
            current.entrypoint = _json_or_shell(rest)
            current.cmd = []  # Docker resets CMD when ENTRYPOINT is set
        elif word == "CMD":
            current.cmd = _json_or_shell(rest)
        elif word == "COPY" and rest.startswith("--from=") and binaries_arg:
            # `COPY --from=build /out/bin/ /usr/local/bin/`: the FLWR_BINARIES land in the
            # destination directory, for this stage and the stages built FROM it.
            dest = rest.split()[-1].rstrip("/")
            for binary in binaries_arg:
                current.binaries[f"{dest}/{Path(binary).name}"] = binary
    return stages


def image_config(image: str) -> ImageConfig:
    """The Dockerfile stage an image reference names (`.../<stage>:<tag>`)."""
    repo = image.rsplit("@", 1)[0]
    if repo.rfind(":") > repo.rfind("/"):
        repo = repo[: repo.rfind(":")]
    stage = repo.rsplit("/", 1)[-1]
    found = [cfg for path in DOCKERFILES for name, cfg in parse_dockerfile(path).items() if name == stage]
    if len(found) != 1:
        raise ManifestError(f"image {image}: no single Dockerfile stage named {stage!r} "
                            f"in {[p.name for p in DOCKERFILES]}")
    return found[0]


# ------------------------------------------------------------------------- pods from workloads


@dataclass
class Probe:
    kind: str  # "readiness" | "liveness" | "startup"
    handler: str  # "grpc" | "tcpSocket" | "httpGet"
    port: int
    path: str = "/"
    service: str = ""


@dataclass
class Mount:
    volume: str
    path: str
    sub_path: str = ""
    read_only: bool = False


@dataclass
class Container:
    name: str
    image: ImageConfig
    argv: list[str]  # as the image sees it: argv[0] is a path in the image
    env: dict[str, str]
    working_dir: str
    sidecar: bool
    init: bool
    mounts: list[Mount]
    probes: list[Probe]
    ports: dict[str, int]
    security: dict[str, Any]  # runAsUser, runAsGroup, fsGroup (pod level, container overrides)


@dataclass
class Pod:
    name: str
    namespace: str
    labels: dict[str, str]
    hostname: str
    subdomain: str
    containers: list[Container]  # start order: init containers (sidecars too), then the rest
    volumes: dict[str, dict[str, Any]]
    ip: str = ""

    def container(self, name: str) -> Container:
        return next(c for c in self.containers if c.name == name)


def pods_from(objects: list[dict[str, Any]], namespace: str) -> list[Pod]:
    """The pods the Deployments and StatefulSets in `objects` would create."""
    pods: list[Pod] = []
    for obj in objects:
        kind = obj.get("kind")
        if kind not in ("Deployment", "StatefulSet"):
            if kind in ("Pod", "DaemonSet", "Job", "CronJob", "ReplicaSet"):
                raise ManifestError(f"{kind} is not emulated by these tests")
            continue
        name = obj["metadata"]["name"]
        spec = obj["spec"]
        template = spec["template"]
        labels = dict(template["metadata"].get("labels", {}))
        selector = spec["selector"].get("matchLabels", {})
        if any(labels.get(k) != v for k, v in selector.items()):
            raise ManifestError(f"{kind} {name}: selector {selector} does not match its pod labels")
        for index in range(int(spec.get("replicas", 1))):
            pod_labels = dict(labels)
            if kind == "StatefulSet":
                pod_name = f"{name}-{index}"
                pod_labels["apps.kubernetes.io/pod-index"] = str(index)
                pod_labels["statefulset.kubernetes.io/pod-name"] = pod_name
                subdomain = spec.get("serviceName", "")
            else:
                template_hash = hashlib.sha256(repr(template).encode()).hexdigest()[:10]
                pod_labels["pod-template-hash"] = template_hash
                pod_name = f"{name}-{template_hash}-{index:05d}"
                subdomain = ""
            pods.append(_pod(pod_name, namespace, pod_labels, template["spec"], subdomain))
    return pods


def _pod(name: str, namespace: str, labels: dict[str, str], spec: dict[str, Any], subdomain: str) -> Pod:
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    pod = Pod(name, namespace, labels, name, subdomain, [], volumes)
    for c in spec.get("initContainers", []):
        pod.containers.append(_container(pod, c, spec, init=True))
    for c in spec.get("containers", []):
        pod.containers.append(_container(pod, c, spec, init=False))
    return pod


def _container(pod: Pod, c: dict[str, Any], pod_spec: dict[str, Any], init: bool) -> Container:
    image = image_config(c["image"])
    if c.get("envFrom"):
        raise ManifestError(f"{c['name']}: envFrom is not emulated")
    container_env: dict[str, str] = {}
    for var in c.get("env", []):
        if "valueFrom" in var:
            value = _value_from(pod, c, var["valueFrom"])
        else:
            value = expand(str(var.get("value", "")), container_env)
        container_env[var["name"]] = value
    env = {**image.env, **container_env}
    if "command" in c:
        argv = list(c["command"]) + list(c.get("args", []))
    else:
        argv = list(image.entrypoint) + list(c["args"] if "args" in c else image.cmd)
    argv = [expand(str(a), container_env) for a in argv]
    if not argv:
        raise ManifestError(f"{c['name']}: no command (no ENTRYPOINT in {image.stage} either)")
    program = image.which(argv[0])
    if program is None:
        raise ManifestError(f"{c['name']}: {argv[0]!r} is not in image stage {image.stage} "
                            f"(it ships {sorted(image.binaries)})")
    argv[0] = program
    ports = {p.get("name", str(p["containerPort"])): int(p["containerPort"]) for p in c.get("ports", [])}
    probes = []
    for kind in ("startup", "readiness", "liveness"):
        if f"{kind}Probe" in c:
            probes.append(_probe(c["name"], kind, c[f"{kind}Probe"], ports))
    mounts = [Mount(m["name"], m["mountPath"], m.get("subPath", ""), bool(m.get("readOnly")))
              for m in c.get("volumeMounts", [])]
    for m in mounts:
        if m.volume not in pod.volumes:
            raise ManifestError(f"{c['name']}: volumeMount {m.volume} has no volume")
    return Container(
        name=c["name"],
        image=image,
        argv=argv,
        env=env,
        working_dir=c.get("workingDir", image.workdir),
        sidecar=init and c.get("restartPolicy") == "Always",
        init=init,
        mounts=mounts,
        probes=probes,
        ports=ports,
        security={**pod_spec.get("securityContext", {}), **c.get("securityContext", {})},
    )


def _probe(container: str, kind: str, spec: dict[str, Any], ports: dict[str, int]) -> Probe:
    for handler in ("grpc", "tcpSocket", "httpGet"):
        if handler in spec:
            port = spec[handler]["port"]
            if isinstance(port, str) and not port.isdigit():
                if port not in ports:
                    raise ManifestError(f"{container}: {kind} probe port {port!r} is not a named port")
                port = ports[port]
            return Probe(kind, handler, int(port), spec[handler].get("path", "/"),
                         spec[handler].get("service", ""))
    raise ManifestError(f"{container}: {kind} probe handler {sorted(spec)} is not emulated")


_QUANTITY = re.compile(r"^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTORS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(text: str) -> float:
    match = _QUANTITY.match(str(text))
    if not match:
        raise ManifestError(f"quantity {text!r} is not emulated")
    return float(match[1]) * _FACTORS[match[2]]


def _value_from(pod: Pod, c: dict[str, Any], source: dict[str, Any]) -> str:
    if "fieldRef" in source:
        path = source["fieldRef"]["fieldPath"]
        match = re.fullmatch(r"metadata\.labels\['([^']+)'\]", path)
        if match:
            if match[1] not in pod.labels:
                raise ManifestError(f"{c['name']}: label {match[1]} is not set on pod {pod.name}")
            return pod.labels[match[1]]
        simple = {"metadata.name": pod.name, "metadata.namespace": pod.namespace}
        if path in simple:
            return simple[path]
        if path == "status.podIP":
            return "$(__POD_IP__)"  # filled in when the pod gets its address
        raise ManifestError(f"{c['name']}: fieldRef {path} is not emulated")
    if "resourceFieldRef" in source:
        ref = source["resourceFieldRef"]
        container = ref.get("containerName", c["name"])
        if container != c["name"]:
            raise ManifestError(f"{c['name']}: resourceFieldRef to another container is not emulated")
        section, _, resource = ref["resource"].partition(".")
        value = c.get("resources", {}).get(section, {}).get(resource)
        if value is None:
            raise ManifestError(f"{c['name']}: resourceFieldRef {ref['resource']} is not set "
                                "(the kubelet would use the node's allocatable)")
        # The kubelet rounds up to a whole multiple of the divisor.
        return str(math.ceil(quantity(value) / quantity(ref.get("divisor", "1"))))
    raise ManifestError(f"{c['name']}: valueFrom {sorted(source)} is not emulated")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion (k8s.io/kubernetes third_party/forked/golang/expansion):
    `$$` is a literal `$`, `$(NAME)` is NAME's value when defined and stays as written when not,
    any other `$` is kept."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end < 0:
                out.append(text[i:])
                break
            name = text[i + 2:end]
            out.append(env[name] if name in env else text[i:end + 1])
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------- Services


@dataclass
class ServiceRecord:
    name: str
    namespace: str
    headless: bool
    pods: list[Pod]
    ports: list[tuple[int, int]]  # (service port, target port on the pod)


def services_from(objects: list[dict[str, Any]], pods: list[Pod], namespace: str) -> list[ServiceRecord]:
    """Each Service with the pods it selects; a ClusterIP Service must select at least one pod
    and, without kube-proxy here, forward each port to the same port number."""
    records = []
    for obj in objects:
        if obj.get("kind") != "Service":
            continue
        name = obj["metadata"]["name"]
        spec = obj["spec"]
        selector = spec.get("selector", {})
        selected = [p for p in pods if selector and all(p.labels.get(k) == v for k, v in selector.items())]
        if not selected:
            raise ManifestError(f"Service {name}: selector {selector} selects no pod")
        headless = spec.get("clusterIP") == "None"
        ports = []
        for port in spec.get("ports", []):
            target = port.get("targetPort", port["port"])
            numbers = set()
            for pod in selected:
                for container in pod.containers:
                    if isinstance(target, int) or str(target).isdigit():
                        numbers.add(int(target))
                    elif target in container.ports:
                        numbers.add(container.ports[target])
            if len(numbers) != 1:
                raise ManifestError(f"Service {name}: targetPort {target!r} resolves to {sorted(numbers)}")
            number = numbers.pop()
            if number != int(port["port"]) and not headless:
                raise ManifestError(f"Service {name}: port {port['port']} -> {number} needs kube-proxy "
                                    "(not emulated; keep port == targetPort)")
            ports.append((int(port["port"]), number))
        records.append(ServiceRecord(name, namespace, headless, selected, ports))
    return records
