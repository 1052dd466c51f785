"""flwr::cnn (C++) against its Python twin, the Python app against stock flwr 1.36.

The fixtures come from the Python twin (demo/cifar_app/task.py) and the pinned flwr at test time
(make_ml_fixtures.py); ml_twin_test (C++) must match them and writes .pt/.npz artifacts that
Python's torch and numpy must load back.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.serverapp.strategy import FedAvg

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "demo"))

from cifar_app import task  # noqa: E402
from cifar_app.client_app import app as client_app  # noqa: E402
from harness import set_task_identity  # noqa: E402  (tests/conftest.py puts it on sys.path)

TWIN_TESTS = 8


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ml")
    subprocess.run([sys.executable, str(HERE / "make_ml_fixtures.py"), str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def twin_run(fixture_dir: Path, build_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(build_dir / "tests/ml/ml_twin_test"), str(fixture_dir), "--gtest_brief=1"],
        capture_output=True, text=True, timeout=300,
    )


def test_fixtures_come_from_the_pinned_flwr(fixture_dir: Path, pinned_flwr_version: str) -> None:
    manifest = json.loads((fixture_dir / "manifest.json").read_text())
    assert manifest["flwr_version"] == pinned_flwr_version
    assert [s["name"] for s in manifest["state"]] == list(task.Net().state_dict())
    assert (fixture_dir / "data" / task.SYNTHETIC_MARKER).is_file()


def test_cpp_matches_the_python_twin(twin_run: subprocess.CompletedProcess[str]) -> None:
    assert twin_run.returncode == 0, twin_run.stdout[-20000:] + twin_run.stderr[-5000:]
    passed = re.search(r"\[  PASSED  \] (\d+) tests", twin_run.stdout)
    assert passed and int(passed.group(1)) == TWIN_TESTS, twin_run.stdout[-5000:]


def test_cpp_artifacts_load_in_python(fixture_dir: Path,
                                      twin_run: subprocess.CompletedProcess[str]) -> None:
    assert twin_run.returncode == 0
    expected = task.initial_net(42).state_dict()
    state_dict = torch.load(fixture_dir / "artifacts" / "model.pt")
    assert list(state_dict) == list(expected)
    for name, tensor in expected.items():
        assert state_dict[name].dtype == torch.float32
        assert torch.equal(state_dict[name], tensor), name
    net = task.Net()
    net.load_state_dict(state_dict)  # strict: every key, every shape
    with np.load(fixture_dir / "artifacts" / "model.npz") as npz:
        assert list(npz.keys()) == list(expected)
        for name, tensor in expected.items():
            np.testing.assert_array_equal(npz[name], tensor.numpy())
    with np.load(fixture_dir / "artifacts" / "empty.npz") as npz:
        assert list(npz.keys()) == []


def test_cpp_torch_files_of_every_storage_type_load_in_python(
        fixture_dir: Path, twin_run: subprocess.CompletedProcess[str]) -> None:
    """core::WriteTorchPt, which writes .pt files without libtorch, beyond float32."""
    assert twin_run.returncode == 0
    iota = np.arange(6).reshape(2, 3)
    expected = {name: iota.astype(name) for name in ("int8", "uint8", "int16", "int32", "int64")}
    expected |= {"bool": np.array([True, False, True]), "float64": np.array(2.5),
                 "float16": np.array([1, -2], dtype=np.float16), "complex64": np.array([1 + 2j], np.complex64),
                 "empty": np.zeros((0, 3), np.float32),
                 "fortran": np.arange(6, dtype=np.float32).reshape((2, 3), order="F")}
    state = torch.load(fixture_dir / "artifacts" / "mixed.pt")
    assert list(state) == list(expected)
    for name, array in expected.items():
        assert state[name].numpy().dtype == array.dtype, name
        np.testing.assert_array_equal(state[name].numpy(), array, err_msg=name)
    assert not state["fortran"].is_contiguous() and state["fortran"].stride() == (1, 2)
    assert torch.load(fixture_dir / "artifacts" / "empty.pt") == {}


def test_twin_test_fails_when_python_disagrees(fixture_dir: Path, build_dir: Path,
                                               tmp_path: Path) -> None:
    """The comparisons can fail: perturb Python's output, one split and one weight."""
    broken = tmp_path / "broken"
    shutil.copytree(fixture_dir, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["partitions"][0]["train"][0], manifest["partitions"][0]["train"][1] = (
        manifest["partitions"][0]["train"][1], manifest["partitions"][0]["train"][0])
    manifest["eval"]["loss"] += 1e-3
    (broken / "manifest.json").write_text(json.dumps(manifest))
    output = np.load(broken / "output.npy")
    output[0, 0] += 1e-4
    np.save(broken / "output.npy", output)
    state = bytearray((broken / "state" / "9.bin").read_bytes())
    state[-1] ^= 1
    (broken / "state" / "9.bin").write_bytes(bytes(state))
    result = subprocess.run(
        [str(build_dir / "tests/ml/ml_twin_test"), str(broken), "--gtest_brief=1"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    for name in ("PartitionsAndSplitsPickPythonsIndices", "EvaluationOfPythonWeightsMatchesPython",
                 "ForwardPassWithPythonWeightsMatchesPython",
                 "SeededInitialWeightsAreBytewiseThoseOfPython"):
        assert f"TwinTest.{name}" in result.stdout, name


# --- The Python twin's own behaviour ---------------------------------------------------------


def test_splitmix64_reference_sequence() -> None:
    rng = task.SplitMix64(1234567)
    assert [rng.next() for _ in range(3)] == [
        6457827717110365317, 3203168211198807973, 9817491932198370423]


def test_python_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        task.count_train_examples(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="data_batch_1.bin"):
        task.count_train_examples(tmp_path)
    for name in task.TRAIN_FILES:
        (tmp_path / name).write_bytes(bytes(task.RECORD_BYTES * 2))
    assert task.count_train_examples(tmp_path) == 10
    (tmp_path / "data_batch_2.bin").write_bytes(bytes(task.RECORD_BYTES + 1))
    with pytest.raises(ValueError, match="not a multiple"):
        task.count_train_examples(tmp_path)
    bad = bytearray(task.RECORD_BYTES * 2)
    bad[task.RECORD_BYTES] = 10
    (tmp_path / "data_batch_2.bin").write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="record 1 has label 10"):
        task.read_train_examples(tmp_path, [0])
    with pytest.raises(ValueError, match="out of range"):
        task.partition_split_indices(10, 2, 2, 42)
    with pytest.raises(ValueError, match="at least 1"):
        task.partition_split_indices(10, 0, 0, 42)
    with pytest.raises(ValueError, match="holds 0 examples"):
        task.partition_split_indices(3, 0, 4, 42)


def test_synthetic_generator_writes_cifar_format(tmp_path: Path) -> None:
    for out in (tmp_path / "a", tmp_path / "b"):
        subprocess.run([sys.executable, str(REPO / "scripts" / "gen_synthetic_cifar.py"),
                        "--out", str(out), "--train-per-batch", "30", "--test", "20",
                        "--seed", "3"], check=True, capture_output=True)
    for name in (*task.TRAIN_FILES, task.TEST_FILE):
        data = (tmp_path / "a" / name).read_bytes()
        assert data == (tmp_path / "b" / name).read_bytes()  # same seed, same bytes
        records = np.frombuffer(data, dtype=np.uint8).reshape(-1, task.RECORD_BYTES)
        assert records.shape[0] == (20 if name == task.TEST_FILE else 30)
        assert records[:, 0].max() <= 9
    assert "SYNTHETIC" in (tmp_path / "a" / task.SYNTHETIC_MARKER).read_text()
    assert task.is_synthetic(tmp_path / "a")


# --- The Python app with the primary line's stock flwr -----------------------------------------------------


def _train_message(arrays: ArrayRecord, node_id: int) -> Message:
    set_task_identity(run_id=1, node_id=1)  # the ServerApp's
    content = RecordDict({"arrays": arrays, "config": ConfigRecord({"lr": 0.01, "server-round": 1})})
    return Message(content=content, dst_node_id=node_id, message_type="train")


def _context(node_id: int, data: Path, partition_id: int) -> Context:
    return Context(run_id=1, node_id=node_id, state=RecordDict(),
                   node_config={"partition-id": partition_id, "num-partitions": 2,
                                "data-path": str(data)},
                   run_config={"local-epochs": 1, "lr": 0.1, "batch-size": 32, "seed": 42,
                               "data-path": "unused"})


def test_python_client_replies_aggregate_with_stock_fedavg(fixture_dir: Path) -> None:
    arrays = ArrayRecord(task.initial_net(42).state_dict())
    data = fixture_dir / "data"
    replies = [client_app(_train_message(arrays, n), _context(n, data, n - 1)) for n in (1, 2)]
    for reply in replies:
        assert not reply.has_error(), reply.error
        assert set(reply.content.array_records) == {"arrays"}
        assert set(reply.content["metrics"]) == {"train_loss", "num-examples"}
        assert reply.content["metrics"]["num-examples"] == 800
    aggregated, metrics = FedAvg().aggregate_train(1, replies)
    assert list(aggregated) == list(arrays)
    assert set(metrics) == {"train_loss"}

    evaluate = Message(content=RecordDict({"arrays": aggregated, "config": ConfigRecord()}),
                       dst_node_id=1, message_type="evaluate")
    reply = client_app(evaluate, _context(1, data, 0))
    assert not reply.has_error(), reply.error
    assert set(reply.content["metrics"]) == {"eval_loss", "eval_acc", "num-examples"}
    assert FedAvg().aggregate_evaluate(1, [reply]).keys() == {"eval_loss", "eval_acc"}


def test_pyproject_is_a_stock_flower_app_with_a_native_table(tmp_path: Path) -> None:
    """`flwr build` (stock 1.36) accepts the app, [tool.flwr.app.native] included."""
    app = tmp_path / "app"
    shutil.copytree(REPO / "demo", app, ignore=shutil.ignore_patterns("__pycache__"))
    flwr = Path(sys.executable).parent / "flwr"
    result = subprocess.run([str(flwr), "build", "--app", str(app)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    fab = next(tmp_path.glob("*.fab"))
    with zipfile.ZipFile(fab) as z:
        names = set(z.namelist())
        pyproject = z.read("pyproject.toml").decode()
    assert {"cifar_app/__init__.py", "cifar_app/task.py", "cifar_app/client_app.py",
            "cifar_app/server_app.py", "pyproject.toml"} <= names
    assert not any(n.endswith(".toml") and n != "pyproject.toml" for n in names)
    assert "[tool.flwr.app.native]" in pyproject
    # The app's `local`/`liqo` connections stay out of the FAB (the CLI keeps them in
    # $FLWR_HOME/config.toml).
    assert "[tool.flwr.federations]" in (app / "pyproject.toml").read_text()
    assert "federations" not in pyproject
