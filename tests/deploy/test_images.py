"""Dockerfile.superexec and Dockerfile.clientapp.

Always (seconds): each runtime stage installs exactly the Debian packages that provide the
NEEDED libraries of the binaries it ships (readelf + ldd + dpkg -S on this Debian 12 machine,
the same release as the images); the two build stages are identical (the second image build
reuses the first one's compile); the images run as the stock images' user with their
entrypoints on PATH.

With FLWR_TEST_IMAGES=1 (slow: scripts/build-images.sh, ~14 min for a first build on 2 cores,
about a minute when its layers are cached, plus ~1.5 min of tests): the four images are
built with podman from a debootstrap base, each image's file system is mounted, its entrypoint
runs chrooted (`--help`, as the image's user, with the image's env and WORKDIR), and a two-node
federation runs across the images' binaries: SuperLink + ServerApp executor from the server
images, two SuperNodes + ClientApp executors from the client images, the stock `flwr run` of
the demo app, finished:completed with both clients' results in every round.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from harness import Line, copy_demo_app, free_port, wait_for_port
from manifest_pods import DOCKERFILES, dockerfile_instructions, parse_dockerfile

# Present in every Debian base image (dependencies of its Essential packages).
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}
PREFIX = os.environ.get("FLWR_IMAGE_PREFIX", "flwr-cpp")
TAG = os.environ.get("FLWR_IMAGE_TAG", "0.1.0")
# image stage -> Dockerfile
IMAGES = {"superlink": "Dockerfile.superexec", "superexec": "Dockerfile.superexec",
          "supernode": "Dockerfile.clientapp", "clientapp": "Dockerfile.clientapp"}


def _arg(dockerfile: Path, name: str) -> list[str]:
    for word, rest in dockerfile_instructions(dockerfile.read_text()):
        if word == "ARG" and rest.startswith(f"{name}="):
            return rest.split("=", 1)[1].strip('"').split()
    raise AssertionError(f"{dockerfile.name} has no ARG {name}")


def _packages_of(paths: set[str]) -> dict[str, str]:
    """Library path -> Debian package (one dpkg -S for all; /lib is /usr/lib on Debian 12)."""
    variants = {v: p for p in paths for v in (p, os.path.realpath(p), p.replace("/lib/", "/usr/lib/", 1))}
    result = subprocess.run(["dpkg", "-S", *sorted(variants)], capture_output=True, text=True)
    owners = {}
    for line in result.stdout.splitlines():
        package, _, path = line.partition(": ")
        owners[variants.get(path, path)] = package.split(":")[0]
    missing = sorted(p for p in paths if p not in owners)
    assert not missing, f"no Debian package owns {missing}"
    return owners


def needed_packages(binaries: list[Path]) -> set[str]:
    """Debian packages providing the NEEDED libraries of `binaries` (resolved as ldd does)."""
    libraries: set[str] = set()
    for binary in binaries:
        readelf = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, check=True)
        needed = re.findall(r"\(NEEDED\).*\[(.*)\]", readelf.stdout)
        ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True)
        resolved = {}
        for line in ldd.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "=>":
                resolved[parts[0]] = parts[2]
        missing = [lib for lib in needed if lib not in resolved and not lib.startswith("ld-linux")]
        assert not missing, f"{binary}: unresolved {missing}"
        libraries |= {resolved[lib] for lib in needed if lib in resolved}
    return set(_packages_of(libraries).values())


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_runtime_stage_installs_exactly_the_packages_the_binaries_need(dockerfile: Path, build_dir: Path) -> None:
    listed = set(_arg(dockerfile, "RUNTIME_PACKAGES"))
    if dockerfile.name == "Dockerfile.clientapp":
        listed |= set(_arg(dockerfile, "LIBTORCH_PACKAGES"))
    binaries = [build_dir / binary for binary in _arg(dockerfile, "FLWR_BINARIES")]
    for path in binaries:
        assert path.is_file(), f"{path} is not built"
    needed = needed_packages(binaries)
    assert listed == needed - BASE_PACKAGES, (
        f"missing: {sorted(needed - BASE_PACKAGES - listed)}, not needed: {sorted(listed - needed)}")


def test_build_and_runtime_stages_are_shared_by_both_dockerfiles() -> None:
    """Same instructions up to what each image ships, so podman/docker reuse the layers: one
    C++ build and one runtime layer for both sides; the client side adds libtorch on top."""
    def prefix(dockerfile: Path) -> list[tuple[str, str]]:
        out = []
        for word, rest in dockerfile_instructions(dockerfile.read_text()):
            if word == "ARG" and rest.startswith("FLWR_BINARIES="):
                continue  # after the compile step; only the install step differs
            if "LIBTORCH_PACKAGES" in rest:
                continue  # the client's own layer, after the shared runtime layer
            if word == "COPY" and rest.startswith("--from=build"):
                break
            out.append((word, rest))
        return out

    server, client = (prefix(p) for p in DOCKERFILES)
    assert server == client
    assert any(word == "RUN" and "scripts/setup.sh" in rest for word, rest in server)
    assert any(word == "RUN" and "scripts/build.sh" in rest for word, rest in server)


@pytest.mark.parametrize("stage", sorted(IMAGES))
def test_image_stage_runs_its_entrypoint_as_the_stock_images_user(stage: str) -> None:
    dockerfile = REPO_ROOT / IMAGES[stage]
    config = parse_dockerfile(dockerfile)[stage]
    assert config.user == "app" and config.workdir == "/app"  # as flwr/base: uid 49999, /app
    assert config.which(config.entrypoint[0]) is not None, (config.entrypoint, config.binaries)
    text = dockerfile.read_text()
    for label in ("org.opencontainers.image.title", "org.opencontainers.image.version",
                  "org.opencontainers.image.revision", "org.opencontainers.image.licenses"):
        assert label in text
    assert "useradd" in text and "--uid 49999" in text


# ------------------------------------------------------------------------------ FLWR_TEST_IMAGES

needs_images = pytest.mark.skipif(os.environ.get("FLWR_TEST_IMAGES") != "1",
                                  reason="image build and run: set FLWR_TEST_IMAGES=1 (slow, needs root)")


class ImageFs:
    """A created (not started) container of an image, its file system mounted read-write."""

    def __init__(self, stage: str):
        self.stage = stage
        self.image = f"{PREFIX}/{stage}:{TAG}"
        inspect = json.loads(subprocess.run(["podman", "image", "inspect", self.image], check=True,
                                            capture_output=True, text=True).stdout)[0]
        self.config = inspect["Config"]
        self.healthcheck = inspect.get("Healthcheck")  # podman reports it beside Config
        self.size = int(inspect["Size"])
        self.container = subprocess.run(["podman", "create", "--pull=never", self.image], check=True,
                                        capture_output=True, text=True).stdout.strip()
        self.root = Path(subprocess.run(["podman", "mount", self.container], check=True,
                                        capture_output=True, text=True).stdout.strip())
        user = self.config.get("User", "root")
        passwd = (self.root / "etc" / "passwd").read_text().splitlines()
        entry = next(line.split(":") for line in passwd if line.split(":")[0] == user)
        self.uid, self.gid = int(entry[2]), int(entry[3])

    def argv(self, args: list[str], entrypoint: list[str] | None = None, env: dict[str, str] | None = None) -> list[str]:
        """The entrypoint + args, chrooted into the image as its user, with its env and WORKDIR
        (and /dev, /proc mounted in a private mount namespace)."""
        image_env = dict(e.split("=", 1) for e in self.config.get("Env", []))
        image_env.update(env or {})
        command = (entrypoint if entrypoint is not None else self.config["Entrypoint"]) + args
        script = ('root="$0"; spec="$1"; shift; mkdir -p "$root/dev" "$root/proc" && '
                  'mount --rbind /dev "$root/dev" && mount -t proc proc "$root/proc" && '
                  'exec chroot --userspec="$spec" "$root" "$@"')
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
                str(self.root), f"{self.uid}:{self.gid}",
                "/usr/bin/env", "-i", "-C", self.config.get("WorkingDir") or "/",
                *[f"{k}={v}" for k, v in image_env.items()], *command]

    def close(self) -> None:
        subprocess.run(["podman", "umount", self.container], capture_output=True)
        subprocess.run(["podman", "rm", "-f", self.container], capture_output=True)

@pytest.fixture(scope="module")
def images():
    """Build the images (scripts/build-images.sh; cached layers make a rebuild quick) and mount
    a container file system of each."""
    if os.geteuid() != 0:
        pytest.skip("podman build, mount and chroot need root")
    build = subprocess.run([str(REPO_ROOT / "scripts" / "build-images.sh")], capture_output=True, text=True,
                           timeout=3 * 3600)
    assert build.returncode == 0, build.stdout[-5000:] + build.stderr[-5000:]
    mounted: dict[str, ImageFs] = {}
    try:
        for stage in IMAGES:
            mounted[stage] = ImageFs(stage)
        yield mounted
    finally:
        for fs in mounted.values():
            fs.close()


@needs_images
@pytest.mark.timeout(4 * 3600)
@pytest.mark.parametrize("stage", sorted(IMAGES))
def test_image_entrypoint_answers_help_as_its_user(images, stage: str) -> None:
    fs = images[stage]
    assert fs.config["User"] == "app" and fs.config["WorkingDir"] == "/app"
    assert fs.config["Labels"]["org.opencontainers.image.version"] == TAG
    result = subprocess.run(fs.argv(["--help"]), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "usage" in (result.stdout + result.stderr).lower()
    # Runtime libraries only: no compiler, no headers, no CMake in the final image.
    for path in ("usr/bin/g++", "usr/bin/cmake", "usr/include/torch", "usr/include/grpcpp"):
        assert not (fs.root / path).exists(), path
    # Every shipped binary loads with the image's own libraries.
    for binary in (fs.root / "usr" / "local" / "bin").iterdir():
        ldd = subprocess.run(fs.argv([f"/usr/local/bin/{binary.name}"], entrypoint=["/usr/bin/ldd"]),
                             capture_output=True, text=True, timeout=60)
        assert ldd.returncode == 0 and "not found" not in ldd.stdout, ldd.stdout + ldd.stderr
    print(f"\n{fs.image}: {fs.size / 1e6:.1f} MB")


# Issue 15: the server images carry no libtorch and stay under this (MB = 10^6 bytes, as podman).
SERVER_IMAGE_LIMIT_MB = 150


def _layer_sizes(image: str) -> list[tuple[str, int]]:
    """(instruction, bytes) of each layer of `image`, as `podman history` reports them."""
    history = json.loads(subprocess.run(["podman", "history", "--format", "json", image], check=True,
                                        capture_output=True, text=True).stdout)
    return [(entry.get("CreatedBy", entry.get("createdBy", "")), int(entry.get("Size", entry.get("size", 0))))
            for entry in history]


@needs_images
@pytest.mark.timeout(4 * 3600)
def test_image_sizes(images) -> None:
    """The server images are under the limit; the client image is that plus its libtorch layer
    and nothing else of size."""
    sizes = {stage: fs.size / 1e6 for stage, fs in images.items()}
    print("\n" + "\n".join(f"{images[s].image}: {mb:.1f} MB" for s, mb in sorted(sizes.items())))
    for stage in ("superlink", "superexec"):
        assert sizes[stage] <= SERVER_IMAGE_LIMIT_MB, sizes
        assert not list((images[stage].root / "usr" / "lib" / "x86_64-linux-gnu").glob("libtorch*"))
    layers = _layer_sizes(images["clientapp"].image)
    libtorch = sum(size for created, size in layers if "LIBTORCH_PACKAGES" in created) / 1e6
    print(f"{images['clientapp'].image}: libtorch layer {libtorch:.1f} MB of {sizes['clientapp']:.1f} MB")
    assert libtorch > 0, layers
    for stage in ("supernode", "clientapp"):
        assert sizes[stage] - libtorch <= SERVER_IMAGE_LIMIT_MB, (sizes, libtorch)


@needs_images
@pytest.mark.timeout(4 * 3600)
def test_two_node_federation_across_the_images(images, synthetic_cifar, tmp_path: Path, line: Line) -> None:
    """The demo app through the images' own binaries and libraries, driven by each pinned
    line's stock CLI: finished:completed, both clients' results in the round, the HEALTHCHECK
    command of the server image passes. On 1.42 everything goes through the SuperLink's one
    HTTP port; on 1.36 the SuperNodes and the CLI use the gRPC Fleet and Control APIs."""
    runtime = free_port()
    fleet, control = (runtime, runtime) if line.http_fleet else (free_port(), free_port())
    procs: list[tuple[str, subprocess.Popen]] = []

    def start(name: str, fs: ImageFs, args: list[str]) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "wb")
        proc = subprocess.Popen(fs.argv(args), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        procs.append((name, proc))
        return proc

    def logs() -> str:
        return "\n".join(f"== {n} ==\n{(tmp_path / f'{n}.log').read_text(errors='replace')[-3000:]}"
                         for n, _ in procs)

    client_fs = images["clientapp"]
    data = client_fs.root / "app" / f"data-{line.version}"  # the mount serves both lines' runs
    shutil.copytree(synthetic_cifar, data)
    try:
        grpc_apis = (["--disable-grpc-apis"] if line.http_fleet else
                     ["--fleet-api-address", f"127.0.0.1:{fleet}", "--control-api-address", f"127.0.0.1:{control}"])
        link = start("superlink", images["superlink"], [
            "--insecure", "--isolation", "process", "--database", f"state/state-{line.version}.db", *grpc_apis,
            "--host", "127.0.0.1", "--port", str(runtime)])
        for port in {fleet, control, runtime}:
            wait_for_port(port, 30, proc=link)
        start("superexec", images["superexec"], ["--insecure", "--plugin-type", "serverapp",
                                                 "--runtime-api-address", f"127.0.0.1:{runtime}"])
        for i in range(2):
            appio = free_port()
            node = start(f"supernode{i}", images["supernode"], [
                "--insecure", *([] if line.http_fleet else ["--grpc-rere"]),
                "--superlink", f"127.0.0.1:{fleet}", "--isolation", "process",
                "--host", "127.0.0.1", "--port", str(appio),
                "--node-config", f'partition-id={i} num-partitions=2 data-path="/app/data-{line.version}"'])
            wait_for_port(appio, 30, proc=node)
            start(f"clientapp{i}", client_fs, ["--insecure", "--plugin-type", "clientapp",
                                               "--runtime-api-address", f"127.0.0.1:{appio}"])
        # The server image's HEALTHCHECK command, pointed at this SuperLink's HTTP port.
        health = images["superlink"].healthcheck["Test"]
        assert health[0] == "CMD"
        check = subprocess.run(images["superlink"].argv(health[1:], entrypoint=[],
                                                        env={"FLWR_HEALTHCHECK_ADDRESS": f"127.0.0.1:{runtime}"}),
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr

        home = tmp_path / "flwr-home"
        home.mkdir()
        (home / "config.toml").write_text(f'[superlink]\ndefault = "images"\n\n[superlink.images]\n'
                                          f'address = "127.0.0.1:{control}"\ninsecure = true\n')
        app = copy_demo_app(tmp_path / "app")
        env = {**os.environ, "FLWR_HOME": str(home), "FLWR_TELEMETRY_ENABLED": "0"}
        flwr = str(line.venv_bin / "flwr")
        started = subprocess.run([flwr, "run", ".", "images", "--format", "json", "--run-config",
                                  "num-server-rounds=1"], cwd=app, env=env, capture_output=True, text=True,
                                 timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr + logs()
        run_id = json.loads(started.stdout)["run-id"]
        deadline = time.monotonic() + 300
        status = ""
        while time.monotonic() < deadline and not status.startswith("finished"):
            time.sleep(2)
            listed = subprocess.run([flwr, "ls", "images", "--run-id", run_id, "--format", "json"], env=env,
                                    capture_output=True, text=True, timeout=60)
            status = json.loads(listed.stdout)["runs"][0]["status"]
        assert status == "finished:completed", status + logs()
        log = subprocess.run([flwr, "log", run_id, "images", "--show"], env=env, capture_output=True,
                             text=True, timeout=60)
        text = log.stdout + log.stderr
        assert "aggregate_train: Received 2 results and 0 failures" in text, text + logs()
        assert "aggregate_evaluate: Received 2 results and 0 failures" in text, text + logs()
        for name, proc in procs:
            assert proc.poll() is None, f"{name} exited\n{logs()}"
    finally:
        for _, proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
