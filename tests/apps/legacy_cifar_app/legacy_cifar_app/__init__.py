"""A legacy (flwr.server.strategy) Flower App over the demo's CNN."""
