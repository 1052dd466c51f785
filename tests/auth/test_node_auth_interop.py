"""SuperNode authentication and timestamps: C++ flwr::supercore against the pinned stock flwr.

node_auth_tool (tests/auth/node_auth_tool.cc) exposes NodeKey, VerifyNodeSignature,
CheckSignedRequest, CheckNistEcPublicKey and the iso_time helpers over JSON lines. These tests
feed it keys, signatures and timestamps that flwr's own helpers make (and the reverse), run the
stock NodeAuthServerInterceptor in a real grpcio server next to CheckSignedRequest, and compare
the ISO 8601 / epoch-float conversions with Python 3.11's datetime, including a differential
fuzz of `datetime.fromisoformat`.
"""

from __future__ import annotations

import base64
import datetime
import json
import random
import shutil
import struct
import subprocess
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from flwr.common.constant import PUBLIC_KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from flwr.proto.fleet_pb2 import RegisterNodeFleetRequest, RegisterNodeFleetResponse
from flwr.server.superlink.fleet.grpc_rere.node_auth_server_interceptor import (
    MAX_TIMESTAMP_DIFF,
    MIN_TIMESTAMP_DIFF,
    NodeAuthServerInterceptor,
)
from flwr.supercore.date import now
from flwr.supercore.primitives.asymmetric import (
    bytes_to_private_key,
    bytes_to_public_key,
    generate_key_pairs,
    private_key_to_bytes,
    public_key_to_bytes,
    sign_message,
    uses_nist_ec_curve,
    verify_signature,
)

UTC = datetime.UTC
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def tool(build_dir: Path) -> Path:
    path = build_dir / "tests/auth/node_auth_tool"
    if not path.exists():
        pytest.fail(f"{path} is missing: build the node_auth_tool target")
    return path


def run(tool: Path, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send `requests` to node_auth_tool in one batch; one reply per request."""
    stdin = "".join(json.dumps(r) + "\n" for r in requests)
    result = subprocess.run(
        [str(tool)], input=stdin, capture_output=True, text=True, timeout=300, check=True
    )
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(replies) == len(requests), result.stderr
    return replies


def one(tool: Path, **request: Any) -> dict[str, Any]:
    return run(tool, [request])[0]


def micros(dt: datetime.datetime) -> int:
    delta = dt - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime.datetime:
    return EPOCH + datetime.timedelta(microseconds=us)


def ssh_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )


# --- (a) Python signs, C++ verifies --------------------------------------------------------


def test_cpp_verifies_what_flwr_signs(tool: Path) -> None:
    requests, expected = [], []
    for _ in range(20):
        sk, pk = generate_key_pairs()  # what a stock SuperNode does without a key file
        timestamp = now().isoformat()
        signature = sign_message(sk, timestamp.encode("ascii"))
        common = {"public_key_pem_hex": public_key_to_bytes(pk).hex()}
        requests.append({"op": "verify", **common, "data_hex": timestamp.encode().hex(),
                         "signature_hex": signature.hex()})
        expected.append("OK")
        requests.append({"op": "check", **common, "timestamp_hex": timestamp.encode().hex(),
                         "signature_hex": signature.hex(), "us": micros(now())})
        expected.append("OK")
        tampered = bytearray(signature)
        tampered[len(tampered) // 2] ^= 0x04
        requests.append({"op": "verify", **common, "data_hex": timestamp.encode().hex(),
                         "signature_hex": tampered.hex()})
        expected.append("UNAUTHENTICATED")
        other = timestamp.replace("+00:00", "Z")  # the same instant, other bytes
        requests.append({"op": "verify", **common, "data_hex": other.encode().hex(),
                         "signature_hex": signature.hex()})
        expected.append("UNAUTHENTICATED")
    assert [r["code"] for r in run(tool, requests)] == expected


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1(),
                                   ec.SECP256K1(), ec.BrainpoolP256R1()], ids=lambda c: c.name)
def test_cpp_verifies_other_curves(tool: Path, curve: ec.EllipticCurve) -> None:
    sk = ec.generate_private_key(curve)
    data = b"2026-11-28T06:07:38.070698+00:00"
    reply = one(tool, op="verify", public_key_pem_hex=public_key_to_bytes(sk.public_key()).hex(),
                data_hex=data.hex(), signature_hex=sign_message(sk, data).hex())
    assert reply["code"] == "OK", reply


# --- (b) C++ signs, Python verifies ---------------------------------------------------------


def test_flwr_verifies_what_cpp_signs(tool: Path) -> None:
    keys = run(tool, [{"op": "generate"}] * 5)
    requests = []
    for key in keys:
        assert key["curve"] == "secp384r1"
        for data in (b"", b"x", now().isoformat().encode(), bytes(range(256))):
            requests.append({"op": "sign", "private_key_pem": key["private_key_pem"],
                             "data_hex": data.hex(), "_key": key["public_key_pem"],
                             "_data": data.hex()})
    for request, reply in zip(requests, run(tool, requests)):
        public_key = bytes_to_public_key(request["_key"].encode())
        signature = bytes.fromhex(reply["signature_hex"])
        data = bytes.fromhex(request["_data"])
        assert verify_signature(public_key, data, signature)
        assert not verify_signature(public_key, data + b"!", signature)


def test_flwr_accepts_cpp_request_metadata(tool: Path) -> None:
    key = one(tool, op="generate")
    reply = one(tool, op="sign_request", private_key_pem=key["private_key_pem"], us=micros(now()))
    assert reply["public_key_pem"] == key["public_key_pem"]
    timestamp = reply["timestamp"]
    assert datetime.datetime.fromisoformat(timestamp).tzinfo is not None
    public_key = bytes_to_public_key(reply["public_key_pem"].encode())
    assert verify_signature(public_key, timestamp.encode("ascii"),
                            bytes.fromhex(reply["signature_hex"]))


# --- (c) the same key, the same bytes --------------------------------------------------------


def test_cpp_public_pem_is_what_cryptography_reserializes(tool: Path) -> None:
    for key in run(tool, [{"op": "generate"}] * 10):
        pem = key["public_key_pem"].encode()
        assert public_key_to_bytes(bytes_to_public_key(pem)) == pem
        private = key["private_key_pem"].encode()
        assert private_key_to_bytes(bytes_to_private_key(private)) == private
        assert public_key_to_bytes(bytes_to_private_key(private).public_key()) == pem


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()],
                         ids=lambda c: c.name)
def test_python_keys_load_to_the_same_bytes(tool: Path, curve: ec.EllipticCurve) -> None:
    requests, expected = [], []
    for _ in range(5):
        sk = ec.generate_private_key(curve)
        want = {"curve": {"secp256r1": "prime256v1"}.get(curve.name, curve.name),
                "public_key_pem": public_key_to_bytes(sk.public_key()).decode(),
                "private_key_pem": private_key_to_bytes(sk).decode()}
        sec1 = sk.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
        for op, text in (("load_openssh", ssh_bytes(sk)), ("load_pem", private_key_to_bytes(sk)),
                         ("load_pem", sec1)):
            requests.append({"op": op, "text_hex": text.hex()})
            expected.append(want)
    assert run(tool, requests) == expected


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
@pytest.mark.parametrize("bits", [256, 384, 521])
def test_ssh_keygen_keys_load_as_the_stock_supernode_loads_them(
    tool: Path, tmp_path: Path, bits: int
) -> None:
    path = tmp_path / f"id_ecdsa_{bits}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-b", str(bits), "-N", "", "-C",
                    "node@flower", "-f", str(path)], check=True)
    text = path.read_bytes()
    # flwr/supernode/cli/flower_supernode.py: _try_setup_client_authentication
    sk = serialization.load_ssh_private_key(text, None)
    assert isinstance(sk, ec.EllipticCurvePrivateKey)
    reply = one(tool, op="load_openssh", text_hex=text.hex())
    assert reply.get("public_key_pem") == public_key_to_bytes(sk.public_key()).decode(), reply
    assert reply["private_key_pem"] == private_key_to_bytes(sk).decode()
    # The PEM loader refuses the OpenSSH format, as `load_pem_private_key` does.
    assert "error" in one(tool, op="load_pem", text_hex=text.hex())


def test_key_files_the_stock_supernode_rejects(tool: Path) -> None:
    ec_key = ec.generate_private_key(ec.SECP384R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    rejected = [
        private_key_to_bytes(ec_key),  # PKCS#8 PEM: not the OpenSSH format
        ed_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption()),  # not EC
        b"",
        b"-----BEGIN OPENSSH PRIVATE KEY-----\n-----END OPENSSH PRIVATE KEY-----\n",
    ]
    for text in rejected:
        with pytest.raises((ValueError, TypeError)):
            key = serialization.load_ssh_private_key(text, None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError("not EC")
    replies = run(tool, [{"op": "load_openssh", "text_hex": t.hex()} for t in rejected])
    assert all("error" in r for r in replies), replies



def _flwr_supernode_key(text: bytes) -> str | None:
    """The public key the stock SuperNode derives from a key file, or None if it exits."""
    try:
        key = serialization.load_ssh_private_key(text, None)
    except Exception:  # noqa: BLE001  ValueError, UnsupportedAlgorithm, TypeError, IndexError
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    return public_key_to_bytes(key.public_key()).decode()


def test_openssh_loading_fuzz_against_cryptography(tool: Path) -> None:
    """Corrupted OpenSSH key files: C++ accepts exactly those `cryptography` loads, same key."""
    rng = random.Random(5)
    texts = []
    for curve in (ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()):
        original = ssh_bytes(ec.generate_private_key(curve))
        texts.append(original)
        blob = base64.b64decode(b"".join(original.split(b"\n")[1:-2]))
        for _ in range(1000):
            data = bytearray(blob)
            i = rng.randrange(len(data))
            if rng.random() < 0.8:
                data[i] = rng.randrange(256)
            else:
                del data[i]
            texts.append(b"-----BEGIN OPENSSH PRIVATE KEY-----\n" + base64.encodebytes(data)
                         + b"-----END OPENSSH PRIVATE KEY-----\n")
        for _ in range(300):
            data = bytearray(original)
            data[rng.randrange(len(data))] = rng.choice(b"AZaz09+/=\n -")
            texts.append(bytes(data))
    replies = run(tool, [{"op": "load_openssh", "text_hex": t.hex()} for t in texts])
    got = [r.get("public_key_pem") for r in replies]
    want = [_flwr_supernode_key(t) for t in texts]
    mismatches = [(t, g, w) for t, g, w in zip(texts, got, want) if g != w]
    assert not mismatches, mismatches[:5]
    assert sum(w is not None for w in want) > 100

# --- which public keys load, verify, and pass RegisterNode's NIST check ----------------------


def _public_key_variants() -> Iterator[tuple[str, bytes]]:
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = public_key_to_bytes(p256)
    lines = pem.split(b"\n")
    yield "p256", pem
    yield "p192", public_key_to_bytes(ec.generate_private_key(ec.SECP192R1()).public_key())
    yield "p224", public_key_to_bytes(ec.generate_private_key(ec.SECP224R1()).public_key())
    yield "p521", public_key_to_bytes(ec.generate_private_key(ec.SECP521R1()).public_key())
    yield "k1", public_key_to_bytes(ec.generate_private_key(ec.SECP256K1()).public_key())
    yield "brainpool", public_key_to_bytes(
        ec.generate_private_key(ec.BrainpoolP384R1()).public_key())
    # A binary-curve key, from the OpenSSL CLI: `cryptography` dropped binary curves (v47+).
    binary_curve_key = subprocess.run(
        "openssl ecparam -name sect283k1 -genkey -noout | openssl ec -pubout 2>/dev/null",
        shell=True, check=True, capture_output=True).stdout
    assert binary_curve_key.startswith(b"-----BEGIN PUBLIC KEY-----"), binary_curve_key
    yield "sect283k1", binary_curve_key
    yield "ed25519", ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    yield "rsa", rsa.generate_private_key(65537, 1024).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    yield "compressed", _pem(_compressed_spki(p256))
    yield "crlf", pem.replace(b"\n", b"\r\n")
    yield "leading_text", b"a key:\n" + pem
    yield "no_final_newline", pem[:-1]
    yield "one_long_line", lines[0] + b"\n" + b"".join(lines[1:-2]) + b"\n" + lines[-2] + b"\n"
    yield "space_inside", pem.replace(lines[1], lines[1][:9] + b" \t" + lines[1][9:])
    yield "headers", pem.replace(lines[0] + b"\n", lines[0] + b"\nComment: x\n\n")
    yield "blank_line_inside", pem.replace(lines[1] + b"\n", lines[1] + b"\n\n")
    yield "bad_header", pem.replace(lines[0] + b"\n", lines[0] + b"\nnot a header\n\n")
    yield "mismatched_end", pem.replace(b"END PUBLIC", b"END PRIVATE")
    yield "second_block", b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n" \
                          b"-----END EC PARAMETERS-----\n" + pem
    yield "two_keys", pem + public_key_to_bytes(
        ec.generate_private_key(ec.SECP384R1()).public_key())
    yield "no_padding", pem.replace(b"=", b"")
    yield "truncated", pem[: len(pem) // 2]
    yield "trailing_der_byte", _pem(p256.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) + b"\x00")
    der = p256.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    yield "long_form_length", _pem(b"\x30\x81" + der[1:])
    yield "empty", b""
    yield "garbage", b"garbage"


def _b64_lines(der: bytes) -> bytes:
    b64 = base64.b64encode(der)
    return b"".join(b64[i:i + 64] + b"\n" for i in range(0, len(b64), 64))


def _pem(der: bytes) -> bytes:
    return b"-----BEGIN PUBLIC KEY-----\n" + _b64_lines(der) + b"-----END PUBLIC KEY-----\n"


def _compressed_spki(public_key: ec.EllipticCurvePublicKey) -> bytes:
    point = public_key.public_bytes(serialization.Encoding.X962,
                                    serialization.PublicFormat.CompressedPoint)
    # SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING { 0x00, point } }
    algorithm = bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107")
    bit_string = b"\x03" + bytes([len(point) + 1]) + b"\x00" + point
    body = algorithm + bit_string
    return b"\x30" + bytes([len(body)]) + body


def _flwr_verify_outcome(pem: bytes, data: bytes, signature: bytes) -> str:
    try:
        key = bytes_to_public_key(pem)
        return "OK" if verify_signature(key, data, signature) else "UNAUTHENTICATED"
    except Exception:  # what the stock interceptor lets escape
        return "INVALID_ARGUMENT"


def _flwr_register_outcome(pem: bytes) -> str:
    # flwr/superlink/servicer/control/control_handlers.py: register_node
    try:
        key = bytes_to_public_key(pem)
        if not uses_nist_ec_curve(key):
            raise ValueError("The provided public key is not a NIST EC curve public key.")
    except (ValueError, AttributeError):
        return "INVALID_ARGUMENT"  # API error 22, PUBLIC_KEY_NOT_VALID
    except Exception:  # noqa: BLE001  UnsupportedAlgorithm: stock answers INTERNAL; C++ says 22
        return "INVALID_ARGUMENT"
    return "OK"


def test_public_key_loading_matches_cryptography(tool: Path) -> None:
    variants = list(_public_key_variants())
    data = b"2026-11-28T06:07:38+00:00"
    signature = bytes.fromhex("3006020101020101")  # well-formed DER, never valid
    requests = []
    for _, pem in variants:
        requests.append({"op": "verify", "public_key_pem_hex": pem.hex(), "data_hex": data.hex(),
                         "signature_hex": signature.hex()})
        requests.append({"op": "check_nist", "public_key_pem_hex": pem.hex()})
    replies = run(tool, requests)
    got = {name: (replies[2 * i]["code"], replies[2 * i + 1]["code"])
           for i, (name, _) in enumerate(variants)}
    want = {name: (_flwr_verify_outcome(pem, data, signature), _flwr_register_outcome(pem))
            for name, pem in variants}
    # Loadable keys answer UNAUTHENTICATED to the bogus signature, unloadable ones
    # INVALID_ARGUMENT.
    assert got == want
    assert want["p256"] == ("UNAUTHENTICATED", "OK")
    assert want["k1"] == ("UNAUTHENTICATED", "INVALID_ARGUMENT")


# --- the stock interceptor in a real grpcio server vs CheckSignedRequest ----------------------


class _NoState:
    def state(self) -> Any:
        raise AssertionError("RegisterNode never looks up the node")


@pytest.fixture(scope="module")
def stock_fleet() -> Iterator[grpc.Channel]:
    """A grpcio server with flwr's NodeAuthServerInterceptor in front of Fleet/RegisterNode."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2),
                         interceptors=[NodeAuthServerInterceptor(_NoState())])
    handler = grpc.unary_unary_rpc_method_handler(
        lambda request, context: RegisterNodeFleetResponse(node_id=7),
        request_deserializer=RegisterNodeFleetRequest.FromString,
        response_serializer=RegisterNodeFleetResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("flwr.proto.Fleet", {"RegisterNode": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield channel
    channel.close()
    server.stop(None)


def _stock_status(channel: grpc.Channel, metadata: list[tuple[str, Any]]) -> tuple[str, str]:
    call = channel.unary_unary(
        "/flwr.proto.Fleet/RegisterNode",
        request_serializer=RegisterNodeFleetRequest.SerializeToString,
        response_deserializer=RegisterNodeFleetResponse.FromString,
    )
    try:
        call(RegisterNodeFleetRequest(public_key=b"pk"), metadata=metadata, timeout=30)
        return "OK", ""
    except grpc.RpcError as err:
        return err.code().name, err.details()


def test_check_signed_request_matches_the_stock_interceptor(tool: Path,
                                                            stock_fleet: grpc.Channel) -> None:
    assert (MIN_TIMESTAMP_DIFF, MAX_TIMESTAMP_DIFF) == (-5, 305)
    sk, pk = generate_key_pairs()
    pem = public_key_to_bytes(pk)
    other_sk, _ = generate_key_pairs()
    k1 = ec.generate_private_key(ec.SECP256K1())
    rsa_pem = rsa.generate_private_key(65537, 1024).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def signed(ts: str, key: Any = sk, key_pem: bytes = pem) -> dict[str, Any]:
        return {PUBLIC_KEY_HEADER: key_pem, TIMESTAMP_HEADER: ts,
                SIGNATURE_HEADER: sign_message(key, ts.encode("ascii"))}

    t = now()
    iso = lambda dt: dt.isoformat()  # noqa: E731
    cases: dict[str, dict[str, Any]] = {
        "fresh": signed(iso(t)),
        "fresh_zero_us": signed(iso(t.replace(microsecond=0))),
        "fresh_z": signed(iso(t).replace("+00:00", "Z")),
        "fresh_other_offset": signed(iso(t.astimezone(
            datetime.timezone(datetime.timedelta(hours=-7, minutes=-30))))),
        "fresh_k1": signed(iso(t), k1, public_key_to_bytes(k1.public_key())),
        "old": signed(iso(t - datetime.timedelta(seconds=400))),
        "future": signed(iso(t + datetime.timedelta(seconds=60))),
        "naive": signed(t.replace(tzinfo=None).isoformat()),
        "not_iso": signed("yesterday at noon"),
        "offset_24h": signed(iso(t).replace("+00:00", "+24:00")),
        "wrong_key": signed(iso(t), other_sk),
        "tampered_ts": {**signed(iso(t)), TIMESTAMP_HEADER: iso(t - datetime.timedelta(seconds=1))},
        "garbage_signature": {**signed(iso(t)), SIGNATURE_HEADER: b"\x30\x00"},
        "garbage_key": {**signed(iso(t)), PUBLIC_KEY_HEADER: b"not a key"},
        "rsa_key": {**signed(iso(t)), PUBLIC_KEY_HEADER: rsa_pem},
        "no_key": {k: v for k, v in signed(iso(t)).items() if k != PUBLIC_KEY_HEADER},
        "no_timestamp": {k: v for k, v in signed(iso(t)).items() if k != TIMESTAMP_HEADER},
        "no_signature": {k: v for k, v in signed(iso(t)).items() if k != SIGNATURE_HEADER},
        "empty_signature": {**signed(iso(t)), SIGNATURE_HEADER: b""},
    }
    requests = []
    stock = {}
    for name, md in cases.items():
        stock[name] = _stock_status(stock_fleet, list(md.items()))
        requests.append({
            "op": "check",
            "public_key_pem_hex": md.get(PUBLIC_KEY_HEADER, b"").hex(),
            "timestamp_hex": md.get(TIMESTAMP_HEADER, "").encode().hex(),
            "signature_hex": md.get(SIGNATURE_HEADER, b"").hex(),
            "us": micros(now()),
        })
    cpp = {name: (r["code"], r["message"]) for name, r in zip(cases, run(tool, requests))}
    assert cpp == stock
    assert stock["fresh"] == ("OK", "")
    assert stock["old"] == ("UNAUTHENTICATED", "Invalid timestamp")
    assert stock["wrong_key"] == ("UNAUTHENTICATED", "Invalid signature")
    assert stock["no_key"] == ("UNAUTHENTICATED", "Missing authentication metadata")
    assert stock["not_iso"] == ("UNKNOWN", "Error in service handler!")


def test_timestamp_window_edges(tool: Path) -> None:
    sk, pk = generate_key_pairs()
    pem_hex = public_key_to_bytes(pk).hex()
    sent = datetime.datetime(2026, 11, 28, 6, 7, 38, 70698, tzinfo=UTC)
    ts = sent.isoformat()
    sig_hex = sign_message(sk, ts.encode()).hex()
    offsets_us = [-5_000_001, -5_000_000, -4_999_999, 0, 304_999_999, 305_000_000, 305_000_001]
    replies = run(tool, [{"op": "check", "public_key_pem_hex": pem_hex,
                          "timestamp_hex": ts.encode().hex(), "signature_hex": sig_hex,
                          "us": micros(sent) + d} for d in offsets_us])
    for d, reply in zip(offsets_us, replies):
        # The stock test: MIN < (now - ts).total_seconds() < MAX.
        diff = (sent + datetime.timedelta(microseconds=d)) - datetime.datetime.fromisoformat(ts)
        fresh = MIN_TIMESTAMP_DIFF < diff.total_seconds() < MAX_TIMESTAMP_DIFF
        assert reply["code"] == ("OK" if fresh else "UNAUTHENTICATED"), (d, reply)


# --- (d) ISO 8601 and epoch floats -------------------------------------------------------------


def _instants(rng: random.Random) -> list[datetime.datetime]:
    fixed = [
        datetime.datetime(2026, 11, 28, 6, 7, 38, 70698, tzinfo=UTC),
        datetime.datetime(2026, 11, 28, 6, 7, 38, tzinfo=UTC),  # zero microseconds
        datetime.datetime(2026, 11, 28, 6, 7, 38, 1, tzinfo=UTC),
        datetime.datetime(2026, 11, 28, 6, 7, 38, 999999, tzinfo=UTC),
        datetime.datetime(1970, 1, 1, tzinfo=UTC),
        datetime.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime.datetime(1, 1, 1, tzinfo=UTC),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime.datetime(2024, 2, 29, 12, 0, 0, 500000, tzinfo=UTC),
        now(),
    ]
    lo, hi = micros(fixed[6]), micros(fixed[7])
    randoms = [from_micros(rng.randint(lo, hi)) for _ in range(500)]
    recent = [from_micros(micros(now()) + rng.randint(-10**12, 10**12)) for _ in range(500)]
    whole = [from_micros(rng.randint(0, 4 * 10**9) * 1_000_000) for _ in range(100)]
    return fixed + randoms + recent + whole


def test_format_iso_utc_matches_isoformat(tool: Path) -> None:
    instants = _instants(random.Random(1))
    replies = run(tool, [{"op": "format_iso", "us": micros(dt)} for dt in instants])
    assert [r["text"] for r in replies] == [dt.isoformat() for dt in instants]


def test_parse_iso_time_reads_python_strings(tool: Path) -> None:
    rng = random.Random(2)
    texts, want = [], []
    offsets = [datetime.timedelta(0), datetime.timedelta(hours=5, minutes=30),
               datetime.timedelta(hours=-7), datetime.timedelta(hours=23, minutes=59, seconds=59),
               -datetime.timedelta(hours=23, minutes=59, seconds=59, microseconds=999999),
               datetime.timedelta(seconds=3723, microseconds=4)]
    for dt in _instants(rng):
        for offset in offsets:
            try:
                local = dt.astimezone(datetime.timezone(offset))
            except OverflowError:
                continue
            for text in (local.isoformat(), local.isoformat(sep=" "),
                         local.isoformat(timespec="milliseconds"), str(local)):
                texts.append(text)
                want.append(micros(datetime.datetime.fromisoformat(text)))
        texts.append(dt.isoformat().replace("+00:00", "Z"))
        want.append(micros(dt))
    replies = run(tool, [{"op": "parse_iso", "text_hex": t.encode().hex()} for t in texts])
    got = [r.get("us", r.get("error")) for r in replies]
    mismatches = [(t, g, w) for t, g, w in zip(texts, got, want) if g != w]
    assert not mismatches, mismatches[:10]


def _fromisoformat_us(text: str) -> int | None:
    try:
        dt = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return None if dt.tzinfo is None else micros(dt)


def test_parse_iso_time_fuzz_against_fromisoformat(tool: Path) -> None:
    """Mutated timestamps: C++ accepts exactly what Python 3.11 reads as an aware datetime."""
    rng = random.Random(3)
    seeds = ["2026-11-28T06:07:38.070698+00:00", "2026-11-28T06:07:38+00:00",
             "2026-11-28 06:07:38Z", "20261128T060738.0706-0130", "2026-W48-6T06:07:38+05:30",
             "2026W486T06:07Z", "2026-W48T06+01", "2026-11-28T06:07:38,5-23:59:59.999999",
             "2020-W53-7T23:59:59.999999+00:00:00.000001", "0001-01-01T00:00:00+00:01",
             "9999-12-31T23:59:59.999999-00:01"]
    alphabet = "0123456789:-+.,TZW xé"
    texts = set(seeds)
    while len(texts) < 30000:
        text = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            kind = rng.random()
            pos = rng.randrange(len(text) + 1)
            if kind < 0.4 and pos < len(text):
                text[pos] = rng.choice(alphabet)
            elif kind < 0.7:
                text.insert(pos, rng.choice(alphabet))
            elif pos < len(text):
                del text[pos]
        texts.add("".join(text))
    texts_list = sorted(texts)
    replies = run(tool, [{"op": "parse_iso", "text_hex": t.encode().hex()} for t in texts_list])
    mismatches = []
    accepted = 0
    for text, reply in zip(texts_list, replies):
        want = _fromisoformat_us(text)
        accepted += want is not None
        if reply.get("us") != want:
            mismatches.append((text, reply, want))
    assert not mismatches, mismatches[:10]
    assert accepted > 1500  # the fuzz does reach the accepting paths


def _bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def _float(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def test_epoch_seconds_match_timestamp_and_fromtimestamp(tool: Path) -> None:
    rng = random.Random(4)
    instants = [dt for dt in _instants(rng) if dt.year >= 1900]
    replies = run(tool, [{"op": "to_epoch", "us": micros(dt)} for dt in instants])
    assert [_float(r["bits"]) for r in replies] == [dt.timestamp() for dt in instants]

    floats = [dt.timestamp() for dt in instants]
    floats += [t + rng.uniform(0, 2 * 30.0) for t in floats]  # online_until = now + 2 * interval
    floats += [k / 1e6 for k in (0.5, 1.5, 2.5, 3.5, 1234.5)]  # exact ties
    floats += [1795846058 + k / 1e6 for k in (0.5, 1.5, 2.5)]
    floats += [rng.uniform(-1e9, 4e9) for _ in range(2000)]
    floats += [-0.0, 0.0, -1e-7, 1e-7, -0.5e-6, 0.4999999e-6]
    floats = [x for x in floats if x < 253402300799.0]  # Python raises past year 9999
    replies = run(tool, [{"op": "from_epoch", "bits": _bits(x)} for x in floats])
    for x, reply in zip(floats, replies):
        want = micros(datetime.datetime.fromtimestamp(x, tz=UTC))
        assert reply.get("us") == want, (x, reply, want)

