"""The SuperLink's one HTTP port (Flower 1.42: Control, Fleet and Runtime) against bad input,
differentially: every request goes to our SuperLink and to the stock 1.42 SuperLink, and both
must answer with the same HTTP status and the same body (node IDs aside). Afterwards ours still
serves. Requests are signed as the stock 1.42 SuperNode's NodeAuthHttpInterceptor signs them."""

from __future__ import annotations

import base64
import datetime
import json
import re
import socket
from pathlib import Path

import httpx
import pytest

from flwr.proto import control_pb2, fleet_pb2, heartbeat_pb2, node_pb2
from flwr.supercore.primitives.asymmetric import generate_key_pairs, public_key_to_bytes, sign_message

from harness import LINES, Ports, Processes, base_env, superlink_argv, wait_for_port

LINE = next((line for line in LINES if line.http_fleet), None)
pytestmark = pytest.mark.skipif(LINE is None, reason="no pinned Flower line with the HTTP Fleet API")

PROTOBUF = {"content-type": "application/protobuf"}


@pytest.fixture(scope="module")
def superlinks(tmp_path_factory, build_dir: Path):
    """Our SuperLink and the stock one of the HTTP line, each on its own HTTP port."""
    tmp = tmp_path_factory.mktemp("superlinks")
    env = base_env(tmp / "flwr_home", LINE)
    procs = Processes(tmp, env)
    urls = {}
    for kind in ("cpp", "python"):
        ports = Ports()
        proc = procs.start(kind, superlink_argv(kind, ports, ":flwr-in-memory:",
                                                build_dir / "superlink/flower-superlink", LINE)
                           + ["--isolation", "process"])
        wait_for_port(ports.runtime, proc=proc)
        urls[kind] = f"http://127.0.0.1:{ports.runtime}"
    yield urls, procs
    procs.stop_all()


class Node:
    """A SuperNode identity: its key pair, and the headers of one signed call."""

    def __init__(self) -> None:
        self.private_key, public_key = generate_key_pairs()
        self.public_key = public_key_to_bytes(public_key)

    def headers(self, age: float = 0.0, public_key: bytes | None = None) -> dict[str, str]:
        timestamp = (datetime.datetime.now(datetime.timezone.utc)
                     - datetime.timedelta(seconds=age)).isoformat()
        signature = sign_message(self.private_key, timestamp.encode("ascii"))
        return {
            "flwr-public-key": base64.b64encode(public_key or self.public_key).decode(),
            "flwr-timestamp": timestamp,
            "flwr-signature": base64.b64encode(signature).decode(),
        }


def call(url: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
         method: str = "POST") -> tuple[int, str]:
    response = httpx.request(method, url + path, content=body, headers={**PROTOBUF, **(headers or {})},
                             timeout=30)
    return response.status_code, response.text


def both(superlinks, *args, **kwargs) -> tuple[tuple[int, str], tuple[int, str]]:
    urls, _ = superlinks
    return call(urls["cpp"], *args, **kwargs), call(urls["python"], *args, **kwargs)


def register(url: str, node: Node) -> int:
    """Register and activate `node` over HTTP Fleet; its node ID."""
    body = fleet_pb2.RegisterNodeFleetRequest(public_key=node.public_key).SerializeToString()
    status, text = call(url, "/v1/fleet/register-node", body, node.headers())
    assert status == 200, text
    request = fleet_pb2.ActivateNodeRequest(public_key=node.public_key, heartbeat_interval=30)
    response = httpx.post(url + "/v1/fleet/activate-node", content=request.SerializeToString(),
                          headers={**PROTOBUF, **node.headers()}, timeout=30)
    assert response.status_code == 200, response.text
    return fleet_pb2.ActivateNodeResponse.FromString(response.content).node_id


def register_node_request(public_key: bytes, location: str | None = None, name: str | None = None) -> bytes:
    """1.42's RegisterNodeRequest{public_key, location, name}, encoded by hand: the primary
    line's control_pb2 knows only public_key."""

    def field(number: int, value: bytes) -> bytes:
        length, size = b"", len(value)
        while size > 0x7F:
            length += bytes([size & 0x7F | 0x80])
            size >>= 7
        return bytes([number << 3 | 2]) + length + bytes([size]) + value

    return (field(1, public_key) + (field(2, location.encode()) if location is not None else b"")
            + (field(3, name.encode()) if name is not None else b""))


# The Control routes of flwr 1.42's router (list-runs and list-nodes: test_empty_control_listing;
# stream-logs and stream-run-events below, with a run ID).
CONTROL_ROUTES = [
    "list-run-series", "get-run-series", "update-run-series-description",
    "list-run-series-events", "stop-run", "pull-artifacts", "start-automation", "list-automations",
    "stop-automation", "get-login-details", "get-auth-tokens", "refresh-auth-tokens",
    "list-connectors", "disconnect-connector", "begin-connector-oauth", "complete-connector-oauth",
    "register-node", "unregister-node", "list-federations", "list-apps",
    "list-app-associations", "add-app", "remove-app", "show-federation", "set-federation-icon",
    "create-federation", "archive-federation", "add-node-to-federation",
    "remove-node-from-federation", "remove-account-from-federation", "create-invitation",
    "list-invitations", "accept-invitation", "reject-invitation", "revoke-invitation",
    "configure-simulation-federation",
]
DEFAULT, OTHER = "@none/default", "@alice/other"
CONTROL_REQUESTS = {
    "stream logs of an unknown run": ("stream-logs", control_pb2.StreamLogsRequest(run_id=4242)),
    "stream events of an unknown run": ("stream-run-events",
                                        control_pb2.StreamRunEventsRequest(run_id=4242)),
    "pull an unknown run": ("pull-artifacts", control_pb2.PullArtifactsRequest(run_id=4242)),
    "show the default federation": ("show-federation",
                                    control_pb2.ShowFederationRequest(federation_name=DEFAULT)),
    "show another federation": ("show-federation",
                                control_pb2.ShowFederationRequest(federation_name=OTHER)),
    "create a federation": ("create-federation",
                            control_pb2.CreateFederationRequest(federation_name="fed-1")),
    "create a federation with a bad name": (
        "create-federation", control_pb2.CreateFederationRequest(federation_name="1fed")),
    "create a federation with a long name": (
        "create-federation", control_pb2.CreateFederationRequest(federation_name="f" * 33)),
    "create a federation with a bad character": (
        "create-federation", control_pb2.CreateFederationRequest(federation_name="fed_1")),
    "archive the default federation": (
        "archive-federation", control_pb2.ArchiveFederationRequest(federation_name=DEFAULT)),
    "set an icon": ("set-federation-icon",
                    control_pb2.SetFederationIconRequest(federation_name=DEFAULT, icon_key="x")),
    "add an unknown node": ("add-node-to-federation", control_pb2.AddNodeToFederationRequest(
        federation_name=DEFAULT, node_id=4242)),
    "add a node to another federation": ("add-node-to-federation",
                                         control_pb2.AddNodeToFederationRequest(
                                             federation_name=OTHER, node_id=4242)),
    "remove an unknown node": ("remove-node-from-federation",
                               control_pb2.RemoveNodeFromFederationRequest(
                                   federation_name=DEFAULT, node_id=4242)),
    "remove an account": ("remove-account-from-federation",
                          control_pb2.RemoveAccountFromFederationRequest(
                              federation_name=DEFAULT, account_name="bob")),
    "invite into the default federation": (
        "create-invitation", control_pb2.CreateInvitationRequest(federation_name=DEFAULT,
                                                                 invitee_account_name="bob")),
    "invite into another federation": (
        "create-invitation", control_pb2.CreateInvitationRequest(federation_name=OTHER,
                                                                 invitee_account_name="bob")),
    "accept an invitation": ("accept-invitation",
                             control_pb2.AcceptInvitationRequest(federation_name=DEFAULT)),
    "revoke an invitation": ("revoke-invitation", control_pb2.RevokeInvitationRequest(
        federation_name=DEFAULT, invitee_account_name="bob")),
    "configure the default federation": (
        "configure-simulation-federation",
        control_pb2.ConfigureSimulationFederationRequest(federation_name=DEFAULT)),
    "configure another federation": (
        "configure-simulation-federation",
        control_pb2.ConfigureSimulationFederationRequest(federation_name=OTHER)),
    "list the default federation's apps": ("list-apps",
                                           control_pb2.ListAppsRequest(federation_id=DEFAULT)),
    "list no apps": ("list-apps", control_pb2.ListAppsRequest(federation_id=DEFAULT, limit=0)),
    "list another federation's apps": ("list-apps", control_pb2.ListAppsRequest(federation_id=OTHER)),
    "list an app's federations": ("list-app-associations",
                                  control_pb2.ListAppAssociationsRequest(app_id="@a/b")),
    "add a bad app spec": ("add-app", control_pb2.AddAppRequest(federation_id=DEFAULT, app_id="a/b")),
    "add a bad app version": ("add-app", control_pb2.AddAppRequest(federation_id=DEFAULT,
                                                                   app_id="@a/b==1.0")),
    "remove an app": ("remove-app", control_pb2.RemoveAppRequest(federation_id=DEFAULT, app_id="@a/b")),
    "list the default federation's run series": (
        "list-run-series", control_pb2.ListRunSeriesRequest(federation_id=DEFAULT)),
    "list another federation's run series": (
        "list-run-series", control_pb2.ListRunSeriesRequest(federation_id=OTHER)),
    "get an unknown run series": ("get-run-series", control_pb2.GetRunSeriesRequest(series_id=7)),
    "automation without a series": ("start-automation", control_pb2.StartAutomationRequest()),
    "automation of zero runs": ("start-automation", control_pb2.StartAutomationRequest(
        start_run_request=control_pb2.StartRunRequest(series_id=1), max_runs=0)),
    "automation of runs without an interval": (
        "start-automation", control_pb2.StartAutomationRequest(
            start_run_request=control_pb2.StartRunRequest(series_id=1), max_runs=3)),
    "list the default federation's automations": (
        "list-automations", control_pb2.ListAutomationsRequest(federation=DEFAULT)),
    "stop an unknown automation": ("stop-automation",
                                   control_pb2.StopAutomationRequest(automation_id=3)),
    "list the default federation's connectors": (
        "list-connectors", control_pb2.ListConnectorsRequest(federation=DEFAULT)),
    "list another federation's connectors": (
        "list-connectors", control_pb2.ListConnectorsRequest(federation=OTHER)),
    "disconnect connector 0": ("disconnect-connector",
                               control_pb2.DisconnectConnectorRequest(federation=DEFAULT)),
    "disconnect an unknown connector": ("disconnect-connector", control_pb2.DisconnectConnectorRequest(
        federation=DEFAULT, connector_id=5)),
    "begin oauth of an unknown connector": ("begin-connector-oauth", control_pb2.BeginConnectorOAuthRequest(
        federation=DEFAULT, connector_ref=" GitHub ", redirect_uri="http://x")),
    "begin oauth without a redirect": ("begin-connector-oauth", control_pb2.BeginConnectorOAuthRequest(
        federation=DEFAULT, connector_ref="github")),
    "complete an unknown oauth session": ("complete-connector-oauth",
                                          control_pb2.CompleteConnectorOAuthRequest(
                                              oauth_session_id="s", code="c", state="t")),
    "complete oauth without a code": ("complete-connector-oauth",
                                      control_pb2.CompleteConnectorOAuthRequest(oauth_session_id="s")),
    "refresh a token": ("refresh-auth-tokens", control_pb2.RefreshAuthTokensRequest(refresh_token="t")),
}
NODE = Node()
REGISTER = fleet_pb2.RegisterNodeFleetRequest(public_key=NODE.public_key).SerializeToString()
CASES = {
    "unknown route": ("/v1/fleet/no-such-route", REGISTER, NODE.headers, {}),
    "no auth headers": ("/v1/fleet/register-node", REGISTER, lambda: {}, {}),
    "bad base64 key": ("/v1/fleet/register-node", REGISTER,
                       lambda: {**NODE.headers(), "flwr-public-key": "not base64!"}, {}),
    "bad base64 signature": ("/v1/fleet/register-node", REGISTER,
                             lambda: {**NODE.headers(), "flwr-signature": "QQ="}, {}),
    "signature of another timestamp": (
        "/v1/fleet/register-node", REGISTER,
        lambda: {**NODE.headers(), "flwr-timestamp": NODE.headers(age=1)["flwr-timestamp"]}, {}),
    "stale timestamp": ("/v1/fleet/register-node", REGISTER, lambda: NODE.headers(age=400), {}),
    "timestamp from the future": ("/v1/fleet/register-node", REGISTER, lambda: NODE.headers(age=-60), {}),
    "naive timestamp": ("/v1/fleet/register-node", REGISTER,
                        lambda: {**NODE.headers(), "flwr-timestamp": "2026-01-01T00:00:00"}, {}),
    "body key is not the header key": ("/v1/fleet/register-node", REGISTER,
                                       lambda: Node().headers(), {}),
    "wrong content type": ("/v1/fleet/register-node", REGISTER, NODE.headers,
                           {"content-type": "application/json"}),
    "bad protobuf": ("/v1/fleet/register-node", b"\xff\xff\xff", NODE.headers, {}),
    "heartbeat of an unknown node": (
        "/v1/fleet/send-node-heartbeat",
        heartbeat_pb2.SendNodeHeartbeatRequest(node=node_pb2.Node(node_id=12345),
                                               heartbeat_interval=30).SerializeToString(),
        NODE.headers, {}),
    "control: unknown run": ("/v1/control/stop-run",
                             control_pb2.StopRunRequest(run_id=4242).SerializeToString(), dict, {}),
    "control: ls of an unknown run": ("/v1/control/list-runs",
                                      control_pb2.ListRunsRequest(run_id=4242).SerializeToString(), dict, {}),
    "control: login details": ("/v1/control/get-login-details", b"", dict, {}),
    "control: bad protobuf": ("/v1/control/list-runs", b"\x08", dict, {}),
    "control: register a key that is not a NIST EC key": (
        "/v1/control/register-node", register_node_request(b"not a key"), dict, {}),
    "control: register a location that is not two numbers": (
        "/v1/control/register-node", register_node_request(Node().public_key, location="37.4"), dict, {}),
    "control: register a location out of range": (
        "/v1/control/register-node", register_node_request(Node().public_key, location="91,0"), dict, {}),
    "control: unregister an unknown node": (
        "/v1/control/unregister-node", control_pb2.UnregisterNodeRequest(node_id=4242).SerializeToString(),
        dict, {}),
    # Every Control route with a few requests, as flwr's NoOp federation manager answers them.
    **{f"control: empty {route}": (f"/v1/control/{route}", b"", dict, {}) for route in CONTROL_ROUTES},
    **{f"control: {name}": (f"/v1/control/{route}", request.SerializeToString(), dict, {})
       for name, (route, request) in CONTROL_REQUESTS.items()},
    # Empty, truncated and large bodies.
    "empty body: register": ("/v1/fleet/register-node", b"", NODE.headers, {}),
    "empty body: heartbeat": ("/v1/fleet/send-node-heartbeat", b"", NODE.headers, {}),
    "empty body: pull": ("/v1/fleet/pull-messages", b"", NODE.headers, {}),
    "empty body: push": ("/v1/fleet/push-messages", b"", NODE.headers, {}),
    "empty body: control stop": ("/v1/control/stop-run", b"", dict, {}),
    "truncated protobuf": ("/v1/fleet/register-node", REGISTER[:-3], NODE.headers, {}),
    "8 MiB of garbage": ("/v1/fleet/register-node", bytes(range(256)) * (32 << 10), NODE.headers, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_status_and_body_as_the_stock_superlink(case: str, superlinks) -> None:
    path, body, headers, extra = CASES[case]
    ours, stock = both(superlinks, path, body, {**headers(), **extra})
    # The `now` of a reply (show-federation) differs.
    now = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00")
    assert (ours[0], now.sub("NOW", ours[1])) == (stock[0], now.sub("NOW", stock[1])), case


@pytest.mark.parametrize("route,reply", [("list-runs", control_pb2.ListRunsResponse),
                                         ("list-nodes", control_pb2.ListNodesResponse)])
def test_empty_control_listing_as_stock(route: str, reply, superlinks) -> None:
    """An empty request lists everything (no runs here; of the nodes other cases registered,
    their statuses); the reply carries the server's now."""
    answers = {}
    for kind, url in superlinks[0].items():
        response = httpx.post(f"{url}/v1/control/{route}", content=b"", headers=PROTOBUF, timeout=30)
        assert response.status_code == 200, (kind, response.text)
        answer = reply.FromString(response.content)
        assert datetime.datetime.fromisoformat(answer.now).tzinfo is not None
        answer.ClearField("now")
        answers[kind] = (sorted(node.status for node in answer.nodes_info)
                         if route == "list-nodes" else answer)
    assert answers["cpp"] == answers["python"]


def raw_post(url: str, path: str, head: bytes, content_length: int) -> bytes:
    """POST `head` as the start of a body of `content_length` bytes, end the sending side, and
    read what the server answers until it closes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
                     f"Content-Type: application/protobuf\r\nContent-Length: {content_length}\r\n"
                     "\r\n".encode() + head)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


@pytest.mark.parametrize("sent,declared", [(10, len(REGISTER)), (0, 600_000_000)],
                         ids=["body shorter than its Content-Length", "body never sent"])
def test_truncated_transfer_is_dropped_as_stock(sent: int, declared: int, superlinks) -> None:
    """A body that ends before its Content-Length: no request is served, the connection closes
    without an answer (as uvicorn does), and the server keeps serving."""
    urls, _ = superlinks
    answers = {kind: raw_post(url, "/v1/fleet/register-node", REGISTER[:sent], declared)
               for kind, url in urls.items()}
    assert answers == {"cpp": b"", "python": b""}
    assert httpx.get(urls["cpp"] + "/health").status_code == 200


def test_start_run_with_a_fab_that_is_not_a_zip(superlinks) -> None:
    """A divergence on purpose: the stock SuperLink lets zipfile.BadZipFile escape (500
    "Internal server error."); ours names the problem with the catalogue's invalid-run-config
    error, as stock does for every other bad FAB."""
    request = control_pb2.StartRunRequest()
    request.fab.content = b"not a zip"
    ours, stock = both(superlinks, "/v1/control/start-run", request.SerializeToString())
    assert stock == (500, json.dumps({"detail": "Internal server error."}, separators=(",", ":")))
    assert ours[0] == 412, ours
    body = json.loads(ours[1])
    assert body["code"] == 15 and body["detail"] == "Invalid run configuration.", body


def test_get_is_405_as_stock(superlinks) -> None:
    ours, stock = both(superlinks, "/v1/fleet/register-node", method="GET")
    assert ours == stock
    assert ours[0] == 405


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT"])
def test_health_as_stock(method: str, superlinks) -> None:
    urls, _ = superlinks
    answers = {kind: httpx.request(method, url + "/health") for kind, url in urls.items()}
    for response in answers.values():
        response.headers.pop("date", None)
        response.headers.pop("server", None)
    assert answers["cpp"].status_code == answers["python"].status_code
    assert answers["cpp"].content == answers["python"].content
    assert answers["cpp"].headers.get("allow") == answers["python"].headers.get("allow")


def test_a_node_cannot_act_for_another(superlinks) -> None:
    urls, _ = superlinks
    for kind, url in urls.items():
        mallory, alice = Node(), Node()
        register(url, mallory)
        alice_id = register(url, alice)
        body = heartbeat_pb2.SendNodeHeartbeatRequest(node=node_pb2.Node(node_id=alice_id),
                                                      heartbeat_interval=30).SerializeToString()
        assert call(url, "/v1/fleet/send-node-heartbeat", body, mallory.headers()) == (
            401, json.dumps({"detail": "Invalid SuperNode authentication"}, separators=(",", ":"))), kind
        status, text = call(url, "/v1/fleet/send-node-heartbeat", body, alice.headers())
        assert status == 200, (kind, text)
        assert heartbeat_pb2.SendNodeHeartbeatResponse.FromString(
            httpx.post(url + "/v1/fleet/send-node-heartbeat", content=body,
                       headers={**PROTOBUF, **alice.headers()}).content).success


def test_heartbeat_interval_out_of_range_is_the_stock_error(superlinks) -> None:
    urls, _ = superlinks
    answers = {}
    for kind, url in urls.items():
        node = Node()
        node_id = register(url, node)
        body = heartbeat_pb2.SendNodeHeartbeatRequest(node=node_pb2.Node(node_id=node_id),
                                                      heartbeat_interval=5).SerializeToString()
        answers[kind] = call(url, "/v1/fleet/send-node-heartbeat", body, node.headers())
    assert answers["cpp"] == answers["python"]
    assert answers["cpp"][0] == 400


def test_registered_node_keeps_its_name_and_location_as_stock(superlinks) -> None:
    """`flwr supernode register --name --location` (1.42): both SuperLinks list the node with
    them, then refuse the key a second time alike."""
    urls, _ = superlinks
    answers = {}
    for kind, url in urls.items():
        body = register_node_request(Node().public_key, location="37.4056,-122.0775", name="hospital-a")
        status, text = call(url, "/v1/control/register-node", body)
        assert status == 200, (kind, text)
        response = httpx.post(url + "/v1/control/list-nodes", headers=PROTOBUF, timeout=30)
        nodes = control_pb2.ListNodesResponse.FromString(response.content).nodes_info
        named = [n for n in nodes if b"hospital-a" in n.SerializeToString()]
        assert len(named) == 1, (kind, nodes)
        # NodeInfo's location (12) and name (13), unknown to the primary line's node_pb2.
        assert b"\x62\x1137.4056,-122.0775\x6a\x0ahospital-a" in named[0].SerializeToString(), kind
        answers[kind] = call(url, "/v1/control/register-node", body)
    assert answers["cpp"] == answers["python"]
    assert answers["cpp"][0] == 412


def test_still_serving_after_bad_input(superlinks) -> None:
    urls, procs = superlinks
    assert procs.procs[0][1].poll() is None, procs.logs()
    assert httpx.get(urls["cpp"] + "/health").status_code == 200
    register(urls["cpp"], Node())
