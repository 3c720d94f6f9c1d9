//! The NLI model: a finite-difference check of the whole loss of the `tiny`
//! model (both Gumbel layers with fixed noise, the regulariser and the
//! mutual-information bonus included), the bonus alone, and the inductor's
//! sample with scaled noise.

mod common;
use common::*;
use nli_wgpu::gradcheck::{GradCheckConfig, gradcheck};
use nli_wgpu::model::config::preset;
use nli_wgpu::model::layers::{GivenParams, RandomInit};
use nli_wgpu::model::{
    LOG_PROB_FLOOR, LossSettings, Nli, StepNoise, token_mutual_information, view_contrastive_loss,
    view_mutual_information,
};
use nli_wgpu::tasks::{BatchSampler, Split, Suite, SuiteConfig, TaskBatch, TaskRng};
use nli_wgpu::{Ctx, Tensor};
use rand::Rng;

fn tiny_batch(tasks: usize, pairs: usize) -> TaskBatch {
    let cfg = SuiteConfig::default();
    let sampler = BatchSampler::for_suite(Suite::ShiftL, Split::Id, cfg).unwrap();
    let mut batch = TaskBatch::default();
    sampler.fill(&mut TaskRng::new(11), tasks, pairs, &mut batch);
    batch
}

#[test]
fn whole_tiny_loss_matches_finite_differences() {
    let ctx = ctx();
    let (model_cfg, _) = preset("tiny", 20, 10).unwrap();
    let fresh = Nli::build(&ctx, &model_cfg, &mut RandomInit::new(3));
    let inputs: Vec<(Vec<f32>, Vec<usize>)> = fresh
        .params
        .iter()
        .map(|(_, t)| (ctx.read(t), t.shape().to_vec()))
        .collect();
    drop(fresh);
    let batch = tiny_batch(2, 3);
    let x = ctx.indices(&batch.x, &[2, 3, 20]);
    let y = ctx.indices(&batch.y, &[2, 3, 20]);
    // The interpreter's noise at half scale (1 in SPEC): the scaled path.
    let noise = Some(StepNoise {
        interpreter_scale: 0.5,
        ..fixed_noise()
    });
    // A larger lambda than training so the regulariser's gradient is not
    // swamped by the reconstruction term in the check.
    let cfg = GradCheckConfig {
        max_elements: 6,
        ..GradCheckConfig::default()
    };
    let report = gradcheck(&ctx, &inputs, &cfg, |c, ts| {
        let model = Nli::build(c, &model_cfg, &mut GivenParams::new(ts.to_vec()));
        model
            .loss(
                c,
                &x,
                &y,
                LossSettings {
                    lambda: 0.5,
                    // The mutual-information bonuses on too (0 in SPEC).
                    mi_weight: 0.5,
                    view_mi_weight: 0.5,
                    // A reduced inductor noise (1 in SPEC): the scaled path.
                    inductor_noise: 0.5,
                    ..plain_settings(2.0, 1.0, noise)
                },
            )
            .loss
    });
    assert!(report.passed(), "tiny model loss: {report}");
    assert!(report.checked > 200, "checked only {}", report.checked);
}

/// CPU reference: sum_t H(mean_i p_it) - mean_i H(p_it).
/// Softmax of each row of K logits, in f64.
fn cpu_softmax_rows(logits: &[f32], k: usize) -> Vec<Vec<f64>> {
    logits
        .chunks(k)
        .map(|row| {
            let m = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
            let e: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
            let z: f64 = e.iter().sum();
            e.iter().map(|v| v / z).collect()
        })
        .collect()
}

fn cpu_mutual_information(logits: &[f32], rows: usize, t: usize, k: usize) -> f64 {
    let p = cpu_softmax_rows(logits, k);
    let h = |q: &[f64]| {
        -q.iter()
            .filter(|&&v| v > 0.0)
            .map(|v| v * v.ln())
            .sum::<f64>()
    };
    let mut mi = 0.0;
    for slot in 0..t {
        let mut mean = vec![0.0; k];
        let mut mean_h = 0.0;
        for i in 0..rows {
            let q = &p[i * t + slot];
            for (m, v) in mean.iter_mut().zip(q) {
                *m += v / rows as f64;
            }
            mean_h += h(q) / rows as f64;
        }
        mi += h(&mean) - mean_h;
    }
    mi
}

/// A scalar term of same-shaped inputs, checked against its f64 reference
/// on each case (within `rel` of max(|reference|, 1)) and by finite
/// differences (default tolerances) at the inputs of case `grad_case`;
/// returns the reference values.
fn check_scalar_term(
    name: &str,
    shape: &[usize],
    cases: &[(&str, Vec<&[f32]>)],
    rel: f64,
    grad_case: usize,
    gpu: impl Fn(&nli_wgpu::ctx::Ctx, &[nli_wgpu::tensor::Tensor]) -> nli_wgpu::tensor::Tensor,
    cpu: impl Fn(&[&[f32]]) -> f64,
) -> Vec<f64> {
    let ctx = ctx();
    let mut values = Vec::new();
    for (what, inputs) in cases {
        let ts: Vec<_> = inputs.iter().map(|v| ctx.tensor(v, shape)).collect();
        let got = ctx.item(&gpu(&ctx, &ts));
        let want = cpu(inputs);
        assert!(
            (got as f64 - want).abs() <= rel * want.abs().max(1.0),
            "{name}, {what}: {got} vs {want}"
        );
        values.push(want);
    }
    let at: Vec<(Vec<f32>, Vec<usize>)> = cases[grad_case]
        .1
        .iter()
        .map(|v| (v.to_vec(), shape.to_vec()))
        .collect();
    let report = gradcheck(&ctx, &at, &GradCheckConfig::default(), |c, ts| gpu(c, ts));
    assert!(report.passed(), "{name}: {report}");
    values
}

#[test]
fn token_mutual_information_matches_cpu_and_finite_differences() {
    let (rows, t, k) = (6, 3, 5);
    let mut r = rng(77);
    // Rows that differ (a positive value) and rows that are all the same
    // (exactly 0: no dependence on the task).
    let differ = rand_vec(&mut r, rows * t * k, -3.0, 3.0);
    let same: Vec<f32> = differ[..t * k].repeat(rows);
    let values = check_scalar_term(
        "token mutual information",
        &[rows, t, k],
        &[("differ", vec![&differ]), ("same", vec![&same])],
        1e-5,
        0,
        |c, ts| token_mutual_information(c, &ts[0]),
        |v| cpu_mutual_information(v[0], rows, t, k),
    );
    assert!(values[0] > 0.1, "{values:?}");
}

/// f64 reference of the view mutual information: per slot, the joint of
/// the two views' token distributions averaged over the rows, and its MI.
fn cpu_view_mutual_information(la: &[f32], lb: &[f32], rows: usize, t: usize, k: usize) -> f64 {
    let (pa, pb) = (cpu_softmax_rows(la, k), cpu_softmax_rows(lb, k));
    let mut mi = 0.0;
    for slot in 0..t {
        let mut joint = vec![vec![0.0f64; k]; k];
        for r in 0..rows {
            for i in 0..k {
                for j in 0..k {
                    joint[i][j] += pa[r * t + slot][i] * pb[r * t + slot][j] / rows as f64;
                }
            }
        }
        let ra: Vec<f64> = (0..k).map(|i| joint[i].iter().sum()).collect();
        let rb: Vec<f64> = (0..k).map(|j| (0..k).map(|i| joint[i][j]).sum()).collect();
        for i in 0..k {
            for j in 0..k {
                if joint[i][j] > 0.0 {
                    mi += joint[i][j] * (joint[i][j] / (ra[i] * rb[j])).ln();
                }
            }
        }
    }
    mi
}

#[test]
fn view_mutual_information_matches_cpu_and_finite_differences() {
    let (rows, t, k) = (6, 3, 5);
    let mut r = rng(78);
    let la = rand_vec(&mut r, rows * t * k, -3.0, 3.0);
    // Views that agree (the same logits), views unrelated to each other (6
    // rows leave them some MI by chance), and a second view that is the
    // same for every row (exactly 0: it carries nothing about the row).
    let unrelated = rand_vec(&mut r, rows * t * k, -3.0, 3.0);
    let constant: Vec<f32> = unrelated[..t * k].repeat(rows);
    // f32 sums of about 6 x 25 terms of size <= 1, against f64; gradients
    // checked at the unrelated views.
    let values = check_scalar_term(
        "view mutual information",
        &[rows, t, k],
        &[
            ("agree", vec![&la, &la]),
            ("unrelated", vec![&la, &unrelated]),
            ("constant", vec![&la, &constant]),
        ],
        1e-5,
        1,
        |c, ts| view_mutual_information(c, &ts[0], &ts[1]),
        |v| cpu_view_mutual_information(v[0], v[1], rows, t, k),
    );
    assert!(values[0] > values[1] + 0.2, "{values:?}");
    assert!(values[2].abs() < 1e-9, "{values:?}");
}

/// f64 reference of the views' InfoNCE: rows less the batch mean,
/// standardised like the layer norm (the crate's CPU layer norm),
/// correlations over `temperature`,
/// cross-entropy of each row's own column, mean over rows.
fn cpu_view_contrastive_loss(ea: &[f32], eb: &[f32], b: usize, temperature: f32) -> f64 {
    use nli_wgpu::ops::layer_norm::cpu_layer_norm_row;
    let w = ea.len() / b;
    let (ones, zeros) = (vec![1.0f32; w], vec![0.0f32; w]);
    let std = |e: &[f32]| -> Vec<Vec<f32>> {
        let mean: Vec<f32> = (0..w)
            .map(|c| ((0..b).map(|r| e[r * w + c] as f64).sum::<f64>() / b as f64) as f32)
            .collect();
        e.chunks(w)
            .map(|r| {
                let centred: Vec<f32> = r.iter().zip(&mean).map(|(v, m)| v - m).collect();
                cpu_layer_norm_row(&centred, &ones, &zeros)
            })
            .collect()
    };
    let (na, nb) = (std(ea), std(eb));
    let mut total = 0.0;
    for i in 0..b {
        let logits: Vec<f64> = (0..b)
            .map(|j| {
                let dot: f64 = na[i]
                    .iter()
                    .zip(&nb[j])
                    .map(|(x, y)| *x as f64 * *y as f64)
                    .sum();
                dot / (w as f64 * temperature as f64)
            })
            .collect();
        let m = logits.iter().cloned().fold(f64::MIN, f64::max);
        let lse = m + logits.iter().map(|l| (l - m).exp()).sum::<f64>().ln();
        total += lse - logits[i];
    }
    total / b as f64
}

#[test]
fn view_contrastive_loss_matches_cpu_and_finite_differences() {
    let (b, t, d) = (5, 2, 4);
    let mut r = rng(79);
    let ea = rand_vec(&mut r, b * t * d, -1.0, 1.0);
    let other = rand_vec(&mut r, b * t * d, -1.0, 1.0);
    // f32 dot products of 8 standardised terms over 2, against f64;
    // gradients checked at the unrelated views.
    let values = check_scalar_term(
        "view contrastive loss",
        &[b, t, d],
        &[("same", vec![&ea, &ea]), ("unrelated", vec![&ea, &other])],
        1e-4,
        1,
        |c, ts| view_contrastive_loss(c, &ts[0], &ts[1], 0.25),
        |v| cpu_view_contrastive_loss(v[0], v[1], b, 0.25),
    );
    // A view that is its own pair is found (0.28 here); an unrelated one is
    // not (about ln 5 = 1.61).
    assert!(values[0] < values[1] - 1.0, "{values:?}");
}

#[test]
fn inductor_sample_scales_the_gumbel_noise() {
    // softmax((l + c g) / tau_e) with the inductor's noise g, for c = 1
    // (SPEC), 0.4 and 0 (no noise), soft and hard.
    let ctx = ctx();
    let (rows, cols) = (6, 5);
    let l = rand_vec(&mut rng(41), rows * cols, -2.0, 2.0);
    let lt = ctx.tensor(&l, &[rows, cols]);
    let noise = StepNoise {
        seed: 9,
        step: 17,
        interpreter_scale: 1.0,
    };
    let g = ctx.read(&ctx.gumbel_noise(noise.inductor(), 0, rows * cols));
    // With no_skip the SKIP column (0) is left out of the sample.
    for (c, no_skip) in [
        (1.0f32, false),
        (0.4, false),
        (0.0, false),
        (1.0, true),
        (0.4, true),
    ] {
        for hard in [false, true] {
            let s = LossSettings {
                hard_inductor: hard,
                inductor_noise: c,
                no_skip,
                ..plain_settings(1.5, 1.0, Some(noise))
            };
            let got = ctx.read(&s.inductor_sample(&ctx, &lt));
            let mut want = Vec::new();
            for r in 0..rows {
                let z: Vec<f64> = (0..cols)
                    .map(|j| match j {
                        0 if no_skip => f64::NEG_INFINITY,
                        _ => ((l[r * cols + j] + c * g[r * cols + j]) / 1.5) as f64,
                    })
                    .collect();
                let m = z.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
                let sum: f64 = e.iter().sum();
                let arg = (0..cols).max_by(|&a, &b| z[a].total_cmp(&z[b])).unwrap();
                for (j, ej) in e.iter().enumerate() {
                    want.push(if hard {
                        (j == arg) as u8 as f32
                    } else {
                        (ej / sum) as f32
                    });
                }
            }
            assert_close(
                &format!("c={c} no_skip={no_skip} hard={hard}"),
                &got,
                &want,
                1e-5,
                1e-6,
            );
        }
    }
}

/// A fresh tiny model with a larger head, so that its tokens depend on the
/// task by far more than the rounding of the loss, and a batch of 4 tasks
/// of `pairs` pairs (also on the GPU).
fn wide_head_model_and_batch(
    ctx: &nli_wgpu::ctx::Ctx,
    pairs: usize,
) -> (
    Nli,
    TaskBatch,
    nli_wgpu::tensor::Tensor,
    nli_wgpu::tensor::Tensor,
) {
    let (mut model_cfg, _) = preset("tiny", 20, 10).unwrap();
    model_cfg.head_init_scale = 10.0;
    let model = Nli::build(ctx, &model_cfg, &mut RandomInit::new(4));
    let batch = tiny_batch(4, pairs);
    let x = ctx.indices(&batch.x, &[4, pairs, 20]);
    let y = ctx.indices(&batch.y, &[4, pairs, 20]);
    (model, batch, x, y)
}

/// The loss of `model` on a batch with `s` (lambda 0.01 added) and the
/// value of its logged term `term`, if logged.
fn loss_and_term(
    ctx: &nli_wgpu::ctx::Ctx,
    model: &Nli,
    (x, y): (&nli_wgpu::tensor::Tensor, &nli_wgpu::tensor::Tensor),
    s: LossSettings,
    term: &str,
) -> (f32, Option<f32>) {
    let parts = model.loss(ctx, x, y, LossSettings { lambda: 0.01, ..s });
    let value = parts
        .extra
        .iter()
        .find(|(n, _)| *n == term)
        .map(|(_, t)| ctx.item(t));
    (ctx.item(&parts.loss), value)
}

#[test]
fn capped_mutual_information_bonus_pays_at_most_the_cap() {
    // loss = recon + lambda reg - W min(MI, cap): with W = 1, the capped
    // loss exceeds the uncapped one by MI - min(MI, cap), and a cap above
    // MI changes nothing.
    let ctx = ctx();
    let (model, _, x, y) = wide_head_model_and_batch(&ctx, 3);
    let run = |cap: Option<f32>| {
        let s = LossSettings {
            mi_weight: 1.0,
            mi_cap: cap,
            ..plain_settings(2.0, 1.0, Some(fixed_noise()))
        };
        let (loss, mi) = loss_and_term(&ctx, &model, (&x, &y), s, "mi");
        (loss, mi.expect("the MI term is logged"))
    };
    let (free, mi) = run(None);
    let cap = mi / 3.0;
    // Both losses come from the same graph and noise: they differ only by
    // the bonus, up to f32 rounding of a loss of about 50.
    let tol = 1e-5 * free.abs().max(1.0);
    assert!(
        mi - cap > 10.0 * tol,
        "a fresh model's tokens depend on the task enough to tell: MI {mi}"
    );
    let (capped, mi2) = run(Some(cap));
    assert_eq!(mi, mi2);
    let want = free + (mi - cap);
    assert!((capped - want).abs() <= tol, "capped {capped} vs {want}");
    let (above, _) = run(Some(mi * 2.0));
    assert!((above - free).abs() <= tol, "{above} vs {free}");
}

#[test]
fn view_mutual_information_bonus_reads_two_halves_of_the_pairs() {
    // loss = recon + lambda reg - W min(view MI, cap), the view MI being
    // that of the logits of pairs {0, 1} and of pairs {2, 3}, pooled, at
    // temperature tau_e.
    let ctx = ctx();
    let (model, batch, x, y) = wide_head_model_and_batch(&ctx, 4);
    let run = |w: f32, cap: Option<f32>| {
        let s = LossSettings {
            view_mi_weight: w,
            view_mi_cap: cap,
            ..plain_settings(0.5, 1.0, Some(fixed_noise()))
        };
        loss_and_term(&ctx, &model, (&x, &y), s, "view_mi")
    };
    let (plain, none) = run(0.0, None);
    assert!(none.is_none(), "no view term without its weight");
    let (with, mi) = run(1.5, None);
    let mi = mi.expect("the view term is logged");
    let pooled = |start: usize| {
        let pick = |v: &[u32]| -> Vec<u32> {
            (0..4)
                .flat_map(|task| v[(task * 4 + start) * 20..(task * 4 + start + 2) * 20].to_vec())
                .collect()
        };
        let (hx, hy) = (pick(&batch.x), pick(&batch.y));
        model.inductor.pooled_embedding(
            &ctx,
            &ctx.indices(&hx, &[4, 2, 20]),
            &ctx.indices(&hy, &[4, 2, 20]),
        )
    };
    let half = |start: usize| model.inductor.token_logits(&ctx, &pooled(start));
    // At the settings' tau_e (0.5).
    let tempered = |l: nli_wgpu::tensor::Tensor| ctx.scale(&l, 2.0);
    let want = ctx.item(&view_mutual_information(
        &ctx,
        &tempered(half(0)),
        &tempered(half(2)),
    ));
    let tol = 1e-5 * plain.abs().max(1.0);
    assert!(
        (mi - want).abs() <= 1e-5 * want.abs().max(1e-3),
        "{mi} vs {want}"
    );
    assert!(
        mi > 20.0 * tol,
        "a fresh model's views agree enough to tell: {mi}"
    );
    assert!(
        (with - (plain - 1.5 * mi)).abs() <= tol,
        "{with} vs {plain} - 1.5 x {mi}"
    );
    let (capped, _) = run(1.5, Some(mi / 2.0));
    assert!(
        (capped - (plain - 0.75 * mi)).abs() <= tol,
        "capped {capped}"
    );
    // The contrastive term reads the same halves' pooled embeddings, or
    // their token logits when asked: (loss, logged term, its reference).
    let contrast = |logits: bool| {
        let s = LossSettings {
            view_nce_weight: 2.0,
            view_nce_logits: logits,
            ..plain_settings(0.5, 1.0, Some(fixed_noise()))
        };
        let (loss, nce) = loss_and_term(&ctx, &model, (&x, &y), s, "view_nce");
        let (a, b) = if logits {
            (half(0), half(2))
        } else {
            (pooled(0), pooled(2))
        };
        let want = view_contrastive_loss(&ctx, &a, &b, nli_wgpu::model::VIEW_CONTRAST_TEMPERATURE);
        (
            loss,
            nce.expect("the contrastive term is logged"),
            ctx.item(&want),
        )
    };
    let (with_nce, nce, want_nce) = contrast(false);
    let (_, nce_logits, want_logits) = contrast(true);
    for (got, want) in [(nce, want_nce), (nce_logits, want_logits)] {
        assert!((got - want).abs() <= 1e-5 * want.abs(), "{got} vs {want}");
    }
    assert!(
        (nce_logits - nce).abs() > 1e-3,
        "logits and embeddings gave the same loss"
    );
    assert!(
        (with_nce - (plain + 2.0 * nce)).abs() <= tol,
        "{with_nce} vs {plain} + 2 x {nce}"
    );
}

/// The loss asks the inductor for the two views only when a term reads them,
/// and for the views' token logits (two head passes) only when the view
/// mutual information or the contrastive loss on logits reads them.
#[test]
fn views_computed_only_when_read() {
    use nli_wgpu::model::WantViews;
    let base = plain_settings(0.5, 1.0, None);
    assert_eq!(base.wants_views(), WantViews::No);
    let nce = LossSettings {
        view_nce_weight: 5.0,
        ..base
    };
    assert_eq!(nce.wants_views(), WantViews::Embeddings);
    let nce_logits = LossSettings {
        view_nce_logits: true,
        ..nce
    };
    assert_eq!(nce_logits.wants_views(), WantViews::WithLogits);
    let mi = LossSettings {
        view_mi_weight: 1.0,
        ..base
    };
    assert_eq!(mi.wants_views(), WantViews::WithLogits);
    let logits_flag_alone = LossSettings {
        view_nce_logits: true,
        ..base
    };
    assert_eq!(logits_flag_alone.wants_views(), WantViews::No);
}

#[test]
fn interpreter_noise_scale_zero_is_no_noise() {
    // execute with the interpreter's noise scaled by 0 equals execute
    // without noise, bit for bit, and scale 1 (SPEC) differs from both.
    let ctx = ctx();
    let (model_cfg, _) = preset("tiny", 20, 10).unwrap();
    let model = Nli::build(&ctx, &model_cfg, &mut RandomInit::new(6));
    let batch = tiny_batch(2, 3);
    let x = ctx.indices(&batch.x, &[6, 20]);
    let (t, k) = (model_cfg.program_len, model_cfg.codebook);
    let z = ctx.softmax(&ctx.tensor(&rand_vec(&mut rng(8), 6 * t * k, -2.0, 2.0), &[6, t, k]));
    let run = |noise: Option<StepNoise>| ctx.read(&model.execute(&ctx, &x, &z, 1.0, noise));
    let at = |scale| {
        Some(StepNoise {
            seed: 3,
            step: 4,
            interpreter_scale: scale,
        })
    };
    let none = run(None);
    assert_eq!(run(at(0.0)), none);
    let full = run(at(1.0));
    let half = run(at(0.5));
    assert!(full != none && half != none && half != full);
}

/// Gradient norm of `model`'s loss on tasks x, y [B, m, N] under `s`.
fn loss_gradient_norm(ctx: &Ctx, model: &Nli, x: &Tensor, y: &Tensor, s: LossSettings) -> f64 {
    let loss = model.loss(ctx, x, y, s).loss;
    let grads = ctx.backward(&loss);
    let sumsq: f64 = model
        .params
        .iter()
        .filter_map(|(_, t)| grads.get(t))
        .map(|g| {
            ctx.read(g)
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
        })
        .sum();
    ctx.clear_tape();
    sumsq.sqrt()
}

#[test]
fn the_probability_floor_bounds_the_gradient_of_confident_mistakes() {
    // The regime of the late gradient spikes (docs/experiments.md): an
    // interpreter that is confident (its head scaled up, tau_d at the end
    // value 0.5) and inductor samples that are hard, so some targets get
    // probabilities far below 1e-4. The gradient of -log p is -1/p; through
    // the skip gate's mixture no softmax cancels it, so with the SPEC floor
    // (1e-12) it reaches ~1/p, and a floor of 1e-4 bounds it.
    let ctx = ctx();
    let (mc, _) = preset("tiny", 20, 10).unwrap();
    let fresh = Nli::build(&ctx, &mc, &mut RandomInit::new(3));
    let confident: Vec<Tensor> = fresh
        .params
        .iter()
        .map(|(name, t)| {
            let scale = if name.starts_with("interpreter.head") {
                40.0
            } else {
                1.0
            };
            let v: Vec<f32> = ctx.read(t).iter().map(|a| a * scale).collect();
            ctx.param(&v, t.shape())
        })
        .collect();
    drop(fresh);
    let model = Nli::build(&ctx, &mc, &mut GivenParams::new(confident));
    let batch = tiny_batch(4, 4);
    let x = ctx.indices(&batch.x, &[4, 4, 20]);
    let y = ctx.indices(&batch.y, &[4, 4, 20]);
    let norm = |floor: f32| {
        let s = LossSettings {
            hard_inductor: true,
            prob_floor: floor,
            ..plain_settings(0.5, 0.5, Some(fixed_noise()))
        };
        loss_gradient_norm(&ctx, &model, &x, &y, s)
    };
    let (spec, floored) = (norm(LOG_PROB_FLOOR), norm(1e-4));
    eprintln!("gradient norm: SPEC floor {spec:.3e}, floor 1e-4 {floored:.3e}");
    assert!(spec.is_finite() && floored.is_finite());
    assert!(spec > 1e6, "not the regime of the spikes: {spec:.3e}");
    assert!(
        floored < 1e4,
        "floor 1e-4 did not bound the gradient: {floored:.3e}"
    );
    // ...without silencing the loss (every target below the floor would
    // pass no gradient at all).
    assert!(
        floored > 1.0,
        "floor 1e-4 left almost no gradient: {floored:.3e}"
    );
}

/// `interpreter_identity_init`: a fresh interpreter whose head starts at C
/// E_io^T copies its input through twelve steps of random (non-SKIP)
/// tokens, where SPEC's head scrambles it; the setting touches only fresh
/// models (a loaded checkpoint keeps its head).
#[test]
fn identity_init_interpreter_copies_its_input() {
    let ctx = ctx();
    let (mut cfg, _) = preset("cpu", 20, 10).unwrap();
    let (p, n, t, k) = (64, 20, cfg.program_len, cfg.codebook);
    let mut r = rng(7);
    let x: Vec<u32> = (0..p * n).map(|_| r.random_range(0..10u32)).collect();
    // One random non-SKIP token per slot, as one-hot programs.
    let mut z = vec![0.0f32; p * t * k];
    for row in 0..p * t {
        z[row * k + r.random_range(1..k)] = 1.0;
    }
    let mut copied = |c: f32, source: &mut dyn nli_wgpu::model::layers::ParamSource| {
        cfg.interpreter_identity_init = c;
        let model = Nli::build(&ctx, &cfg, source);
        let pi = model.execute(
            &ctx,
            &ctx.indices(&x, &[p, n]),
            &ctx.tensor(&z, &[p, t, k]),
            0.5,
            None,
        );
        let pred = nli_wgpu::model::argmax_rows(&ctx.read(&pi), 10);
        let same = pred.iter().zip(&x).filter(|(a, b)| a == b).count();
        (same as f32 / x.len() as f32, model)
    };
    let (spec, _) = copied(0.0, &mut RandomInit::new(3));
    let (ident, model) = copied(4.0, &mut RandomInit::new(3));
    assert!(spec < 0.5, "SPEC's head keeps {spec} of positions");
    assert!(
        ident > 0.95,
        "the identity head keeps only {ident} of positions"
    );
    // Loaded parameters are kept as given, whatever the setting says.
    let given: Vec<_> = model.params.iter().map(|(_, t)| t.clone()).collect();
    let (reloaded, _) = copied(0.0, &mut GivenParams::new(given.clone()));
    let (kept, _) = copied(1.0, &mut GivenParams::new(given));
    assert_eq!(reloaded, ident);
    assert_eq!(kept, ident);
}

/// `inductor_fourier_positions`: the table's rows are rotations of each
/// other, so the dot product of two positions depends only on their
/// cyclic offset; each entry's mean square is 1/D as with the random
/// start; a fresh model starts with it, a loaded one keeps its own.
#[test]
fn fourier_positions_make_offsets_readable() {
    let (n, d) = (20, 64);
    let table = nli_wgpu::model::fourier_positions(n, d);
    let dot =
        |i: usize, j: usize| -> f32 { (0..d).map(|c| table[i * d + c] * table[j * d + c]).sum() };
    for k in 0..n {
        let first = dot(0, k);
        for i in 1..n {
            assert!(
                (dot(i, (i + k) % n) - first).abs() < 1e-5,
                "offset {k} from {i}"
            );
        }
    }
    // Offsets are told apart: the same position matches itself best.
    assert!((1..n).all(|k| dot(0, k) < dot(0, 0) - 0.1));
    let mean_square = table.iter().map(|v| v * v).sum::<f32>() / table.len() as f32;
    assert!((mean_square - 1.0 / d as f32).abs() < 1e-4, "{mean_square}");
    let ctx = ctx();
    let (mut cfg, _) = preset("cpu", 20, 10).unwrap();
    cfg.inductor_fourier_positions = true;
    let model = Nli::build(&ctx, &cfg, &mut RandomInit::new(5));
    let position = |m: &Nli| {
        let (_, t) = m
            .params
            .iter()
            .find(|(name, _)| name == "inductor.position_embed")
            .expect("the inductor's position table");
        ctx.read(t)
    };
    assert_eq!(position(&model), table);
    let given: Vec<_> = model
        .params
        .iter()
        .map(|(name, t)| {
            if name == "inductor.position_embed" {
                ctx.tensor(&vec![0.5; n * d], &[n, d])
            } else {
                t.clone()
            }
        })
        .collect();
    let loaded = Nli::build(&ctx, &cfg, &mut GivenParams::new(given));
    assert_eq!(position(&loaded), vec![0.5; n * d]);
}
