"""ServerApp, the twin of the native "numpy-fedavg" (serverapp/src/native_server_app.cc):
the stock FedAvg from float32 zeros of `array-size`."""

import numpy as np

from flwr.app import Array, ArrayRecord, Context
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run FedAvg for `num-server-rounds` rounds."""
    cfg = context.run_config
    strategy = FedAvg(
        fraction_train=float(cfg["fraction-train"]),
        fraction_evaluate=float(cfg["fraction-evaluate"]),
        min_available_nodes=int(cfg["min-available-nodes"]),
    )
    arrays = ArrayRecord({"w": Array(np.zeros(int(cfg["array-size"]), dtype=np.float32))})
    result = strategy.start(grid=grid, initial_arrays=arrays, num_rounds=int(cfg["num-server-rounds"]))
    print(f"final mean weight {float(result.arrays['w'].numpy().mean()):.3f}")
