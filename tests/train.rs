//! Training: resume gives the same parameters as an uninterrupted run, a NaN
//! stops with the last good checkpoint kept, a mismatched checkpoint is refused.

mod common;
use common::*;
use nli_wgpu::checkpoint;
use nli_wgpu::model::RunConfig;
use nli_wgpu::model::config::preset;
use nli_wgpu::train::{TrainOptions, train};

fn tiny_run(steps: usize) -> RunConfig {
    let (model, mut train) = preset("tiny", 20, 10).unwrap();
    train.steps = steps;
    train.checkpoint_every = 1000;
    train.eval_every = 1000;
    train.log_every = 2;
    train.eval_tasks = 8;
    RunConfig {
        suite: "shift-l".into(),
        model,
        train,
    }
}

fn opts(
    run: RunConfig,
    dir: &std::path::Path,
    resume: bool,
    stop_after: Option<usize>,
) -> TrainOptions {
    TrainOptions {
        run,
        out_dir: dir.to_path_buf(),
        resume,
        init_from: None,
        stop_after,
        progress: false,
        before_step: None,
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("nli-wgpu-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Whether Adam's first moment of any parameter under `prefix` is non-zero:
/// it stays exactly 0 until a gradient reaches the parameter.
fn adam_moved(ck: &checkpoint::Checkpoint, prefix: &str) -> bool {
    ck.tensors
        .iter()
        .filter(|(n, _, _)| n.starts_with(&format!("{}{prefix}", checkpoint::ADAM_M)))
        .any(|(_, _, d)| d.iter().any(|v| *v != 0.0))
}

/// Train `run` into `dir` to the end of its `warmup` steps, then on to its
/// end: after the warm-up the parameters under `warmed` have trained and
/// those under `rest` have not (Adam's first moment of a parameter stays
/// exactly 0 until a gradient reaches it); after the run, `rest` has too.
fn warm_up_then_finish(
    ctx: &nli_wgpu::Ctx,
    run: &RunConfig,
    dir: &std::path::Path,
    warmup: usize,
    warmed: &str,
    rest: &str,
) {
    train(ctx, &opts(run.clone(), dir, false, Some(warmup))).unwrap();
    let warm = checkpoint::load(dir).unwrap();
    assert!(
        adam_moved(&warm, warmed),
        "{warmed} did not train in the warm-up"
    );
    assert!(!adam_moved(&warm, rest), "{rest} trained in the warm-up");
    train(ctx, &opts(run.clone(), dir, true, None)).unwrap();
    let after = checkpoint::load(dir).unwrap();
    assert!(adam_moved(&after, rest), "{rest} never trained");
}

/// The lines of a run directory's metrics.jsonl, parsed.
fn metrics_lines(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(checkpoint::METRICS_FILE))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A baseline's run in `dir` with an encoder warm-up of `warmup` steps and
/// the views' contrastive loss at `nce_weight`: the warm-up's steps log
/// the contrastive loss alone (nothing reconstructed, no other term); the
/// steps after it the reconstruction plus `rest(line)` (the run's other
/// terms, weighted) plus the weighted contrastive loss.
fn check_warmup_metrics(
    dir: &std::path::Path,
    warmup: u64,
    nce_weight: f64,
    rest: impl Fn(&serde_json::Value) -> f64,
) {
    for line in &metrics_lines(dir) {
        let step = line["step"].as_u64().unwrap();
        let warm = line["encoder_warmup"].as_bool().unwrap_or(false);
        assert_eq!(warm, step <= warmup, "step {step}: {line}");
        let (loss, recon) = (
            line["loss"].as_f64().unwrap(),
            line["recon"].as_f64().unwrap(),
        );
        let nce = line["view_nce"]
            .as_f64()
            .expect("the contrastive loss is logged");
        if warm {
            assert_eq!((recon, loss), (0.0, nce), "{line}");
            assert!(line.get("kl").is_none(), "{line}");
        } else {
            assert!(recon > 0.0, "{line}");
            let want = recon + rest(line) + nce_weight * nce;
            assert!((loss - want).abs() < 1e-3 * want, "{line}");
        }
    }
}

#[test]
fn resuming_after_k_steps_equals_an_uninterrupted_run() {
    let ctx = ctx();
    let k = 5;
    let (a, b) = (tmp("whole"), tmp("resumed"));
    train(&ctx, &opts(tiny_run(2 * k), &a, false, None)).unwrap();
    let first = train(&ctx, &opts(tiny_run(2 * k), &b, false, Some(k))).unwrap();
    assert_eq!(first.steps_done, k);
    assert_eq!(checkpoint::load(&b).unwrap().step, k);
    train(&ctx, &opts(tiny_run(2 * k), &b, true, None)).unwrap();
    let (ca, cb) = (checkpoint::load(&a).unwrap(), checkpoint::load(&b).unwrap());
    assert_eq!((ca.step, cb.step), (2 * k, 2 * k));
    assert_eq!(ca.tensors.len(), cb.tensors.len());
    let mut differs_from_init = false;
    for ((na, sa, da), (nb, sb, db)) in ca.tensors.iter().zip(&cb.tensors) {
        assert_eq!((na, sa), (nb, sb));
        assert_eq!(
            da, db,
            "{na} differs between the resumed and the uninterrupted run"
        );
        differs_from_init |= na.starts_with("adam.m.") && da.iter().any(|v| *v != 0.0);
    }
    assert!(differs_from_init, "training moved nothing");
    // The metrics of the resumed run continue the file.
    let steps: Vec<u64> = metrics_lines(&b)
        .iter()
        .map(|l| l["step"].as_u64().unwrap())
        .collect();
    // Every 2 steps, plus the stop at step 5.
    assert_eq!(steps, [2, 4, 5, 6, 8, 10]);
}

#[test]
fn the_best_validation_checkpoint_is_kept_apart() {
    let ctx = ctx();
    let dir = tmp("best");
    let mut run = tiny_run(6);
    run.train.eval_every = 2;
    train(&ctx, &opts(run, &dir, false, None)).unwrap();
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(nli_wgpu::train::BEST_FILE)).unwrap(),
    )
    .unwrap();
    let best = checkpoint::load(&dir.join(nli_wgpu::train::BEST_DIR)).unwrap();
    assert_eq!(best.step as u64, record["step"].as_u64().unwrap());
    // It is the evaluation with the highest accuracy of the run, ties
    // broken by the lower training loss (the first of exact ties).
    let evals: Vec<(u64, f64, f64)> = metrics_lines(&dir)
        .into_iter()
        .filter(|v| v.get("val_id_accuracy").is_some())
        .map(|v| {
            (
                v["step"].as_u64().unwrap(),
                v["val_id_accuracy"].as_f64().unwrap(),
                v["loss"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(evals.len(), 3);
    let mut want = evals[0];
    for &e in &evals[1..] {
        if e.1 > want.1 || (e.1 == want.1 && e.2 < want.2) {
            want = e;
        }
    }
    assert_eq!(best.step as u64, want.0);
    assert_eq!(record["loss"].as_f64().unwrap() as f32, want.2 as f32);
}

#[test]
fn a_nan_stops_training_and_keeps_the_last_good_checkpoint() {
    let ctx = ctx();
    let dir = tmp("nan");
    let mut run = tiny_run(10);
    run.train.checkpoint_every = 1;
    let mut o = opts(run, &dir, false, None);
    // Poison one parameter before step index 3 (the 4th step).
    o.before_step = Some(Box::new(|ctx, step, model| {
        if step == 3 {
            let (_, t) = &model.params()[0];
            ctx.write(t, &vec![f32::NAN; t.numel()]);
        }
    }));
    let err = train(&ctx, &o).expect_err("a NaN loss must stop training");
    let msg = err.to_string();
    assert!(
        msg.contains("NaN") && msg.contains("at step 4"),
        "message: {msg}"
    );
    assert!(
        msg.contains("step 3"),
        "the message names the kept checkpoint: {msg}"
    );
    let kept = checkpoint::load(&dir).unwrap();
    assert_eq!(kept.step, 3);
    assert!(
        kept.tensors
            .iter()
            .all(|(_, _, d)| d.iter().all(|v| v.is_finite())),
        "kept checkpoint is clean"
    );
}

#[test]
fn a_checkpoint_of_another_model_is_refused() {
    let ctx = ctx();
    let dir = tmp("mismatch");
    train(&ctx, &opts(tiny_run(2), &dir, false, None)).unwrap();
    let mut other = tiny_run(4);
    other.model.d = 24;
    let err = train(&ctx, &opts(other, &dir, true, None)).expect_err("must refuse");
    assert!(err.to_string().contains("was trained with"), "{err}");
    // Starting a fresh run over an existing checkpoint is refused too.
    let err = train(&ctx, &opts(tiny_run(2), &dir, false, None)).expect_err("must refuse");
    assert!(err.to_string().contains("--resume"), "{err}");
}

#[test]
fn training_can_be_restricted_to_named_programs() {
    use nli_wgpu::tasks::{Suite, SuiteConfig};
    use nli_wgpu::train::training_programs;
    let cfg = SuiteConfig::default();
    let only = vec!["shl_1".to_string(), "swp".to_string()];
    let progs = training_programs(Suite::CompI, &cfg, Some(&only)).unwrap();
    let names: Vec<String> = progs.iter().map(|p| p.name()).collect();
    assert_eq!(names, ["shl_1", "swp"]);
    assert_eq!(
        training_programs(Suite::CompI, &cfg, None).unwrap().len(),
        5
    );
    let err = training_programs(Suite::CompI, &cfg, Some(&["shl_2".to_string()])).unwrap_err();
    assert!(
        err.to_string().contains("shl_2") && err.to_string().contains("rev"),
        "{err}"
    );
    // A run on two programs trains and validates on those only.
    let ctx = ctx();
    let dir = tmp("programs");
    let mut run = tiny_run(4);
    run.suite = "comp-i".into();
    run.train.programs = Some(only);
    run.train.eval_every = 4;
    train(&ctx, &opts(run.clone(), &dir, false, None)).unwrap();
    // An unknown name is refused before any work.
    run.train.programs = Some(vec!["inc(neg)".into()]);
    let err = train(&ctx, &opts(run, &tmp("programs-bad"), false, None)).unwrap_err();
    assert!(err.to_string().contains("inc(neg)"), "{err}");
}

/// `tc` is refused with a message naming `field`.
fn assert_refused(tc: &nli_wgpu::model::config::TrainConfig, field: &str) {
    let err = tc.validate().expect_err(field).to_string();
    assert!(err.contains(field), "{field}: {err}");
}

#[test]
fn hard_inductor_samples_and_head_scale_follow_the_config() {
    use nli_wgpu::model::layers::RandomInit;
    use nli_wgpu::model::{LossSettings, Nli};
    let mut tc = tiny_run(10).train;
    tc.hard_inductor_frac = 0.5;
    let hard: Vec<bool> = (0..10)
        .map(|s| LossSettings::at_step(&tc, s).hard_inductor)
        .collect();
    assert_eq!(
        hard,
        [
            true, true, true, true, true, false, false, false, false, false
        ]
    );
    // The inductor's noise scale: 1 by default (also in configs written
    // before it existed), as set, and refused when negative.
    assert_eq!(LossSettings::at_step(&tc, 0).inductor_noise, 1.0);
    tc.no_skip_frac = 0.3;
    let no_skip: Vec<bool> = (0..10)
        .map(|s| LossSettings::at_step(&tc, s).no_skip)
        .collect();
    assert_eq!(no_skip.iter().filter(|&&b| b).count(), 3);
    assert!(no_skip[0] && !no_skip[3]);
    tc.no_skip_frac = 1.5;
    assert_refused(&tc, "no_skip_frac");
    tc.no_skip_frac = 0.0;
    assert_eq!(
        LossSettings::at_step(&tc, 0)
            .noise
            .unwrap()
            .interpreter_scale,
        1.0
    );
    tc.interpreter_noise = 0.2;
    assert_eq!(
        LossSettings::at_step(&tc, 0)
            .noise
            .unwrap()
            .interpreter_scale,
        0.2
    );
    tc.interpreter_noise = f32::NAN;
    assert_refused(&tc, "interpreter_noise");
    tc.interpreter_noise = 1.0;
    tc.mi_cap = Some(0.0);
    assert_refused(&tc, "mi_cap");
    tc.mi_cap = Some(0.7);
    assert_eq!(LossSettings::at_step(&tc, 0).mi_cap, Some(0.7));
    tc.keep_every = 7;
    let old: nli_wgpu::model::config::TrainConfig = serde_json::from_value({
        let mut v = serde_json::to_value(&tc).unwrap();
        for key in [
            "inductor_noise",
            "interpreter_noise",
            "mi_cap",
            "no_skip_frac",
            "view_mi_weight",
            "view_mi_cap",
            "view_nce_weight",
            "view_nce_logits",
            "oracle_programs",
            "prob_floor",
            "keep_every",
        ] {
            v.as_object_mut().unwrap().remove(key);
        }
        v
    })
    .unwrap();
    assert_eq!(old.inductor_noise, 1.0);
    assert_eq!(old.interpreter_noise, 1.0);
    assert_eq!(old.mi_cap, None);
    assert_eq!(old.no_skip_frac, 0.0);
    assert_eq!(old.view_mi_weight, 0.0);
    assert_eq!(old.view_mi_cap, None);
    assert_eq!(old.view_nce_weight, 0.0);
    assert!(!old.view_nce_logits);
    assert_eq!(old.keep_every, 0);
    tc.view_nce_weight = f32::INFINITY;
    assert_refused(&tc, "view_nce_weight");
    tc.view_nce_weight = 0.0;
    assert!(!old.oracle_programs);
    // The reconstruction's probability floor: SPEC's by default (and in
    // configs written before it existed), as set, refused outside (0, 1).
    assert_eq!(old.prob_floor, nli_wgpu::model::LOG_PROB_FLOOR);
    tc.prob_floor = 1e-4;
    assert_eq!(LossSettings::at_step(&tc, 2).prob_floor, 1e-4);
    for bad in [0.0, 1e-40, 1.0, f32::NAN] {
        tc.prob_floor = bad;
        assert_refused(&tc, "prob_floor");
    }
    tc.prob_floor = 1e-4;
    tc.view_mi_weight = -0.5;
    assert_refused(&tc, "view_mi_weight");
    tc.view_mi_weight = 2.0;
    tc.view_mi_cap = Some(-1.0);
    assert_refused(&tc, "view_mi_cap");
    tc.view_mi_cap = Some(3.0);
    let s = LossSettings::at_step(&tc, 0);
    assert_eq!((s.view_mi_weight, s.view_mi_cap), (2.0, Some(3.0)));
    tc.inductor_noise = 0.25;
    assert_eq!(LossSettings::at_step(&tc, 3).inductor_noise, 0.25);
    tc.inductor_noise = -1.0;
    assert_refused(&tc, "inductor_noise");
    // Scaling the head's initial weights scales exactly those weights.
    let ctx = ctx();
    let mut mc = tiny_run(1).model;
    let w = |mc: &nli_wgpu::model::ModelConfig| {
        let m = Nli::build(&ctx, mc, &mut RandomInit::new(2));
        let (_, t) = m
            .params
            .iter()
            .find(|(n, _)| n == "inductor.head_out.w")
            .unwrap();
        ctx.read(t)
    };
    let base = w(&mc);
    mc.head_init_scale = 4.0;
    let scaled = w(&mc);
    for (a, b) in base.iter().zip(&scaled) {
        assert!(
            (4.0 * a - b).abs() <= 1e-6 * b.abs().max(1.0),
            "{a} x 4 vs {b}"
        );
    }
}

#[test]
fn oracle_programs_replace_the_inductors_sample() {
    use nli_wgpu::model::layers::RandomInit;
    use nli_wgpu::model::{LOG_PROB_FLOOR, LossSettings, Nli, oracle_programs};
    let ctx = ctx();
    // Token 1 + program index in slot 0, SKIP (0) elsewhere, for every pair.
    let z = ctx.read(&oracle_programs(&ctx, &[2, 0], 2, 3, 4));
    let mut want = vec![0.0f32; 2 * 2 * 3 * 4];
    for (task, token) in [(0usize, 3usize), (1, 1)] {
        for pair in 0..2 {
            let base = (task * 2 + pair) * 12;
            want[base + token] = 1.0;
            want[base + 4] = 1.0;
            want[base + 8] = 1.0;
        }
    }
    assert_eq!(z, want);
    // The reconstruction term is the interpreter's NLL on exactly those
    // programs (no noise), not on the inductor's sample.
    let run = tiny_run(1);
    let m = Nli::build(&ctx, &run.model, &mut RandomInit::new(5));
    let (b, p, n, t, k) = (3, 3, 20, run.model.program_len, run.model.codebook);
    let x: Vec<u32> = (0..b * p * n).map(|i| (i * 7 % 10) as u32).collect();
    let y: Vec<u32> = (0..b * p * n).map(|i| (i * 3 % 10) as u32).collect();
    let (xt, yt) = (ctx.indices(&x, &[b, p, n]), ctx.indices(&y, &[b, p, n]));
    let mut s = LossSettings::at_step(&run.train, 0);
    s.noise = None;
    let oracle = oracle_programs(&ctx, &[4, 1, 0], p, t, k);
    let got = ctx.read(&m.loss_with_programs(&ctx, &xt, &yt, s, Some(&oracle)).recon)[0];
    let pi = m.execute(
        &ctx,
        &ctx.reshape(&xt, &[b * p, n]),
        &ctx.reshape(&oracle, &[b * p, t, k]),
        s.tau_d,
        None,
    );
    let nll = ctx.nll_probs(
        &ctx.reshape(&pi, &[b * p * n, 10]),
        &ctx.reshape(&yt, &[b * p * n]),
        LOG_PROB_FLOOR,
    );
    let want = ctx.read(&nll).iter().sum::<f32>() / (b * p) as f32;
    assert!((got - want).abs() <= 1e-4 * want.abs(), "{got} vs {want}");
    let sampled = ctx.read(&m.loss(&ctx, &xt, &yt, s).recon)[0];
    assert!(
        (sampled - want).abs() > 1e-3,
        "the inductor's sample gave the same loss"
    );
    // A tiny Comp-I run with oracle programs trains; a baseline is refused.
    let mut run = tiny_run(3);
    run.suite = "comp-i".into();
    run.train.oracle_programs = true;
    train(&ctx, &opts(run.clone(), &tmp("oracle"), false, None)).unwrap();
    run.model.kind = nli_wgpu::model::ModelKind::DLpn;
    let err = train(&ctx, &opts(run.clone(), &tmp("oracle-dlpn"), false, None)).unwrap_err();
    assert!(err.to_string().contains("oracle"), "{err}");
    // So is a probability floor for a model without one.
    run.train.oracle_programs = false;
    run.train.prob_floor = 1e-4;
    let err = train(&ctx, &opts(run.clone(), &tmp("floor-dlpn"), false, None)).unwrap_err();
    assert!(err.to_string().contains("prob_floor"), "{err}");
    // And an interpreter started as the identity, for a model without that
    // interpreter; a negative scale is refused for any model.
    run.train.prob_floor = nli_wgpu::model::LOG_PROB_FLOOR;
    run.model.interpreter_identity_init = 4.0;
    let err = train(&ctx, &opts(run.clone(), &tmp("ident-dlpn"), false, None)).unwrap_err();
    assert!(
        err.to_string().contains("interpreter_identity_init"),
        "{err}"
    );
    run.model.kind = nli_wgpu::model::ModelKind::Nli;
    run.model.interpreter_identity_init = -1.0;
    let err = train(
        &ctx,
        &opts(run.clone(), &tmp("ident-negative"), false, None),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("interpreter_identity_init"),
        "{err}"
    );
    // The inductor's Fourier positions: for the kinds with that inductor
    // (NLI, D-LPN) only.
    run.model.interpreter_identity_init = 0.0;
    run.model.inductor_fourier_positions = true;
    run.model.kind = nli_wgpu::model::ModelKind::InContext;
    let err = train(&ctx, &opts(run.clone(), &tmp("fourier-ic"), false, None)).unwrap_err();
    assert!(
        err.to_string().contains("inductor_fourier_positions"),
        "{err}"
    );
    run.model.kind = nli_wgpu::model::ModelKind::DLpn;
    run.train.steps = 2;
    train(&ctx, &opts(run, &tmp("fourier-dlpn"), false, None)).unwrap();
}

#[test]
fn consecutive_training_batches_are_independent_draws() {
    // The batches of steps s and s + 1 must not be the same values moved
    // along (a run would then see a few thousand values in all, and the
    // view contrastive loss learned to recognise where in that stream a
    // pair came from). Some 16 inputs in a row shared by chance among the
    // 2,500^2 pairs of windows: below 10^-9.
    use nli_wgpu::tasks::{BatchSampler, Split, Suite, SuiteConfig, TaskBatch};
    use nli_wgpu::train::batch_rng;
    let sampler = BatchSampler::for_suite(Suite::CompI, Split::Id, SuiteConfig::default()).unwrap();
    let windows = |step: usize| -> std::collections::BTreeSet<Vec<u32>> {
        let mut batch = TaskBatch::default();
        sampler.fill(&mut batch_rng(0, step), 32, 4, &mut batch);
        batch.x.windows(16).map(<[u32]>::to_vec).collect()
    };
    let (a, b) = (windows(100), windows(101));
    assert_eq!(
        a.intersection(&b).count(),
        0,
        "steps 100 and 101 share inputs"
    );
    assert_eq!(
        windows(100),
        a,
        "a step's batch is a pure function of (seed, step)"
    );
}

#[test]
fn nli_cpu_preset_carries_the_settings_that_learn_and_the_others_do_not() {
    use nli_wgpu::model::ModelKind;
    use nli_wgpu::model::config::preset_for;
    let (mc, tc) = preset_for("cpu", ModelKind::Nli, 20, 10).unwrap();
    assert_eq!(mc.kind, ModelKind::Nli);
    assert_eq!((tc.view_nce_weight, tc.prob_floor), (5.0, 1e-4));
    assert_eq!(tc.warmup_steps, 0);
    tc.validate().unwrap();
    // Everything else is SPEC's cpu preset.
    let (spec_mc, spec_tc) = preset("cpu", 20, 10).unwrap();
    assert_eq!(mc, spec_mc);
    let back = nli_wgpu::model::config::TrainConfig {
        view_nce_weight: spec_tc.view_nce_weight,
        prob_floor: spec_tc.prob_floor,
        ..tc.clone()
    };
    assert_eq!(back, spec_tc);
    // The baselines: SPEC plus the learning-rate warm-up; D-LPN, trained
    // with NLI's loss, has its contrastive term as well, and no kind but
    // NLI a floor (it would be refused for them).
    for (kind, nce) in [
        (ModelKind::InContext, 0.0),
        (ModelKind::Lpn, 0.0),
        (ModelKind::DLpn, 5.0),
    ] {
        let (mc, tc) = preset_for("cpu", kind, 20, 10).unwrap();
        assert_eq!(mc.kind, kind);
        assert_eq!(tc.warmup_steps, 100);
        assert_eq!(
            (tc.view_nce_weight, tc.prob_floor),
            (nce, nli_wgpu::model::LOG_PROB_FLOOR)
        );
    }
    // Per suite, the cpu preset is preset_for plus the levers of the runs
    // that learned (docs/experiments.md): written out here as numbers, so
    // that a changed constant shows. Per kind and suite: the encoder
    // warm-up (the most steps, and the loss that ends it), the contrastive
    // loss's weight, the run's steps, and the slots trained and searched.
    use nli_wgpu::model::config::{ModelConfig, TrainConfig, suite_preset};
    use nli_wgpu::tasks::{ALL_SUITES, Suite};
    type Levers = (usize, Option<f32>, f32, usize, usize, Option<usize>);
    let expected = |kind: ModelKind, suite: Suite| -> Levers {
        match (kind, suite) {
            // Runs 56 and 59: `--program-len 3 --encoder-warmup 3600
            // --encoder-warmup-until 2.4 --steps 7200`, searched at 12.
            (ModelKind::Nli, Suite::ShiftP) => (3600, Some(2.4), 5.0, 7200, 3, Some(12)),
            // Run 51: the floor alone.
            (ModelKind::Nli, Suite::ShiftL) => (0, None, 0.0, 3600, 12, None),
            (ModelKind::Nli, Suite::CompI) => (0, None, 5.0, 3600, 12, None),
            // Run 68: NLI's Shift-P recipe, searched at the slots trained.
            (ModelKind::DLpn, Suite::ShiftP) => (3600, Some(2.4), 5.0, 7200, 3, None),
            // Run 63.
            (ModelKind::DLpn, Suite::ShiftL) => (1800, None, 5.0, 5400, 12, None),
            (ModelKind::DLpn, Suite::CompI) => (0, None, 5.0, 3600, 12, None),
            // Runs 61-62.
            (ModelKind::InContext, Suite::ShiftL | Suite::ShiftP) => {
                (1800, None, 5.0, 5400, 12, None)
            }
            (ModelKind::InContext, Suite::CompI) => (0, None, 0.0, 3600, 12, None),
            // Run 66: 3600 steps more than SPEC's after the warm-up (the
            // third seed's best at step 8600).
            (ModelKind::Lpn, Suite::ShiftP) => (1800, None, 5.0, 9000, 12, None),
            // Runs 64 and 67.
            (ModelKind::Lpn, Suite::ShiftL | Suite::CompI) => (1800, None, 5.0, 5400, 12, None),
        }
    };
    let kinds = [
        ModelKind::Nli,
        ModelKind::DLpn,
        ModelKind::InContext,
        ModelKind::Lpn,
    ];
    for suite in ALL_SUITES {
        for kind in kinds {
            let (smc, stc) = suite_preset("cpu", kind, suite, 20, 10).unwrap();
            let (mc, tc) = preset_for("cpu", kind, 20, 10).unwrap();
            smc.validate().unwrap();
            stc.validate().unwrap();
            let (warmup, until, nce, steps, slots, search_slots) = expected(kind, suite);
            let what = format!("{kind:?} {suite:?}");
            assert_eq!(
                (
                    stc.encoder_warmup,
                    stc.encoder_warmup_until,
                    stc.view_nce_weight
                ),
                (warmup, until, nce),
                "{what}"
            );
            assert_eq!(
                (stc.steps, smc.program_len, smc.search_program_len),
                (steps, slots, search_slots),
                "{what}"
            );
            assert_eq!(
                smc.default_search_program_len(),
                search_slots.unwrap_or(slots),
                "{what}"
            );
            // The main phase is at least SPEC's schedule, also when the
            // warm-up ends early.
            assert!(stc.main_phase(stc.steps).0 >= tc.steps, "{what}");
            if until.is_some() {
                let mut ended = stc.clone();
                ended.end_encoder_warmup(2612);
                assert_eq!(
                    ended.main_phase(ended.steps),
                    (tc.steps, tc.steps),
                    "{what}"
                );
            }
            // Nothing else changes.
            assert_eq!(
                ModelConfig {
                    program_len: mc.program_len,
                    search_program_len: mc.search_program_len,
                    ..smc
                },
                mc,
                "{what}"
            );
            assert_eq!(
                TrainConfig {
                    encoder_warmup: tc.encoder_warmup,
                    encoder_warmup_until: tc.encoder_warmup_until,
                    view_nce_weight: tc.view_nce_weight,
                    steps: tc.steps,
                    ..stc
                },
                tc,
                "{what}"
            );
        }
    }
    // tiny and gpu take no suite's levers, for any kind.
    for name in ["tiny", "gpu"] {
        for suite in ALL_SUITES {
            for kind in kinds {
                assert_eq!(
                    suite_preset(name, kind, suite, 20, 10).unwrap(),
                    preset_for(name, kind, 20, 10).unwrap(),
                    "{name} {kind:?} {suite:?}"
                );
            }
        }
    }
    // tiny and gpu stay SPEC's for NLI.
    for name in ["tiny", "gpu"] {
        assert_eq!(
            preset_for(name, ModelKind::Nli, 20, 10).unwrap(),
            preset(name, 20, 10).unwrap()
        );
    }
}

/// `keep_every`: the parameters of every N-th step are kept without the
/// optimiser state, load as a model of the run, and equal the checkpoint
/// written at the same step.
#[test]
fn snapshots_keep_the_parameters_of_every_nth_step() {
    let ctx = ctx();
    let dir = tmp("snapshots");
    let mut run = tiny_run(6);
    run.train.keep_every = 3;
    run.train.checkpoint_every = 3;
    train(&ctx, &opts(run.clone(), &dir, false, Some(3))).unwrap();
    let at3 = nli_wgpu::checkpoint::load(&dir).unwrap();
    train(&ctx, &opts(run, &dir, true, None)).unwrap();
    let kept: Vec<_> = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(kept, ["step-00003", "step-00006"]);
    let snap = nli_wgpu::checkpoint::load(&nli_wgpu::train::snapshot_dir(&dir, 3)).unwrap();
    assert_eq!(snap.step, 3);
    assert!(
        snap.tensors
            .iter()
            .all(|(n, _, _)| !n.starts_with(nli_wgpu::checkpoint::ADAM_M)
                && !n.starts_with(nli_wgpu::checkpoint::ADAM_V))
    );
    for (name, shape, data) in &snap.tensors {
        let (s, d) = at3.get(name).expect("the same parameters");
        assert_eq!((s, d), (shape.as_slice(), data.as_slice()), "{name}");
    }
    nli_wgpu::train::load_model(&ctx, &snap).expect("a snapshot loads as a model");
}

#[test]
fn the_encoder_warmup_trains_the_inductor_alone_then_starts_the_schedule() {
    let ctx = ctx();
    let dir = tmp("encoder-warmup");
    let mut run = tiny_run(6);
    run.train.encoder_warmup = 3;
    run.train.checkpoint_every = 3;
    run.train.log_every = 1;
    // The schedule's clock starts after the warm-up.
    let tc = &run.train;
    assert_eq!(tc.temperatures(0), (tc.tau_e_start, tc.tau_d_start));
    assert_eq!(tc.temperatures(3), (tc.tau_e_start, tc.tau_d_start));
    let (e5, _) = tc.temperatures(5);
    assert!(e5 < tc.tau_e_start && e5 > tc.tau_e_end, "{e5}");
    let mut hard = tc.clone();
    hard.hard_inductor_frac = 0.5;
    let hard_steps: Vec<bool> = (0..6)
        .map(|s| nli_wgpu::model::LossSettings::at_step(&hard, s).hard_inductor)
        .collect();
    // Half of the 3 steps after the warm-up, counted from step 3.
    assert_eq!(hard_steps, [true, true, true, true, true, false]);

    // After the warm-up only the inductor's encoder has trained.
    warm_up_then_finish(&ctx, &run, &dir, 3, "inductor.block", "interpreter.");

    // The metrics say which steps were the warm-up's: contrastive loss only.
    let lines = metrics_lines(&dir);
    for line in &lines {
        let step = line["step"].as_u64().unwrap();
        let warm = line["encoder_warmup"].as_bool().unwrap_or(false);
        assert_eq!(warm, step <= 3, "step {step}: {line}");
        if warm {
            assert_eq!(line["recon"].as_f64(), Some(0.0));
            assert_eq!(line["loss"], line["view_nce"]);
        } else {
            assert!(line["recon"].as_f64().unwrap() > 0.0, "{line}");
        }
    }

    // Refused where it cannot run.
    let mut bad = run.train.clone();
    bad.encoder_warmup = 6;
    assert_refused(&bad, "encoder_warmup");
}

/// A tiny 6-step run of a baseline `kind` whose first 3 steps warm its
/// encoder up, with the views' contrastive loss at weight 2 after them.
fn baseline_warmup_run(kind: nli_wgpu::model::ModelKind) -> RunConfig {
    let mut run = tiny_run(6);
    run.model.kind = kind;
    run.train.warmup_steps = 0;
    run.train.encoder_warmup = 3;
    run.train.view_nce_weight = 2.0;
    run.train.checkpoint_every = 3;
    run.train.log_every = 1;
    run
}

#[test]
fn in_context_warms_its_pair_encoder_up_alone_then_trains_with_the_views_loss() {
    let ctx = ctx();
    let dir = tmp("ic-encoder-warmup");
    let run = baseline_warmup_run(nli_wgpu::model::ModelKind::InContext);
    warm_up_then_finish(&ctx, &run, &dir, 3, "encoder.", "decoder.");

    check_warmup_metrics(&dir, 3, 2.0, |_| 0.0);
}

#[test]
fn lpn_warms_its_encoder_up_alone_then_trains_with_the_views_loss() {
    let ctx = ctx();
    let dir = tmp("lpn-encoder-warmup");
    let run = baseline_warmup_run(nli_wgpu::model::ModelKind::Lpn);
    // The encoder and its mean head train; the log-variance head and the
    // decoder wait for the main phase.
    warm_up_then_finish(&ctx, &run, &dir, 3, "encoder.mu", "decoder.");
    warm_up_then_finish(
        &ctx,
        &run,
        &tmp("lpn-encoder-warmup-2"),
        3,
        "encoder.",
        "encoder.logvar",
    );
    let beta = run.train.kl_beta as f64;
    check_warmup_metrics(&dir, 3, 2.0, |line| {
        beta * line["kl"].as_f64().expect("kl is logged")
    });
}

#[test]
fn an_encoder_warmup_can_end_on_its_loss_and_a_resumed_run_keeps_the_end() {
    use nli_wgpu::model::config::ENCODER_WARMUP_WINDOW as W;
    let ctx = ctx();
    let dir = tmp("warmup-until");
    // At most W + 10 warm-up steps, then 4; every loss is below the
    // threshold, so the warm-up ends as soon as its window is full.
    let mut run = tiny_run(W + 10 + 4);
    run.train.encoder_warmup = W + 10;
    run.train.encoder_warmup_until = Some(1e6);
    train(&ctx, &opts(run.clone(), &dir, false, Some(W + 2))).unwrap();
    let ck = checkpoint::load(&dir).unwrap();
    assert_eq!(ck.step, W + 2);
    assert_eq!(
        (ck.config.train.encoder_warmup, ck.config.train.steps),
        (W, W + 4),
        "the warm-up ends after {W} steps and the main phase keeps its 4"
    );
    let lines = metrics_lines(&dir);
    let ended: Vec<u64> = lines
        .iter()
        .filter_map(|l| l["encoder_warmup_ended"].as_u64())
        .collect();
    assert_eq!(ended, [W as u64]);
    for line in &lines {
        let step = line["step"].as_u64().unwrap() as usize;
        let warm = line["encoder_warmup"].as_bool().unwrap_or(false);
        assert_eq!(warm, step <= W, "step {step}: {line}");
    }
    // Resumed with the same settings (at most W + 10 warm-up steps), the
    // run keeps the end its checkpoint records: no more warm-up, and its
    // last step is W + 4.
    let done = train(&ctx, &opts(run.clone(), &dir, true, None)).unwrap();
    assert_eq!(done.steps_done, W + 4);
    let after = checkpoint::load(&dir).unwrap();
    assert_eq!(after.step, W + 4);
    assert_eq!(after.config.train.encoder_warmup, W);

    // A threshold no contrastive loss reaches: the warm-up takes its most
    // steps, and the run its configured length.
    let never = tmp("warmup-until-never");
    let mut run = tiny_run(W + 3);
    run.train.encoder_warmup = W + 1;
    run.train.encoder_warmup_until = Some(1e-3);
    let done = train(&ctx, &opts(run.clone(), &never, false, None)).unwrap();
    assert_eq!(done.steps_done, W + 3);
    let ck = checkpoint::load(&never).unwrap();
    assert_eq!(
        (ck.config.train.encoder_warmup, ck.config.train.steps),
        (W + 1, W + 3)
    );

    // Refused: a threshold without a warm-up to end, and one that is no loss.
    let mut bad = run.train.clone();
    bad.encoder_warmup = 0;
    assert_refused(&bad, "encoder_warmup_until");
    for t in [0.0, -1.0, f32::NAN] {
        let mut bad = run.train.clone();
        bad.encoder_warmup_until = Some(t);
        assert_refused(&bad, "encoder_warmup_until");
    }
}

#[test]
fn resuming_after_the_encoder_warmup_equals_an_uninterrupted_run() {
    // Adam restarts at the end of the warm-up; a run resumed after it must
    // take up the restarted step count, not the run's.
    let ctx = ctx();
    let mut run = tiny_run(6);
    run.train.encoder_warmup = 2;
    let (a, b) = (tmp("warm-whole"), tmp("warm-resumed"));
    train(&ctx, &opts(run.clone(), &a, false, None)).unwrap();
    train(&ctx, &opts(run.clone(), &b, false, Some(4))).unwrap();
    train(&ctx, &opts(run, &b, true, None)).unwrap();
    let (ca, cb) = (checkpoint::load(&a).unwrap(), checkpoint::load(&b).unwrap());
    for ((na, _, da), (_, _, db)) in ca.tensors.iter().zip(&cb.tensors) {
        assert_eq!(
            da, db,
            "{na} differs between the resumed and the uninterrupted run"
        );
    }
}

#[test]
fn a_run_can_start_from_another_runs_parameters() {
    let ctx = ctx();
    let (src, dst) = (tmp("init-src"), tmp("init-dst"));
    let run = tiny_run(3);
    train(&ctx, &opts(run.clone(), &src, false, None)).unwrap();
    let start = checkpoint::load(&src).unwrap();
    let mut o = opts(run.clone(), &dst, false, None);
    o.init_from = Some(src.clone());
    // Before its first step the model holds the source's parameters.
    let seen = std::rc::Rc::new(std::cell::Cell::new(false));
    let seen2 = seen.clone();
    let want: Vec<(String, Vec<f32>)> = start
        .tensors
        .iter()
        .filter(|(n, _, _)| !n.starts_with("adam."))
        .map(|(n, _, d)| (n.clone(), d.clone()))
        .collect();
    o.before_step = Some(Box::new(move |ctx, step, model| {
        if step == 0 {
            for (name, t) in model.params() {
                let (_, d) = want.iter().find(|(n, _)| n == name).expect(name);
                assert_eq!(&ctx.read(t), d, "{name}");
            }
            seen2.set(true);
        }
    }));
    let done = train(&ctx, &o).unwrap();
    assert!(seen.get());
    // A new run: from step 0 to the end of its own schedule.
    assert_eq!(done.steps_done, 3);
    assert_eq!(checkpoint::load(&dst).unwrap().step, 3);

    // Accepted: the same model with a search length the source did not
    // record (not a parameter shape).
    let mut longer = run.clone();
    longer.model.search_program_len = Some(run.model.program_len + 8);
    let mut o = opts(longer, &tmp("init-longer"), false, None);
    o.init_from = Some(src.clone());
    nli_wgpu::train::check_run(&o).unwrap();
    // Refused: another model's parameters, and with --resume.
    let mut other = run.clone();
    other.model.d *= 2;
    let mut o = opts(other, &tmp("init-other"), false, None);
    o.init_from = Some(src.clone());
    let err = nli_wgpu::train::check_run(&o).expect_err("another model config");
    assert!(err.to_string().contains("--init-from"), "{err}");
    let mut o = opts(run, &src, true, None);
    o.init_from = Some(src.clone());
    let err = nli_wgpu::train::check_run(&o).expect_err("with --resume");
    assert!(err.to_string().contains("--resume"), "{err}");
}

/// `weight_decay` (AdamW's decoupled decay) reaches the optimiser: after one
/// step from the same start with the same batch, a run with decay w holds
/// each parameter lr * w * (its starting value) lower than a run without
/// (the Adam part of the update is the same in both).
#[test]
fn weight_decay_takes_lr_times_decay_times_the_parameter_off_each_step() {
    let ctx = ctx();
    type Params = Vec<(String, Vec<f32>)>;
    let start: std::rc::Rc<std::cell::RefCell<Params>> = Default::default();
    let mut ends = Vec::new();
    let wd = 10.0f32;
    for (i, decay) in [0.0f32, wd].into_iter().enumerate() {
        let mut run = tiny_run(1);
        run.train.weight_decay = decay;
        let dir = tmp(&format!("weight-decay-{i}"));
        let mut o = opts(run, &dir, false, None);
        let start2 = start.clone();
        o.before_step = Some(Box::new(move |ctx, step, model| {
            if step == 0 {
                let now: Params = model
                    .params()
                    .iter()
                    .map(|(n, t)| (n.to_string(), ctx.read(t)))
                    .collect();
                let mut s = start2.borrow_mut();
                if s.is_empty() {
                    *s = now;
                } else {
                    assert_eq!(*s, now, "both runs start from the same parameters");
                }
            }
        }));
        train(&ctx, &o).unwrap();
        ends.push(checkpoint::load(&dir).unwrap());
    }
    let lr = tiny_run(1).train.lr_at(0);
    let mut largest = 0.0f32;
    for (name, p0) in start.borrow().iter() {
        let find = |c: &checkpoint::Checkpoint| {
            c.tensors
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, _, d)| d.clone())
                .expect(name)
        };
        let (plain, decayed) = (find(&ends[0]), find(&ends[1]));
        for ((a, b), x) in plain.iter().zip(&decayed).zip(p0) {
            let want = lr * wd * x;
            // Both updates are rounded to f32 at parameters below about
            // 4 in size (ulp < 5e-7); the difference is a few ulp from exact.
            assert!(
                ((a - b) - want).abs() <= 2e-6 + 1e-4 * want.abs(),
                "{name}: {a} - {b} against {want}"
            );
            largest = largest.max((a - b).abs());
        }
    }
    assert!(largest > 1e-3, "the decay moved nothing: {largest}");
    let mut bad = tiny_run(1);
    bad.train.weight_decay = -1.0;
    let err = bad.train.validate().expect_err("negative decay");
    assert!(err.to_string().contains("weight_decay"), "{err}");
}
