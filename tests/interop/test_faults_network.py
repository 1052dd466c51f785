"""Network faults with real processes: a SuperNode cut off the network mid-run.

The test makes its own network namespace joined to the host by a veth pair (no traffic leaves
the machine): our SuperLink listens for the Fleet API on the host end, one C++ SuperNode runs on
loopback, the other inside the namespace. Mid-run the test takes the link down, and checks what
a Flower user sees: the cut node's heartbeats expire and `flwr supernode ls` shows it offline;
the ServerApp gets a "node unavailable" error reply for it and its round ends as the strategy
says (here: aggregate the replies that came, as FedAvg with accept_failures); when the link
returns, the node's heartbeats get through again, it shows online and its replies count again.
Needs root (ip netns), as the CI machine has.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from harness import IN_PROCESS, flwr, free_port, superlink_argv, supernode_argv, wait_for_superlink
from test_supernode import Federation, app_dir  # noqa: F401  (fixture)


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


class VethNamespace:
    """A network namespace with a veth pair: host end HOST_IP, namespace end NS_IP (/30)."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.name = f"flwrt{tag}"
        self.host_if = f"fh{tag}"
        octet = os.getpid() % 250 + 1
        self.host_ip = f"10.253.{octet}.1"
        self.ns_ip = f"10.253.{octet}.2"

    def __enter__(self) -> "VethNamespace":
        sh("ip", "netns", "add", self.name)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", "fn0", "netns", self.name)
        sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")
        sh("ip", "netns", "exec", self.name, "ip", "addr", "add", f"{self.ns_ip}/30", "dev", "fn0")
        sh("ip", "netns", "exec", self.name, "ip", "link", "set", "fn0", "up")
        sh("ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up")
        return self

    def link(self, up: bool) -> None:
        sh("ip", "link", "set", self.host_if, "up" if up else "down")

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def node_status(fed: Federation, node_id: str) -> str:
    result = flwr(fed.env, "supernode", "ls", "--format", "json", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    for node in json.loads(result.stdout)["nodes"]:
        if node["node-id"] == node_id:
            return node["status"]
    return "absent"


def wait_until(what: str, check, fed: Federation, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}\n{fed.procs.logs()}")


def test_node_cut_off_mid_run_goes_offline_and_rejoins(
    tmp_path: Path, build_dir: Path, app_dir: Path  # noqa: F811
) -> None:
    with VethNamespace() as ns:
        fed = Federation(tmp_path, build_dir, "cpp")
        try:
            # The Fleet API on every address of the host, so the namespace reaches it too.
            argv = superlink_argv("cpp", fed.ports, fed.database, build_dir / "superlink/flower-superlink")
            if IN_PROCESS.http_fleet:
                argv[argv.index("--host") + 1] = "0.0.0.0"
            else:
                argv[argv.index("--fleet-api-address") + 1] = f"0.0.0.0:{fed.ports.fleet}"
            wait_for_superlink(fed.ports, fed.procs.start("superlink", argv))

            fed.start_node("near", "cpp", "partition-id=0 num-partitions=2")
            far_argv = supernode_argv(fed.ports.fleet_for(), free_port(), "partition-id=1 num-partitions=2",
                                      kind="cpp", build_dir=build_dir)
            far_argv[far_argv.index("--superlink") + 1] = f"{ns.host_ip}:{fed.ports.fleet_for()}"
            far = fed.procs.start("far", ["ip", "netns", "exec", ns.name, *far_argv])
            wait_until("the far node's ID", lambda: "SuperNode ID:" in fed.procs.log("far"), fed, 60)
            far_id = re.search(r"SuperNode ID: (\d+)", fed.procs.log("far")).group(1)

            run_id = fed.run(app_dir, "num-server-rounds=100000 round-sleep=0.5 accept-failures=true")
            log = lambda: fed.log(run_id)  # noqa: E731
            wait_until("a round with both replies", lambda: re.search(r"round \d+: 2 replies", log()), fed, 120)

            ns.link(up=False)
            cut = time.monotonic()
            # Heartbeats stop arriving: offline after the node's heartbeat interval x patience.
            wait_until("the far node offline", lambda: node_status(fed, far_id) == "offline", fed, 120)
            offline_after = time.monotonic() - cut
            # Its instruction gets an error reply, and the round ends with the one real reply.
            wait_until("a round with an error reply", lambda: "1 error replies" in log(), fed, 60)
            errors = re.findall(r"round (\d+): 1 error replies", log())
            assert errors, log()
            last_error_round = int(errors[-1])
            assert re.search(rf"round {last_error_round}: 1 replies", log()), log()

            ns.link(up=True)
            wait_until("the far node online again", lambda: node_status(fed, far_id) == "online", fed, 120)

            def both_again() -> bool:
                rounds = [int(r) for r in re.findall(r"round (\d+): 2 replies", log())]
                return any(r > last_error_round for r in rounds)

            wait_until("a round with both replies after the link returned", both_again, fed, 120)
            assert far.poll() is None, fed.procs.log("far")
            print(f"far node offline {offline_after:.0f} s after the cut")
        finally:
            try:
                flwr(fed.env, "stop", run_id, timeout=60) if "run_id" in locals() else None
            finally:
                fed.procs.stop_all()
