#!/usr/bin/env bash
# The paper's Table 1 for this project: train every model (NLI and the
# baselines of BASELINES.md) on every suite with the cpu preset, evaluate
# each one's best-validation checkpoint with its methods, and write the
# table (ours beside the paper's figures) to docs/results/table1.md. Reports
# go to docs/results/table1/<model>-<suite>-*.json, runs to
# runs/<model>-<suite>-cpu/ (runs/<suite>-cpu/ for NLI).
#
#   bash tools/table1.sh                                  # the whole grid
#   MODELS="in-context lpn" SUITES="shift-l" bash tools/table1.sh
#   SEARCH_TASKS=200 bash tools/table1.sh                 # search rows on every task
#
# Already trained runs are resumed (a finished one just re-evaluates), and
# the table is rebuilt from every report present, so the grid can be run in
# parts. On lavapipe (2 cores) a baseline trains at about 0.5 s per step
# (30 minutes for 3600 steps), NLI at about 1.2 s per step.
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS="${MODELS:-in-context lpn d-lpn nli}"
SUITES="${SUITES:-shift-l shift-p comp-i}"
EVAL_TASKS="${EVAL_TASKS:-200}"
SEARCH_TASKS="${SEARCH_TASKS:-100}"
cargo build --release
bin=./target/release/nli-wgpu
reports=docs/results/table1
mkdir -p "$reports"
for model in $MODELS; do
    for suite in $SUITES; do
        if [ "$model" = nli ]; then run="runs/${suite}-cpu"; else run="runs/${model}-${suite}-cpu"; fi
        resume=""
        [ -f "$run/checkpoint.safetensors" ] && resume="--resume"
        echo "== $model $suite: training into $run"
        "$bin" train --model "$model" --suite "$suite" --preset cpu --out "$run" $resume --quiet
        best="$run/best"
        [ -f "$best/checkpoint.safetensors" ] || best="$run"
        echo "== $model $suite: evaluating $best"
        "$bin" eval --checkpoint "$best" --methods none --tasks "$EVAL_TASKS" --quiet \
            --out "$reports/${model}-${suite}-none.json"
        case "$model" in
            in-context) search=ttt ;;
            lpn) search=gradient,gradient-1x100 ;;
            *) search=prior,gradient ;;
        esac
        "$bin" eval --checkpoint "$best" --methods "$search" --tasks "$SEARCH_TASKS" --quiet \
            --out "$reports/${model}-${suite}-search.json"
        cp "$run/metrics.jsonl" "$reports/${model}-${suite}-metrics.jsonl"
    done
done
"$bin" table "$reports"/*.json --out docs/results/table1.md
