"""Registered SuperNodes (`flower-superlink --enable-supernode-auth`) on every pinned line: the
stock `flwr supernode register/list/unregister` against our SuperLink and the stock one side by
side (1.36: gRPC Control; 1.42: HTTP), stock SuperNodes with registered, unregistered and no
keys against both, ours against the stock SuperLink, and registrations across a restart on
SQLite. SuperNode authentication needs TLS, so every SuperLink here serves it."""

from __future__ import annotations

import base64
import datetime
import json
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flwr.proto import fleet_pb2, fleet_pb2_grpc, node_pb2
from flwr.supercore.primitives.asymmetric import generate_key_pairs, public_key_to_bytes, sign_message

from harness import (
    LINES,
    PRIMARY,
    Line,
    Ports,
    Processes,
    base_env,
    copy_test_app,
    flwr,
    free_port,
    make_certificates,
    superlink_argv,
    supernode_argv,
    wait_for_port,
    wait_for_status,
)

KINDS = ("python", "cpp")


@dataclass
class AuthLink:
    """A SuperLink with --enable-supernode-auth and TLS, and the line's CLI pointed at it."""

    kind: str
    line: Line
    env: dict[str, str]
    ports: Ports
    procs: Processes
    ca: Path

    def cli(self, *args: str) -> tuple[int, str]:
        """`flwr supernode ARGS`: exit status and stdout+stderr."""
        result = flwr(self.env, "supernode", *args, timeout=60)
        return result.returncode, result.stdout + result.stderr

    def register(self, public_key: Path) -> int:
        result = flwr(self.env, "supernode", "register", str(public_key), "--format", "json", timeout=60)
        payload = json.loads(result.stdout)
        assert result.returncode == 0 and payload["success"], result.stdout + result.stderr
        return payload["node-id"]

    def nodes(self) -> dict[int, dict]:
        """`flwr supernode list -v --format json`, by node ID."""
        result = flwr(self.env, "supernode", "list", "-v", "--format", "json", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        return {int(n["node-id"]): n for n in json.loads(result.stdout)["nodes"]}

    def wait_for_node(self, node_id: int, status: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            node = self.nodes().get(node_id, {})
            if node.get("status") == status:
                return node
            time.sleep(0.5)
        raise TimeoutError(f"node {node_id} is not {status}: {self.nodes()}\n{self.procs.logs()}")

    def supernode(self, name: str, kind: str, build_dir: Path, key: Path | None,
                  node_config: str = "partition-id=0 num-partitions=1"):
        """A SuperNode (stock or ours) of the line with the private key `key` (none: it makes
        one and registers itself)."""
        argv = [a for a in supernode_argv(self.ports.fleet_for(self.line), free_port(), node_config, kind=kind,
                                          build_dir=build_dir, line=self.line)
                if a != "--insecure"]
        argv += ["--root-certificates", str(self.ca)]
        if key is not None:
            argv += ["--auth-supernode-private-key", str(key)]
        return self.procs.start(name, argv)


def normalise(text: str, ports: Ports) -> str:
    """CLI output with the SuperLink's ports, node IDs, times and elapsed seconds made
    comparable."""
    for port in (ports.control, ports.runtime, ports.fleet):
        text = text.replace(str(port), "PORT")
    text = re.sub(r"\b\d{8,20}\b", "NODE", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", "TIME", text)
    text = re.sub(r'"online-elapsed": [0-9.e-]+', '"online-elapsed": E', text)
    text = re.sub(r"[━─]+", "-", text)  # table widths follow the IDs' widths
    return re.sub(r" {2,}", " ", text)


def start_auth_link(kind: str, line: Line, directory: Path, build_dir: Path, database: str) -> AuthLink:
    directory.mkdir(parents=True, exist_ok=True)
    ca, cert, key = make_certificates(directory)
    flwr_home = directory / "flwr_home"
    flwr_home.mkdir()
    ports = Ports()
    (flwr_home / "config.toml").write_text(
        f'[superlink]\ndefault = "tls"\n\n[superlink.tls]\naddress = "127.0.0.1:{ports.control_for(line)}"\n'
        f'root-certificates = "{ca}"\n')
    env = base_env(flwr_home, line)
    link = AuthLink(kind, line, env, ports, Processes(directory, env), ca)
    proc = link.procs.start("superlink", auth_superlink_argv(link, build_dir, database, cert, key))
    wait_for_port(ports.control_for(line), proc=proc)
    wait_for_port(ports.fleet_for(line), proc=proc)
    return link


def auth_superlink_argv(link: AuthLink, build_dir: Path, database: str, cert: Path, key: Path) -> list[str]:
    argv = superlink_argv(link.kind, link.ports, database, build_dir / "superlink/flower-superlink", link.line)
    return [a for a in argv if a != "--insecure"] + [
        "--ssl-certfile", str(cert), "--ssl-keyfile", str(key), "--ssl-ca-certfile", str(link.ca),
        "--enable-supernode-auth"]


def make_key(directory: Path, name: str) -> Path:
    """An EC P-384 key pair as `ssh-keygen -t ecdsa -b 384` writes it: the OpenSSH private key
    (the SuperNode's --auth-supernode-private-key) at the returned path, the public key (what
    `flwr supernode register` takes) beside it with `.pub`."""
    key = ec.generate_private_key(ec.SECP384R1())
    path = directory / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                       serialization.NoEncryption()))
    path.with_suffix(".pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH))
    return path


@pytest.fixture(scope="module", params=LINES, ids=str)
def links(request, tmp_path_factory, build_dir: Path):
    """The line's stock SuperLink and ours, both with --enable-supernode-auth, in memory; shared
    by the module's tests of that line (each registers its own keys)."""
    line: Line = request.param
    started = {}
    try:
        for kind in KINDS:
            started[kind] = start_auth_link(kind, line, tmp_path_factory.mktemp(f"{kind}-{line}"), build_dir,
                                            ":flwr-in-memory:")
        yield started
    finally:
        for link in started.values():
            link.procs.stop_all()


def test_register_list_unregister_answer_as_the_stock_superlink(links: dict[str, AuthLink], tmp_path: Path) -> None:
    """The same CLI session on both SuperLinks: the same exit statuses and output (default and
    `--format json`), up to node IDs, times and ports."""
    def session(kind: str) -> list[tuple[int, str]]:
        link = links[kind]
        public_key = str(make_key(tmp_path, f"{kind}.key").with_suffix(".pub"))
        out = [link.cli("register", public_key, "--format", "json")]
        node_id = str(json.loads(out[0][1])["node-id"])
        out.append(link.cli("register", public_key, "--format", "json"))  # 23, as JSON
        out.append(link.cli("register", public_key))
        out.append(link.cli("list"))
        out.append(link.cli("unregister", node_id, "--format", "json"))
        out.append(link.cli("unregister", node_id))  # 24
        out.append(link.cli("list", "-v", "--format", "json"))
        listed = {n["node-id"]: n["status"] for n in json.loads(out[6][1])["nodes"]}
        assert listed[node_id] == "unregistered", out[6]
        return [(code, normalise(text, link.ports)) for code, text in out]

    with ThreadPoolExecutor(len(KINDS)) as pool:  # the two sessions side by side
        transcripts = dict(zip(KINDS, pool.map(session, KINDS)))
    assert transcripts["cpp"] == transcripts["python"]
    codes = [code for code, _ in transcripts["cpp"]]
    assert codes == [0, 0, 1, 0, 0, 1, 0], transcripts["cpp"]


def refusal(link: AuthLink, name: str, timeout: float = 30.0) -> list[str]:
    """What a stock SuperNode logs of the SuperLink's refusal: 1.36's gRPC status and details,
    1.42's "[code: N] ..." line."""
    pattern = re.compile(r'status = StatusCode\.\w+|details = ".*"|\[code: \d+\] .*')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pattern.findall(link.procs.log(name))
        if found:
            return found
        time.sleep(0.5)
    raise TimeoutError(f"{name} logged no refusal:\n{link.procs.log(name)}")


def test_unregistered_and_self_registering_supernodes_are_refused_as_stock(
        links: dict[str, AuthLink], tmp_path: Path, build_dir: Path) -> None:
    """A stock SuperNode with a key nobody registered (ActivateNode: 2004) and one without a
    key (RegisterNode: 2001) get the same refusals from both SuperLinks, and none joins."""
    refusals = {}
    for kind, link in links.items():
        link.supernode(f"unregistered-{tmp_path.name}", "python", build_dir, make_key(tmp_path, f"{kind}-u.key"))
        link.supernode(f"self-{tmp_path.name}", "python", build_dir, None)
        refusals[kind] = [refusal(link, f"unregistered-{tmp_path.name}"), refusal(link, f"self-{tmp_path.name}")]
        assert not [n for n in link.nodes().values() if n["status"] == "online"]
    assert refusals["cpp"] == refusals["python"]
    assert "2004" in str(refusals["cpp"][0]) and "2001" in str(refusals["cpp"][1]), refusals


def pull_as(link: AuthLink, node_id: int) -> tuple[str, str]:
    """PullMessages for `node_id`, signed with a fresh key that is not the node's: the refusal
    (1.36: gRPC status and details; 1.42: HTTP status and body)."""
    private_key, public_key = generate_key_pairs()
    request = fleet_pb2.PullMessagesRequest(node=node_pb2.Node(node_id=node_id))
    if link.line.http_fleet:
        timestamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
        headers = {
            "content-type": "application/protobuf",
            "flwr-public-key": base64.b64encode(public_key_to_bytes(public_key)).decode(),
            "flwr-timestamp": timestamp,
            "flwr-signature": base64.b64encode(sign_message(private_key, timestamp.encode("ascii"))).decode(),
        }
        response = httpx.post(f"https://127.0.0.1:{link.ports.runtime}/v1/fleet/pull-messages",
                              content=request.SerializeToString(), headers=headers, verify=str(link.ca),
                              timeout=30)
        return str(response.status_code), response.text
    channel = grpc.secure_channel(f"127.0.0.1:{link.ports.fleet}",
                                  grpc.ssl_channel_credentials(link.ca.read_bytes()))
    # Signed as 1.36's NodeAuthClientInterceptor signs (flwr/client/grpc_rere_client).
    timestamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
    metadata = [("flwr-public-key-bin", public_key_to_bytes(public_key)), ("flwr-timestamp", timestamp),
                ("flwr-signature-bin", sign_message(private_key, timestamp.encode("ascii")))]
    try:
        fleet_pb2_grpc.FleetStub(channel).PullMessages(request, metadata=metadata, timeout=30)
    except grpc.RpcError as err:
        return err.code().name, err.details()
    finally:
        channel.close()
    return "OK", ""


def test_a_node_acting_for_a_registered_one_is_refused_as_stock(links: dict[str, AuthLink], tmp_path: Path) -> None:
    """A caller that signs with its own key but names a registered node is refused alike."""
    refusals = {kind: pull_as(link, link.register(make_key(tmp_path, f"{kind}.key").with_suffix(".pub")))
                for kind, link in links.items()}
    assert refusals["cpp"] == refusals["python"]
    assert refusals["cpp"][0] in ("UNAUTHENTICATED", "401"), refusals


def test_registered_supernodes_join_our_superlink_and_a_run_completes(
        links: dict[str, AuthLink], tmp_path: Path, build_dir: Path) -> None:
    """A stock SuperNode and ours, each with a registered key, go online on our auth-enabled
    SuperLink and serve a run to completion; unregistering one takes it off (it is refused
    from then on and stops, as the stock SuperNode does)."""
    link = links["cpp"]
    ids, nodes = {}, {}
    for i, kind in enumerate(KINDS):
        key = make_key(tmp_path, f"{kind}.key")
        ids[kind] = link.register(key.with_suffix(".pub"))
        nodes[kind] = link.supernode(f"{kind}-{tmp_path.name}", kind, build_dir, key,
                                     f"partition-id={i} num-partitions=2")
    app_dir = copy_test_app("numpy_app", tmp_path / "numpy_app")
    result = flwr(link.env, "run", str(app_dir), "--format", "json", "--run-config", "num-server-rounds=1",
                  timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr + link.procs.logs()
    run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)
    run = wait_for_status(link.env, run_id, "finished", timeout=120)
    assert run["status"] == "finished:completed", link.procs.logs()
    listed = link.nodes()
    assert [listed[node_id]["status"] for node_id in ids.values()] == ["online", "online"], listed

    code, out = link.cli("unregister", str(ids["python"]))
    assert code == 0, out
    nodes["python"].wait(timeout=30)  # refused from its next call on, the stock SuperNode stops
    assert link.nodes()[ids["python"]]["status"] == "unregistered"
    link.procs.stop(f"cpp-{tmp_path.name}")


def test_our_supernode_joins_the_stock_superlink_with_a_registered_key(
        links: dict[str, AuthLink], tmp_path: Path, build_dir: Path) -> None:
    """Our SuperNode against the stock SuperLink with --enable-supernode-auth: with a
    registered key it goes online; with an unregistered one it never does and exits."""
    link = links["python"]
    key = make_key(tmp_path, "ours.key")
    node_id = link.register(key.with_suffix(".pub"))
    link.supernode(f"ours-{tmp_path.name}", "cpp", build_dir, key)
    link.wait_for_node(node_id, "online")
    stranger = link.supernode(f"stranger-{tmp_path.name}", "cpp", build_dir, make_key(tmp_path, "stranger.key"))
    assert stranger.wait(timeout=30) != 0, link.procs.log(f"stranger-{tmp_path.name}")
    assert [i for i, n in link.nodes().items() if n["status"] == "online"] == [node_id]
    link.procs.stop(f"ours-{tmp_path.name}")


def test_registrations_survive_a_restart_on_sqlite(tmp_path: Path, build_dir: Path) -> None:
    """Our SuperLink on SQLite, killed (SIGKILL) and restarted on the same file: the registered
    and unregistered nodes are listed as before, and a registered key still joins."""
    line = PRIMARY
    link = start_auth_link("cpp", line, tmp_path, build_dir, str(tmp_path / "state.db"))
    try:
        kept, dropped = make_key(tmp_path, "kept.key"), make_key(tmp_path, "dropped.key")
        kept_id = link.register(kept.with_suffix(".pub"))
        dropped_id = link.register(dropped.with_suffix(".pub"))
        assert link.cli("unregister", str(dropped_id))[0] == 0
        before = link.nodes()

        link.procs.stop("superlink", signal.SIGKILL)
        cert, key = tmp_path / "server.pem", tmp_path / "server.key"
        restarted = link.procs.start("superlink-restarted",
                                     auth_superlink_argv(link, build_dir, str(tmp_path / "state.db"), cert, key))
        wait_for_port(link.ports.control_for(line), proc=restarted)
        assert link.nodes() == before
        code, out = link.cli("register", str(kept.with_suffix(".pub")))
        assert code == 1 and "[code: 23]" in out, out

        link.supernode("kept", "python", build_dir, kept)
        link.wait_for_node(kept_id, "online")
    finally:
        link.procs.stop_all()
