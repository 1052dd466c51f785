"""Write golden Flower objects with the pinned stock `flwr`, for the C++ golden test.

    python tests/golden/make_golden.py OUT_DIR

OUT_DIR/manifest.json lists the cases; OUT_DIR/objects/<object-id> holds every deflated
object; OUT_DIR/blobs/ holds serialized protobufs, object trees, raw and .npy bytes. Every
byte comes from the installed `flwr` (and numpy), never from this project's code.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

import flwr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))
from harness import set_task_identity  # noqa: E402
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Context,
    Error,
    Message,
    MetricRecord,
    RecordDict,
)
from flwr.common import (
    Code,
    EvaluateIns,
    EvaluateRes,
    FitIns,
    FitRes,
    GetParametersRes,
    GetPropertiesRes,
    Status,
    ndarrays_to_parameters,
)
from flwr.common import serde
from flwr.compat.common import recorddict_compat as compat
from flwr.proto import recorddict_pb2
from flwr.supercore.inflatable.inflatable_object import (
    add_header_to_object_body,
    get_all_nested_objects,
    get_object_tree,
)

BIG_UINT = 2**63 + 5  # above INT64_MAX: flwr sends it as uint64
UNICODE_KEYS = ["é", "日本語", "emoji 😀", 'quote"back\\slash', "new\nline\ttab", "\x01ctl", "del\x7f"]


class Golden:
    def __init__(self, out: Path) -> None:
        self.out = out
        (out / "objects").mkdir(parents=True, exist_ok=True)
        (out / "blobs").mkdir(parents=True, exist_ok=True)
        self.cases: list[dict[str, Any]] = []

    def blob(self, name: str, data: bytes) -> str:
        path = f"blobs/{name}"
        (self.out / path).write_bytes(data)
        return path

    def inflatable(self, name: str, kind: str, obj: Any, proto: bytes, **extra: Any) -> None:
        objects = get_all_nested_objects(obj)
        for object_id, o in objects.items():
            content = o.deflate()
            assert hashlib.sha256(content).hexdigest() == object_id
            (self.out / "objects" / object_id).write_bytes(content)
        self.cases.append(
            {
                "name": name,
                "kind": kind,
                "proto": self.blob(f"{name}.pb", proto),
                "root_id": obj.object_id,
                "tree": self.blob(f"{name}.tree.pb", get_object_tree(obj).SerializeToString()),
                "objects": list(objects.keys()),
                **extra,
            }
        )

    def message(self, name: str, msg: Message, **extra: Any) -> None:
        proto = serde.message_to_proto(msg).SerializeToString(deterministic=True)
        self.inflatable(name, "message", msg, proto, **extra)

    def recorddict(self, name: str, rd: RecordDict, **extra: Any) -> None:
        proto = serde.recorddict_to_proto(rd).SerializeToString(deterministic=True)
        self.inflatable(name, "recorddict", rd, proto, **extra)

    def arrayrecord(self, name: str, rec: ArrayRecord, **extra: Any) -> None:
        proto = serde.array_record_to_proto(rec).SerializeToString(deterministic=True)
        self.inflatable(name, "arrayrecord", rec, proto, **extra)

    def configrecord(self, name: str, rec: ConfigRecord, **extra: Any) -> None:
        proto = serde.config_record_to_proto(rec).SerializeToString(deterministic=True)
        self.inflatable(name, "configrecord", rec, proto, **extra)

    def metricrecord(self, name: str, rec: MetricRecord, **extra: Any) -> None:
        proto = serde.metric_record_to_proto(rec).SerializeToString(deterministic=True)
        self.inflatable(name, "metricrecord", rec, proto, **extra)

    def array(self, name: str, arr: Array, **extra: Any) -> None:
        proto = serde.array_to_proto(arr).SerializeToString(deterministic=True)
        self.inflatable(name, "array", arr, proto, **extra)

    def reencode(self, name: str, cls: type, body: bytes) -> None:
        """An object whose body Python would not write itself: `cls.inflate` decodes it, and
        its `deflate()` is what the C++ inflate + deflate of the same bytes must give."""
        content = add_header_to_object_body(body, cls())
        again = cls.inflate(content).deflate()
        self.cases.append(
            {
                "name": name,
                "kind": "reencode",
                "record": cls.__name__.lower(),
                "input": self.blob(f"{name}.in", content),
                "expected": self.blob(f"{name}.out", again),
            }
        )

    def context(self, name: str, ctx: Context) -> None:
        proto = serde.context_to_proto(ctx).SerializeToString(deterministic=True)
        self.cases.append({"name": name, "kind": "context", "proto": self.blob(f"{name}.pb", proto)})

    def npy(self, name: str, nd: np.ndarray, encodable: bool = True) -> None:
        arr = Array(nd)
        self.cases.append(
            {
                "name": name,
                "kind": "npy",
                "dtype": arr.dtype,
                "shape": list(arr.shape),
                "fortran_order": bool(nd.flags.f_contiguous and not nd.flags.c_contiguous),
                "encodable": encodable,
                "raw": self.blob(f"{name}.raw", np.ascontiguousarray(nd).tobytes(order="C")),
                "npy": self.blob(f"{name}.npy", arr.data),
            }
        )

    def write(self) -> None:
        manifest = {"flwr_version": flwr.__version__, "cases": self.cases}
        (self.out / "manifest.json").write_text(json.dumps(manifest, indent=1))


def numpy_dtype_samples() -> dict[str, np.ndarray]:
    """One small array per numpy dtype `np.save(allow_pickle=False)` can store."""
    rng = np.random.default_rng(7)
    base = rng.standard_normal((2, 3))
    out: dict[str, np.ndarray] = {"bool": np.array([[True, False, True], [False, False, True]])}
    for dt in ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]:
        info = np.iinfo(dt)
        out[dt] = np.array([[info.min, 0, info.max], [1, 2, 3]], dtype=dt)
    for dt in ["float16", "float32", "float64", "longdouble"]:
        out[dt] = (base * 1000).astype(dt)
    out["float64_special"] = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7976931348623157e308])
    for dt in ["complex64", "complex128", "clongdouble"]:
        out[dt] = (base + 1j * base[::-1]).astype(dt)
    out["datetime64_s"] = np.array(["2024-01-01T00:00:00", "1970-01-01T00:00:01"], dtype="datetime64[s]")
    out["timedelta64_ms"] = np.array([1, -2, 3], dtype="timedelta64[ms]")
    out["unicode_U5"] = np.array(["ab", "日本", "é😀"], dtype="<U5")
    out["bytes_S3"] = np.array([b"ab", b"\x00\xff", b"xyz"], dtype="S3")
    out["bigendian_f4"] = np.array([1.5, -2.25], dtype=">f4")
    out["bigendian_i8"] = np.array([[1, -2]], dtype=">i8")
    return out


def add_npy_cases(g: Golden) -> None:
    for name, nd in numpy_dtype_samples().items():
        g.npy(f"npy_{name}", nd)
    shapes = [(), (0,), (1,), (7,), (2, 3), (2, 3, 4), (1, 1, 1, 1, 1), (0, 5), (123456,), (10**6, 0)]
    for shape in shapes:
        g.npy(f"npy_shape_{'x'.join(map(str, shape)) or 'scalar'}", np.arange(math.prod(shape), dtype="float32").reshape(shape))
    g.npy("npy_fortran_order", np.asfortranarray(np.arange(6, dtype="int32").reshape(2, 3)), encodable=False)


def add_array_cases(g: Golden) -> None:
    for name, nd in numpy_dtype_samples().items():
        g.array(f"array_{name}", Array(nd))
    g.array("array_explicit_fields", Array(dtype="custom", shape=(3, 1), stype="my.stype", data=b"\x00\x01\x02"))
    g.array("array_empty_data", Array(dtype="float32", shape=(0,), stype="numpy.ndarray", data=b""))
    # 12 MiB of float32 -> three ArrayChunks; zeros make the middle chunks identical.
    g.array("array_chunked_random", Array(np.random.default_rng(1).standard_normal(3 * 2**20).astype("float32")))
    g.array("array_chunked_zeros", Array(np.zeros(4 * 2**20 + 100, dtype="float32")))
    g.array("array_chunk_boundary", Array(dtype="uint8", shape=(5242880,), stype="raw", data=bytes(5242880)))


def config_all_types() -> ConfigRecord:
    return ConfigRecord(
        {
            "double": 3.25,
            "int": -42,
            "zero": 0,
            "big_uint": BIG_UINT,
            "bool": True,
            "str": "héllo wörld",
            "empty_str": "",
            "bytes": b"\x00\x01\xff",
            "double_list": [1.5, -2.5],
            "int_list": [1, -2, 3],
            "big_uint_list": [1, BIG_UINT],
            "bool_list": [True, False],
            "str_list": ["a", "ß", ""],
            "bytes_list": [b"", b"\xfe"],
            "empty_list": [],
        }
    )


def metric_all_types() -> MetricRecord:
    return MetricRecord(
        {
            "loss": 0.125,
            "count": 10,
            "big_uint": BIG_UINT,
            "nan": float("nan"),
            "inf": float("inf"),
            "neg_zero": -0.0,
            "double_list": [0.5, 0.25],
            "int_list": [-1, 2],
            "big_uint_list": [BIG_UINT, 3],
            "empty_list": [],
        }
    )


def small_arrays() -> ArrayRecord:
    rng = np.random.default_rng(3)
    return ArrayRecord(
        {
            "conv1.weight": Array(rng.standard_normal((6, 3, 5, 5)).astype("float32")),
            "conv1.bias": Array(rng.standard_normal(6).astype("float32")),
            "steps": Array(np.array(7, dtype="int64")),
        }
    )


def add_record_cases(g: Golden) -> None:
    g.configrecord("config_all_types", config_all_types(), native="config_all_types")
    g.configrecord("config_empty", ConfigRecord())
    g.configrecord("config_unicode_keys", ConfigRecord({k: i for i, k in enumerate(UNICODE_KEYS)}))
    g.metricrecord("metric_all_types", metric_all_types(), native="metric_all_types")
    g.metricrecord("metric_empty", MetricRecord())
    g.arrayrecord("arrays_small", small_arrays())
    g.arrayrecord("arrays_empty", ArrayRecord())
    same = np.ones((2, 2), dtype="float32")
    g.arrayrecord("arrays_duplicate_values", ArrayRecord({"a": Array(same), "b": Array(same), "c": Array(same * 2)}))
    g.arrayrecord("arrays_unicode_keys", ArrayRecord({k: Array(np.array([i], dtype="int32")) for i, k in enumerate(UNICODE_KEYS)}))
    big = np.random.default_rng(5).standard_normal(2**20 * 2).astype("float32")  # 8 MiB -> 2 chunks
    g.arrayrecord("arrays_chunked", ArrayRecord({"big": Array(big), "small": Array(big[:10])}))
    g.arrayrecord(
        "arrays_native_floats",
        ArrayRecord({"w": Array(np.arange(12, dtype="float32").reshape(3, 4) / 4), "b": Array(np.array([0.5, -1.0], dtype="float32"))}),
        native="arrays_native_floats",
    )


def add_reencode_cases(g: Golden) -> None:
    """Empty lists in every list field: Python decodes each to [] (no element type) and sends
    [] as a bool list in a ConfigRecord and as a double list in a MetricRecord."""
    lists = ["double_list", "sint_list", "uint_list", "bool_list", "string_list", "bytes_list"]
    config = recorddict_pb2.ConfigRecord()
    for field in lists:
        item = config.items.add(key=f"empty_{field}")
        getattr(item.value, field).SetInParent()
    config.items.add(key="full", value=recorddict_pb2.ConfigRecordValue(sint_list={"vals": [1]}))
    g.reencode("config_empty_lists_of_every_type", ConfigRecord, config.SerializeToString())
    metric = recorddict_pb2.MetricRecord()
    for field in lists[:3]:
        item = metric.items.add(key=f"empty_{field}")
        getattr(item.value, field).SetInParent()
    g.reencode("metric_empty_lists_of_every_type", MetricRecord, metric.SerializeToString())


def mixed_recorddict() -> RecordDict:
    return RecordDict(
        {
            "arrays": small_arrays(),
            "config": config_all_types(),
            "metrics": metric_all_types(),
            "config_copy": config_all_types(),  # identical record: one object, one tree child
        }
    )


def add_recorddict_cases(g: Golden) -> None:
    g.recorddict("recorddict_mixed", mixed_recorddict())
    g.recorddict("recorddict_empty", RecordDict())
    g.recorddict("recorddict_unicode_keys", RecordDict({k: MetricRecord({"v": i}) for i, k in enumerate(UNICODE_KEYS)}))


def add_legacy_cases(g: Golden) -> None:
    params = ndarrays_to_parameters([np.arange(6, dtype="float32").reshape(2, 3), np.array([1, 2], dtype="int64")])
    ok = Status(code=Code.OK, message="Success")
    g.recorddict("legacy_fitins", compat.fitins_to_recorddict(FitIns(params, {"lr": 0.1, "epochs": 2, "tag": "x"}), keep_input=True))
    g.recorddict("legacy_fitres", compat.fitres_to_recorddict(FitRes(ok, params, 32, {"loss": 0.5}), keep_input=True))
    g.recorddict("legacy_evaluateins", compat.evaluateins_to_recorddict(EvaluateIns(params, {"b": True}), keep_input=True))
    g.recorddict("legacy_evaluateres", compat.evaluateres_to_recorddict(EvaluateRes(ok, 0.25, 16, {"accuracy": 0.75})))
    g.recorddict("legacy_getparametersres", compat.getparametersres_to_recorddict(GetParametersRes(ok, params), keep_input=True))
    g.recorddict("legacy_getpropertiesres", compat.getpropertiesres_to_recorddict(GetPropertiesRes(ok, {"p": 1})))


def set_metadata(msg: Message, **fields: Any) -> None:
    """Set read-only metadata fields the way flwr's own runtime does."""
    for key, value in fields.items():
        msg.metadata.__dict__[f"_{key}"] = value


def add_message_cases(g: Golden) -> None:
    set_task_identity(run_id=987654321, node_id=1, task_id=4242)  # as a ServerApp task's
    content = RecordDict({"arrays": small_arrays(), "config": ConfigRecord({"server-round": 1, "lr": 0.01})})
    train = Message(content, dst_node_id=1234567890123, message_type="train", group_id="1", ttl=3600.0)
    set_metadata(train, run_id=987654321, src_node_id=1)
    train.metadata.created_at = 1732800000.123456
    g.message("message_train", train)

    reply = Message(RecordDict({"arrays": small_arrays(), "metrics": MetricRecord({"num-examples": 500, "train_loss": 1.25})}), reply_to=train)
    reply.metadata.created_at = 1732800010.5
    g.message("message_reply", reply)

    tasked = Message(RecordDict({"metrics": MetricRecord({"x": 1.0})}), dst_node_id=5, message_type="evaluate.custom", dst_task_id=77)
    tasked.metadata.created_at = 1.0
    g.message("message_task_ids", tasked)

    error = Message(Error(code=3, reason="ClientApp raised: ValueError ünïcode"), reply_to=train)
    error.metadata.created_at = 1732800020.0
    g.message("message_error", error)

    no_reason = Message(Error(code=0), reply_to=train)
    no_reason.metadata.created_at = 2.0
    g.message("message_error_no_reason", no_reason)

    empty = Message(RecordDict(), dst_node_id=0, message_type="query")
    empty.metadata.created_at = 0.0
    g.message("message_empty_content", empty)

    nested = Message(mixed_recorddict(), dst_node_id=9, message_type="train")
    nested.metadata.created_at = 3.5
    g.message("message_nested_records", nested)

    big = Message(RecordDict({"arrays": ArrayRecord({"big": Array(np.random.default_rng(9).standard_normal(2**21 * 3).astype("float32"))})}), dst_node_id=2, message_type="train")
    big.metadata.created_at = 4.0
    g.message("message_chunked", big)

    native = Message(
        RecordDict(
            {
                "arrays": ArrayRecord({"w": Array(np.arange(12, dtype="float32").reshape(3, 4) / 4), "b": Array(np.array([0.5, -1.0], dtype="float32"))}),
                "config": ConfigRecord({"server-round": 3, "lr": 0.1}),
            }
        ),
        dst_node_id=42,
        message_type="train",
        group_id="3",
        ttl=600.0,
    )
    set_metadata(native, run_id=17, src_node_id=1, src_task_id=4242)  # as 1.42 stamps them
    native.metadata.created_at = 1700000000.25
    g.message("message_native_train", native, native="message_native_train")


def add_context_cases(g: Golden) -> None:
    g.context(
        "context_full",
        Context(
            run_id=2**63 + 1,
            node_id=12345,
            node_config={"partition-id": 0, "num-partitions": 2, "data-path": "/data/cifar", "flag": True, "ratio": 0.5},
            state=mixed_recorddict(),
            run_config={"num-server-rounds": 3, "fraction-fit": 0.5, "local-epochs": 1, "name": "ünï"},
            series_id=7,
        ),
    )
    g.context("context_empty", Context(run_id=0, node_id=0, node_config={}, state=RecordDict(), run_config={}))


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    g = Golden(Path(sys.argv[1]))
    add_npy_cases(g)
    add_array_cases(g)
    add_record_cases(g)
    add_reencode_cases(g)
    add_recorddict_cases(g)
    add_legacy_cases(g)
    add_message_cases(g)
    add_context_cases(g)
    g.write()
    print(f"{len(g.cases)} golden cases from flwr {flwr.__version__} in {g.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
