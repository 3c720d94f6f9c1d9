#!/usr/bin/env bash
# Gradient search (s=16, L=50) on the first TASKS OOD tasks from each
# snapshot a run kept (`train --keep-every N`), to choose the checkpoint that
# searches best: validation accuracy does not tell (docs/experiments.md, run
# 41: the best-validation Shift-L checkpoint searched 0.93, its last 0.79).
#
#   bash tools/search_snapshots.sh runs/shift-l-keep200                # every snapshot, 25 tasks
#   TASKS=50 bash tools/search_snapshots.sh runs/shift-l-keep200 1200 1800
#
# Reports go to RUN/snapshot-search/step-NNNNN-ood-TASKS.json (a snapshot
# already searched with the same TASKS is skipped, so an interrupted sweep
# resumes); a summary table is printed at the end. About 10 s per task on
# lavapipe (2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
run="${1:?usage: search_snapshots.sh RUN_DIR [STEP...]}"
shift
TASKS="${TASKS:-25}"
bin="${NLI_BIN:-./target/release/nli-wgpu}"
if [ ! -d "$run/snapshots" ]; then
    echo "no snapshots in $run (train with --keep-every N)" >&2
    exit 1
fi
if [ ! -x "$bin" ]; then
    cargo build --release
fi
if [ $# -gt 0 ]; then
    snaps=()
    for s in "$@"; do
        snaps+=("$run/snapshots/$(printf 'step-%05d' "$s")")
    done
else
    snaps=("$run"/snapshots/step-*)
fi
out="$run/snapshot-search"
mkdir -p "$out"
for snap in "${snaps[@]}"; do
    if [ ! -f "$snap/checkpoint.safetensors" ]; then
        echo "no snapshot $snap" >&2
        exit 1
    fi
    report="$out/$(basename "$snap")-ood-$TASKS.json"
    if [ -f "$report" ]; then
        continue
    fi
    echo "== $(basename "$snap"): gradient search on $TASKS OOD tasks"
    tmp="${report%.json}.tmp.json"
    "$bin" eval --checkpoint "$snap" --methods gradient --splits ood \
        --tasks "$TASKS" --out "$tmp" --quiet
    rm -f "${tmp%.json}.svg" "${tmp%.json}.png"
    mv "$tmp" "$report"
done
echo "snapshot      OOD accuracy (gradient search, $TASKS tasks)   seconds"
for snap in "${snaps[@]}"; do
    report="$out/$(basename "$snap")-ood-$TASKS.json"
    acc=$(grep -m1 '"accuracy"' "$report" | tr -dc '0-9.')
    secs=$(grep -m1 '"seconds"' "$report" | tr -dc '0-9.')
    printf '%-13s %-46s %.0f\n' "$(basename "$snap")" "$acc" "$secs"
done
