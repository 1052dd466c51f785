"""Prometheus /metrics of our SuperLink and SuperNodes (`--metrics-address`), scraped over HTTP
after a real run driven by the stock `flwr` CLI: runs by status, nodes by status, API calls by
route and code with their latency, Flower Messages and bytes in and out, object store size."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from harness import IN_PROCESS, free_port, superlink_argv, wait_for_port, wait_for_superlink
from test_supernode import Federation, app_dir  # noqa: F401  (fixture)


def scrape(port: int) -> dict[str, float]:
    """{'name{labels}': value} of one /metrics page (comments skipped)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


def total(samples: dict[str, float], pattern: str) -> float:
    return sum(v for k, v in samples.items() if re.fullmatch(pattern, k))


def test_superlink_and_supernode_metrics_after_a_run(tmp_path: Path, build_dir: Path, app_dir: Path) -> None:  # noqa: F811
    fed = Federation(tmp_path, build_dir, "cpp")
    link_metrics = free_port()
    try:
        argv = superlink_argv("cpp", fed.ports, fed.database, build_dir / "superlink/flower-superlink")
        link = fed.procs.start("superlink", argv + ["--metrics-address", f"127.0.0.1:{link_metrics}"])
        wait_for_superlink(fed.ports, link)
        wait_for_port(link_metrics, proc=link)
        node_metrics = []
        for i in range(2):
            node_metrics.append(free_port())
            node = fed.start_node(f"node{i}", "cpp", f"partition-id={i} num-partitions=2",
                                  extra=["--metrics-address", f"127.0.0.1:{node_metrics[-1]}"])
            wait_for_port(node_metrics[-1], proc=node)

        run_id = fed.run(app_dir)
        assert fed.finish(run_id)["status"] == "finished:completed", fed.procs.logs()

        link_samples = scrape(link_metrics)
        assert link_samples['flwr_superlink_runs{status="finished:completed"}'] == 1, link_samples
        assert link_samples['flwr_superlink_nodes{status="online"}'] == 2, link_samples
        # 3 rounds x 2 nodes: 6 instructions out to the nodes, 6 replies in from them.
        assert link_samples['flwr_superlink_messages_total{api="fleet",direction="out"}'] == 6, link_samples
        assert link_samples['flwr_superlink_messages_total{api="fleet",direction="in"}'] == 6, link_samples
        # The line's transports: gRPC routes and codes (1.36) or HTTP paths and statuses (1.42).
        if IN_PROCESS.http_fleet:
            fleet_pull = r'api="fleet",code="200",route="/v1/fleet/pull-messages"'
        else:
            fleet_pull = r'api="fleet",code="OK",route="/flwr\.proto\.Fleet/PullMessages"'
        if IN_PROCESS.http_control:
            start_run = r'api="control",code="200",route="/v1/control/start-run"'
        else:
            start_run = r'api="control",code="OK",route="/flwr\.proto\.Control/StartRun"'
        assert total(link_samples, rf'flwr_superlink_requests_total\{{{fleet_pull}\}}') > 0, link_samples
        assert total(link_samples, rf'flwr_superlink_requests_total\{{{start_run}\}}') == 1, link_samples
        assert total(link_samples, r'flwr_superlink_requests_total\{api="runtime",code="200",route="/v1/runtime/push-messages"\}') >= 3
        assert total(link_samples, r'flwr_superlink_bytes_total\{api="fleet",direction="in"\}') > 3 * 2 * 4000  # 1000 float32 each
        assert total(link_samples, r'flwr_superlink_request_duration_seconds_count\{.*\}') > 0
        assert "flwr_superlink_objects" in link_samples
        # One batch of instructions per round: rounds 2 and 3 each end an interval.
        assert link_samples["flwr_superlink_round_seconds_count"] == 2, link_samples
        assert link_samples["flwr_superlink_round_seconds_sum"] > 0, link_samples
        # Every signed Fleet call was checked once, on either transport, and the checks took
        # CPU time (each an ECDSA P-384 verification: well over 10 us).
        fleet_calls = total(link_samples, r'flwr_superlink_requests_total\{api="fleet",.*\}')
        checks = link_samples["flwr_superlink_fleet_signature_checks"]
        assert checks == fleet_calls > 0, link_samples
        assert link_samples["flwr_superlink_fleet_signature_check_cpu_seconds"] > checks * 10e-6, link_samples

        for port in node_metrics:
            node_samples = scrape(port)
            # Its ClientApps pulled 3 instructions and pushed 3 replies through its Runtime API.
            assert total(node_samples, r'flwr_supernode_requests_total\{api="runtime",code="200",route="/v1/runtime/push-messages"\}') == 3, node_samples
            assert node_samples['flwr_supernode_messages_total{api="runtime",direction="in"}'] == 3, node_samples
    finally:
        fed.procs.stop_all()


def test_bad_metrics_address_is_a_clear_error(tmp_path: Path, build_dir: Path) -> None:
    fed = Federation(tmp_path, build_dir, "cpp")
    argv = superlink_argv("cpp", fed.ports, fed.database, build_dir / "superlink/flower-superlink")
    proc = fed.procs.start("superlink", argv + ["--metrics-address", "nonsense"])
    assert proc.wait(timeout=30) != 0
    assert "invalid metrics address 'nonsense'" in fed.procs.log("superlink")
