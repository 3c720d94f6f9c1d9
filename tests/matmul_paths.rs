//! The matmul kernels chosen by operand layout (vec4 loads along k or along
//! the free axis, scalar loads, the general strided kernel, split-k) against
//! the CPU reference, at sizes around the vec4 and block boundaries; and the
//! generated WGSL of every layout validates with naga.

mod common;
use common::*;
use nli_wgpu::gpu::{TextureOperands, Tuning};
use nli_wgpu::ops::matmul::{BlockKernel, GeluEpilogue, Load, cpu_matmul};

const TRANSPOSES: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

/// `op(a) @ op(b)` on the GPU against the CPU, `b` batched.
fn check(
    ctx: &nli_wgpu::Ctx,
    seed: u64,
    (batch, m, n, k): (usize, usize, usize, usize),
    ta: bool,
    tb: bool,
) {
    let mut r = rng(seed);
    let a = rand_vec(&mut r, batch * m * k, -1.0, 1.0);
    let b = rand_vec(&mut r, batch * k * n, -1.0, 1.0);
    let ashape = if ta { [batch, k, m] } else { [batch, m, k] };
    let bshape = if tb { [batch, n, k] } else { [batch, k, n] };
    let c = ctx.matmul_t(&ctx.tensor(&a, &ashape), &ctx.tensor(&b, &bshape), ta, tb);
    assert_eq!(c.shape(), [batch, m, n]);
    let want = cpu_matmul(&a, &b, batch, m, n, k, ta, tb, true);
    // Sums of k products of numbers in (-1, 1): the f32 error grows like sqrt(k).
    let atol = 1e-5 * (k as f32).sqrt().max(1.0);
    assert_close(
        &format!("matmul b{batch} {m}x{n}x{k} ta={ta} tb={tb}"),
        &ctx.read(&c),
        &want,
        1e-4,
        atol,
    );
}

#[test]
fn vec4_paths_at_odd_sizes_match_cpu() {
    let ctx = ctx();
    // (batch, m, n, k): 4 | k and 4 | n give vec4 loads along k / along n;
    // transposed operands give vec4 loads along the other axis when 4 | m or
    // 4 | n; everything else falls back to scalar loads or the general
    // kernel. Edges: 1, 3, 5 (no vec4), 33, 65 (one past a block).
    for &(batch, m, n, k) in &[
        (1, 1, 1, 1),
        (1, 3, 5, 1),
        (1, 5, 4, 8),
        (2, 4, 8, 4),
        (1, 33, 36, 20),
        (3, 8, 12, 5),
        (2, 65, 12, 68),
        (1, 4, 65, 33),
        (1, 20, 40, 3),
    ] {
        for (t, &(ta, tb)) in TRANSPOSES.iter().enumerate() {
            check(&ctx, 100 + t as u64, (batch, m, n, k), ta, tb);
        }
    }
}

#[test]
fn split_k_matches_cpu() {
    let ctx = ctx();
    // Few output blocks and a long contraction: the product is split along
    // k, and the slices are summed by a second kernel. k = 1000 and 515 leave
    // a last slice shorter than the others (515: not a multiple of 4 either).
    for &(batch, m, n, k) in &[(1, 8, 12, 1000), (2, 5, 8, 515), (1, 64, 64, 1024)] {
        for (t, &(ta, tb)) in TRANSPOSES.iter().enumerate() {
            check(&ctx, 200 + t as u64, (batch, m, n, k), ta, tb);
        }
    }
}

#[test]
fn large_blocks_with_split_k_match_cpu() {
    let ctx = ctx();
    // Big enough for the largest register blocks; the shape of dW = X^T dY
    // in the model (64 x 64 outputs, thousands of rows), with k % 4 == 2.
    check(&ctx, 300, (1, 64, 64, 4098), true, false);
}

#[test]
fn shared_weight_forward_and_backward_match_cpu() {
    let ctx = ctx();
    let mut r = rng(400);
    // x [batch, m, k] @ w [k, n] with w shared: the backward folds the batch
    // into the contraction of dW = X^T dY.
    for &(batch, m, k, n) in &[(4, 9, 8, 12), (3, 33, 20, 10), (2, 64, 64, 64)] {
        let x = rand_vec(&mut r, batch * m * k, -1.0, 1.0);
        let w = rand_vec(&mut r, k * n, -1.0, 1.0);
        let g = rand_vec(&mut r, batch * m * n, -1.0, 1.0);
        let xt = ctx.param(&x, &[batch, m, k]);
        let wt = ctx.param(&w, &[k, n]);
        let y = ctx.matmul(&xt, &wt);
        let want_y = cpu_matmul(&x, &w, batch, m, n, k, false, false, false);
        assert_close("shared-weight forward", &ctx.read(&y), &want_y, 1e-4, 1e-5);
        // loss = sum(y * g): dY = g, dX = g W^T, dW = X^T g (over the batch).
        let loss = ctx.sum_all(&ctx.mul(&y, &ctx.tensor(&g, &[batch, m, n])));
        let grads = ctx.backward(&loss);
        let dx = ctx.read(grads.get(&xt).unwrap());
        let dw = ctx.read(grads.get(&wt).unwrap());
        let want_dx = cpu_matmul(&g, &w, batch, m, k, n, false, true, false);
        let want_dw = cpu_matmul(&x, &g, 1, k, n, batch * m, true, false, true);
        assert_close(&format!("dX {batch}x{m}x{k}"), &dx, &want_dx, 1e-4, 1e-5);
        assert_close(&format!("dW {k}x{n}"), &dw, &want_dw, 1e-4, 1e-4);
    }
}

#[test]
fn linear_with_fused_bias_forward_and_backward_match_cpu() {
    let ctx = ctx();
    let mut r = rng(500);
    // (rows, in, out): the bias fused into the stores of a vec4 (out % 4 == 0)
    // or scalar kernel, added after a split-k sum (few rows, long k), and
    // added by its own kernel after the general kernel (nothing is vec4).
    // Each with and without a residual added the same ways. The bias
    // gradient comes out of the weight gradient's product (its column sums)
    // where that runs a block kernel: vec4 and scalar stores, and split-k
    // over many rows (1000 and 600 rows, few outputs); else it is summed
    // on its own (the 5 x 3 -> 7 product runs the general kernel).
    let shapes = [
        (33, 64, 64),
        (20, 8, 10),
        (8, 1024, 12),
        (5, 3, 7),
        (1000, 8, 12),
        (600, 16, 10),
    ];
    for (&(rows, k, n), residual) in shapes.iter().flat_map(|s| [(s, false), (s, true)]) {
        let x = rand_vec(&mut r, rows * k, -1.0, 1.0);
        let w = rand_vec(&mut r, k * n, -1.0, 1.0);
        let b = rand_vec(&mut r, n, -1.0, 1.0);
        let res = rand_vec(&mut r, rows * n, -1.0, 1.0);
        let g = rand_vec(&mut r, rows * n, -1.0, 1.0);
        let (xt, wt, bt, rt) = (
            ctx.param(&x, &[rows, k]),
            ctx.param(&w, &[k, n]),
            ctx.param(&b, &[n]),
            ctx.param(&res, &[rows, n]),
        );
        let y = if residual {
            ctx.linear_residual(&xt, &wt, Some(&bt), &rt)
        } else {
            ctx.linear(&xt, &wt, Some(&bt))
        };
        let mut want = cpu_matmul(&x, &w, 1, rows, n, k, false, false, true);
        for (i, v) in want.iter_mut().enumerate() {
            *v += b[i % n] + if residual { res[i] } else { 0.0 };
        }
        let what = format!("linear {rows}x{k} -> {n} residual={residual}");
        let atol = 1e-5 * (k as f32).sqrt();
        assert_close(&what, &ctx.read(&y), &want, 1e-4, atol);
        let loss = ctx.sum_all(&ctx.mul(&y, &ctx.tensor(&g, &[rows, n])));
        let grads = ctx.backward(&loss);
        let want_dx = cpu_matmul(&g, &w, 1, rows, k, n, false, true, true);
        let want_dw = cpu_matmul(&x, &g, 1, k, n, rows, true, false, true);
        let want_db: Vec<f32> = (0..n)
            .map(|j| (0..rows).map(|i| g[i * n + j]).sum())
            .collect();
        let read = |t: &nli_wgpu::Tensor| ctx.read(grads.get(t).unwrap());
        assert_close(&format!("{what}: dX"), &read(&xt), &want_dx, 1e-4, 1e-4);
        assert_close(&format!("{what}: dW"), &read(&wt), &want_dw, 1e-4, 1e-4);
        assert_close(&format!("{what}: db"), &read(&bt), &want_db, 1e-4, 1e-4);
        if residual {
            assert_close(&format!("{what}: dres"), &read(&rt), &g, 0.0, 0.0);
        }
    }
}

#[test]
fn generated_kernels_validate() {
    let loads = [Load::AlongK, Load::AlongFree, Load::Scalar];
    for lhs in loads {
        for rhs in loads {
            for (rows, cols) in [(4, 4), (8, 16), (32, 32)] {
                for (vec4_store, bias, residual) in [
                    (false, false, false),
                    (true, false, false),
                    (false, true, false),
                    (true, true, false),
                    (false, true, true),
                    (true, true, true),
                    (true, false, true),
                ] {
                    // Texture operands where the loads are vec4s.
                    for (lhs_texture, rhs_texture) in [(false, false), (true, true)] {
                        let cfg = BlockKernel {
                            rows,
                            cols,
                            lhs,
                            rhs,
                            vec4_store,
                            bias,
                            residual,
                            workgroup: 16,
                            lhs_texture: lhs_texture && lhs != Load::Scalar,
                            rhs_texture: rhs_texture && rhs != Load::Scalar,
                            column_sums: false,
                            shared_rhs: false,
                            gelu: GeluEpilogue::None,
                        };
                        validate_wgsl(&cfg.name(), &cfg.wgsl());
                        for gelu in [GeluEpilogue::Apply, GeluEpilogue::Keep, GeluEpilogue::Grad] {
                            let cfg = BlockKernel { gelu, ..cfg };
                            validate_wgsl(&cfg.name(), &cfg.wgsl());
                        }
                        let cfg = BlockKernel {
                            column_sums: true,
                            ..cfg
                        };
                        validate_wgsl(&cfg.name(), &cfg.wgsl());
                        // R's reads shared across the subgroup where they can be.
                        if rhs != Load::Scalar && cols % 8 == 0 {
                            for column_sums in [false, true] {
                                let cfg = BlockKernel {
                                    shared_rhs: true,
                                    column_sums,
                                    ..cfg
                                };
                                validate_wgsl(&cfg.name(), &cfg.wgsl());
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The products with their vec4 operands read through staging textures
/// (forced on every size, as the engine does on lavapipe for large ones) and
/// with storage buffers only (the GPU path): odd sizes, batches, every
/// transpose, operands of more than one texture row with a partial last row,
/// split-k, and a shared weight with its backward.
#[test]
fn texture_and_storage_operands_match_cpu() {
    for mode in [TextureOperands::All, TextureOperands::Off] {
        let ctx = ctx();
        ctx.gpu.set_texture_operands(mode);
        for &(batch, m, n, k) in &[
            (1, 5, 4, 8),
            (2, 4, 8, 4),
            (2, 65, 12, 68),
            (1, 33, 36, 20),
            (3, 8, 12, 5),
            (1, 8, 12, 1000),
        ] {
            for (t, &(ta, tb)) in TRANSPOSES.iter().enumerate() {
                check(&ctx, 600 + t as u64, (batch, m, n, k), ta, tb);
            }
        }
        let mut r = rng(601);
        let (batch, m, k, n) = (3, 33, 20, 12);
        let x = rand_vec(&mut r, batch * m * k, -1.0, 1.0);
        let w = rand_vec(&mut r, k * n, -1.0, 1.0);
        let b = rand_vec(&mut r, n, -1.0, 1.0);
        let xt = ctx.param(&x, &[batch, m, k]);
        let wt = ctx.param(&w, &[k, n]);
        let y = ctx.linear(&xt, &wt, Some(&ctx.tensor(&b, &[n])));
        let mut want = cpu_matmul(&x, &w, batch, m, n, k, false, false, false);
        for (i, v) in want.iter_mut().enumerate() {
            *v += b[i % n];
        }
        assert_close(
            &format!("{mode:?} linear"),
            &ctx.read(&y),
            &want,
            1e-4,
            1e-4,
        );
        let grads = ctx.backward(&ctx.sum_all(&y));
        let ones = vec![1.0; batch * m * n];
        let want_dx = cpu_matmul(&ones, &w, batch, m, k, n, false, true, false);
        let want_dw = cpu_matmul(&x, &ones, 1, k, n, batch * m, true, false, true);
        let read = |t: &nli_wgpu::Tensor| ctx.read(grads.get(t).unwrap());
        assert_close(&format!("{mode:?} dX"), &read(&xt), &want_dx, 1e-4, 1e-4);
        assert_close(&format!("{mode:?} dW"), &read(&wt), &want_dw, 1e-4, 1e-4);
    }
}

#[test]
fn texture_operands_run_where_chosen() {
    // Which kernels actually run: the texture variants when forced, and the
    // storage ones when off (and on GPUs by default).
    let ctx = ctx();
    if !ctx.gpu.start_profile() {
        eprintln!("skipped: the adapter has no timestamp queries");
        return;
    }
    let mut r = rng(602);
    let a = ctx.tensor(&rand_vec(&mut r, 64 * 32, -1.0, 1.0), &[64, 32]);
    let b = ctx.tensor(&rand_vec(&mut r, 32 * 16, -1.0, 1.0), &[32, 16]);
    let mut names = Vec::new();
    for mode in [TextureOperands::All, TextureOperands::Off] {
        ctx.gpu.set_texture_operands(mode);
        let _ = ctx.read(&ctx.matmul(&a, &b));
        names.push(profiled_kernels(&ctx));
    }
    let textured = |n: &Vec<String>| n.iter().filter(|k| k.contains("_tl_tr")).count();
    assert!(textured(&names[0]) == 1, "forced textures: {:?}", names[0]);
    assert!(textured(&names[1]) == 0, "textures off: {:?}", names[1]);
    assert!(
        names[1]
            .iter()
            .any(|k| k.starts_with("generated:matmul_block")),
        "{:?}",
        names[1]
    );
}

#[test]
fn shared_rhs_reads_match_cpu_and_run_where_chosen() {
    // R's reads shared across each subgroup (lavapipe's default) and not:
    // both match the CPU on every transpose, with many row blocks (the
    // sharing's condition), padded row blocks (2056 rows: 129 blocks of 16
    // padded to 144), split-k (k = 1000 over 16 row blocks), a batch, and a
    // last column block past n (n = 24 in blocks of 16); the shared kernel
    // runs only when asked for.
    let ctx = ctx();
    ctx.gpu.set_shared_rhs(true);
    if !ctx.gpu.shared_rhs() {
        eprintln!("skipped: the adapter has no subgroups of 8");
        return;
    }
    let profiled = ctx.gpu.start_profile();
    for shared in [true, false] {
        ctx.gpu.set_shared_rhs(shared);
        for &(batch, m, n, k) in &[
            (1, 256, 16, 64),
            (1, 2056, 8, 36),
            (1, 256, 8, 1000),
            (2, 256, 24, 20),
        ] {
            for (t, &(ta, tb)) in TRANSPOSES.iter().enumerate() {
                check(&ctx, 800 + t as u64, (batch, m, n, k), ta, tb);
            }
        }
        if profiled {
            let names = profiled_kernels(&ctx);
            let sr = names.iter().filter(|k| k.contains("_sr_")).count();
            assert_eq!(sr > 0, shared, "shared={shared}: {names:?}");
        }
    }
}

#[test]
fn bias_gradient_comes_from_the_weight_gradient_product() {
    // Which kernels run for a linear layer's backward: the weight gradient's
    // block kernel with column sums, and no separate sum for the bias, with
    // and without split-k (64 rows -> one k slice; 4096 rows and 12
    // outputs -> several, added up by split_sum); the general kernel's
    // product (nothing vec4) still sums the bias on its own.
    let ctx = ctx();
    if !ctx.gpu.start_profile() {
        eprintln!("skipped: the adapter has no timestamp queries");
        return;
    }
    let mut r = rng(603);
    for (rows, k, n, fused) in [(64, 64, 64, true), (4096, 8, 12, true), (5, 3, 7, false)] {
        let x = ctx.param(&rand_vec(&mut r, rows * k, -1.0, 1.0), &[rows, k]);
        let w = ctx.param(&rand_vec(&mut r, k * n, -1.0, 1.0), &[k, n]);
        let b = ctx.param(&rand_vec(&mut r, n, -1.0, 1.0), &[n]);
        let loss = ctx.sum_all(&ctx.linear(&x, &w, Some(&b)));
        let _ = profiled_kernels(&ctx);
        let grads = ctx.backward(&loss);
        // d bias = the row count for every column (dY is all ones).
        assert_close(
            &format!("{rows}x{k}->{n}: db"),
            &ctx.read(grads.get(&b).unwrap()),
            &vec![rows as f32; n],
            1e-6,
            0.0,
        );
        let names = profiled_kernels(&ctx);
        let column_sums = names.iter().filter(|k| k.contains("_cs_")).count();
        let separate = names
            .iter()
            .filter(|k| k.starts_with("reduce:sum_axis"))
            .count();
        if fused {
            assert!(
                column_sums == 1 && separate == 0,
                "{rows}x{k}->{n}: {names:?}"
            );
        } else {
            assert!(
                column_sums == 0 && separate >= 1,
                "{rows}x{k}->{n}: {names:?}"
            );
        }
    }
}

#[test]
fn forced_block_sizes_run_and_match_cpu() {
    // NLI_MATMUL_BLOCK / NLI_ATTENTION_BLOCK force the sizes a GPU would
    // pick (or any other): the kernel of that block runs, and the product
    // still matches the CPU.
    let ctx = ctx();
    let profiled = ctx.gpu.start_profile();
    for block in [4u32, 8, 16] {
        ctx.gpu.set_tuning(Tuning {
            matmul_block: Some(block),
            attention_block: None,
        });
        for (i, &(ta, tb)) in TRANSPOSES.iter().enumerate() {
            check(&ctx, 700 + i as u64, (1, 40, 36, 24), ta, tb);
        }
        if profiled {
            let names: Vec<String> = profiled_kernels(&ctx)
                .into_iter()
                .filter(|k| k.contains("matmul_block"))
                .collect();
            let want = format!("matmul_block_{block}x{block}_");
            assert!(
                !names.is_empty() && names.iter().all(|k| k.contains(&want)),
                "block {block}: {names:?}"
            );
        }
    }
    ctx.gpu.set_tuning(Tuning::default());
}

#[test]
fn tuning_from_environment_is_checked() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    };
    assert_eq!(Tuning::from_lookup(env(&[])).unwrap(), Tuning::default());
    let t = Tuning::from_lookup(env(&[
        ("NLI_MATMUL_BLOCK", "8"),
        ("NLI_ATTENTION_BLOCK", " 3"),
    ]))
    .unwrap();
    assert_eq!(t.matmul_block, Some(8));
    assert_eq!(t.attention_block, Some(3));
    for bad in [
        ("NLI_MATMUL_BLOCK", "12"),
        ("NLI_MATMUL_BLOCK", "64"),
        ("NLI_ATTENTION_BLOCK", "0"),
        ("NLI_ATTENTION_BLOCK", "x"),
    ] {
        let pairs: &'static [(&str, &str)] = Box::leak(Box::new([bad]));
        let err = Tuning::from_lookup(env(pairs)).unwrap_err().to_string();
        assert!(err.contains(bad.0), "{bad:?}: {err}");
    }
}

#[test]
fn newer_lavapipe_gets_small_matmul_blocks_and_the_environment_wins() {
    use nli_wgpu::gpu::{AdapterSummary, NEWER_LAVAPIPE_MATMUL_BLOCK, mesa_major};
    assert_eq!(mesa_major("llvmpipe Mesa 22.3.6 (LLVM 15.0.6)"), Some(22));
    assert_eq!(mesa_major("Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)"), Some(25));
    assert_eq!(mesa_major("NVIDIA 550.54.14"), None);
    let adapter = |kind: &str, driver: &str, info: &str| AdapterSummary {
        name: "test".into(),
        backend: "Vulkan".into(),
        device_type: kind.into(),
        driver: driver.into(),
        driver_info: info.into(),
        limits: Default::default(),
        timestamps: false,
        subgroup_size: None,
    };
    let old = adapter("Cpu", "llvmpipe", "Mesa 22.3.6 (LLVM 15.0.6)");
    let new = adapter("Cpu", "llvmpipe", "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)");
    let gpu = adapter("DiscreteGpu", "radv", "Mesa 25.0.7");
    assert_eq!(Tuning::for_adapter(&old), Tuning::default());
    assert_eq!(Tuning::for_adapter(&gpu), Tuning::default());
    let small = Tuning::for_adapter(&new);
    assert_eq!(small.matmul_block, Some(NEWER_LAVAPIPE_MATMUL_BLOCK));
    // A block size from the environment overrides the adapter's.
    let forced = Tuning {
        matmul_block: Some(32),
        attention_block: None,
    };
    assert_eq!(forced.or(small).matmul_block, Some(32));
    assert_eq!(Tuning::default().or(small), small);
}

/// The fused MLP (`mlp_residual`) against the CPU forward, and its
/// gradients against the same MLP of separate ops (linear, GELU, linear on
/// the residual), on every path of its epilogues: GELU in the block
/// kernels' vec4 and scalar stores, after a split-k sum (a long input in
/// the first product, a long output in the gradient's), after the general
/// kernel (width 3), and with many rows (split-k weight gradients).
#[test]
fn fused_mlp_matches_cpu_and_the_separate_ops() {
    use nli_wgpu::ops::mlp::cpu_mlp_residual;
    let ctx = ctx();
    let mut r = rng(700);
    for (rows, d, f, e) in [
        (33, 64, 256, 64),
        (20, 8, 12, 8),
        (6, 3, 6, 5),
        (8, 512, 16, 8),
        (8, 16, 16, 512),
        (1000, 8, 12, 8),
    ] {
        let x = rand_vec(&mut r, rows * d, -1.0, 1.0);
        let w1 = rand_vec(&mut r, d * f, -1.0, 1.0);
        let b1 = rand_vec(&mut r, f, -1.0, 1.0);
        let w2 = rand_vec(&mut r, f * e, -1.0, 1.0);
        let b2 = rand_vec(&mut r, e, -1.0, 1.0);
        let res = rand_vec(&mut r, rows * e, -1.0, 1.0);
        let g = rand_vec(&mut r, rows * e, -1.0, 1.0);
        let want = cpu_mlp_residual(&x, &w1, &b1, &w2, &b2, &res, (rows, d, f, e));
        let what = format!("mlp {rows}x{d} -> {f} -> {e}");
        let atol = 1e-5 * ((d * f) as f32).sqrt();
        let params = || {
            [
                ctx.param(&x, &[rows, d]),
                ctx.param(&w1, &[d, f]),
                ctx.param(&b1, &[f]),
                ctx.param(&w2, &[f, e]),
                ctx.param(&b2, &[e]),
                ctx.param(&res, &[rows, e]),
            ]
        };
        // Without a tape (GELU applied in the stores, nothing kept).
        {
            let t = params();
            let _g = ctx.no_grad();
            let y = ctx.mlp_residual(&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]);
            assert_close(
                &format!("{what}, no grad"),
                &ctx.read(&y),
                &want,
                1e-4,
                atol,
            );
        }
        let grads_of = |fused: bool| {
            let t = params();
            let y = if fused {
                ctx.mlp_residual(&t[0], &t[1], &t[2], &t[3], &t[4], &t[5])
            } else {
                let hidden = ctx.gelu(&ctx.linear(&t[0], &t[1], Some(&t[2])));
                ctx.linear_residual(&hidden, &t[3], Some(&t[4]), &t[5])
            };
            let out = ctx.read(&y);
            let loss = ctx.sum_all(&ctx.mul(&y, &ctx.tensor(&g, &[rows, e])));
            let grads = ctx.backward(&loss);
            let dt: Vec<Vec<f32>> = t.iter().map(|p| ctx.read(grads.get(p).unwrap())).collect();
            (out, dt)
        };
        let (out, fused) = grads_of(true);
        assert_close(&what, &out, &want, 1e-4, atol);
        let (_, separate) = grads_of(false);
        for (name, (a, b)) in ["dx", "dw1", "db1", "dw2", "db2", "dres"]
            .iter()
            .zip(fused.iter().zip(&separate))
        {
            let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            assert_close(&format!("{what}: {name}"), a, b, 1e-4, 1e-5 * scale);
        }
    }
}

/// Which kernels the fused MLP runs: GELU in the products' stores (kept
/// with the pre-activation under a tape, applied alone without one, and its
/// derivative in the backward), never the elementwise GELU passes.
#[test]
fn fused_mlp_runs_gelu_in_the_product_stores() {
    let ctx = ctx();
    if !ctx.gpu.start_profile() {
        eprintln!("skipped: the adapter has no timestamp queries");
        return;
    }
    let mut r = rng(701);
    let (rows, d, f) = (40, 16, 64);
    let mut p = |shape: &[usize]| {
        let n = shape.iter().product();
        ctx.param(&rand_vec(&mut r, n, -1.0, 1.0), shape)
    };
    let t = [
        p(&[rows, d]),
        p(&[d, f]),
        p(&[f]),
        p(&[f, d]),
        p(&[d]),
        p(&[rows, d]),
    ];
    let forward = || ctx.mlp_residual(&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]);
    let gelu_passes = |names: &[String]| {
        names
            .iter()
            .filter(|k| k.contains(":gelu"))
            .cloned()
            .collect::<Vec<_>>()
    };
    {
        let _g = ctx.no_grad();
        let _ = ctx.read(&forward());
    }
    let names = profiled_kernels(&ctx);
    assert!(names.iter().any(|k| k.contains("_ga_")), "{names:?}");
    assert!(gelu_passes(&names).is_empty(), "{names:?}");
    let y = forward();
    let _ = ctx.read(&y);
    let names = profiled_kernels(&ctx);
    assert!(names.iter().any(|k| k.contains("_gk_")), "{names:?}");
    assert!(gelu_passes(&names).is_empty(), "{names:?}");
    let grads = ctx.backward(&ctx.sum_all(&y));
    let _ = ctx.read(grads.get(&t[0]).unwrap());
    let names = profiled_kernels(&ctx);
    assert!(names.iter().any(|k| k.contains("_gg_")), "{names:?}");
    assert!(gelu_passes(&names).is_empty(), "{names:?}");
}
