"""Python compatibility: flwr::core's python_compat and flwr::transport's runtime version
check against CPython.

python_compat_tool runs the C++ functions on the inputs below; each result must equal what
CPython (and, for versions, the pinned flwr's runtime_version_compatibility) gives for the
same input.
"""

from __future__ import annotations

import itertools
import json
import random
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flwr.supercore.runtime_version_compatibility import RuntimeVersionMetadata

# Bytes at the edges of UTF-8's classes: ASCII, continuation ranges, overlong and surrogate
# leads, the last valid lead and beyond.
EDGE_BYTES = bytes([0x00, 0x22, 0x41, 0x5C, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0,
                    0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3,
                    0xF4, 0xF5, 0xFF])

# Code points whose repr and strip python_compat claims to know: ASCII, Latin-1, Unicode
# spaces, separators, format and private-use characters, and a few scripts and emoji.
TEXT_POOL = (
    [chr(c) for c in range(0x100)]
    + [chr(c) for c in (0x061C, 0x1680, 0x180E, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
                        0xFEFF, 0xFFF9, 0xFFFB, 0xFFFE, 0xFFFF, 0xE000, 0xF8FF, 0x110BD,
                        0xE0001, 0xE0020, 0xE007F, 0xF0000, 0x10FFFD)]
    + [chr(c) for c in range(0x2000, 0x2070)]
    + list("αβγЖж中文한국어😀🚀\U0001F9D1")
)

VERSIONS = [
    "1.36.0", "1.36.9", " 1.36.0\n", "v1.36", "V1.36rc1", "1.036", "01.36.0.dev3", "1!1.36.0",
    "1.36.0+Local.7", "1.36-rc.1", "1.36.0-1", "1.36.post", "\xa01.36.0\x85", "banana",
    "1.36.0 beta", "1.36.x", "1.20.0", "2.36.0", "1", "1.360", "1.36.0.", ".1.36", "1..36",
    "1.36+", "1.36+a..b", "1.36.0-", "1.36a", "1.36alpha-1", "1.36.0preview2", "1.36c",
    "1.36.0.post-3", "1.36.0_dev", "1.36.0rev", "1.36.0r7", "1.36.0-dev", "1!", "!1.36",
    "1.36.0+ü", "1.36é", "\x1c1.36\x1f", "1.36\t\x0b\x0c\r", "1.36.0 1", "vv1.36", "V1.36",
    "1.36.0RC1", "1.36.0-POST1.DEV2", "1.36.0+LOCAL", "0000001.00036", "1.36" + ".0" * 500,
    "9" * 40 + ".36", "1." + "0" * 30 + "36",
    # Long peer input: a recursive matcher (std::regex) overflows the stack on these.
    "1.36" + ".0" * 20000, "1.36" + ".0" * 20000 + "x", " " * 50000 + "1.36",
]


def run_tool(build_dir: Path, inputs: dict[str, Any]) -> dict[str, Any]:
    tool = build_dir / "tests/golden/python_compat_tool"
    if not tool.exists():
        pytest.fail(f"{tool} is missing: build the python_compat_tool target")
    result = subprocess.run([str(tool)], input=json.dumps(inputs).encode(), capture_output=True,
                            timeout=300, check=True)
    return json.loads(result.stdout)


def byte_cases() -> list[bytes]:
    rng = random.Random(440)
    cases = [bytes([b]) for b in range(256)]
    cases += [bytes(p) for p in itertools.product(range(256), repeat=2)]
    cases += [bytes(p) for p in itertools.product(EDGE_BYTES, repeat=3)]
    cases += [bytes(rng.choices(EDGE_BYTES, k=rng.randint(4, 9))) for _ in range(20000)]
    cases += [chr(c).encode() for c in range(0x80, 0x110000, 97) if not 0xD800 <= c < 0xE000]
    return cases


def text_cases() -> list[str]:
    rng = random.Random(8)
    cases = TEXT_POOL + ["", "it's", 'say "hi"', "'\"", "\\", "a'b\"c\\"]
    cases += ["".join(rng.choices(TEXT_POOL, k=rng.randint(1, 12))) for _ in range(5000)]
    return cases


def float_cases() -> list[float]:
    rng = random.Random(754)
    cases = [0.0, -0.0, 1.0, 0.1, 1e-4, 1e-5, 1e15, 1e16, 9999999999999998.0, 5e-324,
             1.7976931348623157e308, 2.2250738585072014e-308, float("inf"), float("-inf"),
             float("nan")]
    cases += [struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
              for _ in range(5000)]
    cases += [rng.uniform(-1e6, 1e6) for _ in range(2000)]
    cases += [float(f"{rng.randint(1, 999)}e{rng.randint(-30, 30)}") for _ in range(2000)]
    return cases


def python_version_check(version: str) -> str | None:
    local = RuntimeVersionMetadata.from_local_component(
        "SuperLink", package_name_value="flwr", package_version_value="1.36.0"
    )
    peer, error = RuntimeVersionMetadata.from_metadata([
        ("flwr-package-name", "flwr"),
        ("flwr-package-version", version),
        ("flwr-component-name", "SuperNode"),
    ])
    assert error is None
    return local.check_compatibility(peer)


@pytest.fixture(scope="module")
def cases() -> dict[str, list[Any]]:
    return {"bytes": byte_cases(), "texts": text_cases(), "floats": float_cases(),
            "versions": VERSIONS}


@pytest.fixture(scope="module")
def results(build_dir: Path, cases: dict[str, list[Any]]) -> dict[str, Any]:
    return run_tool(build_dir, {
        "bytes": [b.hex() for b in cases["bytes"]],
        "texts": [t.encode().hex() for t in cases["texts"]],
        "floats": [struct.pack("<d", f).hex() for f in cases["floats"]],
        "versions": [v.encode("latin-1").hex() for v in cases["versions"]],
    })


def mismatches(inputs: list[Any], outputs: list[Any], expect: Callable[[Any], Any],
               got_of: Callable[[Any], Any] = lambda got: got) -> list[tuple[Any, Any, Any]]:
    """The (input, got, want) triples where got_of(output) differs from expect(input)."""
    found = []
    for item, output in zip(inputs, outputs, strict=True):
        want, got = expect(item), got_of(output)
        if got != want:
            found.append((item, got, want))
    return found


def python_decode_error(raw: bytes) -> str | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return str(exc)
    return None


def test_utf8_decode_errors_and_replacement_match_cpython(cases, results) -> None:
    found = mismatches(
        cases["bytes"], results["bytes"],
        lambda raw: (python_decode_error(raw), raw.decode("utf-8", "replace").encode().hex()),
        lambda got: (got["error"], got["replace"]))
    assert not found, found[:20]


def test_json_strings_match_json_dumps_of_the_replaced_text(cases, results) -> None:
    def dumps(raw: bytes) -> tuple[str, str]:
        text = raw.decode("utf-8", "replace")
        return (json.dumps(text).encode().hex(),
                json.dumps(text, ensure_ascii=False).encode().hex())

    found = mismatches(cases["bytes"], results["bytes"], dumps,
                       lambda got: (got["json"], got["json_utf8"]))
    assert not found, found[:20]


def test_repr_and_strip_match_python(cases, results) -> None:
    found = mismatches(
        cases["texts"], results["texts"],
        lambda text: {"repr": repr(text).encode().hex(), "strip": text.strip().encode().hex()})
    assert not found, [(ascii(text), got, want) for text, got, want in found[:20]]


def test_isspace_matches_str_isspace_on_every_code_point(results) -> None:
    assert results["spaces"] == [c for c in range(0x110000) if chr(c).isspace()]


def test_float_repr_matches_python(cases, results) -> None:
    found = mismatches(cases["floats"], results["floats"], repr)
    assert not found, found[:20]


def test_runtime_version_check_matches_pinned_flwr(cases, results) -> None:
    found = mismatches(cases["versions"], results["versions"], python_version_check,
                       lambda got: None if got is None else bytes.fromhex(got).decode())
    assert not found, found
