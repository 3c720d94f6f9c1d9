//! The baselines of the paper's Table 1 (BASELINES.md): parameter counts
//! matched to NLI, finite-difference checks of each whole loss and of the KL
//! term, TTT's inner loop, short training runs of every kind and `eval` of
//! each kind's methods on a tiny checkpoint.

mod common;
use common::*;

use std::path::PathBuf;
use std::process::Command;

use nli_wgpu::gradcheck::{GradCheckConfig, gradcheck};
use nli_wgpu::model::config::preset;
use nli_wgpu::model::in_context::InContext;
use nli_wgpu::model::layers::{GivenParams, RandomInit};
use nli_wgpu::model::lpn::kl_terms;
use nli_wgpu::model::{LossSettings, Model, ModelConfig, ModelKind};
use nli_wgpu::tasks::{BatchSampler, Split, Suite, SuiteConfig, TaskBatch, TaskRng};

const KINDS: [ModelKind; 3] = [ModelKind::InContext, ModelKind::Lpn, ModelKind::DLpn];

fn config(name: &str, kind: ModelKind) -> ModelConfig {
    let (mut mc, _) = preset(name, 20, 10).unwrap();
    mc.kind = kind;
    mc
}

#[test]
fn parameter_counts_match_the_baselines_table() {
    let ctx = ctx();
    let _g = ctx.no_grad();
    let count =
        |kind| Model::build(&ctx, &config("cpu", kind), &mut RandomInit::new(0)).param_count();
    // BASELINES §5, computed there from the layer sizes.
    let nli = count(ModelKind::Nli);
    assert_eq!(nli, 163_882);
    for (kind, want) in [
        (ModelKind::InContext, 159_754),
        (ModelKind::Lpn, 161_610),
        (ModelKind::DLpn, 165_098),
    ] {
        let got = count(kind);
        assert_eq!(got, want, "{kind:?}");
        let off = (got as f64 - nli as f64).abs() / nli as f64;
        assert!(
            off < 0.05,
            "{kind:?}: {got} is {off:.3} away from NLI's {nli}"
        );
    }
}

fn batch(tasks: usize, pairs: usize) -> TaskBatch {
    let sampler =
        BatchSampler::for_suite(Suite::ShiftL, Split::Id, SuiteConfig::default()).unwrap();
    let mut b = TaskBatch::default();
    sampler.fill(&mut TaskRng::new(7), tasks, pairs, &mut b);
    b
}

/// Finite differences against the analytic gradient of a kind's whole
/// training loss at `tiny` size, with fixed noise. Tolerances are
/// `GradCheckConfig::default()`'s (f32 central differences, h = 1e-2:
/// relative 1e-2 with an absolute floor of 2e-3; its doc says why).
fn check_whole_loss(kind: ModelKind, pairs: usize, latent_ascent: bool) {
    check_whole_loss_of(kind, 2, pairs, latent_ascent, 0.0);
}

fn check_whole_loss_of(
    kind: ModelKind,
    tasks: usize,
    pairs: usize,
    latent_ascent: bool,
    view_nce_weight: f32,
) {
    let ctx = ctx();
    let mc = config("tiny", kind);
    let inputs: Vec<(Vec<f32>, Vec<usize>)> = {
        let fresh = Model::build(&ctx, &mc, &mut RandomInit::new(3));
        fresh
            .params()
            .iter()
            .map(|(_, t)| (ctx.read(t), t.shape().to_vec()))
            .collect()
    };
    let b = batch(tasks, pairs);
    let x = ctx.indices(&b.x, &[tasks, pairs, 20]);
    let y = ctx.indices(&b.y, &[tasks, pairs, 20]);
    let settings = LossSettings {
        // Larger than in training so the regulariser's and the KL term's
        // gradients are not swamped by the reconstruction term.
        lambda: 0.5,
        kl_beta: 0.5,
        latent_ascent,
        view_nce_weight,
        ..plain_settings(2.0, 1.0, Some(fixed_noise()))
    };
    let cfg = GradCheckConfig {
        max_elements: 5,
        ..GradCheckConfig::default()
    };
    let report = gradcheck(&ctx, &inputs, &cfg, |c, ts| {
        Model::build(c, &mc, &mut GivenParams::new(ts.to_vec()))
            .loss(c, &x, &y, settings)
            .loss
    });
    assert!(report.passed(), "{kind:?} loss: {report}");
    assert!(report.checked > 100, "checked only {}", report.checked);
}

#[test]
fn in_context_loss_matches_finite_differences() {
    // 3 pairs per task: one task predicts each pair from 2, the other (its
    // first 2 pairs) each from 1: both halves of the loss are checked.
    check_whole_loss(ModelKind::InContext, 3, false);
}

#[test]
fn in_context_loss_with_the_views_contrastive_loss_matches_finite_differences() {
    // 4 tasks, so the contrastive loss compares each task's two views with
    // three others' (with 2 tasks the centred views of the two are opposite).
    check_whole_loss_of(ModelKind::InContext, 4, 3, false, 1.0);
}

#[test]
fn lpn_loss_matches_finite_differences() {
    // The latent ascent move is a constant on the tape (BASELINES §3); its
    // size, 0.1 g / (|g| + 1e-8), barely moves with the weights, so finite
    // differences through it agree with the analytic gradient.
    check_whole_loss(ModelKind::Lpn, 3, true);
    check_whole_loss(ModelKind::Lpn, 3, false);
}

#[test]
fn lpn_loss_with_the_views_contrastive_loss_matches_finite_differences() {
    // 4 tasks, as In-Context's: the contrastive loss of the latent means,
    // with the ascent move (a constant) in the reconstruction.
    check_whole_loss_of(ModelKind::Lpn, 4, 3, true, 1.0);
}

#[test]
fn d_lpn_loss_matches_finite_differences() {
    check_whole_loss(ModelKind::DLpn, 3, false);
}

#[test]
fn kl_term_matches_finite_differences_and_its_closed_form() {
    let ctx = ctx();
    let mut r = rng(4);
    let mu = rand_vec(&mut r, 3 * 5, -1.5, 1.5);
    let logvar = rand_vec(&mut r, 3 * 5, -1.0, 1.0);
    let report = gradcheck(
        &ctx,
        &[(mu.clone(), vec![3, 5]), (logvar.clone(), vec![3, 5])],
        &GradCheckConfig::default(),
        |c, ts| c.sum_all(&kl_terms(c, &ts[0], &ts[1])),
    );
    assert!(report.passed(), "KL: {report}");
    let got = ctx.read(&kl_terms(
        &ctx,
        &ctx.tensor(&mu, &[3, 5]),
        &ctx.tensor(&logvar, &[3, 5]),
    ));
    for row in 0..3 {
        let want: f32 = (0..5)
            .map(|d| {
                let (m, lv) = (mu[row * 5 + d], logvar[row * 5 + d]);
                -0.5 * (1.0 + lv - m * m - lv.exp())
            })
            .sum();
        assert!(
            (got[row] - want).abs() < 1e-4,
            "row {row}: {} vs {want}",
            got[row]
        );
    }
}

#[test]
fn ttt_raises_the_leave_one_out_likelihood() {
    let ctx = ctx();
    let model = InContext::build(
        &ctx,
        &config("tiny", ModelKind::InContext),
        &mut RandomInit::new(9),
    );
    let b = batch(1, 4);
    let x = ctx.indices(&b.x, &[1, 4, 20]);
    let y = ctx.indices(&b.y, &[1, 4, 20]);
    let before = {
        let _g = ctx.no_grad();
        ctx.item(&nli_wgpu::ttt::spec_loss(&ctx, &model, &x, &y))
    };
    let cfg = nli_wgpu::ttt::TttConfig {
        steps: 20,
        lr: 1e-3,
    };
    let tuned = nli_wgpu::ttt::ttt_tune(&ctx, &model, &x, &y, &cfg);
    let _g = ctx.no_grad();
    let after = ctx.item(&nli_wgpu::ttt::spec_loss(&ctx, &tuned, &x, &y));
    let again = ctx.item(&nli_wgpu::ttt::spec_loss(&ctx, &model, &x, &y));
    assert!(
        after < before - 1.0,
        "leave-one-out NLL {before} before TTT, {after} after"
    );
    assert_eq!(again, before, "TTT must leave the trained weights alone");
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nli-wgpu-baselines-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn every_kind_trains_twenty_steps_and_evaluates() {
    for kind in KINDS {
        let dir = tmp(kind.name());
        let loss = train_tiny(kind, "comp-i", 20, &dir);
        assert!(loss.is_finite(), "{kind:?}: loss {loss}");
        let ckpt = nli_wgpu::checkpoint::load(&dir).unwrap();
        assert_eq!(
            ckpt.config.model.kind, kind,
            "the checkpoint records its kind"
        );
        let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
        assert!(metrics.contains("\"train_accuracy\""));
        if kind == ModelKind::Lpn {
            assert!(metrics.contains("\"kl\""), "LPN logs its KL term");
        }
        // eval runs every method of the kind, with a small search.
        let out = Command::new(env!("CARGO_BIN_EXE_nli-wgpu"))
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .args([
                "eval",
                "--tasks",
                "2",
                "--starts",
                "2",
                "--search-steps",
                "2",
                "--quiet",
            ])
            .arg("--checkpoint")
            .arg(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{kind:?}: {stderr}");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("eval.json")).unwrap()).unwrap();
        assert_eq!(report["model"], kind.name());
        let methods: Vec<&str> = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["split"] == "ood")
            .map(|r| r["method"].as_str().unwrap())
            .collect();
        let want: &[&str] = match kind {
            ModelKind::InContext => &["NoSearch", "Ttt"],
            ModelKind::Lpn => &["NoSearch", "GradientSearch", "LatentSearchDefault"],
            _ => &["NoSearch", "PriorSearch", "GradientSearch"],
        };
        assert_eq!(methods, want, "{kind:?}");
    }
}

#[test]
fn commands_refuse_kinds_they_cannot_use() {
    let dir = tmp("refuse");
    train_tiny(ModelKind::InContext, "comp-i", 2, &dir);
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_nli-wgpu"))
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .args(args)
            .arg("--checkpoint")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} must refuse");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&["eval", "--methods", "prior", "--tasks", "2"]);
    assert!(err.contains("does not apply to In-Context"), "{err}");
    let err = run(&["demo", "--tasks", "1"]);
    assert!(err.contains("In-Context"), "{err}");
    let err = run(&["inspect", "--tasks", "1"]);
    assert!(err.contains("In-Context"), "{err}");
    // Resuming a run as another kind is refused too.
    let out = Command::new(env!("CARGO_BIN_EXE_nli-wgpu"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .args(["train", "--resume", "--model", "lpn", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in-context"));
}

/// The shipped baselines (models/README.md): small, of their kind, usable
/// by `eval --model-kind` without a checkpoint, and keeping most of the ID
/// accuracy each measured on the 200 fixed tasks (a floor per model on the
/// first 50).
#[test]
fn shipped_baselines_load_and_evaluate() {
    let ctx = ctx();
    let mut seen = 0;
    for (kind, suite, bytes) in nli_wgpu::shipped::MODELS {
        if *kind == "nli" {
            continue;
        }
        seen += 1;
        assert!(
            bytes.len() < 1 << 20,
            "{kind} {suite}: {} bytes",
            bytes.len()
        );
        let ckpt = nli_wgpu::shipped::load(kind, suite).unwrap();
        assert_eq!(ckpt.config.model.kind.name(), *kind);
        assert!(ckpt.tensors.iter().all(|(n, _, _)| !n.starts_with("adam.")));
        let model = nli_wgpu::train::load_model(&ctx, &ckpt).unwrap();
        let (s, cfg) = nli_wgpu::train::suite_config(&ckpt.config).unwrap();
        let tasks =
            nli_wgpu::tasks::test_set(s, Split::Id, s.test_seed(Split::Id), 50, &cfg).unwrap();
        let preds = nli_wgpu::eval::predict_no_search(&ctx, &model, &tasks, 0.5);
        let acc = nli_wgpu::eval::accuracy(&tasks, &preds);
        // What each shipped model measured on 200 ID tasks (models/README.md),
        // with room for the 50 tasks here and another adapter's rounding.
        let floor = match (*kind, *suite) {
            ("in-context", "comp-i") | ("d-lpn", "comp-i") => 0.85,
            // 0.98 on 200 (run 62).
            ("in-context", "shift-p") => 0.9,
            // 1.00 on 200 (docs/experiments.md, run 61).
            ("in-context", "shift-l") => 0.9,
            // 0.995 and 1.00 on 200 (docs/experiments.md, runs 63 and 64).
            ("d-lpn", "shift-l") | ("lpn", "shift-l") => 0.9,
            // 1.00, 1.00 and 0.995 on 200, on the H200 and on lavapipe
            // (runs 66-68).
            ("lpn", "shift-p") | ("lpn", "comp-i") | ("d-lpn", "shift-p") => 0.9,
            other => panic!("{other:?}: a shipped baseline without a floor here"),
        };
        assert!(acc >= floor, "{kind} {suite}: ID accuracy {acc} < {floor}");
        // The command line finds it by kind and suite.
        let out = Command::new(env!("CARGO_BIN_EXE_nli-wgpu"))
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .args([
                "eval",
                "--methods",
                "none",
                "--tasks",
                "3",
                "--splits",
                "id",
                "--quiet",
            ])
            .args(["--model-kind", kind, "--suite", suite, "--out"])
            .arg(tmp(&format!("shipped-{kind}")).join("eval.json"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        seen, 9,
        "the baselines of the table ship: 3 kinds x 3 suites"
    );
}
