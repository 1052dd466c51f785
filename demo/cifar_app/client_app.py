"""The Python ClientApp: trains and evaluates the CNN on this node's CIFAR-10 partition.

Twin of the C++ flwr-clientapp (clientapp/): the same replies, so a federation may mix both.
train  -> {"arrays": ArrayRecord(state_dict), "metrics": {"train_loss", "num-examples"}}
evaluate -> {"metrics": {"eval_loss", "eval_acc", "num-examples"}}
"""

from __future__ import annotations

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from cifar_app import task

app = ClientApp()


def _partition(context: Context) -> task.Partition:
    """This node's data: data-path from the node config (else the run config)."""
    data_path = str(context.node_config.get("data-path", context.run_config["data-path"]))
    return task.load_data(
        data_path,
        int(context.node_config["partition-id"]),
        int(context.node_config["num-partitions"]),
        int(context.run_config.get("seed", 42)),
    )


def _net(msg: Message) -> task.Net:
    net = task.Net()
    net.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    return net


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Train the received model locally for `local-epochs` and return it with its loss."""
    net = _net(msg)
    data = _partition(context)
    config = msg.content.config_records.get("config", {})
    lr = float(config.get("lr", context.run_config.get("lr", 0.1)))
    train_loss = task.train(
        net,
        data,
        epochs=int(context.run_config.get("local-epochs", 1)),
        lr=lr,
        device=task.device(),
        momentum=float(context.run_config.get("momentum", 0.9)),
        batch_size=int(context.run_config.get("batch-size", 32)),
    )
    metrics = MetricRecord(
        {"train_loss": train_loss, "num-examples": int(data.train_labels.shape[0])}
    )
    content = RecordDict({"arrays": ArrayRecord(net.state_dict()), "metrics": metrics})
    return Message(content=content, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Evaluate the received model on this node's test split."""
    net = _net(msg)
    data = _partition(context)
    eval_loss, eval_acc = task.test(net, data, task.device())
    metrics = MetricRecord(
        {"eval_loss": eval_loss, "eval_acc": eval_acc, "num-examples": int(data.test_labels.shape[0])}
    )
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)
