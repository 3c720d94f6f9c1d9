//! The NLI model: a finite-difference check of the whole loss of the `tiny`
//! model (both Gumbel layers with fixed noise, the regulariser included).

mod common;
use common::*;
use nli_wgpu::gradcheck::{GradCheckConfig, gradcheck};
use nli_wgpu::model::config::preset;
use nli_wgpu::model::layers::{GivenParams, RandomInit};
use nli_wgpu::model::{LossSettings, Nli, StepNoise};
use nli_wgpu::tasks::{BatchSampler, Split, Suite, SuiteConfig, TaskBatch, TaskRng};

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
    let noise = Some(StepNoise { seed: 5, step: 2 });
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
                    tau_e: 2.0,
                    tau_d: 1.0,
                    lambda: 0.5,
                    kl_beta: 0.0,
                    latent_ascent: false,
                    hard_inductor: false,
                    noise,
                },
            )
            .loss
    });
    assert!(report.passed(), "tiny model loss: {report}");
    assert!(report.checked > 200, "checked only {}", report.checked);
}
