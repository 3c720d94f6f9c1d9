//! Column reductions over long axes (bias gradients, layer norm's parameter
//! gradients, whole-tensor sums): when the outputs are too few to fill the
//! device the engine sums chunks of the axis first and then the partial
//! sums (Ctx::reduction_chunk). Both paths against an f64 CPU reference, at
//! lengths around the chunk size, and which kernels run.

mod common;
use common::*;
use nli_wgpu::ops::layer_norm::LAYER_NORM_EPS;

/// sum_a x[o, a, i] in f64.
fn cpu_sum(x: &[f32], o: usize, a: usize, i: usize) -> Vec<f32> {
    let mut out = vec![0.0f64; o * i];
    for oo in 0..o {
        for aa in 0..a {
            for ii in 0..i {
                out[oo * i + ii] += x[(oo * a + aa) * i + ii] as f64;
            }
        }
    }
    out.into_iter().map(|v| v as f32).collect()
}

#[test]
fn long_axis_sums_match_cpu() {
    let ctx = ctx();
    let mut r = rng(900);
    // Short axes (one pass), 127/128/129 around the split threshold, axes
    // that chunks do not divide, the model's bias-gradient shape (6656 rows
    // of 64) and a whole-tensor sum.
    for &(o, a, i) in &[
        (1usize, 100usize, 3usize),
        (1, 127, 1),
        (1, 128, 1),
        (3, 129, 5),
        (2, 1000, 3),
        (1, 6656, 64),
        (1, 6656, 10),
        (1, 20000, 1),
    ] {
        let x = rand_vec(&mut r, o * a * i, -1.0, 1.0);
        let got = ctx.read(&ctx.sum_axis(&ctx.tensor(&x, &[o, a, i]), 1));
        // Sums of a terms in (-1, 1): f32 rounding grows like sqrt(a).
        let atol = 2e-6 * (a as f32).sqrt();
        assert_close(
            &format!("sum_axis [{o}, {a}, {i}]"),
            &got,
            &cpu_sum(&x, o, a, i),
            1e-5,
            atol,
        );
        let mean = ctx.read(&ctx.mean_axis(&ctx.tensor(&x, &[o, a, i]), 1));
        let want: Vec<f32> = cpu_sum(&x, o, a, i).iter().map(|s| s / a as f32).collect();
        assert_close(
            &format!("mean_axis [{o}, {a}, {i}]"),
            &mean,
            &want,
            1e-5,
            atol / a as f32,
        );
    }
}

#[test]
fn layer_norm_parameter_gradients_over_many_rows_match_cpu() {
    // loss = sum(w * layer_norm(x)): dgamma = sum_rows w * xhat, dbeta =
    // sum_rows w. Rows of 64 (vec4, the model's) and 11 (scalar), row counts
    // below and above the split.
    let ctx = ctx();
    let mut r = rng(901);
    for &(rows, cols) in &[(100usize, 12usize), (700, 11), (6656, 64), (300, 64)] {
        let x = rand_vec(&mut r, rows * cols, -2.0, 2.0);
        let g = rand_vec(&mut r, cols, 0.5, 1.5);
        let b = rand_vec(&mut r, cols, -0.5, 0.5);
        let w = rand_vec(&mut r, rows * cols, -1.0, 1.0);
        let (gt, bt) = (ctx.param(&g, &[cols]), ctx.param(&b, &[cols]));
        let y = ctx.layer_norm(&ctx.tensor(&x, &[rows, cols]), &gt, &bt);
        let loss = ctx.sum_all(&ctx.mul(&y, &ctx.tensor(&w, &[rows, cols])));
        let grads = ctx.backward(&loss);
        let mut dg = vec![0.0f64; cols];
        let mut db = vec![0.0f64; cols];
        for (row, wr) in x.chunks(cols).zip(w.chunks(cols)) {
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / cols as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / cols as f64;
            let rstd = 1.0 / (var + LAYER_NORM_EPS as f64).sqrt();
            for c in 0..cols {
                dg[c] += wr[c] as f64 * (row[c] as f64 - mean) * rstd;
                db[c] += wr[c] as f64;
            }
        }
        let f = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<_>>();
        // Sums of `rows` terms of order 1.
        let atol = 4e-6 * (rows as f32).sqrt();
        assert_close(
            &format!("dgamma {rows}x{cols}"),
            &ctx.read(grads.get(&gt).unwrap()),
            &f(dg),
            1e-4,
            atol,
        );
        assert_close(
            &format!("dbeta {rows}x{cols}"),
            &ctx.read(grads.get(&bt).unwrap()),
            &f(db),
            1e-4,
            atol,
        );
    }
}

#[test]
fn partial_sums_run_only_for_long_axes_with_few_outputs() {
    let ctx = ctx();
    if !ctx.gpu.start_profile() {
        eprintln!("skipped: the adapter has no timestamp queries");
        return;
    }
    let mut r = rng(902);
    let mut kernels = |o: usize, a: usize, i: usize| {
        let x = ctx.tensor(&rand_vec(&mut r, o * a * i, -1.0, 1.0), &[o, a, i]);
        let _ = ctx.read(&ctx.sum_axis(&x, 1));
        profiled_kernels(&ctx)
    };
    // 3 sums over 1000: too few outputs on any adapter (lavapipe wants 64
    // invocations, a GPU thousands).
    let long = kernels(1, 1000, 3);
    assert!(
        long.iter().any(|k| k == "reduce:sum_axis_partial"),
        "{long:?}"
    );
    // An axis too short to split, and many outputs.
    let short = kernels(1, 100, 3);
    assert!(!short.iter().any(|k| k.contains("partial")), "{short:?}");
    let wide = kernels(1, 1000, 10000);
    assert!(!wide.iter().any(|k| k.contains("partial")), "{wide:?}");
    let _ = ctx.gpu.stop_profile();
}
