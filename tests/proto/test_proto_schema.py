"""The committed flwr-proto/ schema is exactly the union of the pinned flwr wheels' schemas, and
every message of every pinned Flower line is wire-compatible with it.

Run with the project venv (it has the primary pin; the other lines come from their
.venv-<version>, see scripts/setup.sh): ``.venv/bin/python -m pytest tests/proto``.
Needs ``protoc`` and ``grpc_cpp_plugin`` on PATH.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FieldDescriptor

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO_ROOT / "flwr-proto"
GENERATOR = PROTO_DIR / "generate_protos.py"

needs_protoc = pytest.mark.skipif(shutil.which("protoc") is None, reason="protoc not on PATH")


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_protos", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PIN_FILE = REPO_ROOT / "flower-version.txt"


def pinned_lines() -> dict[str, dict[str, descriptor_pb2.FileDescriptorProto]]:
    """{version: {file: FileDescriptorProto}} for every pinned Flower line, from its own venv."""
    gen = load_generator()
    versions = gen.read_pinned_versions(PIN_FILE)
    lines = {versions[0]: gen.load_wheel_descriptors()}
    for version in versions[1:]:
        lines[version] = gen.load_line_descriptors(REPO_ROOT / f".venv-{version}" / "bin" / "python")
    return lines


def committed_proto_files() -> list[str]:
    files = sorted(p.relative_to(PROTO_DIR).as_posix() for p in PROTO_DIR.glob("flwr/proto/*.proto"))
    assert files, "no committed flwr/proto/*.proto files"
    return files


def run_generator(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args], capture_output=True, text=True, check=False
    )


def protoc_descriptor_set(include_dir: Path, files: list[str], tmp_path: Path) -> descriptor_pb2.FileDescriptorSet:
    out = tmp_path / "set.pb"
    subprocess.run(
        ["protoc", f"-I{include_dir}", "--include_imports", f"--descriptor_set_out={out}", *files],
        cwd=include_dir,
        check=True,
    )
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def normalise(fdp: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """Drop what only differs in representation, not in schema.

    - source_code_info: comments/locations; the wheel never carries them.
    - json_name: protoc's --descriptor_set_out records it for every field,
      while the wheel's embedded descriptors (FileDescriptor::CopyTo) never
      do, so it cannot be compared. json_name printing is covered without
      normalisation by the round-trip test at the end of this file.
    type_name needs no normalisation: the printer picks, per reference, a
    spelling that protoc resolves to the same fully-qualified ".flwr.proto.X"
    the wheel stores, so equality here also proves the name resolution.
    """
    fdp = descriptor_pb2.FileDescriptorProto.FromString(fdp.SerializeToString())
    fdp.ClearField("source_code_info")
    for msg in fdp.message_type:
        _clear_json_names(msg)
    for ext in fdp.extension:
        ext.ClearField("json_name")
    return fdp


def _clear_json_names(msg: descriptor_pb2.DescriptorProto) -> None:
    for field in list(msg.field) + list(msg.extension):
        field.ClearField("json_name")
    for nested in msg.nested_type:
        _clear_json_names(nested)


def test_committed_protos_match_pinned_wheel():
    result = run_generator("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_fails_on_stale_or_edited_files(tmp_path):
    assert run_generator("--out", str(tmp_path)).returncode == 0
    (tmp_path / "flwr/proto/stale.proto").write_text("syntax = \"proto3\";\n")
    fleet = tmp_path / "flwr/proto/fleet.proto"
    fleet.write_text(fleet.read_text() + "// edited\n")
    result = run_generator("--check", "--out", str(tmp_path))
    assert result.returncode == 1
    assert "stale.proto" in result.stderr and "fleet.proto" in result.stderr


def test_version_mismatch_with_pin_file_fails(tmp_path):
    pin = tmp_path / "flower-version.txt"
    pin.write_text("flwr==0.0.1\n")
    result = run_generator("--check", "--pin-file", str(pin))
    assert result.returncode == 1
    assert "pins flwr==0.0.1" in result.stderr


def test_every_pinned_line_has_its_venv():
    lines = pinned_lines()
    assert len(lines) >= 2, "flower-version.txt pins the 1.36 line and the current one"
    for version in list(lines)[1:]:
        python = REPO_ROOT / f".venv-{version}" / "bin" / "python"
        out = subprocess.run([str(python), "-c", "import flwr; print(flwr.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
        assert out == version


@needs_protoc
def test_protoc_parses_committed_protos_to_wheel_descriptors(tmp_path):
    """The committed files are the union of the pinned lines' descriptors, exactly."""
    gen = load_generator()
    lines = pinned_lines()
    wheel = gen.merge_lines(lines) if len(lines) > 1 else next(iter(lines.values()))
    parsed = protoc_descriptor_set(PROTO_DIR, committed_proto_files(), tmp_path)
    flwr_files = {f.name: f for f in parsed.file if f.name.startswith("flwr/")}
    assert sorted(flwr_files) == sorted(n for n in wheel if n.startswith("flwr/"))
    for name, fdp in flwr_files.items():
        assert normalise(fdp) == normalise(wheel[name]), f"{name} differs from the wheel's descriptor"


def _messages(files: dict) -> dict[str, descriptor_pb2.DescriptorProto]:
    out = {}

    def add(prefix: str, msg) -> None:
        out[f"{prefix}.{msg.name}"] = msg
        for nested in msg.nested_type:
            add(f"{prefix}.{msg.name}", nested)

    for fdp in files.values():
        for msg in fdp.message_type:
            add(f".{fdp.package}", msg)
    return out


def wire_problems(theirs: dict, ours: dict, name: str, our_name: str, seen: set) -> list[str]:
    """How message `name` of a wheel would not survive our message `our_name` on the wire: each of
    its fields must be ours too, with the same number, name, cardinality and encoding (a message
    field may have another type of ours if that one is wire-compatible in turn)."""
    if (name, our_name) in seen:
        return []
    seen.add((name, our_name))
    if our_name not in ours:
        return [f"{name}: we have no {our_name}"]
    our_fields = {f.number: f for f in ours[our_name].field}
    problems = []
    for field in theirs[name].field:
        mine = our_fields.get(field.number)
        where = f"{name}.{field.name} = {field.number}"
        if mine is None:
            problems.append(f"{where}: missing")
            continue
        if (mine.name, mine.label, mine.type) != (field.name, field.label, field.type):
            problems.append(f"{where}: ours is {mine.name} label {mine.label} type {mine.type}")
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            problems += wire_problems(theirs, ours, field.type_name, mine.type_name, seen)
        elif field.type == FieldDescriptor.TYPE_ENUM and mine.type_name != field.type_name:
            problems.append(f"{where}: enum {field.type_name}, ours {mine.type_name}")
    return problems


@needs_protoc
def test_every_pinned_line_is_wire_compatible_with_the_committed_schema(tmp_path):
    """Every message and every rpc of each pinned wheel is ours, wire-compatible (the union keeps
    the newest line's type for a field two lines define, e.g. GetNodesResponse.nodes: 1.36's Node
    is a wire subset of 1.42's NodeInfo)."""
    parsed = protoc_descriptor_set(PROTO_DIR, committed_proto_files(), tmp_path)
    ours_files = {f.name: f for f in parsed.file}
    ours = _messages(ours_files)
    our_methods = {
        (f".{fdp.package}.{svc.name}", m.name): m for fdp in ours_files.values() for svc in fdp.service for m in svc.method
    }
    for version, files in pinned_lines().items():
        theirs = _messages(files)
        problems = []
        for name in theirs:
            if name.startswith(".flwr."):
                problems += wire_problems(theirs, ours, name, name, set())
        for fdp in files.values():
            for svc in fdp.service:
                for method in svc.method:
                    mine = our_methods.get((f".{fdp.package}.{svc.name}", method.name))
                    if mine is None or (mine.input_type, mine.output_type) != (method.input_type, method.output_type):
                        problems.append(f"rpc {svc.name}.{method.name} of flwr=={version} is not ours")
        assert not problems, f"flwr=={version}:\n" + "\n".join(problems)


@needs_protoc
@pytest.mark.skipif(shutil.which("grpc_cpp_plugin") is None, reason="grpc_cpp_plugin not on PATH")
def test_grpc_cpp_plugin_generates_cpp_for_all_files(tmp_path):
    plugin = shutil.which("grpc_cpp_plugin")
    subprocess.run(
        [
            "protoc",
            f"-I{PROTO_DIR}",
            f"--cpp_out={tmp_path}",
            f"--grpc_out={tmp_path}",
            f"--plugin=protoc-gen-grpc={plugin}",
            *committed_proto_files(),
        ],
        cwd=PROTO_DIR,
        check=True,
    )
    for proto in committed_proto_files():
        stem = proto.removesuffix(".proto")
        assert (tmp_path / f"{stem}.pb.h").is_file()
        assert (tmp_path / f"{stem}.grpc.pb.h").is_file()
    assert (tmp_path / "flwr/proto/fleet.grpc.pb.h").is_file()


# Features the pinned schema does not use, but the printer claims to handle.
# protoc compiles these, the printer prints protoc's descriptors back, and
# protoc must reproduce the identical descriptors from the printed text.
EXOTIC_SOURCES = {
    "ex/base.proto": """
        syntax = "proto2";
        package ex.base;
        option java_package = "org.example.base";
        message Shared { optional int32 x = 1; }
        enum Color { RED = 0; GREEN = 1; }
    """,
    "ex/reexport.proto": """
        syntax = "proto3";
        package ex.re;
        import public "ex/base.proto";
    """,
    "ex/p2.proto": r"""
        syntax = "proto2";
        package ex.two;
        import "ex/reexport.proto";
        import "google/protobuf/timestamp.proto";
        option java_multiple_files = true;
        option go_package = "example.com/ex;ex";
        message Old {
          option deprecated = true;
          reserved 5, 8 to 10, 100 to 199, 9000 to max;
          reserved "gone", "older";
          extensions 1000 to 1999;
          required string name = 1 [default = "a\"b\n\x01é"];
          optional bytes blob = 2 [default = "\001\377z"];
          optional double d = 3 [default = inf];
          optional float f = 4 [default = -1.5];
          optional ex.base.Color c = 6 [default = GREEN];
          repeated int32 packed_ints = 7 [packed = true];
          optional int64 js = 11 [jstype = JS_STRING, deprecated = true, json_name = "customJs"];
          optional ex.base.Shared shared = 12;
          optional google.protobuf.Timestamp ts = 13;
          optional sint64 neg = 15 [default = -42];
        }
    """,
    "ex/p3.proto": """
        syntax = "proto3";
        package ex.three;
        import "ex/p2.proto";
        import weak "ex/reexport.proto";
        enum Top {
          option allow_alias = true;
          reserved 7, 9 to max;
          reserved "X";
          T0 = 0;
          T1 = 1;
          T_ALIAS = 1 [deprecated = true];
        }
        message Outer {
          map<string, Inner> first = 1;
          message Inner {
            enum Kind { K0 = 0; K1 = 1; }
            Kind kind = 1;
            map<int32, Kind> kinds = 3;
            message Outer { int32 shadow = 1; }
            Outer shadowed = 4;
            .ex.three.Outer real_outer = 5;
          }
          oneof choice {
            string s = 3;
            Inner i = 4 [deprecated = true];
          }
          optional int32 maybe = 5;
          repeated double packed_off = 6 [packed = false];
          map<string, ex.two.Old> olds = 7;
          message After { Top t = 1; }
          optional string _under = 9;
          int32 X_under = 10;
        }
        service Svc {
          rpc A(Outer) returns (Outer.Inner);
          rpc B(stream Outer.After) returns (ex.two.Old) {}
          rpc C(Outer) returns (stream Outer) { option deprecated = true; }
        }
    """,
}


@needs_protoc
def test_printer_round_trips_features_beyond_the_pinned_schema(tmp_path):
    generator = load_generator()
    src, printed = tmp_path / "src", tmp_path / "printed"
    for name, text in EXOTIC_SOURCES.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    original = {f.name: f for f in protoc_descriptor_set(src, ["ex/p3.proto"], tmp_path).file}
    for name, fdp in original.items():
        if name.startswith("ex/"):
            (printed / name).parent.mkdir(parents=True, exist_ok=True)
            (printed / name).write_text(generator.ProtoPrinter(fdp, original, "test").render())
    reparsed = protoc_descriptor_set(printed, ["ex/p3.proto"], tmp_path)
    for fdp in reparsed.file:
        # Not normalised: json_name (custom and default) must survive too.
        fdp.ClearField("source_code_info")
        expected = descriptor_pb2.FileDescriptorProto.FromString(original[fdp.name].SerializeToString())
        expected.ClearField("source_code_info")
        assert fdp == expected, f"{fdp.name} changed in the round trip"
