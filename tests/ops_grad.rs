//! A finite-difference gradient check for every differentiable op, on small
//! random shapes that are not multiples of the workgroup size (64) or the
//! matmul block (4) and tile (32). Tolerances: see GradCheckConfig::default.

mod common;
use common::*;
use nli_wgpu::gradcheck::{GradCheckConfig, gradcheck};
use nli_wgpu::{Ctx, Tensor};

fn check(name: &str, inputs: Vec<(Vec<f32>, Vec<usize>)>, f: impl Fn(&Ctx, &[Tensor]) -> Tensor) {
    check_with(name, inputs, &GradCheckConfig::default(), f)
}

fn check_with(
    name: &str,
    inputs: Vec<(Vec<f32>, Vec<usize>)>,
    cfg: &GradCheckConfig,
    f: impl Fn(&Ctx, &[Tensor]) -> Tensor,
) {
    let ctx = ctx();
    let report = gradcheck(&ctx, &inputs, cfg, f);
    assert!(report.passed(), "{name}: {report}");
}

fn input(seed: u64, shape: &[usize], lo: f32, hi: f32) -> (Vec<f32>, Vec<usize>) {
    let n = shape.iter().product();
    (rand_vec(&mut rng(seed), n, lo, hi), shape.to_vec())
}

#[test]
fn grad_add_sub_mul_scale() {
    let ins = || vec![input(1, &[5, 13], -1.0, 1.0), input(2, &[5, 13], -1.0, 1.0)];
    check("add", ins(), |c, t| c.add(&t[0], &t[1]));
    check("sub", ins(), |c, t| c.sub(&t[0], &t[1]));
    check("mul", ins(), |c, t| c.mul(&t[0], &t[1]));
    check("scale", ins(), |c, t| c.scale(&t[0], -1.7));
}

#[test]
fn grad_add_broadcast() {
    check(
        "add_broadcast",
        vec![
            input(3, &[3, 4, 7], -1.0, 1.0),
            input(4, &[4, 7], -1.0, 1.0),
        ],
        |c, t| c.add_broadcast(&t[0], &t[1]),
    );
}

#[test]
fn grad_add_expanded() {
    // Middle axis (b shared by the rows of each outer index), first and last
    // axes; inner sizes 8 (vec4 kernels) and 7.
    for (xs, bs, axis) in [
        (vec![3, 5, 8], vec![3, 8], 1),
        (vec![3, 5, 7], vec![3, 7], 1),
        (vec![4, 6], vec![6], 0),
        (vec![4, 6], vec![4], 1),
    ] {
        check(
            &format!("add_expanded {xs:?} axis {axis}"),
            vec![input(3, &xs, -1.0, 1.0), input(4, &bs, -1.0, 1.0)],
            move |c, t| c.add_expanded(&t[0], &t[1], axis),
        );
    }
}

#[test]
fn grad_gelu_relu() {
    // 67 elements: one float per invocation; 68: the vec4 kernels.
    for n in [67, 68] {
        check("gelu", vec![input(5, &[n], -3.0, 3.0)], |c, t| {
            c.gelu(&t[0])
        });
    }
    // Keep inputs away from the kink at 0, where the central difference is wrong.
    let (mut d, s) = input(6, &[67], -2.0, 2.0);
    for v in &mut d {
        if v.abs() < 0.05 {
            *v += 0.1;
        }
    }
    check("relu", vec![(d, s)], |c, t| c.relu(&t[0]));
}

#[test]
fn grad_reductions() {
    check("sum_axis", vec![input(7, &[3, 5, 7], -1.0, 1.0)], |c, t| {
        c.sum_axis(&t[0], 1)
    });
    check(
        "mean_axis",
        vec![input(8, &[3, 5, 7], -1.0, 1.0)],
        |c, t| c.mean_axis(&t[0], -1),
    );
    check("mean_all", vec![input(9, &[6, 11], -1.0, 1.0)], |c, t| {
        c.mean_all(&t[0])
    });
}

#[test]
fn grad_shape_ops() {
    check("reshape", vec![input(10, &[4, 6], -1.0, 1.0)], |c, t| {
        c.reshape(&t[0], &[2, 12])
    });
    check("slice", vec![input(11, &[3, 9, 5], -1.0, 1.0)], |c, t| {
        c.slice(&t[0], 1, 2, 4)
    });
    check(
        "concat",
        vec![
            input(12, &[3, 2, 5], -1.0, 1.0),
            input(13, &[3, 4, 5], -1.0, 1.0),
        ],
        |c, t| c.concat(&[&t[0], &t[1]], 1),
    );
    check("expand", vec![input(14, &[3, 5], -1.0, 1.0)], |c, t| {
        c.expand(&t[0], 1, 6)
    });
}

#[test]
fn grad_softmax_family() {
    check("softmax", vec![input(15, &[9, 10], -2.0, 2.0)], |c, t| {
        c.softmax(&t[0])
    });
    check(
        "log_softmax",
        vec![input(16, &[9, 10], -2.0, 2.0)],
        |c, t| c.log_softmax(&t[0]),
    );
    let targets: Vec<u32> = (0..9).map(|i| (i * 3 % 10) as u32).collect();
    check(
        "cross_entropy",
        vec![input(17, &[9, 10], -2.0, 2.0)],
        move |c, t| c.cross_entropy(&t[0], &c.indices(&targets, &[9])),
    );
}

#[test]
fn grad_layer_norm() {
    // Rows of 12 run the generated row kernels (each element read once),
    // rows of 260 (65 vec4s, longer than they hold) the vec4 loops, rows of
    // 11 the scalar ones.
    for (rows, cols) in [(7, 12), (2, 260), (7, 11)] {
        check(
            &format!("layer_norm {cols}"),
            vec![
                input(18, &[rows, cols], -2.0, 2.0),
                input(19, &[cols], 0.5, 1.5),
                input(20, &[cols], -0.5, 0.5),
            ],
            |c, t| c.layer_norm(&t[0], &t[1], &t[2]),
        );
    }
}

#[test]
fn grad_layer_norm_through_texture_operands() {
    // The row kernels with x and dy read through staging textures (the
    // engine's choice for large row counts), rows of 12 and 64 floats.
    use nli_wgpu::gpu::TextureOperands;
    for cols in [12, 64] {
        check(
            &format!("textured layer_norm {cols}"),
            vec![
                input(31, &[5, cols], -2.0, 2.0),
                input(32, &[cols], 0.5, 1.5),
                input(33, &[cols], -0.5, 0.5),
            ],
            |c, t| {
                c.gpu.set_texture_operands(TextureOperands::All);
                c.layer_norm(&t[0], &t[1], &t[2])
            },
        );
    }
}

#[test]
fn grad_elementwise_through_texture_operands() {
    // The vec4 elementwise kernels reading a and b through staging
    // textures: products, GELU and its gradient, a broadcast addition and
    // an expanded one.
    use nli_wgpu::gpu::TextureOperands;
    check(
        "textured elementwise",
        vec![
            input(50, &[3, 4, 8], -2.0, 2.0),
            input(51, &[3, 4, 8], -1.0, 1.0),
            input(52, &[8], -1.0, 1.0),
            input(53, &[3, 8], -1.0, 1.0),
        ],
        |c, t| {
            c.gpu.set_texture_operands(TextureOperands::All);
            let h = c.gelu(&c.mul(&t[0], &t[1]));
            let h = c.add_expanded(&c.add_broadcast(&h, &t[2]), &t[3], 1);
            c.sub(&h, &c.scale(&t[1], 0.5))
        },
    );
}

#[test]
fn grad_embedding() {
    let idx: Vec<u32> = vec![3, 1, 3, 0, 9, 3, 2, 1, 7, 7, 4];
    check(
        "embedding",
        vec![input(21, &[10, 5], -1.0, 1.0)],
        move |c, t| c.embedding(&t[0], &c.indices(&idx, &[11])),
    );
}

#[test]
fn grad_matmul_every_transpose() {
    let (m, n, k) = (5, 6, 7);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = if ta { [2, k, m] } else { [2, m, k] };
        let b = if tb { [2, n, k] } else { [2, k, n] };
        check(
            &format!("matmul ta={ta} tb={tb}"),
            vec![input(22, &a, -1.0, 1.0), input(23, &b, -1.0, 1.0)],
            move |c, t| c.matmul_t(&t[0], &t[1], ta, tb),
        );
    }
}

#[test]
fn grad_matmul_through_texture_operands() {
    // The same products with every vec4 operand read through a staging
    // texture (the engine's choice on lavapipe for large products).
    use nli_wgpu::gpu::TextureOperands;
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let (m, n, k) = (8, 12, 16);
        let a = if ta { [2, k, m] } else { [2, m, k] };
        let b = if tb { [2, n, k] } else { [2, k, n] };
        check(
            &format!("textured matmul ta={ta} tb={tb}"),
            vec![input(29, &a, -1.0, 1.0), input(30, &b, -1.0, 1.0)],
            move |c, t| {
                c.gpu.set_texture_operands(TextureOperands::All);
                c.matmul_t(&t[0], &t[1], ta, tb)
            },
        );
    }
}

#[test]
fn grad_matmul_shared_weight_and_linear() {
    for tb in [false, true] {
        let w = if tb { [6, 4] } else { [4, 6] };
        check(
            &format!("shared matmul tb={tb}"),
            vec![input(24, &[3, 5, 4], -1.0, 1.0), input(25, &w, -1.0, 1.0)],
            move |c, t| c.matmul_t(&t[0], &t[1], false, tb),
        );
    }
    check(
        "linear",
        vec![
            input(26, &[2, 3, 4], -1.0, 1.0),
            input(27, &[4, 6], -1.0, 1.0),
            input(28, &[6], -1.0, 1.0),
        ],
        |c, t| c.linear(&t[0], &t[1], Some(&t[2])),
    );
}

#[test]
fn grad_accumulates_when_a_tensor_is_used_twice() {
    // y = x * x + x uses x three times: dy/dx = 2x + 1.
    let ctx = ctx();
    let x = vec![0.5f32, -1.0, 2.0, 3.0];
    let xt = ctx.param(&x, &[4]);
    let y = ctx.add(&ctx.mul(&xt, &xt), &xt);
    let grads = ctx.backward(&ctx.sum_all(&y));
    let want: Vec<f32> = x.iter().map(|v| 2.0 * v + 1.0).collect();
    assert_close(
        "accumulated grad",
        &ctx.read(grads.get(&xt).unwrap()),
        &want,
        1e-6,
        1e-6,
    );
    // And through the generic checker, with a deeper composition.
    check(
        "composite",
        vec![input(29, &[4, 8], -1.0, 1.0), input(30, &[8, 8], -0.5, 0.5)],
        |c, t| {
            let h = c.gelu(&c.matmul(&t[0], &t[1]));
            let h2 = c.add(&h, &c.matmul(&h, &t[1]));
            c.log_softmax(&c.mul(&h2, &t[0]))
        },
    );
}

#[test]
fn grad_accumulates_in_the_products_and_layer_norm() {
    // w and x are each used by several ops, and the backward of each use
    // but the last in the forward adds what was accumulated for its
    // tensor as it stores (Ctx::take_grad_acc): w's through a split-k
    // product (300 rows, one block: two slices, then split_sum_acc) and
    // through a block kernel's residual epilogue; x's through a matmul's
    // input product, the MLP's, and layer norm's row kernel; g's through
    // the MLP's bias gradient, the chunked sums of layer norm's parameter
    // gradients (300 rows) and the sum of a broadcast addition. Textured
    // operands and storage buffers both.
    use nli_wgpu::gpu::TextureOperands;
    for textures in [TextureOperands::Off, TextureOperands::All] {
        check(
            &format!("accumulating products {textures:?}"),
            vec![
                input(40, &[300, 8], -1.0, 1.0),
                input(41, &[8, 8], -0.5, 0.5),
                input(42, &[12, 8], -1.0, 1.0),
                input(43, &[8], 0.5, 1.5),
                input(44, &[8, 12], -0.5, 0.5),
                input(45, &[12], -0.5, 0.5),
                input(46, &[12, 8], -0.5, 0.5),
            ],
            move |c, t| {
                c.gpu.set_texture_operands(textures);
                let (big, w, x, g) = (&t[0], &t[1], &t[2], &t[3]);
                let z = c.matmul(&c.layer_norm(&c.add_broadcast(big, g), g, g), w);
                let a = c.matmul(x, w);
                let m = c.mlp_residual(x, &t[4], &t[5], &t[6], g, &a);
                let h = c.layer_norm(x, g, g);
                let y = c.add(&c.matmul(&c.add(&h, &m), w), x);
                c.add(
                    &c.scale(&c.sum_all(&c.mul(&z, &z)), 1e-3),
                    &c.sum_all(&c.mul(&y, &y)),
                )
            },
        );
    }
}

#[test]
fn gradcheck_catches_a_wrong_gradient() {
    // Self-test of the checker: a function whose recorded backward is wrong
    // (detach hides one path) must be reported.
    let ctx = ctx();
    let cfg = GradCheckConfig::default();
    let report = gradcheck(&ctx, &[input(31, &[6], 0.5, 1.5)], &cfg, |c, t| {
        c.mul(&t[0], &c.detach(&t[0]))
    });
    assert!(!report.passed(), "a half-missing gradient passed: {report}");
}

#[test]
fn grad_exp_add_scalar_log1m() {
    check("exp", vec![input(32, &[5, 9], -2.0, 2.0)], |c, t| {
        c.exp(&t[0])
    });
    check("add_scalar", vec![input(33, &[5, 9], -2.0, 2.0)], |c, t| {
        c.add_scalar(&t[0], 3.5)
    });
    // q in (0, 0.9): away from the clamp at 1 - q = 1e-6.
    check(
        "log1m_clamped",
        vec![input(34, &[5, 9], 0.0, 0.9)],
        |c, t| c.log1m_clamped(&t[0], 1e-6),
    );
}

#[test]
fn grad_nll_of_probabilities() {
    let targets: Vec<u32> = (0..7).map(|i| (i * 3 % 6) as u32).collect();
    // Probabilities in (0.1, 1): -log p is smooth there.
    check(
        "nll_probs",
        vec![input(35, &[7, 6], 0.1, 1.0)],
        move |c, t| c.nll_probs(&t[0], &c.indices(&targets, &[7]), 1e-12),
    );
}

#[test]
fn grad_mlp_residual() {
    // The fused MLP: hidden widths 8 (vec4 stores, GELU in the block
    // kernels' stores) and 6 (scalar stores); inputs of width 3 run the
    // general kernel, whose GELU is a pass of its own. Default tolerances:
    // the op is products and GELU, smooth everywhere.
    for (d, f, e) in [(4, 8, 4), (3, 6, 5)] {
        check(
            &format!("mlp_residual d={d} f={f} e={e}"),
            vec![
                input(60, &[2, 3, d], -1.0, 1.0),
                input(61, &[d, f], -1.0, 1.0),
                input(62, &[f], -1.0, 1.0),
                input(63, &[f, e], -1.0, 1.0),
                input(64, &[e], -1.0, 1.0),
                input(65, &[2, 3, e], -1.0, 1.0),
            ],
            |c, t| c.mlp_residual(&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]),
        );
    }
}
