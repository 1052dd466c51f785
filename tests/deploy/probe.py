"""Kubelet-style probes, run inside a network namespace by netns_cluster.py:

    probe.py '[{"handler": "grpc", "host": "10.213.0.10", "port": 9095, "service": ""}, ...]'

prints a JSON list of booleans. grpc: grpc.health.v1.Health/Check answers SERVING (what a
Kubernetes gRPC probe requires); tcpSocket: a TCP connect; httpGet: a status in 200..399.
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.request

import grpc

# HealthCheckResponse{status: SERVING}: field 1, varint 1.
SERVING = b"\x08\x01"


def _health_request(service: str) -> bytes:
    data = service.encode()
    return (b"\x0a" + bytes([len(data)]) + data) if data else b""


def grpc_ok(host: str, port: int, service: str) -> bool:
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            return check(_health_request(service), timeout=2) == SERVING
        except grpc.RpcError:
            return False


def tcp_ok(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def http_ok(host: str, port: int, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=2) as response:
            return 200 <= response.status < 400
    except OSError:
        return False


def main() -> None:
    results = []
    for probe in json.loads(sys.argv[1]):
        host, port = probe["host"], int(probe["port"])
        if probe["handler"] == "grpc":
            results.append(grpc_ok(host, port, probe.get("service", "")))
        elif probe["handler"] == "tcpSocket":
            results.append(tcp_ok(host, port))
        else:
            results.append(http_ok(host, port, probe.get("path", "/")))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
