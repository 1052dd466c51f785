#!/usr/bin/env bash
# The README's main command: a local federation of the demo, Python-free at run time.
#
#   C++ flower-superlink  (runs the native FedAvg ServerApp itself)
#   N C++ flower-supernodes (each runs the libtorch ClientApp for its CIFAR-10 partition)
#   started by the stock `flwr run ./demo local --stream` of a pinned flwr line
#
# It sets up and builds first, uses real CIFAR-10 when data/cifar-10-batches-bin holds it and a
# generated SYNTHETIC CIFAR-format set otherwise (said on screen), shows the per-round progress
# and the final accuracy, and stops everything it started.
#
# Environment: FLWR_LINE (1.42.0: the SuperLink's one HTTP port for Control and Fleet, HTTP
# SuperNodes; 1.36.0: gRPC Control and Fleet, SuperNodes with --grpc-rere), NODES (2), ROUNDS (3),
# BASE_PORT (8000, where the app's `local` connection points: the HTTP port on 1.42, the gRPC
# Control API on 1.36; the other ports follow it), DATA_DIR (data/cifar-10-batches-bin),
# SYNTHETIC_PER_BATCH (1000). Extra arguments go to `flwr run` (e.g. --run-config "local-epochs=2").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
scripts/build.sh

LINE="${FLWR_LINE:-1.42.0}"
NODES="${NODES:-2}"
ROUNDS="${ROUNDS:-3}"
BASE_PORT="${BASE_PORT:-8000}"
DATA_DIR="${DATA_DIR:-$ROOT/data/cifar-10-batches-bin}"
BUILD="${FLWR_BUILD_DIR:-$ROOT/build}"
WORK="$ROOT/.demo"
if [[ "$LINE" == "$("$ROOT/scripts/setup.sh" --pins | head -1)" ]]; then
  VENV="$ROOT/.venv"
else
  VENV="$ROOT/.venv-$LINE"
fi
[[ -x "$VENV/bin/flwr" ]] || { echo "demo: no stock flwr $LINE in $VENV (flower-version.txt)" >&2; exit 1; }
minor=$(echo "$LINE" | cut -d. -f2)
if ((minor >= 40)); then
  # One HTTP port: Control (the CLI), Fleet (the SuperNodes), Runtime.
  HTTP_PORT=$BASE_PORT FIRST_NODE_PORT=$((BASE_PORT + 1))
  LINK_ARGS=(--port "$HTTP_PORT" --disable-grpc-apis)
  NODE_ARGS=(--superlink "127.0.0.1:$HTTP_PORT")
else
  CONTROL_PORT=$BASE_PORT HTTP_PORT=$((BASE_PORT + 1)) FLEET_PORT=$((BASE_PORT + 2))
  FIRST_NODE_PORT=$((BASE_PORT + 3))
  LINK_ARGS=(--port "$HTTP_PORT" --fleet-api-address "127.0.0.1:$FLEET_PORT"
    --control-api-address "127.0.0.1:$CONTROL_PORT")
  NODE_ARGS=(--grpc-rere --superlink "127.0.0.1:$FLEET_PORT")
fi

for port in $(seq "$BASE_PORT" $((FIRST_NODE_PORT + NODES - 1))); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is in use; stop what listens there or set BASE_PORT" >&2
    exit 1
  fi
done

RUN_CONFIG="num-server-rounds=$ROUNDS fraction-fit=1.0 min-available-nodes=$NODES"
if [[ -f "$DATA_DIR/data_batch_1.bin" && ! -f "$DATA_DIR/SYNTHETIC.txt" ]]; then
  echo "demo: using the real CIFAR-10 in $DATA_DIR"
else
  DATA_DIR="$WORK/synthetic-cifar-10"
  if [[ ! -f "$DATA_DIR/SYNTHETIC.txt" ]]; then
    .venv/bin/python scripts/gen_synthetic_cifar.py --out "$DATA_DIR" \
      --train-per-batch "${SYNTHETIC_PER_BATCH:-1000}" --test 1000 >/dev/null
  fi
  echo "demo: *** no CIFAR-10 in data/cifar-10-batches-bin: using a SYNTHETIC CIFAR-format set"
  echo "demo: *** ($DATA_DIR; generated, learnable, not real images; SGD lr 0.01 for it)"
  RUN_CONFIG="$RUN_CONFIG lr=0.01"
fi

rm -rf "$WORK/flwr_home" "$WORK/logs" "$WORK/demo"
mkdir -p "$WORK/flwr_home" "$WORK/logs"
export FLWR_HOME="$WORK/flwr_home" FLWR_TELEMETRY_ENABLED=0 FLWR_DISABLE_UPDATE_CHECK=1
# A fresh copy of the app: the CLI's first `flwr run` moves the app's federations (local, liqo)
# from demo/pyproject.toml into $FLWR_HOME/config.toml and comments them out in the file.
cp -r demo "$WORK/demo"
find "$WORK/demo" -name __pycache__ -prune -exec rm -rf {} +
sed -i "s/127.0.0.1:8000/127.0.0.1:$BASE_PORT/" "$WORK/demo/pyproject.toml"
# One libtorch thread per ClientApp: the nodes share this machine's cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( $(nproc) / NODES > 0 ? $(nproc) / NODES : 1 ))}"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$BUILD/superlink/flower-superlink" --insecure --host 127.0.0.1 "${LINK_ARGS[@]}" \
  >"$WORK/logs/superlink.log" 2>&1 &
PIDS+=($!)
for ((i = 0; i < NODES; i++)); do
  "$BUILD/supernode/flower-supernode" --insecure "${NODE_ARGS[@]}" \
    --host 127.0.0.1 --port $((FIRST_NODE_PORT + i)) \
    --node-config "partition-id=$i num-partitions=$NODES data-path=\"$DATA_DIR\"" \
    >"$WORK/logs/supernode$i.log" 2>&1 &
  PIDS+=($!)
done
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$BASE_PORT") 2>/dev/null && break
  sleep 0.1
done
echo "demo: C++ SuperLink and $NODES C++ SuperNodes up, Flower $LINE line (logs in $WORK/logs);" \
  "starting the run"

cd "$WORK"
"$VENV/bin/flwr" run ./demo local --stream --run-config "$RUN_CONFIG" "$@" | tee "$WORK/logs/run.log"
status=$("$VENV/bin/flwr" ls local --format json | "$VENV/bin/python" -c \
  'import json,sys; print(json.load(sys.stdin)["runs"][0]["status"])')
accuracy=$(grep -o "eval_acc [0-9.]*" "$WORK/logs/run.log" | tail -1 | cut -d' ' -f2 || true)
echo
echo "demo: run $status; final accuracy ${accuracy:-unknown} on the held-out split"
echo "demo: final model: $(grep -o '/[^ ]*final_model.pt' "$WORK/logs/run.log" | tail -1 || true)"
[[ "$status" == "finished:completed" ]]
