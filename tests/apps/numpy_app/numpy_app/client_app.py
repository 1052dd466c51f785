"""ClientApp: adds one to every weight and reports how many examples it 'trained' on."""

from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

app = ClientApp()


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Return the received weights plus one."""
    weights = msg.content["arrays"]["w"].numpy() + 1.0
    content = RecordDict(
        {
            "arrays": ArrayRecord({"w": Array(weights)}),
            "metrics": MetricRecord({"num-examples": 10}),
        }
    )
    return Message(content, reply_to=msg)
