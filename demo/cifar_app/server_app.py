"""The Python ServerApp: FedAvg over the CNN with the stock message-API strategy.

Twin of the native ServerApp (serverapp/). Reads num-server-rounds, fraction-fit (the demo's
name; fraction-train is accepted too), fraction-evaluate, min-available-nodes, lr and seed
from the run config; saves the final global model as final_model.pt and final_model.npz in
run config `artifacts-dir` if set, else $FLWR_HOME/artifacts/<run-id>/ (as the native one),
with history.json: each round's wall time and aggregated metrics (the native one writes the same).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from cifar_app import task

app = ServerApp()


class TimedFedAvg(FedAvg):
    """FedAvg that notes when each round starts (its train step is configured)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.round_started: dict[int, float] = {}

    def configure_train(self, server_round, arrays, config, grid):  # noqa: D102
        self.round_started[server_round] = time.monotonic()
        return super().configure_train(server_round, arrays, config, grid)


def history(strategy: TimedFedAvg, result, finished: float) -> dict:
    """{"rounds": [{"round", "seconds", "train": {..}, "evaluate": {..}}]}, as the native one."""
    starts = sorted(strategy.round_started.items())
    rounds = []
    for i, (rnd, start) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else finished
        rounds.append({
            "round": rnd,
            "seconds": end - start,
            "train": dict(result.train_metrics_clientapp.get(rnd, {})),
            "evaluate": dict(result.evaluate_metrics_clientapp.get(rnd, {})),
        })
    return {"rounds": rounds}


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run num-server-rounds of FedAvg and save the final model."""
    config = context.run_config
    fraction_train = float(config.get("fraction-train", config.get("fraction-fit", 1.0)))
    min_available = int(config.get("min-available-nodes", 2))
    strategy = TimedFedAvg(
        fraction_train=fraction_train,
        fraction_evaluate=float(config.get("fraction-evaluate", 1.0)),
        min_available_nodes=min_available,
    )
    arrays = ArrayRecord(task.initial_net(int(config.get("seed", 42))).state_dict())
    result = strategy.start(
        grid=grid,
        initial_arrays=arrays,
        train_config=ConfigRecord({"lr": float(config.get("lr", 0.1))}),
        num_rounds=int(config["num-server-rounds"]),
    )
    finished = time.monotonic()
    state_dict = result.arrays.to_torch_state_dict()
    home = Path(os.environ.get("FLWR_HOME", Path.home() / ".flwr"))
    out = Path(str(config.get("artifacts-dir", "")) or home / "artifacts" / str(context.run_id))
    out.mkdir(parents=True, exist_ok=True)
    torch.save(state_dict, out / "final_model.pt")
    np.savez(out / "final_model.npz", **{k: v.numpy() for k, v in state_dict.items()})
    (out / "history.json").write_text(json.dumps(history(strategy, result, finished), indent=2) + "\n")
    print(f"Saved the final model: {out / 'final_model.npz'}, {out / 'final_model.pt'}")
