//! Kernel work must not change what training computes: the `tiny` preset's
//! loss over 40 steps of a fixed seed stays within 1e-3 relative of the
//! curve recorded before the speed work (tests/fixtures/tiny-curve.json,
//! written by this test with `NLI_WRITE_CURVE=1` on the engine of that
//! time; see the fixture's `recorded_with`). Re-recorded once, on the same
//! engine, when training batches became independent draws per step
//! (`TaskRng::substream`): that changed the data, not what a step computes.
//!
//! Why 1e-3: a kernel that sums in another order changes each loss by
//! float rounding (about 1e-6 relative), and 40 Adam steps at lr 1e-3 grow
//! that to well under 1e-4 on this model; a wrong gradient, a changed
//! initialisation or a dropped term moves the curve by far more within a
//! few steps (the recorded loss moves by 1-10% from one step to the next as
//! the temperatures fall over this short run).

mod common;
use common::*;
use nli_wgpu::model::Model;
use nli_wgpu::model::config::preset;
use nli_wgpu::model::layers::RandomInit;
use nli_wgpu::optim::{Adam, AdamConfig};
use nli_wgpu::tasks::{BatchSampler, Split, Suite, SuiteConfig, TaskBatch};
use nli_wgpu::train::train_step;

const STEPS: usize = 40;

fn tiny_curve() -> Vec<f32> {
    let ctx = ctx();
    let suite = SuiteConfig::default();
    let (mc, tc) = preset("tiny", suite.n, suite.v).unwrap();
    let model = Model::build(&ctx, &mc, &mut RandomInit::new(0));
    let params: Vec<_> = model.param_tensors().into_iter().cloned().collect();
    let refs: Vec<_> = params.iter().collect();
    let mut adam = Adam::new(AdamConfig {
        lr: tc.lr,
        max_grad_norm: tc.grad_clip,
        ..AdamConfig::default()
    });
    let sampler = BatchSampler::for_suite(Suite::ShiftL, Split::Id, suite).unwrap();
    let mut batch = TaskBatch::default();
    (0..STEPS)
        .map(|i| {
            let (parts, _) =
                train_step(&ctx, &model, &mut adam, &refs, &tc, &sampler, &mut batch, i);
            ctx.item(&parts.loss)
        })
        .collect()
}

#[test]
fn tiny_loss_curve_matches_the_recorded_one() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-curve.json");
    let got = tiny_curve();
    assert!(
        got.iter().all(|l| l.is_finite()),
        "loss not finite: {got:?}"
    );
    if std::env::var_os("NLI_WRITE_CURVE").is_some() {
        let json = serde_json::json!({
            "recorded_with": std::env::var("NLI_WRITE_CURVE").unwrap(),
            "loss": got,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
        return;
    }
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let want: Vec<f32> = fixture["loss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(want.len(), STEPS);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let rel = (g - w).abs() / w.abs().max(1e-6);
        assert!(
            rel <= 1e-3,
            "step {i}: loss {g} vs recorded {w} (relative difference {rel:.2e})\ncurve: {got:?}"
        );
    }
}
