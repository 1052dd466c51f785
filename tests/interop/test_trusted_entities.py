"""`flower-supernode --trusted-entities` (FAB signature verification) on every pinned line: our
SuperNode and the line's stock one side by side in one federation, both trusting one Ed25519
key, so that every run shows both outcomes in the ServerApp's log (faulty_app prints each
round's error replies).

Where a signed FAB comes from in stock: only the SuperLink attaches verification records to a
FAB, and only to one it fetched from Flower Hub (`flwr run @account/app`: the SuperLink POSTs
$FLWR_SUPERGRID_API_URL/hub/fetch-fab, downloads the FAB from the returned URL and stores the
returned records, plus "valid_license": "Valid"); a FAB `flwr run` uploads gets none. So:
  - against the stock SuperLink the test plays Flower Hub (FakeHub) and runs the app by its
    Hub spec, the path stock takes;
  - our SuperLink has no Hub client, but keeps the verification records of the FAB in the
    StartRun request: the test's `flwr run` wrapper (SIGNING_CLI) attaches them there.
Either way the records are built as Flower Hub's, signed here with `cryptography` over
flwr's create_message_to_sign (8-byte big-endian signed_at, then the FAB's SHA-256).

Outcomes, each compared with the stock SuperNode's in the same run: a FAB signed by the
trusted key runs; a FAB changed after signing (tampered) and a FAB signed by an unknown key are
refused with stock's log line and INVALID_FAB error reply; a FAB without records (a plain
`flwr run`) is refused as "App verification is not supported by the connected SuperLink".
Bad `--trusted-entities` files end both SuperNodes with the same flwr_exit message."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from flwr.supercore.primitives.asymmetric_ed25519 import create_message_to_sign

from harness import (
    LINES,
    Line,
    Ports,
    Processes,
    base_env,
    copy_test_app,
    flwr,
    free_port,
    superlink_argv,
    supernode_argv,
    wait_for_superlink,
    wait_for_status,
    write_cli_config,
)

KEY_ID = "fpk_trusted"
SIGNED_AT = 1767225600
APP_SPEC = "@flwrcpp/faulty-app==1.0.0"  # faulty_app's publisher/name and version
RUN_CONFIG = ("num-server-rounds=1", "min-nodes=2", "array-size=10")
REFUSED = "7:The FAB could not be verified."
UNVERIFIED_LOG = ("FAB verification failed: the provided trusted entities could not verify the FAB. "
                  "An error reply has been generated.")
NO_LICENSE_LOG = ("The FAB could not be verified. App verification is not supported by the connected "
                  "SuperLink.")

# `flwr run` whose StartRunRequest FAB carries Flower Hub's verification records, signed over
# the FAB it uploads (or, with "tamper", over other bytes). Run by the line's interpreter.
SIGNING_CLI = '''
import base64, hashlib, importlib, json, os, sys
from cryptography.hazmat.primitives.asymmetric import ed25519
from flwr.cli.app import app

run_module = importlib.import_module("flwr.cli.run.run")  # the package exports `run` itself

signing = json.loads(os.environ["FLWR_TEST_SIGNING"])
key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(signing["private_key"]))
to_proto = run_module.fab_to_proto

def fab_to_proto(fab):
    proto = to_proto(fab)
    signed = fab.content + (b"tampered" if signing["tamper"] else b"")
    message = signing["signed_at"].to_bytes(8, "big") + hashlib.sha256(signed).digest()
    signature = base64.urlsafe_b64encode(key.sign(message)).decode().rstrip("=")
    proto.verifications[signing["key_id"]] = json.dumps(
        {"signature": signature, "signed_at": signing["signed_at"]})
    proto.verifications["valid_license"] = "Valid"
    return proto

run_module.fab_to_proto = fab_to_proto
sys.argv[0] = "flwr"
sys.exit(app())
'''


def ssh_public_key(key: ed25519.Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def hub_record(key: ed25519.Ed25519PrivateKey, key_id: str, fab: bytes) -> dict:
    """One of Flower Hub's verification records for `fab` (request_download_link's list)."""
    message = create_message_to_sign(hashlib.sha256(fab).digest(), SIGNED_AT)
    signature = base64.urlsafe_b64encode(key.sign(message)).decode().rstrip("=")
    return {"public_key_id": key_id, "signature": signature, "signed_at": SIGNED_AT}


class FakeHub:
    """Flower Hub as the stock SuperLink reaches it: POST /hub/fetch-fab answers the FAB's
    download URL (here, GET /fab) and its verification records."""

    def __init__(self) -> None:
        self.fab = b""
        self.records: list[dict] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.reply("application/json", json.dumps(
                    {"fab_url": f"{hub.url}/fab", "verifications": hub.records}).encode())

            def do_GET(self) -> None:  # noqa: N802
                self.reply("application/octet-stream", hub.fab)

            def reply(self, content_type: str, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Federation:
    """A SuperLink (ours or the line's stock one) with our SuperNode and the stock one, both
    started with --trusted-entities trusting `key` as KEY_ID."""

    line: Line
    link: str
    env: dict[str, str]
    procs: Processes
    directory: Path
    app: Path
    key: ed25519.Ed25519PrivateKey
    hub: FakeHub | None

    def start_run(self, *, signer: ed25519.Ed25519PrivateKey | None, key_id: str = KEY_ID,
                  tamper: bool = False) -> str:
        """Starts faulty_app: unsigned (a plain `flwr run`), or signed by `signer` as `key_id`
        (over other bytes with `tamper`) through the SuperLink's way to a signed FAB."""
        config = [a for c in RUN_CONFIG for a in ("--run-config", c)]
        if signer is None:
            result = flwr(self.env, "run", str(self.app), "--format", "json", *config, timeout=60)
        elif self.hub is not None:
            signed = self.build_fab(self.app)
            self.hub.records = [hub_record(signer, key_id, signed)]
            self.hub.fab = self.build_fab(self.tampered_app()) if tamper else signed
            result = flwr(self.env, "run", APP_SPEC, "--format", "json", *config, timeout=60)
        else:
            signing = {"private_key": signer.private_bytes_raw().hex(), "key_id": key_id,
                       "signed_at": SIGNED_AT, "tamper": tamper}
            result = subprocess.run(
                [str(self.line.venv_bin / "python"), "-c", SIGNING_CLI, "run", str(self.app), "--format", "json",
                 *config], env={**self.env, "FLWR_TEST_SIGNING": json.dumps(signing)}, capture_output=True,
                text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr + self.procs.logs()
        return re.search(r'"run-id": "(\d+)"', result.stdout).group(1)

    def build_fab(self, app: Path) -> bytes:
        """The line's `flwr build` of `app`."""
        out = self.directory / f"build-{time.monotonic_ns()}"
        out.mkdir()
        result = flwr(self.env, "build", "--app", str(app), cwd=out, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        (fab,) = out.glob("*.fab")
        return fab.read_bytes()

    def tampered_app(self) -> Path:
        """faulty_app with one line added to its ServerApp after signing."""
        tampered = self.directory / "tampered-app"
        if not tampered.exists():
            shutil.copytree(self.app, tampered)
            with open(tampered / "faulty_app" / "server_app.py", "a") as f:
                f.write("print('tampered')\n")
        return tampered

    def outcome(self, run_id: str) -> str:
        """The ServerApp's line for round 1 once the run finished."""
        run = wait_for_status(self.env, run_id, "finished", timeout=180)
        assert run["status"] == "finished:completed", self.procs.logs()
        log = flwr(self.env, "log", run_id, "--show", timeout=60).stdout
        match = re.search(r"round 1: .*", log)
        assert match, log + self.procs.logs()
        return match.group(0)


@pytest.fixture(scope="module", params=[(line, link) for line in LINES for link in ("python", "cpp")],
                ids=lambda p: f"{p[0]}-{p[1]}-superlink")
def federation(request, tmp_path_factory, build_dir: Path):
    line, link = request.param
    directory = tmp_path_factory.mktemp(f"trusted-{line}-{link}")
    flwr_home = directory / "flwr_home"
    env = base_env(flwr_home, line)
    ports = Ports()
    write_cli_config(flwr_home, ports.control_for(line))
    hub = FakeHub() if link == "python" else None
    if hub is not None:
        env["FLWR_SUPERGRID_API_URL"] = hub.url
    key = ed25519.Ed25519PrivateKey.generate()
    trusted = directory / "trusted-entities.yaml"
    trusted.write_text(f"{KEY_ID}: '{ssh_public_key(key)} test key'\n")
    procs = Processes(directory, env)
    fed = Federation(line, link, env, procs, directory, copy_test_app("faulty_app", directory / "faulty-app"),
                     key, hub)
    try:
        wait_for_superlink(ports, procs.start("superlink", superlink_argv(
            link, ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink", line)), line)
        for i, kind in enumerate(("cpp", "python")):
            argv = supernode_argv(ports.fleet_for(line), free_port(), f"partition-id={i} num-partitions=2",
                                  kind=kind, build_dir=build_dir, line=line)
            procs.start(f"{kind}-supernode", argv + ["--trusted-entities", str(trusted)])
        yield fed
    finally:
        procs.stop_all()
        if hub is not None:
            hub.close()


def node_logs(fed: Federation) -> dict[str, str]:
    return {kind: fed.procs.log(f"{kind}-supernode") for kind in ("cpp", "python")}


def test_fab_signed_by_a_trusted_key_runs_on_both_supernodes(federation: Federation) -> None:
    run_id = federation.start_run(signer=federation.key)
    assert federation.outcome(run_id) == "round 1: 2 ok, errors [], mean weight 1.000", federation.procs.logs()


@pytest.mark.parametrize("case", ["tampered", "unknown key"])
def test_fab_that_does_not_verify_is_refused_by_both_as_stock(federation: Federation, case: str) -> None:
    """A FAB changed after signing, or signed by a key the SuperNodes do not trust (under
    another key ID): both SuperNodes log stock's line and answer INVALID_FAB."""
    before = {kind: log.count(UNVERIFIED_LOG) for kind, log in node_logs(federation).items()}
    if case == "tampered":
        run_id = federation.start_run(signer=federation.key, tamper=True)
    else:
        run_id = federation.start_run(signer=ed25519.Ed25519PrivateKey.generate(), key_id="fpk_unknown")
    assert federation.outcome(run_id) == f"round 1: 0 ok, errors {[REFUSED, REFUSED]}, mean weight 0.000"
    for kind, log in node_logs(federation).items():
        assert log.count(UNVERIFIED_LOG) == before[kind] + 1, f"{kind} SuperNode:\n{log}"


def test_fab_without_verifications_is_refused_by_both_as_stock(federation: Federation) -> None:
    """A plain `flwr run`: the SuperLink sends the FAB without records, as a SuperLink that does
    not verify apps."""
    before = {kind: log.count(NO_LICENSE_LOG) for kind, log in node_logs(federation).items()}
    run_id = federation.start_run(signer=None)
    assert federation.outcome(run_id) == f"round 1: 0 ok, errors {[REFUSED, REFUSED]}, mean weight 0.000"
    for kind, log in node_logs(federation).items():
        assert log.count(NO_LICENSE_LOG) == before[kind] + 1, f"{kind} SuperNode:\n{log}"


@pytest.mark.parametrize("line", LINES, ids=str)
@pytest.mark.parametrize("case", ["no file", "not a mapping", "not Ed25519"])
def test_bad_trusted_entities_file_ends_both_supernodes_alike(line: Line, case: str, tmp_path: Path,
                                                              build_dir: Path) -> None:
    """Stock's flwr_exit (code 304, exit status 1) before any connection, in the same words."""
    path = tmp_path / "trusted.yaml"
    if case == "not a mapping":
        path.write_text("- fpk_a\n")
    elif case == "not Ed25519":
        ecdsa = ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBI5TO2+gv3tGJbswZnwB+2B++fi4q"
                 "A/vWzAGKHAxh7Kjc+sdveAzGDZtBp+DpvWQAFPHNjPLBBshxV4ahsH0ALQ=")
        path.write_text(f"fpk_a: '{ssh_public_key(ed25519.Ed25519PrivateKey.generate())}'\nfpk_e: '{ecdsa}'\n")
    env = base_env(tmp_path / "flwr_home", line)
    exits = {}
    for kind in ("cpp", "python"):
        argv = supernode_argv(free_port(), free_port(), "", kind=kind, build_dir=build_dir, line=line)
        result = subprocess.run(argv + ["--trusted-entities", str(path)], env=env, capture_output=True,
                                text=True, timeout=60)
        text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
        # From "Exit Code" to the code's help line (the help URL names each binary's own line).
        match = re.search(r"Exit Code: 304\n(.*\n.*)\n", text)
        assert match, text
        exits[kind] = (result.returncode, match.group(1))
    assert exits["cpp"] == exits["python"]
    assert exits["cpp"][0] == 1
