#!/usr/bin/env bash
# Training runs on a machine with a real GPU (prepared with
# tools/gpu_pack.sh), side by side, each stopped after a time limit, then an
# evaluation of each run's best checkpoint.
#
#   OUT=dir bash tools/gpu_runs.sh SECONDS 'name: train flags' ...
#
# Each run trains into runs/<name> (`nli-wgpu train --quiet --out runs/<name>
# <flags>`); one still going after SECONDS stops there, its metrics and
# checkpoints kept. Then, for every run with a best checkpoint, side by
# side: `eval --checkpoint runs/<name>/best --methods none` on EVAL_TASKS
# tasks per split (default 200), then every method of the model's kind on
# SEARCH_TASKS (default: EVAL_TASKS), together within EVAL_SECONDS (default
# 120); the first report stands if the second runs out of time. Writes to $OUT: runs.txt (what ran, exit codes, last
# metrics), metrics.tar.gz (config, metrics, logs and eval reports of every
# run), best.tar.gz and final.tar.gz (the checkpoints).
set -u
cd "$(dirname "$0")/.."
out=${OUT:-gpu-runs}
mkdir -p "$out"
source tools/gpu_setup.sh
train_s=$1
shift
summary="$out/runs.txt"
names=()
for spec in "$@"; do
  name=${spec%%:*}
  flags=${spec#*:}
  if [[ "$spec" != *:* || ! "$name" =~ ^[A-Za-z0-9._-]+$ ]]; then
    echo "gpu_runs.sh: '$spec' is not 'name: train flags' (name: letters, digits, . _ -)" >&2
    exit 2
  fi
  names+=("$name")
  rm -rf "runs/$name"
  mkdir -p "runs/$name"
  echo "$name: nli-wgpu train --quiet --out runs/$name$flags" >>"$summary"
  # shellcheck disable=SC2086 # the flags are words
  (
    timeout "$train_s" "$nli" train --quiet --out "runs/$name" $flags >"runs/$name/train.log" 2>&1
    echo "exit $?" >>"runs/$name/train.log"
  ) &
done
t0=$SECONDS
wait
echo "training: $((SECONDS - t0)) s" >>"$summary"
t0=$SECONDS
for name in "${names[@]}"; do
  if [ -e "runs/$name/best" ]; then
    (
      timeout "${EVAL_SECONDS:-120}" "$nli" eval --checkpoint "runs/$name/best" --quiet \
        --methods none --tasks "${EVAL_TASKS:-200}" --out "runs/$name/eval-best-none.json"
      left=$((${EVAL_SECONDS:-120} - (SECONDS - t0)))
      if [ "$left" -gt 0 ]; then # (timeout 0 would mean no limit)
        timeout "$left" "$nli" eval --checkpoint "runs/$name/best" --quiet \
          --tasks "${SEARCH_TASKS:-${EVAL_TASKS:-200}}" --out "runs/$name/eval-best.json"
      fi
    ) >"runs/$name/eval.log" 2>&1 &
  fi
done
wait
echo "evaluation: $((SECONDS - t0)) s" >>"$summary"
for name in "${names[@]}"; do
  {
    echo "== $name: $(tail -1 "runs/$name/train.log")"
    tail -1 "runs/$name/metrics.jsonl" 2>/dev/null
    cat "runs/$name/best.json" 2>/dev/null && echo
    grep -A6 "^method" "runs/$name/eval.log" 2>/dev/null
  } >>"$summary"
done
cat "$summary"
dirs=("${names[@]/#/runs/}")
tar czf "$out/metrics.tar.gz" --exclude='*.safetensors' --exclude=best "${dirs[@]}"
tar czf "$out/best.tar.gz" "${dirs[@]/%//best}" 2>/dev/null
tar czf "$out/final.tar.gz" "${dirs[@]/%//checkpoint.safetensors}" 2>/dev/null
