"""ClientApp, the twin of the native "numpy-echo" (clientapp/cli/src/numpy_echo_app.cc).

With p = node_config "partition-id" (default 0):
  train:    every array + 1, metrics {"train_loss": p + 1, "num-examples": 10 * (p + 1)}
  evaluate: metrics {"eval_loss": mean of all elements, "eval_acc": 0.5 + 0.1 p,
            "num-examples": 10 * (p + 1)}
"""

import numpy as np

from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

app = ClientApp()


def _partition(context: Context) -> int:
    return int(context.node_config.get("partition-id", 0))


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Return every received array plus one."""
    p = _partition(context)
    arrays = ArrayRecord({k: Array(v.numpy() + 1.0) for k, v in msg.content["arrays"].items()})
    metrics = MetricRecord({"train_loss": float(p + 1), "num-examples": 10 * (p + 1)})
    return Message(RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Report the mean weight as the loss."""
    p = _partition(context)
    values = np.concatenate([v.numpy().ravel().astype(np.float64) for v in msg.content["arrays"].values()])
    metrics = MetricRecord(
        {"eval_loss": float(values.mean()), "eval_acc": 0.5 + 0.1 * p, "num-examples": 10 * (p + 1)}
    )
    return Message(RecordDict({"metrics": metrics}), reply_to=msg)
