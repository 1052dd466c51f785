"""Fixtures of the deployment tests: the rendered manifests, a scratch directory every pod
user can traverse, and a small synthetic CIFAR-10-format dataset for the leaf clusters."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO_ROOT / "tests" / "interop"))  # harness: the pinned Flower lines

import kustomize_lite  # noqa: E402
from harness import LINES, Line  # noqa: E402

MANIFESTS = REPO_ROOT / "manifests"  # the default: the Flower 1.42 line (manifests/base)
OVERLAY_136 = MANIFESTS / "overlays" / "flower-1.36"


def kustomization_for(line: Line) -> Path:
    """The manifests of a pinned line: HTTP Fleet and Control on one port, or the gRPC ones."""
    return MANIFESTS if line.http_fleet else OVERLAY_136


# A deployment written for the official Flower images (flwr/superlink, flwr/supernode,
# flwr/superexec) of each line: the fixture of test_dropin.py.
STOCK_STYLE = Path(__file__).resolve().parent / "stock_style"


def stock_style_for(line: Line) -> Path:
    """The deployment a Flower user writes for the official images of `line`."""
    return STOCK_STYLE / ("base" if line.http_fleet else "flower-1.36")


def control_port_in_pod(line: Line) -> int:
    """The server pod's port that `kubectl port-forward` maps for the line's CLI."""
    return 8000 if line.http_control else 9093
NAMESPACE = "flower-demo"  # docs/deploy.md: kubectl create ns flower-demo
# The leaf cluster's data directory in manifests/base/clients.yaml (hostPath).
DATA_HOST_PATH = "/var/lib/flower-demo/cifar-10-batches-bin"


@pytest.fixture
def rendered() -> list[dict[str, Any]]:
    """manifests/ as `kubectl apply -k manifests/` would send them (a fresh copy per test)."""
    return kustomize_lite.render(MANIFESTS)


@pytest.fixture
def rendered_136() -> list[dict[str, Any]]:
    """The Flower 1.36 overlay as `kubectl apply -k manifests/overlays/flower-1.36` would send it."""
    return kustomize_lite.render(OVERLAY_136)


@pytest.fixture(params=LINES, ids=str)
def line(request) -> Line:
    """Each pinned Flower line (flower-version.txt)."""
    return request.param


@pytest.fixture
def scratch():
    """A directory readable by the pods' non-root user (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="flwr-deploy-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def synthetic_cifar():
    """SYNTHETIC data in the CIFAR-10 binary format (scripts/gen_synthetic_cifar.py), small
    enough that one local epoch takes a moment on 2 cores."""
    path = Path(tempfile.mkdtemp(prefix="flwr-deploy-data-", dir="/var/tmp"))
    path.chmod(0o755)
    subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "gen_synthetic_cifar.py"), "--out",
                    str(path), "--train-per-batch", "100", "--test", "100", "--seed", "1"],
                   check=True, capture_output=True)
    for child in path.iterdir():
        child.chmod(0o644)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def netns_capable() -> None:
    """Root and `ip netns` (the e2e tests make network namespaces)."""
    if os.geteuid() != 0:
        pytest.skip("needs root for ip netns (CI runs as root)")
    if shutil.which("ip") is None or shutil.which("setpriv") is None:
        pytest.fail("iproute2 (ip) and util-linux (setpriv) are needed: scripts/setup.sh installs them")
