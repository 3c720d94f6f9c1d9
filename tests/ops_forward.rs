//! Every op's forward against a plain CPU reference.

mod common;
use common::*;
use nli_wgpu::ops::elementwise::cpu as ew;
use nli_wgpu::ops::layer_norm::cpu_layer_norm_row;
use nli_wgpu::ops::matmul::cpu_matmul;
use nli_wgpu::ops::softmax::cpu as sm;

#[test]
fn matmul_all_transposes_and_batches_match_cpu() {
    let ctx = ctx();
    let mut r = rng(1);
    // Sizes that are not multiples of the 4x4 block or the 32x32 tile.
    for &(batch, m, n, k) in &[
        (1, 1, 1, 1),
        (1, 5, 7, 3),
        (3, 33, 17, 29),
        (2, 64, 40, 12),
        (1, 70, 65, 66),
    ] {
        for &(ta, tb) in &[(false, false), (true, false), (false, true), (true, true)] {
            let a = rand_vec(&mut r, batch * m * k, -1.0, 1.0);
            let b = rand_vec(&mut r, batch * k * n, -1.0, 1.0);
            let ashape = if ta {
                vec![batch, k, m]
            } else {
                vec![batch, m, k]
            };
            let bshape = if tb {
                vec![batch, n, k]
            } else {
                vec![batch, k, n]
            };
            let c = ctx.matmul_t(&ctx.tensor(&a, &ashape), &ctx.tensor(&b, &bshape), ta, tb);
            assert_eq!(c.shape(), [batch, m, n]);
            let want = cpu_matmul(&a, &b, batch, m, n, k, ta, tb, true);
            assert_close(
                &format!("matmul b{batch} {m}x{n}x{k} ta={ta} tb={tb}"),
                &ctx.read(&c),
                &want,
                1e-4,
                1e-5,
            );
        }
    }
}

#[test]
fn matmul_with_shared_weight_and_linear_match_cpu() {
    let ctx = ctx();
    let mut r = rng(2);
    let (batch, m, n, k) = (4, 9, 11, 6);
    let a = rand_vec(&mut r, batch * m * k, -1.0, 1.0);
    let w = rand_vec(&mut r, k * n, -1.0, 1.0);
    let bias = rand_vec(&mut r, n, -1.0, 1.0);
    let at = ctx.tensor(&a, &[batch, m, k]);
    let wt = ctx.tensor(&w, &[k, n]);
    let c = ctx.matmul(&at, &wt);
    let want = cpu_matmul(&a, &w, batch, m, n, k, false, false, false);
    assert_close("shared-weight matmul", &ctx.read(&c), &want, 1e-4, 1e-5);
    let y = ctx.linear(&at, &wt, Some(&ctx.tensor(&bias, &[n])));
    assert_eq!(y.shape(), [batch, m, n]);
    let want_lin: Vec<f32> = want
        .iter()
        .enumerate()
        .map(|(i, v)| v + bias[i % n])
        .collect();
    assert_close("linear", &ctx.read(&y), &want_lin, 1e-4, 1e-5);
}

#[test]
fn matmul_512_cubed_matches_cpu_and_reports_time() {
    let ctx = ctx();
    let mut r = rng(3);
    let n = 512;
    let a = rand_vec(&mut r, n * n, -1.0, 1.0);
    let b = rand_vec(&mut r, n * n, -1.0, 1.0);
    let (at, bt) = (ctx.tensor(&a, &[n, n]), ctx.tensor(&b, &[n, n]));
    let _warm = ctx.read(&ctx.matmul(&at, &bt));
    let t0 = std::time::Instant::now();
    let c = ctx.matmul(&at, &bt);
    let got = ctx.read(&c);
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "matmul 512x512x512 on {}: {:.1} ms including readback ({:.2} GFLOP/s); the benchmarks time kernels properly",
        ctx.gpu.summary.name,
        secs * 1e3,
        2.0 * (n * n * n) as f64 / secs / 1e9
    );
    let want = cpu_matmul(&a, &b, 1, n, n, n, false, false, true);
    // 512-term sums of products of numbers in (-1, 1): f32 accumulation
    // differs from the f64 reference by ~sqrt(512) ulps of the partial sums.
    assert_close("matmul 512^3", &got, &want, 1e-3, 1e-4);
}

#[test]
fn elementwise_ops_match_cpu() {
    let ctx = ctx();
    // One float per invocation (133 elements, rows of 19) and four (140,
    // rows of 20: the vec4 kernels).
    elementwise_ops_match_cpu_on(&ctx, 7, 19);
    elementwise_ops_match_cpu_on(&ctx, 7, 20);
    // The vec4 kernels with a and b read through staging textures (the
    // engine's choice on lavapipe for large operands).
    ctx.gpu
        .set_texture_operands(nli_wgpu::gpu::TextureOperands::All);
    elementwise_ops_match_cpu_on(&ctx, 7, 20);
    ctx.gpu
        .set_texture_operands(nli_wgpu::gpu::TextureOperands::Off);
    assert_close(
        "full",
        &ctx.read(&ctx.full(&[4, 5], 2.5)),
        &[2.5; 20],
        0.0,
        0.0,
    );
}

fn elementwise_ops_match_cpu_on(ctx: &nli_wgpu::Ctx, rows: usize, cols: usize) {
    let mut r = rng(4);
    let n = rows * cols;
    let a = rand_vec(&mut r, n, -3.0, 3.0);
    let b = rand_vec(&mut r, n, -3.0, 3.0);
    let (at, bt) = (ctx.tensor(&a, &[rows, cols]), ctx.tensor(&b, &[rows, cols]));
    let zip = |f: fn(f32, f32) -> f32| a.iter().zip(&b).map(|(x, y)| f(*x, *y)).collect::<Vec<_>>();
    assert_close(
        "add",
        &ctx.read(&ctx.add(&at, &bt)),
        &zip(|x, y| x + y),
        1e-6,
        1e-6,
    );
    assert_close(
        "sub",
        &ctx.read(&ctx.sub(&at, &bt)),
        &zip(|x, y| x - y),
        1e-6,
        1e-6,
    );
    assert_close(
        "mul",
        &ctx.read(&ctx.mul(&at, &bt)),
        &zip(|x, y| x * y),
        1e-6,
        1e-6,
    );
    let sc: Vec<f32> = a.iter().map(|x| 0.37 * x).collect();
    assert_close("scale", &ctx.read(&ctx.scale(&at, 0.37)), &sc, 1e-6, 1e-6);
    let ge: Vec<f32> = a.iter().map(|&x| ew::gelu(x)).collect();
    assert_close("gelu", &ctx.read(&ctx.gelu(&at)), &ge, 1e-5, 1e-6);
    let re: Vec<f32> = a.iter().map(|&x| x.max(0.0)).collect();
    assert_close("relu", &ctx.read(&ctx.relu(&at)), &re, 0.0, 0.0);
    let bias = rand_vec(&mut r, cols, -1.0, 1.0);
    let ab: Vec<f32> = a
        .iter()
        .enumerate()
        .map(|(i, x)| x + bias[i % cols])
        .collect();
    assert_close(
        "add_broadcast",
        &ctx.read(&ctx.add_broadcast(&at, &ctx.tensor(&bias, &[cols]))),
        &ab,
        1e-6,
        1e-6,
    );
    // x + b expanded along the middle axis, against an explicit expand.
    let (o, m) = (3, rows);
    let b3 = rand_vec(&mut r, o * cols, -1.0, 1.0);
    let x3 = rand_vec(&mut r, o * m * cols, -1.0, 1.0);
    let want: Vec<f32> = (0..o * m * cols)
        .map(|i| x3[i] + b3[(i / (m * cols)) * cols + i % cols])
        .collect();
    let got = ctx.add_expanded(
        &ctx.tensor(&x3, &[o, m, cols]),
        &ctx.tensor(&b3, &[o, cols]),
        1,
    );
    assert_close("add_expanded", &ctx.read(&got), &want, 0.0, 0.0);
    assert_close(
        "full",
        &ctx.read(&ctx.full(&[3, 5], 2.5)),
        &[2.5; 15],
        0.0,
        0.0,
    );
    assert_close("zeros", &ctx.read(&ctx.zeros(&[70])), &[0.0; 70], 0.0, 0.0);
}

#[test]
fn reductions_and_shape_ops_match_cpu() {
    let ctx = ctx();
    let mut r = rng(5);
    let (o, a, i) = (3, 5, 7);
    let x = rand_vec(&mut r, o * a * i, -1.0, 1.0);
    let xt = ctx.tensor(&x, &[o, a, i]);
    let at = |oo: usize, aa: usize, ii: usize| x[(oo * a + aa) * i + ii];
    let mut sum1 = vec![0.0; o * i];
    for oo in 0..o {
        for ii in 0..i {
            sum1[oo * i + ii] = (0..a).map(|aa| at(oo, aa, ii)).sum();
        }
    }
    assert_close(
        "sum_axis 1",
        &ctx.read(&ctx.sum_axis(&xt, 1)),
        &sum1,
        1e-5,
        1e-6,
    );
    let mean1: Vec<f32> = sum1.iter().map(|s| s / a as f32).collect();
    assert_close(
        "mean_axis 1",
        &ctx.read(&ctx.mean_axis(&xt, 1)),
        &mean1,
        1e-5,
        1e-6,
    );
    let sum_last: Vec<f32> = x.chunks(i).map(|c| c.iter().sum()).collect();
    assert_close(
        "sum_axis -1",
        &ctx.read(&ctx.sum_axis(&xt, -1)),
        &sum_last,
        1e-5,
        1e-6,
    );
    let total: f32 = x.iter().sum();
    assert_close(
        "sum_all",
        &ctx.read(&ctx.sum_all(&xt)),
        &[total],
        1e-5,
        1e-5,
    );

    // slice axis 1, positions 1..4
    let sl = ctx.slice(&xt, 1, 1, 3);
    let mut want = vec![];
    for oo in 0..o {
        for aa in 1..4 {
            for ii in 0..i {
                want.push(at(oo, aa, ii));
            }
        }
    }
    assert_eq!(sl.shape(), [o, 3, i]);
    assert_close("slice", &ctx.read(&sl), &want, 0.0, 0.0);

    // concat of the slice and x along axis 1
    let cat = ctx.concat(&[&sl, &xt], 1);
    assert_eq!(cat.shape(), [o, 3 + a, i]);
    let got = ctx.read(&cat);
    for oo in 0..o {
        for aa in 0..3 + a {
            for ii in 0..i {
                let w = if aa < 3 {
                    at(oo, aa + 1, ii)
                } else {
                    at(oo, aa - 3, ii)
                };
                assert_eq!(
                    got[(oo * (3 + a) + aa) * i + ii],
                    w,
                    "concat at {oo},{aa},{ii}"
                );
            }
        }
    }

    // expand a [o, i] tensor into [o, 4, i]
    let y = ctx.sum_axis(&xt, 1);
    let ex = ctx.expand(&y, 1, 4);
    assert_eq!(ex.shape(), [o, 4, i]);
    let got = ctx.read(&ex);
    for oo in 0..o {
        for rr in 0..4 {
            for ii in 0..i {
                assert_eq!(got[(oo * 4 + rr) * i + ii], sum1[oo * i + ii]);
            }
        }
    }
    let rs = ctx.reshape(&xt, &[o * a, i]);
    assert_eq!(rs.shape(), [o * a, i]);
    assert_close("reshape", &ctx.read(&rs), &x, 0.0, 0.0);
}

#[test]
fn softmax_family_matches_cpu() {
    let ctx = ctx();
    let mut r = rng(6);
    let (rows, cols) = (67, 10);
    // Large logits: the kernels must subtract the max.
    let x = rand_vec(&mut r, rows * cols, -40.0, 40.0);
    let xt = ctx.tensor(&x, &[rows, cols]);
    let sm_want: Vec<f32> = x.chunks(cols).flat_map(sm::softmax_row).collect();
    let ls_want: Vec<f32> = x.chunks(cols).flat_map(sm::log_softmax_row).collect();
    assert_close(
        "softmax",
        &ctx.read(&ctx.softmax(&xt)),
        &sm_want,
        1e-4,
        1e-6,
    );
    assert_close(
        "log_softmax",
        &ctx.read(&ctx.log_softmax(&xt)),
        &ls_want,
        1e-4,
        1e-4,
    );
    let targets: Vec<u32> = (0..rows).map(|i| (i * 7 % cols) as u32).collect();
    let ce = ctx.cross_entropy(&xt, &ctx.indices(&targets, &[rows]));
    let ce_want: Vec<f32> = (0..rows)
        .map(|i| -ls_want[i * cols + targets[i] as usize])
        .collect();
    assert_close("cross_entropy", &ctx.read(&ce), &ce_want, 1e-4, 1e-4);
}

#[test]
fn layer_norm_and_embedding_match_cpu() {
    let ctx = ctx();
    let mut r = rng(7);
    // Rows of 24 floats run the generated row kernels (reading x from a
    // staging texture with textured operands), rows of 260 (longer than
    // those hold) the vec4 loops, rows of 23 one float per load.
    use nli_wgpu::gpu::TextureOperands;
    for (rows, cols, textures) in [
        (45, 24, TextureOperands::Off),
        (45, 24, TextureOperands::All),
        (45, 260, TextureOperands::All),
        (45, 23, TextureOperands::All),
    ] {
        ctx.gpu.set_texture_operands(textures);
        let x = rand_vec(&mut r, rows * cols, -2.0, 5.0);
        let g = rand_vec(&mut r, cols, 0.5, 1.5);
        let b = rand_vec(&mut r, cols, -0.5, 0.5);
        let y = ctx.layer_norm(
            &ctx.tensor(&x, &[rows, cols]),
            &ctx.tensor(&g, &[cols]),
            &ctx.tensor(&b, &[cols]),
        );
        let want: Vec<f32> = x
            .chunks(cols)
            .flat_map(|row| cpu_layer_norm_row(row, &g, &b))
            .collect();
        assert_close(
            &format!("layer_norm {cols}"),
            &ctx.read(&y),
            &want,
            1e-4,
            1e-5,
        );
    }

    let (vocab, dim) = (10, 6);
    let table = rand_vec(&mut r, vocab * dim, -1.0, 1.0);
    let idx: Vec<u32> = (0..23).map(|i| (i * 3 % vocab) as u32).collect();
    let e = ctx.embedding(
        &ctx.tensor(&table, &[vocab, dim]),
        &ctx.indices(&idx, &[23]),
    );
    assert_eq!(e.shape(), [23, dim]);
    let want: Vec<f32> = idx
        .iter()
        .flat_map(|&i| table[i as usize * dim..(i as usize + 1) * dim].to_vec())
        .collect();
    assert_close("embedding", &ctx.read(&e), &want, 0.0, 0.0);
}

#[test]
fn exp_log1m_nll_match_cpu_including_clamps() {
    let ctx = ctx();
    let q = vec![0.0f32, 0.5, 0.999_999_9, 1.0, 0.25];
    let qt = ctx.tensor(&q, &[5]);
    let want_log: Vec<f32> = q.iter().map(|v| (1.0 - v).max(1e-6).ln()).collect();
    assert_close(
        "log1m_clamped",
        &ctx.read(&ctx.log1m_clamped(&qt, 1e-6)),
        &want_log,
        1e-5,
        1e-6,
    );
    let want_exp: Vec<f32> = q.iter().map(|v| v.exp()).collect();
    assert_close("exp", &ctx.read(&ctx.exp(&qt)), &want_exp, 1e-6, 1e-6);
    assert_close(
        "add_scalar",
        &ctx.read(&ctx.add_scalar(&qt, -2.0)),
        &q.iter().map(|v| v - 2.0).collect::<Vec<_>>(),
        1e-6,
        1e-6,
    );
    // Rows of probabilities; the second row's target has probability 0.
    let p = vec![0.2f32, 0.8, 1.0, 0.0];
    let loss = ctx.nll_probs(&ctx.tensor(&p, &[2, 2]), &ctx.indices(&[1, 1], &[2]), 1e-12);
    assert_close(
        "nll_probs",
        &ctx.read(&loss),
        &[-(0.8f32.ln()), -(1e-12f32.ln())],
        1e-5,
        1e-5,
    );
}
