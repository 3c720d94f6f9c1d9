//! Kernel microbenchmarks: forward and backward of every kernel family at the
//! model's shapes, timed with GPU timestamps (synchronised wall time when the
//! adapter has none). Prints a table and writes `bench/results/kernels.json`.
//!
//! ```text
//! cargo bench --bench kernels              # everything (about a minute on lavapipe)
//! cargo bench --bench kernels -- matmul    # rows whose kernel, pass or shape contain "matmul"
//! ```
//!
//! Each row is the median of several repetitions after a warm-up (which also
//! compiles the pipelines); a repetition is one submission of enough copies
//! of the work to take about 5 ms, and the row gives the time per copy. Rates: GFLOP/s for matmul and attention (2 flops
//! per multiply-add), GB/s for the memory-bound kernels, counting each
//! tensor the kernels must read or write once.

use std::time::{SystemTime, UNIX_EPOCH};

use nli_wgpu::Ctx;
use nli_wgpu::gpu::DeviceOptions;
use nli_wgpu::gpu::timing::TimingResult;
use nli_wgpu::ops::gumbel::{Gumbel, NoiseKey};
use nli_wgpu::optim::{Adam, AdamConfig};
use nli_wgpu::tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// What a row's rate counts.
#[derive(Clone, Copy)]
enum Work {
    Flops(f64),
    Bytes(f64),
}

struct Row {
    kernel: String,
    pass: &'static str,
    shape: String,
    work: Work,
    timing: TimingResult,
}

impl Row {
    fn ms(&self) -> f64 {
        self.timing.best_ns() / 1e6
    }

    /// (value, unit) of the rate.
    fn rate(&self) -> (f64, &'static str) {
        let secs = self.timing.best_ns() / 1e9;
        match self.work {
            Work::Flops(f) => (f / secs / 1e9, "GFLOP/s"),
            Work::Bytes(b) => (b / secs / 1e9, "GB/s"),
        }
    }
}

struct Bench {
    ctx: Ctx,
    rng: StdRng,
    filter: Option<String>,
    rows: Vec<Row>,
}

const WARMUP: usize = 2;
const REPS: usize = 10;

impl Bench {
    /// Whether the filter (if any) is part of the row's kernel, pass or shape.
    fn wanted(&self, kernel: &str, pass: &str, shape: &str) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| [kernel, pass, shape].iter().any(|s| s.contains(f.as_str())))
    }

    fn tensor(&mut self, shape: &[usize], requires_grad: bool) -> Tensor {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| self.rng.random_range(-1.0..1.0)).collect();
        if requires_grad {
            self.ctx.param(&data, shape)
        } else {
            self.ctx.tensor(&data, shape)
        }
    }

    fn push(
        &mut self,
        kernel: &str,
        pass: &'static str,
        shape: String,
        work: Work,
        timing: TimingResult,
    ) {
        let row = Row {
            kernel: kernel.to_string(),
            pass,
            shape,
            work,
            timing,
        };
        let (rate, unit) = row.rate();
        println!(
            "{:<16} {:<9} {:<28} {:>9.3} {:>9.2} {:<8} ({})",
            row.kernel,
            row.pass,
            row.shape,
            row.ms(),
            rate,
            unit,
            row.timing.source()
        );
        self.rows.push(row);
    }

    /// Time work that can be recorded again and again (a forward pass, or a
    /// backward product called directly). Each timed flush holds `inner`
    /// copies of the work, enough for several milliseconds, so that the cost
    /// of a submission (a few hundred microseconds on lavapipe) is spread
    /// over them as in a training step, which is one submission.
    fn time(
        &mut self,
        kernel: &str,
        pass: &'static str,
        shape: String,
        work: Work,
        mut record: impl FnMut(&Ctx),
    ) {
        if !self.wanted(kernel, pass, &shape) {
            return;
        }
        let ctx = &self.ctx;
        let _no_grad = ctx.no_grad();
        let warm = ctx.gpu.time(WARMUP, || record(ctx));
        let inner = inner_reps(&warm);
        let timing = ctx.gpu.time(REPS, || {
            for _ in 0..inner {
                record(ctx);
            }
        });
        drop(_no_grad);
        self.push(kernel, pass, shape, work, per_call(timing, inner));
    }

    /// Time the backward pass of `forward` (which returns a scalar loss):
    /// each repetition records `inner` forward passes untimed and sums their
    /// losses, then times one `backward` through all of them. The time
    /// includes seeding the loss gradient and the backward of the sums
    /// (kernels on one element).
    fn time_backward(
        &mut self,
        kernel: &str,
        shape: String,
        work: Work,
        forward: impl Fn(&Ctx) -> Tensor,
    ) {
        if !self.wanted(kernel, "backward", &shape) {
            return;
        }
        let ctx = &self.ctx;
        let run = |inner: usize| {
            let loss = (0..inner)
                .map(|_| forward(ctx))
                .reduce(|a, b| ctx.add(&a, &b))
                .expect("inner >= 1");
            ctx.gpu.time(1, || {
                ctx.backward(&loss);
            })
        };
        let mut warm = TimingResult::default();
        for _ in 0..WARMUP {
            warm.extend(run(1));
        }
        let inner = inner_reps(&warm);
        let mut timing = TimingResult::default();
        for _ in 0..REPS {
            timing.extend(run(inner));
        }
        self.push(kernel, "backward", shape, work, per_call(timing, inner));
    }
}

/// Copies of the work per timed flush: enough for about 5 ms, judging by
/// the warm-up (whose first run also compiled the pipelines, so its fastest
/// run is the estimate).
fn inner_reps(warm: &TimingResult) -> usize {
    let fastest_ms = warm.wall_ns.iter().copied().fold(f64::INFINITY, f64::min) / 1e6;
    ((5.0 / fastest_ms).ceil() as usize).clamp(1, 50)
}

/// The times of one copy of work timed `inner` copies at a time.
fn per_call(t: TimingResult, inner: usize) -> TimingResult {
    let scale = |v: Vec<f64>| v.into_iter().map(|x| x / inner as f64).collect();
    TimingResult {
        gpu_ns: t.gpu_ns.map(scale),
        wall_ns: scale(t.wall_ns),
    }
}

fn matmuls(b: &mut Bench) {
    let (m, k, n) = (512, 512, 512);
    let x = b.tensor(&[m, k], false);
    let w = b.tensor(&[k, n], false);
    b.time(
        "matmul",
        "forward",
        format!("{m}x{k} @ {k}x{n}"),
        Work::Flops(2.0 * (m * n * k) as f64),
        |ctx| {
            ctx.matmul(&x, &w);
        },
    );
    // The model's linear layers (cpu preset: D = 64, V = 10, 4D MLP) on
    // 6656 and 2560 rows; backward: dX = dY W^T and dW = X^T dY, the very
    // products the tape records.
    for &(m, k, n) in &[
        (6656, 64, 64),
        (6656, 64, 256),
        (6656, 256, 64),
        (2560, 64, 64),
        (2560, 64, 256),
        (2560, 256, 64),
        (2560, 64, 10),
        (2560, 10, 64),
    ] {
        let flops = Work::Flops(2.0 * (m * n * k) as f64);
        let x = b.tensor(&[m, k], false);
        let w = b.tensor(&[k, n], false);
        let dy = b.tensor(&[m, n], false);
        b.time(
            "matmul",
            "forward",
            format!("{m}x{k} @ {k}x{n}"),
            flops,
            |ctx| {
                ctx.matmul(&x, &w);
            },
        );
        b.time(
            "matmul",
            "dX=dY.W^T",
            format!("{m}x{n} @ ({k}x{n})^T"),
            flops,
            |ctx| {
                ctx.matmul_t(&dy, &w, false, true);
            },
        );
        b.time(
            "matmul",
            "dW=X^T.dY",
            format!("({m}x{k})^T @ {m}x{n}"),
            flops,
            |ctx| {
                ctx.matmul_t(&x, &dy, true, false);
            },
        );
    }
}

fn attention(b: &mut Bench) {
    let (batch, heads, dh) = (128, 4, 16);
    for len in [52, 20] {
        let shape = [batch, len, heads * dh];
        let q = b.tensor(&shape, true);
        let k = b.tensor(&shape, true);
        let v = b.tensor(&shape, true);
        // Q K^T and P V: 2 multiply-adds per (query, key, channel).
        let fwd = 4.0 * (batch * heads * len * len * dh) as f64;
        let label = format!("b{batch} len{len} h{heads} dh{dh}");
        b.time(
            "attention",
            "forward",
            label.clone(),
            Work::Flops(fwd),
            |ctx| {
                ctx.attention(&q, &k, &v, heads, false);
            },
        );
        // dV = P^T dO, dP = dO V^T, dQ = dS K, dK = dS^T Q: twice the forward.
        b.time_backward("attention", label, Work::Flops(2.0 * fwd), |ctx| {
            ctx.sum_all(&ctx.attention(&q, &k, &v, heads, false))
        });
    }
}

fn memory_bound(b: &mut Bench) {
    let f = 4.0; // bytes per f32
    for (rows, cols) in [(2560, 10), (1536, 32)] {
        let logits = b.tensor(&[rows, cols], true);
        let n = (rows * cols) as f64;
        let cfg = Gumbel {
            tau: 1.0,
            noise: Some(NoiseKey {
                seed: 1,
                step: 0,
                stream: 0,
            }),
            hard: false,
        };
        let label = format!("{rows}x{cols}");
        // Reads the logits, writes the soft sample and the output.
        b.time(
            "gumbel_softmax",
            "forward",
            label.clone(),
            Work::Bytes(3.0 * n * f),
            |ctx| {
                ctx.gumbel_softmax(&logits, cfg);
            },
        );
        // Reads the soft sample and dY, writes dlogits.
        b.time_backward("gumbel_softmax", label, Work::Bytes(3.0 * n * f), |ctx| {
            ctx.sum_all(&ctx.gumbel_softmax(&logits, cfg))
        });
    }

    let (groups, inner) = (256, 640);
    let z = b.tensor(&[groups], true);
    let prev = b.tensor(&[groups, 64, 10], true);
    let cand = b.tensor(&[groups, 64, 10], true);
    let n = (groups * inner) as f64;
    let label = format!("{groups}x64x10");
    // Reads prev and cand, writes the output.
    b.time(
        "skip_gate",
        "forward",
        label.clone(),
        Work::Bytes(3.0 * n * f),
        |ctx| {
            ctx.skip_gate(&z, &prev, &cand);
        },
    );
    // Reads dY, prev and cand, writes dprev and dcand.
    b.time_backward("skip_gate", label, Work::Bytes(5.0 * n * f), |ctx| {
        ctx.sum_all(&ctx.skip_gate(&z, &prev, &cand))
    });

    // Elementwise: sizes that are multiples of 4 run the vec4 kernels, the
    // odd ones one float per invocation (about the same work).
    for (rows, cols) in [(6656, 256), (6655, 255)] {
        let x = b.tensor(&[rows, cols], true);
        let y = b.tensor(&[rows, cols], false);
        let n = (rows * cols) as f64;
        let label = format!("{rows}x{cols}");
        b.time(
            "gelu",
            "forward",
            label.clone(),
            Work::Bytes(2.0 * n * f),
            |ctx| {
                ctx.gelu(&x);
            },
        );
        // Reads x and dY, writes dX.
        b.time_backward("gelu", label.clone(), Work::Bytes(3.0 * n * f), |ctx| {
            ctx.sum_all(&ctx.gelu(&x))
        });
        b.time("add", "forward", label, Work::Bytes(3.0 * n * f), |ctx| {
            ctx.add(&x, &y);
        });
    }

    let (rows, cols) = (6656, 64);
    let x = b.tensor(&[rows, cols], true);
    let gamma = b.tensor(&[cols], true);
    let beta = b.tensor(&[cols], true);
    let n = (rows * cols) as f64;
    let label = format!("{rows}x{cols}");
    b.time(
        "layer_norm",
        "forward",
        label.clone(),
        Work::Bytes(2.0 * n * f),
        |ctx| {
            ctx.layer_norm(&x, &gamma, &beta);
        },
    );
    // Reads x and dY, writes dX (dgamma and dbeta are small).
    b.time_backward("layer_norm", label, Work::Bytes(3.0 * n * f), |ctx| {
        ctx.sum_all(&ctx.layer_norm(&x, &gamma, &beta))
    });

    let (rows, cols) = (2560, 64);
    let x = b.tensor(&[rows, cols], true);
    let n = (rows * cols) as f64;
    let label = format!("{rows}x{cols}");
    b.time(
        "softmax",
        "forward",
        label.clone(),
        Work::Bytes(2.0 * n * f),
        |ctx| {
            ctx.softmax(&x);
        },
    );
    b.time_backward("softmax", label, Work::Bytes(3.0 * n * f), |ctx| {
        ctx.sum_all(&ctx.softmax(&x))
    });

    let (rows, cols) = (2560, 10);
    let logits = b.tensor(&[rows, cols], true);
    let targets: Vec<u32> = (0..rows).map(|i| (i % cols) as u32).collect();
    let targets = b.ctx.indices(&targets, &[rows]);
    let n = (rows * cols) as f64;
    let label = format!("{rows}x{cols}");
    b.time(
        "cross_entropy",
        "forward",
        label.clone(),
        Work::Bytes(n * f),
        |ctx| {
            ctx.cross_entropy(&logits, &targets);
        },
    );
    // Reads the logits, writes dlogits.
    b.time_backward("cross_entropy", label, Work::Bytes(2.0 * n * f), |ctx| {
        ctx.sum_all(&ctx.cross_entropy(&logits, &targets))
    });
}

fn adam(b: &mut Bench) {
    let shapes: [&[usize]; 5] = [&[256, 256], &[64, 256], &[256, 64], &[256], &[64]];
    let count: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
    let label = format!("{count} params");
    if !b.wanted("adam", "step", &label) {
        return;
    }
    let params: Vec<Tensor> = shapes.iter().map(|s| b.tensor(s, true)).collect();
    let ctx = &b.ctx;
    let loss = params
        .iter()
        .map(|p| ctx.sum_all(&ctx.mul(p, p)))
        .reduce(|a, c| ctx.add(&a, &c))
        .expect("parameters");
    let grads = ctx.backward(&loss);
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Adam::new(AdamConfig::default());
    let warm = ctx.gpu.time(WARMUP, || {
        opt.step(ctx, &refs, &grads);
    });
    let inner = inner_reps(&warm);
    let timing = ctx.gpu.time(REPS, || {
        for _ in 0..inner {
            opt.step(ctx, &refs, &grads);
        }
    });
    let timing = per_call(timing, inner);
    // Reads the gradient twice (global norm, update) and p, m, v once;
    // writes p, m, v.
    b.push(
        "adam",
        "step",
        label,
        Work::Bytes(8.0 * 4.0 * count as f64),
        timing,
    );
}

/// `YYYY-MM-DDTHH:MM:SSZ` from the system clock (civil-from-days, no
/// date crate needed).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn main() {
    // `cargo bench` passes `--bench`; anything else is a filter.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let ctx =
        Ctx::new(&DeviceOptions::default()).expect("a GPU adapter (install mesa-vulkan-drivers)");
    println!(
        "adapter: {} ({})",
        ctx.gpu.summary.name, ctx.gpu.summary.driver_info
    );
    println!(
        "{:<16} {:<9} {:<28} {:>9} {:>9} {:<8}",
        "kernel", "pass", "shape", "ms", "rate", "unit"
    );
    let mut b = Bench {
        ctx,
        rng: StdRng::seed_from_u64(1),
        filter,
        rows: Vec::new(),
    };
    matmuls(&mut b);
    attention(&mut b);
    memory_bound(&mut b);
    adam(&mut b);

    let rows: Vec<_> = b
        .rows
        .iter()
        .map(|r| {
            let (rate, unit) = r.rate();
            json!({
                "kernel": r.kernel,
                "pass": r.pass,
                "shape": r.shape,
                "ms": r.ms(),
                "rate": rate,
                "unit": unit,
                "timing": r.timing.source(),
                "wall_ms": r.timing.median_wall_ns() / 1e6,
                "reps": r.timing.wall_ns.len(),
            })
        })
        .collect();
    let summary = &b.ctx.gpu.summary;
    let report = json!({
        "adapter": summary.name,
        "backend": summary.backend,
        "device_type": summary.device_type,
        "driver": format!("{} {}", summary.driver, summary.driver_info),
        "date": utc_now(),
        "filter": b.filter,
        "results": rows,
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::create_dir_all(&dir).expect("create bench/results");
    let path = dir.join("kernels.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&report).expect("json") + "\n",
    )
    .expect("write kernels.json");
    println!("wrote {}", path.display());
}
