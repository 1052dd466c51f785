"""The legacy ServerApp: stock `flwr.server.strategy.FedAvg` run by `ServerApp(server_fn=...)`.

It sets no initial parameters, so the legacy Server asks one random client for them
(`get_parameters`); fit and evaluate go to every node (fraction 1.0, at least
`min-available-nodes`), and metrics are averaged weighted by each client's example count.
"""

from __future__ import annotations

from flwr.app import Context
from flwr.common import Metrics
from flwr.server import ServerApp, ServerAppComponents, ServerConfig
from flwr.server.strategy import FedAvg


def weighted_average(results: list[tuple[int, Metrics]]) -> Metrics:
    """Each metric averaged over the clients, weighted by their example counts."""
    total = sum(n for n, _ in results)
    keys = {k for _, metrics in results for k in metrics}
    return {k: sum(n * float(m[k]) for n, m in results if k in m) / total for k in sorted(keys)}


def server_fn(context: Context) -> ServerAppComponents:
    config = context.run_config
    min_nodes = int(config["min-available-nodes"])
    lr = float(config["lr"])

    def fit_config(server_round: int) -> dict[str, float | int]:
        return {"server-round": server_round, "lr": lr}

    strategy = FedAvg(
        fraction_fit=float(config["fraction-fit"]),
        fraction_evaluate=float(config["fraction-evaluate"]),
        min_fit_clients=min_nodes,
        min_evaluate_clients=min_nodes,
        min_available_clients=min_nodes,
        on_fit_config_fn=fit_config,
        fit_metrics_aggregation_fn=weighted_average,
        evaluate_metrics_aggregation_fn=weighted_average,
    )
    return ServerAppComponents(
        strategy=strategy, config=ServerConfig(num_rounds=int(config["num-server-rounds"]))
    )


app = ServerApp(server_fn=server_fn)
