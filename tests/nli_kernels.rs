//! The NLI kernels: fused attention, counter-based RNG, Gumbel-Softmax and the
//! skip-gated recurrence. Gradient tolerances: see GradCheckConfig::default.

mod common;
use common::*;
use nli_wgpu::gradcheck::{GradCheckConfig, gradcheck};
use nli_wgpu::ops::attention::cpu_attention;
use nli_wgpu::ops::gumbel::{Gumbel, NoiseKey, cpu_random_bits, philox4x32_10, uniform_from_bits};
use nli_wgpu::{Ctx, Tensor};

fn input(seed: u64, shape: &[usize], lo: f32, hi: f32) -> (Vec<f32>, Vec<usize>) {
    let n = shape.iter().product();
    (rand_vec(&mut rng(seed), n, lo, hi), shape.to_vec())
}

fn check(name: &str, inputs: Vec<(Vec<f32>, Vec<usize>)>, f: impl Fn(&Ctx, &[Tensor]) -> Tensor) {
    let ctx = ctx();
    let report = gradcheck(&ctx, &inputs, &GradCheckConfig::default(), f);
    assert!(report.passed(), "{name}: {report}");
}

#[test]
fn attention_forward_matches_cpu_at_many_lengths() {
    let ctx = ctx();
    let mut r = rng(1);
    for &len in &[1usize, 7, 20, 64, 256] {
        for &causal in &[false, true] {
            let (batch, heads, dh) = (2, 3, 8);
            let n = batch * len * heads * dh;
            let q = rand_vec(&mut r, n, -1.5, 1.5);
            let k = rand_vec(&mut r, n, -1.5, 1.5);
            let v = rand_vec(&mut r, n, -1.0, 1.0);
            let shape = [batch, len, heads * dh];
            let o = ctx.attention(
                &ctx.tensor(&q, &shape),
                &ctx.tensor(&k, &shape),
                &ctx.tensor(&v, &shape),
                heads,
                causal,
            );
            let want = cpu_attention(&q, &k, &v, batch, len, heads, dh, causal);
            assert_close(
                &format!("attention len={len} causal={causal}"),
                &ctx.read(&o),
                &want,
                1e-4,
                2e-5,
            );
        }
    }
}

#[test]
fn attention_forward_matches_cpu_with_model_head_size() {
    // D = 64, H = 4: the cpu preset's head size 16.
    let ctx = ctx();
    let mut r = rng(2);
    let (batch, len, heads, dh) = (3, 52, 4, 16);
    let n = batch * len * heads * dh;
    let (q, k, v) = (
        rand_vec(&mut r, n, -1.0, 1.0),
        rand_vec(&mut r, n, -1.0, 1.0),
        rand_vec(&mut r, n, -1.0, 1.0),
    );
    let shape = [batch, len, heads * dh];
    let o = ctx.attention(
        &ctx.tensor(&q, &shape),
        &ctx.tensor(&k, &shape),
        &ctx.tensor(&v, &shape),
        heads,
        false,
    );
    assert_close(
        "attention dh=16",
        &ctx.read(&o),
        &cpu_attention(&q, &k, &v, batch, len, heads, dh, false),
        1e-4,
        2e-5,
    );
}

#[test]
fn grad_attention_with_and_without_mask() {
    for causal in [false, true] {
        let shape = [2, 7, 8];
        check(
            &format!("attention causal={causal}"),
            vec![
                input(3, &shape, -1.0, 1.0),
                input(4, &shape, -1.0, 1.0),
                input(5, &shape, -1.0, 1.0),
            ],
            move |c, t| c.attention(&t[0], &t[1], &t[2], 2, causal),
        );
    }
}

#[test]
fn grad_attention_with_the_model_head_size() {
    // dh = 16 (DH4 = 4), as in the cpu preset, over the packed projection.
    check(
        "attention dh=16",
        vec![input(40, &[2, 9, 96], -1.0, 1.0)],
        |c, t| c.attention_qkv(&t[0], 2, false),
    );
}

/// Q, K, V packed as the model's fused projection does: [batch, len, 3 width].
fn packed(q: &[f32], k: &[f32], v: &[f32], rows: usize, width: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(3 * q.len());
    for r in 0..rows {
        for t in [q, k, v] {
            out.extend_from_slice(&t[r * width..(r + 1) * width]);
        }
    }
    out
}

/// Random Q, K, V [batch, len, heads * dh] and their packed tensor.
fn random_qkv(
    ctx: &Ctx,
    seed: u64,
    batch: usize,
    len: usize,
    heads: usize,
    dh: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Tensor) {
    let mut r = rng(seed);
    let n = batch * len * heads * dh;
    let q = rand_vec(&mut r, n, -1.5, 1.5);
    let k = rand_vec(&mut r, n, -1.5, 1.5);
    let v = rand_vec(&mut r, n, -1.0, 1.0);
    let qkv = ctx.tensor(
        &packed(&q, &k, &v, batch * len, heads * dh),
        &[batch, len, 3 * heads * dh],
    );
    (q, k, v, qkv)
}

#[test]
fn attention_blocks_of_rows_match_cpu() {
    // Every block size the engine may pick (13 and 10 for lengths 52 and 20
    // on lavapipe, 2 on GPUs) and ones it never picks: 1, blocks that do not
    // divide the length (3 of 7, 16 of 20) and a block longer than the
    // sequence, with and without the mask.
    let ctx = ctx();
    let mut r = rng(7);
    let (heads, dh) = (2, 8);
    for &(len, block) in &[
        (7usize, 1usize),
        (7, 2),
        (7, 3),
        (20, 10),
        (20, 16),
        (52, 13),
        (5, 64),
    ] {
        for causal in [false, true] {
            let batch = 3;
            let n = batch * len * heads * dh;
            let q = rand_vec(&mut r, n, -1.5, 1.5);
            let k = rand_vec(&mut r, n, -1.5, 1.5);
            let v = rand_vec(&mut r, n, -1.0, 1.0);
            let qkv = packed(&q, &k, &v, batch * len, heads * dh);
            let o = ctx.attention_qkv_block(
                &ctx.tensor(&qkv, &[batch, len, 3 * heads * dh]),
                heads,
                causal,
                block,
            );
            assert_close(
                &format!("attention len={len} block={block} causal={causal}"),
                &ctx.read(&o),
                &cpu_attention(&q, &k, &v, batch, len, heads, dh, causal),
                1e-4,
                2e-5,
            );
        }
    }
}

#[test]
fn grad_attention_blocks_of_rows() {
    // Blocks that leave a partial last block (3 of 7) and a block longer
    // than the sequence, with and without the mask: every masked and
    // clamped row of the blocked backward passes.
    for causal in [false, true] {
        for block in [1, 3, 16] {
            check(
                &format!("attention block={block} causal={causal}"),
                vec![input(41, &[2, 7, 48], -1.0, 1.0)],
                move |c, t| c.attention_qkv_block(&t[0], 2, causal, block),
            );
        }
    }
}

#[test]
fn attention_through_texture_operands_matches_cpu_and_runs_where_chosen() {
    // QKV and dO read through staging textures (the engine's choice on
    // lavapipe for large batches) or storage buffers: the same values as
    // the CPU reference, and the kernel that the mode asks for runs.
    use nli_wgpu::gpu::TextureOperands;
    let ctx = ctx();
    let (batch, len, heads, dh) = (2, 9, 2, 8);
    let (q, k, v, qkv) = random_qkv(&ctx, 72, batch, len, heads, dh);
    let profiled = ctx.gpu.start_profile();
    for causal in [false, true] {
        let want = cpu_attention(&q, &k, &v, batch, len, heads, dh, causal);
        for mode in [TextureOperands::Off, TextureOperands::All] {
            ctx.gpu.set_texture_operands(mode);
            let o = ctx.read(&ctx.attention_qkv(&qkv, heads, causal));
            if profiled {
                let names = profiled_kernels(&ctx);
                let textured = names
                    .iter()
                    .any(|k| k.contains("attention") && k.ends_with("_t:attention"));
                assert_eq!(
                    textured,
                    mode == TextureOperands::All,
                    "{mode:?}: {names:?}"
                );
            }
            assert_close(
                &format!("attention {mode:?} causal={causal}"),
                &o,
                &want,
                1e-4,
                2e-5,
            );
        }
    }
}

#[test]
fn grad_attention_through_texture_operands() {
    use nli_wgpu::gpu::TextureOperands;
    for causal in [false, true] {
        check(
            &format!("textured attention causal={causal}"),
            vec![input(42, &[2, 7, 48], -1.0, 1.0)],
            move |c, t| {
                c.gpu.set_texture_operands(TextureOperands::All);
                c.attention_qkv_block(&t[0], 2, causal, 3)
            },
        );
    }
}

#[test]
fn generated_attention_kernels_validate() {
    use nli_wgpu::ops::attention::AttentionKernel;
    for (dh4, block, texture) in [
        (1, 1, false),
        (2, 3, true),
        (4, 13, false),
        (4, 10, true),
        (8, 2, false),
    ] {
        let cfg = AttentionKernel {
            dh4,
            block,
            workgroup: 64,
            texture,
        };
        let module = validate_wgsl(&cfg.name(), &cfg.wgsl());
        let entries: Vec<&str> = module
            .entry_points
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(
            entries,
            ["attention", "attention_backward_q", "attention_backward_kv"]
        );
    }
}

#[test]
fn philox_matches_the_published_known_answers() {
    // Random123 known-answer tests for philox4x32_10.
    assert_eq!(
        philox4x32_10([0, 0, 0, 0], [0, 0]),
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
    assert_eq!(
        philox4x32_10([0xffffffff; 4], [0xffffffff; 2]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
    assert_eq!(
        philox4x32_10(
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0]
        ),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

#[test]
fn gpu_random_bits_equal_the_cpu_reference_and_ignore_dispatch_shape() {
    let ctx = ctx();
    let key = NoiseKey {
        seed: 0x1234_5678_9abc_def0,
        step: 17,
        stream: 3,
    };
    let n = 100_003;
    let whole = ctx.read_u32(&ctx.random_bits(key, 0, n));
    for i in (0..n).step_by(997) {
        assert_eq!(whole[i], cpu_random_bits(key, i as u32), "element {i}");
    }
    // Another dispatch shape: four dispatches over offset chunks.
    let mut chunks = Vec::new();
    let mut start = 0;
    for len in [1usize, 63, 40_000, n - 40_064] {
        chunks.extend(ctx.read_u32(&ctx.random_bits(key, start as u32, len)));
        start += len;
    }
    assert_eq!(chunks, whole, "noise must not depend on the dispatch shape");
    // The row kernel draws the same noise as the fill kernel: with zero
    // logits and tau = 1, log y_c - log y_0 = g_c - g_0 in every row.
    let (rows, cols) = (1000, 10);
    let g = Gumbel {
        tau: 1.0,
        noise: Some(key),
        hard: false,
    };
    let y = ctx.read(&ctx.gumbel_softmax(&ctx.zeros(&[rows, cols]), g));
    let noise = ctx.read(&ctx.gumbel_noise(key, 0, rows * cols));
    for r in 0..rows {
        for c in 1..cols {
            let (i, i0) = (r * cols + c, r * cols);
            let from_y = y[i].ln() - y[i0].ln();
            let from_g = noise[i] - noise[i0];
            assert!(
                (from_y - from_g).abs() < 1e-3 * (1.0 + from_g.abs()),
                "row {r} col {c}: {from_y} vs {from_g}"
            );
        }
    }
    // Different step -> different noise.
    let other = ctx.read_u32(&ctx.random_bits(NoiseKey { step: 18, ..key }, 0, 1000));
    assert!(other.iter().zip(&whole).filter(|(a, b)| a == b).count() < 5);
}

#[test]
fn gumbel_noise_has_the_right_mean_and_variance() {
    let ctx = ctx();
    let n = 1_000_000;
    let g = ctx.read(&ctx.gumbel_noise(
        NoiseKey {
            seed: 42,
            step: 0,
            stream: 0,
        },
        0,
        n,
    ));
    let mean = g.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let var = g.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    // Euler-Mascheroni constant and pi^2/6; standard errors here are
    // 0.0013 (mean) and 0.005 (variance).
    assert!((mean - 0.5772).abs() < 0.01, "Gumbel mean {mean}");
    assert!(
        (var - std::f64::consts::PI.powi(2) / 6.0).abs() < 0.03,
        "Gumbel variance {var}"
    );
    assert!(g.iter().all(|v| v.is_finite()));
}

#[test]
fn uniforms_are_inside_the_open_interval_and_pass_chi_square() {
    let ctx = ctx();
    let n = 1_000_000;
    let bits = ctx.read_u32(&ctx.random_bits(
        NoiseKey {
            seed: 7,
            step: 3,
            stream: 1,
        },
        0,
        n,
    ));
    let bins = 100;
    let mut counts = vec![0u64; bins];
    for &b in &bits {
        let u = uniform_from_bits(b);
        assert!(u > 0.0 && u < 1.0, "uniform {u} outside (0, 1)");
        counts[(u * bins as f32) as usize] += 1;
    }
    let expected = n as f64 / bins as f64;
    let chi2: f64 = counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    // 99 degrees of freedom: P(chi2 > 148.2) = 0.001.
    assert!(chi2 < 148.2, "chi-square {chi2} with 99 degrees of freedom");
    // The extremes of the map stay strictly inside.
    assert!(uniform_from_bits(0) > 0.0 && uniform_from_bits(u32::MAX) < 1.0);
}

#[test]
fn grad_gumbel_softmax_without_and_with_noise() {
    for tau in [0.5f32, 2.0] {
        check(
            &format!("gumbel no noise tau={tau}"),
            vec![input(6, &[9, 10], -2.0, 2.0)],
            move |c, t| {
                c.gumbel_softmax(
                    &t[0],
                    Gumbel {
                        tau,
                        noise: None,
                        hard: false,
                    },
                )
            },
        );
        let key = NoiseKey {
            seed: 99,
            step: 5,
            stream: 2,
        };
        check(
            &format!("gumbel noise tau={tau}"),
            vec![input(7, &[9, 10], -2.0, 2.0)],
            move |c, t| {
                c.gumbel_softmax(
                    &t[0],
                    Gumbel {
                        tau,
                        noise: Some(key),
                        hard: false,
                    },
                )
            },
        );
    }
}

#[test]
fn hard_gumbel_is_one_hot_with_the_soft_gradient() {
    let ctx = ctx();
    let (logits, shape) = input(8, &[6, 5], -2.0, 2.0);
    let key = NoiseKey {
        seed: 3,
        step: 1,
        stream: 0,
    };
    let run = |hard: bool| {
        let l = ctx.param(&logits, &shape);
        let y = ctx.gumbel_softmax(
            &l,
            Gumbel {
                tau: 0.7,
                noise: Some(key),
                hard,
            },
        );
        let w = ctx.tensor(
            &(0..30).map(|i| (i % 7) as f32 - 3.0).collect::<Vec<_>>(),
            &shape,
        );
        let loss = ctx.sum_all(&ctx.mul(&y, &w));
        let g = ctx.backward(&loss);
        (ctx.read(&y), ctx.read(g.get(&l).unwrap()))
    };
    let (soft, g_soft) = run(false);
    let (hard, g_hard) = run(true);
    for r in 0..6 {
        let srow = &soft[r * 5..(r + 1) * 5];
        let am = (0..5).max_by(|&a, &b| srow[a].total_cmp(&srow[b])).unwrap();
        for c in 0..5 {
            assert_eq!(hard[r * 5 + c], if c == am { 1.0 } else { 0.0 }, "row {r}");
        }
    }
    assert_close("straight-through gradient", &g_hard, &g_soft, 1e-6, 1e-7);
}

/// The skip gate on every path: f32 elements (groups of 15 floats), vec4
/// elements (groups of 20), and vec4 elements read through staging textures
/// (forced, as the engine does on lavapipe for large ones): the forward
/// against the CPU, the gradients against finite differences, and the
/// kernel that the path asks for runs.
#[test]
fn skip_gate_forward_and_gradients() {
    use nli_wgpu::gpu::TextureOperands;
    for (inner, mode, kernel) in [
        ([3, 5], TextureOperands::Large, "skip_gate:"),
        ([4, 5], TextureOperands::Large, "skip_gate_vec4:"),
        ([4, 5], TextureOperands::All, "skip_gate_vec4_t:"),
    ] {
        let ctx = ctx();
        ctx.gpu.set_texture_operands(mode);
        let what = format!("skip_gate {inner:?} {mode:?}");
        let shape = [3, inner[0], inner[1]];
        let n: usize = shape.iter().product();
        let per = n / 3;
        let z = [0.0f32, 0.25, 1.0];
        let prev: Vec<f32> = (0..n).map(|i| i as f32 * 0.1).collect();
        let cand: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.05).collect();
        let profiled = ctx.gpu.start_profile();
        let out = ctx.read(&ctx.skip_gate(
            &ctx.tensor(&z, &[3]),
            &ctx.tensor(&prev, &shape),
            &ctx.tensor(&cand, &shape),
        ));
        if profiled {
            let names = profiled_kernels(&ctx);
            assert!(
                names.iter().any(|k| k.contains(kernel)),
                "{what}: {names:?}"
            );
            ctx.gpu.stop_profile();
        }
        let want: Vec<f32> = (0..n)
            .map(|i| z[i / per] * prev[i] + (1.0 - z[i / per]) * cand[i])
            .collect();
        assert_close(&what, &out, &want, 1e-6, 1e-6);
        let report = gradcheck(
            &ctx,
            &[
                input(9, &[3], 0.0, 1.0),
                input(10, &shape, 0.0, 1.0),
                input(11, &shape, 0.0, 1.0),
            ],
            &GradCheckConfig::default(),
            |c, t| c.skip_gate(&t[0], &t[1], &t[2]),
        );
        assert!(report.passed(), "{what}: {report}");
    }
}

#[test]
fn interpreter_shaped_recurrence_over_t_steps_has_correct_gradients() {
    // T = 3 steps over [tasks=2, pairs=2, N=3, V=4]: the candidate is a
    // Gumbel-Softmax (fixed noise per step) of logits mixed with the state;
    // the whole unrolled recurrence is checked at once.
    check(
        "unrolled recurrence",
        vec![
            input(12, &[2, 3], -2.0, 2.0),
            input(13, &[2, 2, 3, 4], 0.0, 1.0),
            input(14, &[3, 2, 2, 3, 4], -1.0, 1.0),
        ],
        |c, t| {
            let mut pi = t[1].clone();
            let gates = c.softmax(&t[0]); // [tasks, T]: per-step SKIP probabilities
            for step in 0..3 {
                let z = c.reshape(&c.slice(&gates, 1, step, 1), &[2]);
                let logits = c.add(&c.reshape(&c.slice(&t[2], 0, step, 1), &[2, 2, 3, 4]), &pi);
                let key = NoiseKey {
                    seed: 5,
                    step: step as u32,
                    stream: 1,
                };
                let cand = c.gumbel_softmax(
                    &logits,
                    Gumbel {
                        tau: 1.5,
                        noise: Some(key),
                        hard: false,
                    },
                );
                pi = c.skip_gate(&z, &pi, &cand);
            }
            pi
        },
    );
}

#[test]
fn forced_attention_block_runs_where_chosen() {
    // NLI_ATTENTION_BLOCK (Tuning::attention_block) overrides the adapter's
    // choice: attention_qkv then runs that block's kernel, with the result
    // of attention_qkv_block at that block and of the CPU reference.
    let ctx = ctx();
    let (batch, len, heads, dh) = (2, 9, 2, 8);
    let (q, k, v, qkv) = random_qkv(&ctx, 71, batch, len, heads, dh);
    let want = cpu_attention(&q, &k, &v, batch, len, heads, dh, true);
    for block in [1usize, 4] {
        ctx.gpu.set_tuning(nli_wgpu::gpu::Tuning {
            matmul_block: None,
            attention_block: Some(block),
        });
        let profiled = ctx.gpu.start_profile();
        let o = ctx.read(&ctx.attention_qkv(&qkv, heads, true));
        if profiled {
            let names = profiled_kernels(&ctx);
            assert!(
                names.iter().any(|k| k.contains(&format!("_b{block}_"))),
                "block {block}: {names:?}"
            );
        }
        assert_eq!(
            o,
            ctx.read(&ctx.attention_qkv_block(&qkv, heads, true, block))
        );
        assert_close(&format!("attention block {block}"), &o, &want, 1e-4, 2e-5);
    }
    ctx.gpu.set_tuning(nli_wgpu::gpu::Tuning::default());
}
