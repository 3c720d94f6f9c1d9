//! Engine behaviour: buffer reuse, pipeline cache, batching of dispatches,
//! inference mode, Adam against a CPU reference.

mod common;
use common::*;
use nli_wgpu::optim::{Adam, AdamConfig};

#[test]
fn a_repeated_step_allocates_nothing_and_compiles_nothing() {
    let ctx = ctx();
    let mut r = rng(1);
    let w = ctx.param(&rand_vec(&mut r, 12 * 8, -1.0, 1.0), &[12, 8]);
    let x = ctx.tensor(&rand_vec(&mut r, 5 * 12, -1.0, 1.0), &[5, 12]);
    let step = || {
        let y = ctx.log_softmax(&ctx.gelu(&ctx.matmul(&x, &w)));
        let loss = ctx.mean_all(&y);
        let g = ctx.backward(&loss);
        ctx.read(g.get(&w).unwrap())
    };
    let first = step();
    let before = ctx.gpu.stats();
    let second = step();
    let after = ctx.gpu.stats();
    assert_eq!(first, second, "same inputs, same gradient");
    assert_eq!(
        after.buffers_created, before.buffers_created,
        "the pool must serve the second step"
    );
    assert_eq!(
        after.pipelines_compiled, before.pipelines_compiled,
        "pipelines are compiled once"
    );
    assert!(after.dispatches > before.dispatches);
    // Everything of a step went in one submit (the readback's copy included).
    assert_eq!(after.submits - before.submits, 1, "one submit per step");
}

#[test]
fn inference_mode_records_nothing() {
    let ctx = ctx();
    let w = ctx.param(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    {
        let _g = ctx.no_grad();
        let y = ctx.matmul(&w, &w);
        assert!(!y.requires_grad());
        assert_eq!(ctx.tape_len(), 0);
    }
    let y = ctx.matmul(&w, &w);
    assert!(y.requires_grad());
    assert_eq!(ctx.tape_len(), 1);
    // Constants do not record either.
    let c = ctx.tensor(&[1.0, 2.0], &[1, 2]);
    let _z = ctx.matmul(&c, &ctx.detach(&w));
    assert_eq!(ctx.tape_len(), 1);
}

#[test]
fn adam_with_clipping_matches_cpu() {
    let ctx = ctx();
    let mut r = rng(2);
    let cfg = AdamConfig {
        lr: 0.05,
        max_grad_norm: 0.5,
        weight_decay: 0.01,
        ..AdamConfig::default()
    };
    let mut adam = Adam::new(cfg.clone());
    let p0 = rand_vec(&mut r, 37, -1.0, 1.0);
    let q0 = rand_vec(&mut r, 5, -1.0, 1.0);
    let p = ctx.param(&p0, &[37]);
    let q = ctx.param(&q0, &[5]);
    // CPU mirror
    let (mut cp, mut cq) = (p0.clone(), q0.clone());
    let (mut m, mut v) = (vec![0.0f64; 42], vec![0.0f64; 42]);
    for t in 1..=3 {
        // loss = sum(p^2) + 3 sum(q): grads 2p and 3
        let loss = ctx.add(
            &ctx.sum_all(&ctx.mul(&p, &p)),
            &ctx.scale(&ctx.sum_all(&q), 3.0),
        );
        let grads = ctx.backward(&loss);
        let sumsq = adam.step(&ctx, &[&p, &q], &grads);
        let g: Vec<f64> = cp
            .iter()
            .map(|x| 2.0 * *x as f64)
            .chain(cq.iter().map(|_| 3.0))
            .collect();
        let norm2: f64 = g.iter().map(|x| x * x).sum();
        assert!(
            (ctx.item(&sumsq) as f64 - norm2).abs() < 1e-3 * norm2,
            "squared norm"
        );
        let clip = (cfg.max_grad_norm as f64 / (norm2.sqrt() + 1e-6)).min(1.0);
        let b1 = 1.0 - (cfg.beta1 as f64).powi(t);
        let b2 = 1.0 - (cfg.beta2 as f64).powi(t);
        for i in 0..42 {
            let gi = g[i] * clip;
            m[i] = cfg.beta1 as f64 * m[i] + (1.0 - cfg.beta1 as f64) * gi;
            v[i] = cfg.beta2 as f64 * v[i] + (1.0 - cfg.beta2 as f64) * gi * gi;
            let x = if i < 37 { &mut cp[i] } else { &mut cq[i - 37] };
            let upd = (m[i] / b1) / ((v[i] / b2).sqrt() + cfg.eps as f64)
                + cfg.weight_decay as f64 * *x as f64;
            *x = (*x as f64 - cfg.lr as f64 * upd) as f32;
        }
    }
    assert_close("adam p", &ctx.read(&p), &cp, 1e-4, 1e-5);
    assert_close("adam q", &ctx.read(&q), &cq, 1e-4, 1e-5);
}

#[test]
fn large_one_dimensional_work_spills_into_y() {
    // More than 65535 * 64 elements: the grid needs a second dimension.
    let ctx = ctx();
    let n = 65535 * 64 + 1000;
    let x = ctx.full(&[n], 1.5);
    let y = ctx.scale(&x, 2.0);
    let got = ctx.read(&y);
    assert!(got.iter().all(|&v| v == 3.0), "every element written");
}

#[test]
fn sizes_that_are_multiples_of_4_run_the_vec4_kernels() {
    let ctx = ctx();
    // The kernel names come from the per-dispatch profile (GPU timestamps,
    // which lavapipe has).
    if !ctx.gpu.start_profile() {
        eprintln!("skipped: the adapter has no timestamp queries");
        return;
    }
    let x4 = ctx.tensor(&[0.5; 68], &[4, 17]);
    let x1 = ctx.tensor(&[0.5; 67], &[67]);
    let g = ctx.tensor(&[1.0; 17], &[17]);
    let _ = ctx.read(&ctx.gelu(&ctx.add(&x4, &x4)));
    let _ = ctx.read(&ctx.gelu(&x1));
    // Layer norm: rows of 12 floats (3 vec4s) run the generated row
    // kernels, rows of 4 * (ROW_KERNEL_MAX + 1) the vec4 loops; both with
    // their input gradients.
    let long = 4 * (nli_wgpu::ops::layer_norm::ROW_KERNEL_MAX + 1);
    for cols in [12, long] {
        let x = ctx.param(&vec![0.5; 2 * cols], &[2, cols]);
        let g = ctx.tensor(&vec![1.0; cols], &[cols]);
        let y = ctx.layer_norm(&x, &g, &g);
        let grads = ctx.backward(&ctx.sum_all(&ctx.mul(&y, &y)));
        let _ = ctx.read(grads.get(&x).unwrap());
    }
    let _ = ctx.read(&ctx.add_broadcast(&x4, &g));
    // With textured operands the row kernels read x and dy from staging
    // textures, the parameter gradients included.
    ctx.gpu
        .set_texture_operands(nli_wgpu::gpu::TextureOperands::All);
    let x = ctx.param(&[0.5; 24], &[2, 12]);
    let g12 = ctx.param(&[1.0; 12], &[12]);
    let y = ctx.layer_norm(&x, &g12, &g12);
    let grads = ctx.backward(&ctx.sum_all(&ctx.mul(&y, &y)));
    let _ = ctx.read(grads.get(&g12).unwrap());
    // And the vec4 elementwise kernels read a and b through them.
    let _ = ctx.read(&ctx.gelu(&ctx.add_broadcast(&ctx.add(&x, &x), &g12)));
    let names: Vec<String> = profiled_kernels(&ctx);
    for want in [
        "generated:elementwise_vec4:add",
        "generated:elementwise_vec4:gelu",
        "elementwise:gelu",
        "generated:layer_norm_row3:layer_norm",
        "generated:layer_norm_row3:layer_norm_backward_x",
        "generated:layer_norm_row3_t:layer_norm",
        "generated:layer_norm_row3_t:layer_norm_backward_x",
        "generated:layer_norm_row3_t:layer_norm_backward_params",
        "generated:elementwise_vec4_t:add",
        "generated:elementwise_vec4_t:add_broadcast",
        "generated:elementwise_vec4_t:gelu",
        "generated:layer_norm_vec4:layer_norm",
        "generated:layer_norm_vec4:layer_norm_backward_x",
        // A broadcast operand of 17 floats cannot be read as vec4s.
        "elementwise:add_broadcast",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} did not run: {names:?}"
        );
    }
}

#[test]
fn gradients_accumulate_in_the_kernels_that_make_them() {
    // A weight used by three products, an input used by two layer norms
    // and a residual connection, and a vector added to two inputs by
    // broadcast: the gradient products add what
    // was accumulated for their tensor as they store (a dW product with its
    // residual epilogue, and split-k's sum with it), layer norm's row
    // kernel as it writes dx, the broadcast's sum as it stores, so no
    // separate addition runs for them.
    let ctx = ctx();
    if !ctx.gpu.start_profile() {
        eprintln!("skipped: the adapter has no timestamp queries");
        return;
    }
    let mut r = rng(5);
    let w = ctx.param(&rand_vec(&mut r, 8 * 8, -0.5, 0.5), &[8, 8]);
    let x = ctx.param(&rand_vec(&mut r, 12 * 8, -1.0, 1.0), &[12, 8]);
    let big = ctx.tensor(&rand_vec(&mut r, 300 * 8, -1.0, 1.0), &[300, 8]);
    let g = ctx.param(&rand_vec(&mut r, 8, -1.0, 1.0), &[8]);
    let one = ctx.tensor(&[1.0; 8], &[8]);
    let z = ctx.matmul(&ctx.add_broadcast(&big, &g), &w);
    let h = ctx.layer_norm(&x, &one, &one);
    let y = ctx.add(&ctx.matmul(&ctx.layer_norm(&h, &one, &one), &w), &x);
    let y = ctx.matmul(&ctx.add_broadcast(&y, &g), &w);
    let c = ctx.tensor(&rand_vec(&mut r, 12 * 8, -1.0, 1.0), &[12, 8]);
    let loss = ctx.add(&ctx.sum_all(&z), &ctx.sum_all(&ctx.mul(&y, &c)));
    let _ = profiled_kernels(&ctx);
    let grads = ctx.backward(&loss);
    let _ = ctx.read_many(&[
        grads.get(&w).unwrap(),
        grads.get(&x).unwrap(),
        grads.get(&g).unwrap(),
    ]);
    let names = profiled_kernels(&ctx);
    for want in [
        "matmul:split_sum_acc",
        "generated:layer_norm_row2:layer_norm_backward_x_acc",
        "reduce:sum_axis_acc",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} did not run: {names:?}"
        );
    }
    // w's second gradient product (12 rows, one slice) adds the first as
    // it stores: a block kernel with the residual epilogue.
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("generated:matmul_block") && n.contains("_res")),
        "no gradient product with the residual epilogue ran: {names:?}"
    );
    // And no gradient was added in a pass of its own.
    let adds = names
        .iter()
        .filter(|n| n.ends_with(":add") || n.ends_with(":add_vec4"))
        .count();
    assert_eq!(
        adds, 0,
        "gradients were added in passes of their own: {names:?}"
    );
}
