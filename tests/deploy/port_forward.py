"""`kubectl port-forward` for the network-namespace cluster (netns_cluster.py).

    ip netns exec WORKSTATION_NS python port_forward.py LOCAL_PORT POD_NS POD_PORT

listens on 127.0.0.1:LOCAL_PORT in the namespace it starts in (the workstation's), then moves
into the pod's network namespace and relays every connection to 127.0.0.1:POD_PORT there: the
pod's loopback, which is what the kubelet's port-forward reaches. Prints one line when ready.
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000


def enter_netns(name: str) -> None:
    """setns(2) of this thread (and the threads it starts from now on) into /run/netns/NAME."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def forward(client: socket.socket, port: int) -> None:
    with client:
        try:
            upstream = socket.create_connection(("127.0.0.1", port))
        except OSError as err:
            print(f"port_forward: 127.0.0.1:{port} in the pod: {err}", file=sys.stderr, flush=True)
            return
        with upstream:
            back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
            back.start()
            pump(client, upstream)
            back.join()


def main() -> None:
    local_port, pod_ns, pod_port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    server = socket.create_server(("127.0.0.1", local_port))
    enter_netns(pod_ns)  # the listening socket stays in the workstation's namespace
    print(f"Forwarding from 127.0.0.1:{local_port} -> {pod_port}", flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=forward, args=(client, pod_port), daemon=True).start()


if __name__ == "__main__":
    main()
