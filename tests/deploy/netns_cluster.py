"""A one-node "cluster" made of Linux network namespaces, for the pods of manifest_pods.py.

* A switch namespace holds a bridge (10.213.0.1/24, the "node": probes come from there, as
  the kubelet's do). Each pod gets its own namespace with `lo` and `eth0` (a veth whose peer
  is on the bridge) and an address 10.213.0.10+i. Nothing is attached to the root namespace:
  pod traffic never leaves the namespaces made here.
* Names resolve through a hosts file per pod (/etc/netns/<ns>/hosts, which `ip netns exec`
  binds over /etc/hosts): the pod's own name, the Services (a ClusterIP name goes to the pod
  it selects — no kube-proxy, so Service and target ports must be equal) and the per-pod names
  of headless Services, under `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc(.cluster.local)`.
* A container is a process in its pod's namespace, as the pod's user (runAsUser/runAsGroup
  with setpriv), with its image's binaries mapped to the CMake build tree, and its file system
  emulated by a directory per container: the image WORKDIR/HOME and the volume mounts
  (emptyDir, PersistentVolumeClaim, hostPath from a given table; subPath) are symlinks inside
  it, and absolute container paths in argv/env are rewritten to it (a path another container
  of the pod mounts means that mount: the SuperNode's data-path is read by the ClientApp);
  with readOnlyRootFilesystem only the volumes are writable for the container's user.
* `kubectl port-forward` (port_forward()) listens on the loopback of a workstation namespace
  (no other interface) and relays to the pod's loopback; the CLI runs there (on_workstation()).
* close() kills every process left in the namespaces (`ip netns pids`), deletes them and their
  /etc/netns directories; stale ones from killed test runs are removed on the next start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from manifest_pods import Container, ManifestError, Pod, ServiceRecord

SUBNET = "10.213.0"
NODE_IP = f"{SUBNET}.1"
PREFIX = "fdt"  # flower deploy test
PROBE_SCRIPT = Path(__file__).resolve().parent / "probe.py"
PORT_FORWARD_SCRIPT = Path(__file__).resolve().parent / "port_forward.py"


class ContainerExited(RuntimeError):
    """A container process ended while it should run (e.g. its args were rejected)."""

    def __init__(self, running: "Running"):
        self.container = running.container.name
        self.pod = running.pod.name
        self.returncode = running.proc.returncode
        self.output = running.log.read_text(errors="replace")
        super().__init__(f"container {self.container} of pod {self.pod} exited with "
                         f"{self.returncode}: {running.container.argv}\n{self.output[-3000:]}")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def remove_stale_namespaces() -> None:
    """Namespaces (and /etc/netns dirs) of earlier runs whose pytest process is gone."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.fullmatch(rf"{PREFIX}(\d+)-\w+", name)
        if match and not Path(f"/proc/{match[1]}").exists():
            _delete_namespace(name)


def _delete_namespace(name: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    shutil.rmtree(f"/etc/netns/{name}", ignore_errors=True)


@dataclass
class Running:
    pod: Pod
    container: Container
    proc: subprocess.Popen
    log: Path


class NetnsCluster:
    def __init__(self, workdir: Path, build_dir: Path, host_paths: dict[str, Path]):
        self.workdir = workdir
        self.build_dir = build_dir
        self.host_paths = host_paths  # hostPath volume path -> directory on this machine
        self.prefix = f"{PREFIX}{os.getpid()}"
        self.switch = f"{self.prefix}-sw"
        self.workstation = f"{self.prefix}-ws"
        self.forwarders: list[subprocess.Popen] = []
        self.namespaces: list[str] = []
        self.running: list[Running] = []
        self.pod_ns: dict[str, str] = {}

    # ------------------------------------------------------------------ network

    def create_network(self, pods: list[Pod], services: list[ServiceRecord]) -> None:
        remove_stale_namespaces()
        self._add_namespace(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "addr", "add", f"{NODE_IP}/24", "dev", "br0")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for i, pod in enumerate(pods):
            ns = f"{self.prefix}-p{i}"
            self._add_namespace(ns)
            self.pod_ns[pod.name] = ns
            pod.ip = f"{SUBNET}.{10 + i}"
            _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"p{i}",
                "netns", self.switch)
            _ip("-n", self.switch, "link", "set", f"p{i}", "master", "br0")
            _ip("-n", self.switch, "link", "set", f"p{i}", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{pod.ip}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
        for pod in pods:
            self._write_hosts(pod, pods, services)

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self.namespaces.append(name)

    def _write_hosts(self, pod: Pod, pods: list[Pod], services: list[ServiceRecord]) -> None:
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        names = [pod.hostname]
        if pod.subdomain:
            names.insert(0, f"{pod.hostname}.{pod.subdomain}.{pod.namespace}.svc.cluster.local")
        lines.append(f"{pod.ip}\t{' '.join(names)}")

        def aliases(name: str) -> str:
            ns = pod.namespace
            return f"{name} {name}.{ns} {name}.{ns}.svc {name}.{ns}.svc.cluster.local"

        for svc in services:
            if svc.headless:
                for member in svc.pods:
                    lines.append(f"{member.ip}\t{aliases(f'{member.hostname}.{svc.name}')}")
            else:
                lines.append(f"{svc.pods[0].ip}\t{aliases(svc.name)}")
        directory = Path("/etc/netns") / self.pod_ns[pod.name]
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "hosts").write_text("\n".join(lines) + "\n")

    # --------------------------------------------------------------- containers

    def _image_bin(self, container: Container) -> Path:
        """A directory standing for the image's /usr/local/bin: links to the build tree."""
        directory = self.workdir / "images" / container.image.stage / "bin"
        if not directory.exists():
            directory.mkdir(parents=True)
            for image_path, build_path in container.image.binaries.items():
                target = self.build_dir / build_path
                if not target.exists():
                    raise ManifestError(f"{build_path} (for {image_path}) is not built in {self.build_dir}")
                # A copy, not a link: the build tree may sit below a directory the pods'
                # non-root user cannot enter (a fresh clone in a mktemp -d dir is 0700).
                copy = directory / Path(image_path).name
                shutil.copy2(target, copy)
                copy.chmod(0o755)
        return directory

    def _volume_dir(self, pod: Pod, name: str) -> Path:
        volume = pod.volumes[name]
        if "emptyDir" in volume:
            path = self.workdir / "pods" / pod.name / "volumes" / name
        elif "persistentVolumeClaim" in volume:
            path = self.workdir / "pvc" / volume["persistentVolumeClaim"]["claimName"]
        elif "hostPath" in volume:
            host = volume["hostPath"]["path"]
            if host not in self.host_paths:
                raise ManifestError(f"hostPath {host} has no directory in this test")
            return self.host_paths[host]
        else:
            raise ManifestError(f"volume {name}: {sorted(volume)} is not emulated")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _rootfs(self, pod: Pod, container: Container, uid: int, gid: int) -> tuple[Path, dict[str, Path]]:
        """The container's file system: a directory with the mounts as symlinks. Returns it and
        container path -> host path for every emulated prefix."""
        rootfs = self.workdir / "pods" / pod.name / container.name
        paths: dict[str, Path] = {}
        for mount in container.mounts:
            source = self._volume_dir(pod, mount.volume)
            if mount.sub_path:
                source = source / mount.sub_path
                source.mkdir(parents=True, exist_ok=True)
            link = rootfs / mount.path.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source)
            paths[mount.path] = link
        for path in {container.working_dir, container.env.get("HOME", "")} - {"", "/"}:
            host = rootfs / path.lstrip("/")
            host.mkdir(parents=True, exist_ok=True)
            paths.setdefault(path, host)
        # A path handed to another container of the pod (the SuperNode's node-config data-path
        # is read by the ClientApp) means what it means there: the mounts of the pod's other
        # containers count too, where this container mounts nothing at that path and they
        # agree on the volume.
        for mount_path, source in self._pod_mounts(pod).items():
            if mount_path not in paths and source is not None:
                paths[mount_path] = source
        # readOnlyRootFilesystem: the container's own directories stay root's (0755), so only
        # its volumes are writable for its user; otherwise its user owns them.
        if not container.security.get("readOnlyRootFilesystem"):
            for directory in [rootfs, *rootfs.rglob("*")]:
                if directory.is_dir() and not directory.is_symlink():
                    os.chown(directory, uid, gid)
        for mount in container.mounts:
            volume = pod.volumes[mount.volume]
            if "hostPath" not in volume:  # fsGroup: the pod's volumes belong to its group
                target = paths[mount.path].resolve()
                os.chown(target, uid, gid)
        return rootfs, paths

    def _pod_mounts(self, pod: Pod) -> dict[str, Path | None]:
        """Mount path -> volume directory over the pod's containers (None where they differ)."""
        mounts: dict[str, Path | None] = {}
        for container in pod.containers:
            for mount in container.mounts:
                source = self._volume_dir(pod, mount.volume)
                source = source / mount.sub_path if mount.sub_path else source
                if mounts.get(mount.path, source) != source:
                    source = None
                mounts[mount.path] = source
        return mounts

    @staticmethod
    def _rewrite(value: str, paths: dict[str, Path]) -> str:
        for path in sorted(paths, key=len, reverse=True):
            value = re.sub(rf"(?<![\w./-]){re.escape(path)}(?=$|[/\s'\"])", str(paths[path]), value)
        return value

    def start_pod(self, pod: Pod, startup_timeout: float = 30.0) -> None:
        """Start the pod's containers as the kubelet would: init containers in order (a sidecar,
        restartPolicy Always, keeps running and must pass its startup probe before the next
        container starts; a plain init container must exit 0), then the app containers."""
        ns = self.pod_ns[pod.name]
        for container in pod.containers:
            security = container.security
            uid, gid = int(security.get("runAsUser", 0)), int(security.get("runAsGroup", 0))
            groups = [int(security["fsGroup"])] if "fsGroup" in security else []
            rootfs, paths = self._rootfs(pod, container, uid, gid)
            bin_dir = self._image_bin(container)
            env = {k: self._rewrite(v, paths) for k, v in container.env.items()}
            env["PATH"] = env.get("PATH", "").replace("/usr/local/bin", str(bin_dir))
            env = {k: v.replace("$(__POD_IP__)", pod.ip) for k, v in env.items()}
            argv = [self._rewrite(a.replace("$(__POD_IP__)", pod.ip), paths) for a in container.argv]
            argv[0] = str(bin_dir / Path(container.argv[0]).name)
            cwd = paths.get(container.working_dir, rootfs)
            setpriv = ["setpriv", f"--reuid={uid}", f"--regid={gid}"]
            setpriv += [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
            log = self.workdir / "logs" / f"{pod.name}.{container.name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    ["ip", "netns", "exec", ns, *setpriv, "--", *argv],
                    cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )
            running = Running(pod, container, proc, log)
            self.running.append(running)
            if container.init and not container.sidecar:
                if proc.wait(startup_timeout) != 0:
                    raise ContainerExited(running)
            elif container.sidecar:
                startup = [p for p in container.probes if p.kind == "startup"]
                self.wait_for_probes(pod, startup, startup_timeout, running)

    # ------------------------------------------------------------------- probes

    def run_probes(self, pod: Pod, probes: list) -> list[bool]:
        """Each probe from the node (the switch namespace) to the pod's address."""
        if not probes:
            return []
        spec = [{"handler": p.handler, "host": pod.ip, "port": p.port, "path": p.path,
                 "service": p.service} for p in probes]
        result = subprocess.run(
            ["ip", "netns", "exec", self.switch, sys.executable, str(PROBE_SCRIPT), json.dumps(spec)],
            capture_output=True, text=True, timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"probe helper failed: {result.stderr}")
        return json.loads(result.stdout)

    def wait_for_probes(self, pod: Pod, probes: list, timeout: float, running: Running | None = None) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive([running] if running else None)
            results = self.run_probes(pod, probes)
            if all(results):
                return
            if time.monotonic() > deadline:
                failed = [f"{p.kind} {p.handler}:{p.port}" for p, ok in zip(probes, results) if not ok]
                raise TimeoutError(f"pod {pod.name}: probes still failing after {timeout}s: {failed}\n"
                                   + self.logs())
            time.sleep(0.5)

    # --------------------------------------------------------------- processes

    def check_alive(self, which: list[Running] | None = None) -> None:
        """Raise ContainerExited for the first container that is no longer running."""
        for running in which or self.running:
            if running.container.init and not running.container.sidecar:
                continue
            if running.proc.poll() is not None:
                raise ContainerExited(running)

    def exec_in(self, pod: Pod, argv: list[str], env: dict[str, str], timeout: float,
                cwd: Path | None = None) -> subprocess.CompletedProcess:
        """Run a command in the pod's network namespace (what `kubectl port-forward` reaches:
        the pod's loopback), as the test's user."""
        return subprocess.run(["ip", "netns", "exec", self.pod_ns[pod.name], *argv], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout)

    def port_forward(self, pod: Pod, local_port: int, pod_port: int, timeout: float = 10.0) -> None:
        """`kubectl port-forward pods/<pod> LOCAL:POD` on the workstation (a namespace with only
        a loopback interface, made on first use)."""
        if self.workstation not in self.namespaces:
            self._add_namespace(self.workstation)
            _ip("-n", self.workstation, "link", "set", "lo", "up")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.workstation, sys.executable, str(PORT_FORWARD_SCRIPT),
             str(local_port), self.pod_ns[pod.name], str(pod_port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.forwarders.append(proc)
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not ready or not ready[0].startswith("Forwarding"):
            raise RuntimeError(f"port-forward {local_port}:{pod_port} did not start: {ready}")

    def on_workstation(self, argv: list[str], env: dict[str, str], timeout: float,
                       cwd: Path | None = None) -> subprocess.CompletedProcess:
        """Run a command on the workstation (where `kubectl port-forward` listens)."""
        return subprocess.run(["ip", "netns", "exec", self.workstation, *argv], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout)

    def logs(self) -> str:
        return "\n".join(f"===== {r.pod.name}/{r.container.name} (rc={r.proc.poll()}) =====\n"
                         f"{r.log.read_text(errors='replace')[-4000:]}" for r in self.running)

    def close(self) -> None:
        for proc in self.forwarders:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            proc.stdout.close()
        self.forwarders.clear()
        for running in reversed(self.running):
            if running.proc.poll() is None:
                try:
                    os.killpg(running.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for running in self.running:
            try:
                running.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for name in reversed(self.namespaces):
            _delete_namespace(name)  # SIGKILLs whatever is left, children included
        for running in self.running:
            if running.proc.poll() is None:
                running.proc.wait(5)
        self.namespaces.clear()
        # /etc/netns itself stays (iproute2's own directory): removing it when empty could race
        # with another test process that is making its namespaces' directories in it.
