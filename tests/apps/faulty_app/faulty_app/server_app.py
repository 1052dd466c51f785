"""ServerApp: like numpy_app's, but error replies are counted and logged, not fatal."""

import time

import numpy as np

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    rounds = int(context.run_config["num-server-rounds"])
    min_nodes = int(context.run_config["min-nodes"])
    weights = np.zeros(int(context.run_config["array-size"]), dtype=np.float32)
    node_ids: list[int] = []
    while len(node_ids) < min_nodes:
        node_ids = sorted(grid.get_node_ids())
        time.sleep(0.5)
    for server_round in range(1, rounds + 1):
        content = RecordDict({"arrays": ArrayRecord({"w": Array(weights)}), "config": ConfigRecord({"server-round": server_round})})
        messages = [Message(content, dst_node_id=n, message_type="train", group_id=str(server_round)) for n in node_ids]
        replies = list(grid.send_and_receive(messages))
        errors = sorted(f"{r.error.code}:{r.error.reason}" for r in replies if r.has_error())
        updates = [r.content["arrays"]["w"].numpy() for r in replies if not r.has_error()]
        if updates:
            weights = np.mean(updates, axis=0).astype(np.float32)
        print(f"round {server_round}: {len(updates)} ok, errors {errors}, mean weight {float(weights.mean()):.3f}")
    print(f"final mean weight {float(weights.mean()):.3f}")
