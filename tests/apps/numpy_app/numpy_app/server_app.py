"""ServerApp: sends an array to every node each round and averages what comes back."""

import time

import numpy as np

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run `num-server-rounds` rounds of train + average."""
    rounds = int(context.run_config["num-server-rounds"])
    min_nodes = int(context.run_config["min-nodes"])
    size = int(context.run_config["array-size"])
    # Faults tests: aggregate the replies that came and go on (as FedAvg with accept_failures).
    accept_failures = bool(context.run_config["accept-failures"])
    weights = np.zeros(size, dtype=np.float32)
    node_ids: list[int] = []
    while len(node_ids) < min_nodes:
        node_ids = sorted(grid.get_node_ids())
        time.sleep(0.5)
    for server_round in range(1, rounds + 1):
        content = RecordDict(
            {
                "arrays": ArrayRecord({"w": Array(weights)}),
                "config": ConfigRecord({"server-round": server_round}),
            }
        )
        messages = [
            Message(content, dst_node_id=node_id, message_type="train", group_id=str(server_round))
            for node_id in node_ids
        ]
        replies = list(grid.send_and_receive(messages))
        errors = [r.error for r in replies if r.has_error()]
        if errors and not accept_failures:
            raise RuntimeError(f"round {server_round}: error replies {errors}")
        if errors:
            print(f"round {server_round}: {len(errors)} error replies: {[e.reason for e in errors]}")
        replies = [r for r in replies if not r.has_error()]
        if not replies:
            continue
        updates = [r.content["arrays"]["w"].numpy() for r in replies]
        weights = np.mean(updates, axis=0).astype(np.float32)
        print(f"round {server_round}: {len(replies)} replies, mean weight {float(weights.mean()):.3f}")
        time.sleep(float(context.run_config["round-sleep"]))
    print(f"final mean weight {float(weights.mean()):.3f}")
