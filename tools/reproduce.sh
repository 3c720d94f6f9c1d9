#!/usr/bin/env bash
# Reproduce the project's results on this machine: train each suite with the
# cpu preset (SPEC §5), evaluate it (no search, prior search, gradient search
# on the fixed ID and OOD test sets) with the best-validation checkpoint,
# and export the small models that ship
# under models/. Logs and reports go to runs/<suite>-cpu/.
#
#   bash tools/reproduce.sh                 # all three suites
#   SUITES="shift-l" bash tools/reproduce.sh
#   EVAL_TASKS=50 bash tools/reproduce.sh   # smaller test sets, faster
set -euo pipefail
cd "$(dirname "$0")/.."
SUITES="${SUITES:-shift-l shift-p comp-i}"
EVAL_TASKS="${EVAL_TASKS:-200}"
cargo build --release
bin=./target/release/nli-wgpu
for suite in $SUITES; do
    run="runs/${suite}-cpu"
    mkdir -p "$run"
    if [ -f "$run/checkpoint.safetensors" ]; then
        resume="--resume"
    else
        resume=""
    fi
    echo "== $suite: training into $run"
    /usr/bin/time -v "$bin" train --suite "$suite" --preset cpu --out "$run" $resume --quiet \
        2> >(tee "$run/train.stderr" >&2) | tee "$run/train.log"
    # Late, low-temperature steps can destabilise a run: evaluate and ship
    # the checkpoint with the best validation accuracy.
    model="$run/best"
    [ -f "$model/checkpoint.safetensors" ] || model="$run"
    echo "== $suite: evaluating $model"
    "$bin" eval --checkpoint "$model" --tasks "$EVAL_TASKS" --quiet --out "$run/eval.json" | tee "$run/eval.txt"
    "$bin" inspect --checkpoint "$model" | tee "$run/inspect.txt"
    "$bin" export --checkpoint "$model" --out "models/$suite"
done
