#!/usr/bin/env bash
# Kernel benchmarks on the GPU adapter and the same matmuls with numpy/BLAS on
# this machine, then the ratio per matmul shape (GPU GFLOP/s / BLAS GFLOP/s).
#
#   bash tools/bench.sh           # everything: bench/results/{kernels,blas}.json
#   bash tools/bench.sh matmul    # only the benchmark rows matching "matmul"
#
# Other work on the machine skews both sides: run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench --bench kernels -- "${1:-}"
echo
# The CPU reference needs numpy (from PyPI).
python3 -c "import numpy" 2>/dev/null || python3 -m pip install --quiet numpy
# A forced OpenBLAS core type picks slower kernels than the CPU has.
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 tools/blas_matmul.py
echo
python3 - <<'PY'
import json

gpu = json.load(open("bench/results/kernels.json"))
blas = json.load(open("bench/results/blas.json"))
ref = {(r["pass"], r["shape"]): r["rate"] for r in blas["results"]}
print(f"GPU: {gpu['adapter']} ({gpu['date']})   BLAS: {blas['library']} {blas['blas']}")
print(f"{'pass':<10} {'shape':<28} {'GPU GFLOP/s':>12} {'BLAS GFLOP/s':>13} {'ratio':>7}")
for r in gpu["results"]:
    if r["kernel"] != "matmul":
        continue
    b = ref.get((r["pass"], r["shape"]))
    if b is None:
        continue
    print(f"{r['pass']:<10} {r['shape']:<28} {r['rate']:>12.2f} {b:>13.2f} {r['rate'] / b:>7.1%}")
PY
