#!/usr/bin/env python3
"""Time the matmul shapes of `cargo bench --bench kernels` with numpy (float32,
BLAS) on this machine: the CPU reference the GPU kernels are compared with.

    python3 tools/blas_matmul.py            # prints a table, writes bench/results/blas.json

Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (tools/bench.sh does):
a forced core type makes OpenBLAS pick slower kernels than the CPU supports.
Each shape is timed as the median of repeated calls after a warm-up, for the
same three products as the benchmark: forward X @ W, dX = dY @ W^T and
dW = X^T @ dY (numpy takes the transposes as strides, like the GPU kernels).
"""

import datetime
import json
import os
import platform
import statistics
import sys
import time

try:
    import numpy as np
except ImportError:
    sys.exit("numpy is missing: pip install numpy")

# Same list as bench/kernels.rs: (rows, in, out) of the model's linear layers.
MODEL_SHAPES = [
    (6656, 64, 64),
    (6656, 64, 256),
    (6656, 256, 64),
    (2560, 64, 64),
    (2560, 64, 256),
    (2560, 256, 64),
    (2560, 64, 10),
    (2560, 10, 64),
]


def median_seconds(fn, min_total=0.2, min_reps=10):
    """Median time of fn() over at least min_reps calls and min_total seconds."""
    for _ in range(3):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_total:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def blas_info():
    try:
        from threadpoolctl import threadpool_info

        return [
            {k: v for k, v in info.items() if k in ("internal_api", "version", "architecture", "num_threads")}
            for info in threadpool_info()
            if info.get("user_api") == "blas"
        ]
    except ImportError:
        return "threadpoolctl not installed (pip install threadpoolctl)"


def main():
    rng = np.random.default_rng(1)
    rows = []

    def add(pass_, shape, m, n, k, fn):
        secs = median_seconds(fn)
        gflops = 2.0 * m * n * k / secs / 1e9
        rows.append({"kernel": "matmul", "pass": pass_, "shape": shape, "ms": secs * 1e3, "rate": gflops, "unit": "GFLOP/s"})
        print(f"{'matmul':<16} {pass_:<9} {shape:<28} {secs * 1e3:>9.3f} {gflops:>9.2f} GFLOP/s")

    def rand(*shape):
        return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)

    print(f"numpy {np.__version__}, BLAS: {blas_info()}")
    print(f"{'kernel':<16} {'pass':<9} {'shape':<28} {'ms':>9} {'rate':>9}")
    a, b = rand(512, 512), rand(512, 512)
    add("forward", "512x512 @ 512x512", 512, 512, 512, lambda: a @ b)
    for m, k, n in MODEL_SHAPES:
        x, w, dy = rand(m, k), rand(k, n), rand(m, n)
        add("forward", f"{m}x{k} @ {k}x{n}", m, n, k, lambda: x @ w)
        add("dX=dY.W^T", f"{m}x{n} @ ({k}x{n})^T", m, k, n, lambda: dy @ w.T)
        add("dW=X^T.dY", f"({m}x{k})^T @ {m}x{n}", k, n, m, lambda: x.T @ dy)

    report = {
        "library": f"numpy {np.__version__}",
        "blas": blas_info(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "env": {v: os.environ.get(v) for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS")},
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "results": rows,
    }
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.normpath(os.path.join(out_dir, "blas.json"))
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
