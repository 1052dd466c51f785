"""ClientApp: adds one to every weight; misbehaves in `fault-round` on partition 0."""

import os
import signal
import time

import numpy as np

from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

app = ClientApp()


@app.train()
def train(msg: Message, context: Context) -> Message:
    server_round = int(msg.content["config"]["server-round"])
    fault = ""
    if int(context.node_config.get("partition-id", -1)) == 0 and server_round == int(context.run_config["fault-round"]):
        fault = context.run_config["fault"]
        print(f"faulty_app: {fault} in round {server_round}", flush=True)
        if fault == "crash":
            os._exit(3)
        if fault == "raise":
            raise ValueError("injected failure")
        if fault == "sleep":
            time.sleep(5.0)
        if fault == "hang":  # the whole process, its heartbeat thread too
            os.kill(os.getpid(), signal.SIGSTOP)
    weights = msg.content["arrays"]["w"].numpy() + 1.0
    if fault == "distinct":  # random weights: no object shared with another reply
        weights = np.random.default_rng().random(weights.size, dtype=np.float32)
    content = RecordDict({"arrays": ArrayRecord({"w": Array(weights)}), "metrics": MetricRecord({"num-examples": 10})})
    return Message(content, reply_to=msg)
