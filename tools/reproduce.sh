#!/usr/bin/env bash
# Reproduce the project's results on this machine: train each suite with the
# cpu preset (SPEC §5) for the first STOP_AFTER steps of its schedule (1800
# of 3600 by default; on Shift-P the whole run, whose encoder warm-up ends
# on its loss, about step 2400-2600, and whose language settles about 2000
# steps later), evaluate the best-validation checkpoint (no search and prior
# search on the fixed ID and OOD test sets, gradient search on the first
# SEARCH_TASKS tasks of each), inspect it, and export the small model that
# ships under models/. Logs and reports go to runs/<suite>-cpu/.
#
#   bash tools/reproduce.sh                         # all three suites
#   SUITES="shift-l" bash tools/reproduce.sh
#   SEARCH_TASKS=200 bash tools/reproduce.sh        # gradient search on every task
#
# Times on lavapipe (2 cores): about 35 minutes of training per suite (75
# on Shift-P) and about 10 seconds of gradient search per task (s=16, L=50;
# 10-20 on Shift-P, whose search runs 12-slot programs on its 3-slot model).
set -euo pipefail
cd "$(dirname "$0")/.."
SUITES="${SUITES:-shift-l shift-p comp-i}"
EVAL_TASKS="${EVAL_TASKS:-200}"
SEARCH_TASKS="${SEARCH_TASKS:-50}"
cargo build --release
bin=./target/release/nli-wgpu
for suite in $SUITES; do
    run="runs/${suite}-cpu"
    if [ "$suite" = shift-p ]; then
        stop="${STOP_AFTER:-}"
    else
        stop="${STOP_AFTER:-1800}"
    fi
    mkdir -p "$run"
    if [ -f "$run/checkpoint.safetensors" ]; then
        resume="--resume"
    else
        resume=""
    fi
    echo "== $suite: training into $run"
    /usr/bin/time -v "$bin" train --suite "$suite" --preset cpu --out "$run" \
        ${stop:+--stop-after "$stop"} $resume --quiet \
        2> >(tee "$run/train.stderr" >&2) | tee "$run/train.log"
    # Late, low-temperature steps can destabilise a run: evaluate and ship
    # the checkpoint with the best validation accuracy.
    model="$run/best"
    [ -f "$model/checkpoint.safetensors" ] || model="$run"
    echo "== $suite: evaluating $model"
    "$bin" eval --checkpoint "$model" --methods none,prior --tasks "$EVAL_TASKS" \
        --quiet --out "$run/eval-none-prior.json" | tee "$run/eval-none-prior.txt"
    "$bin" eval --checkpoint "$model" --methods gradient --tasks "$SEARCH_TASKS" \
        --quiet --out "$run/eval-gradient.json" | tee "$run/eval-gradient.txt"
    "$bin" inspect --checkpoint "$model" | tee "$run/inspect.txt"
    "$bin" export --checkpoint "$model" --out "models/$suite"
done
