//! Test-time training (BASELINES §2): per task, every weight of a trained
//! In-Context model is fine-tuned on the leave-one-out likelihood of the
//! specification (each pair predicted from the other three, never the
//! query), then the query is predicted from all pairs with the tuned weights.
//! Weights are reset for every task.

use crate::ctx::Ctx;
use crate::model::argmax_rows;
use crate::model::in_context::InContext;
use crate::model::layers::GivenParams;
use crate::optim::{Adam, AdamConfig};
use crate::tasks::Task;
use crate::tasks::pack::PackedTasks;
use crate::tensor::Tensor;

#[derive(Clone, Debug, serde::Serialize)]
pub struct TttConfig {
    /// Full-batch Adam steps per task (NLI's L).
    pub steps: usize,
    pub lr: f32,
}

impl Default for TttConfig {
    /// BASELINES §2: 50 steps, lr 1e-4, betas (0.9, 0.999), no clipping.
    fn default() -> Self {
        TttConfig {
            steps: 50,
            lr: 1e-4,
        }
    }
}

/// A copy of `model` with fresh parameter storage (the original is left
/// untouched).
fn copy(ctx: &Ctx, model: &InContext) -> InContext {
    let fresh = model
        .params
        .iter()
        .map(|(_, t)| ctx.param(&ctx.read(t), t.shape()))
        .collect();
    InContext::build(ctx, &model.cfg, &mut GivenParams::new(fresh))
}

/// The leave-one-out negative log-likelihood of a specification
/// (spec u32 [1, m, N]), summed over its pairs.
pub fn spec_loss(ctx: &Ctx, model: &InContext, spec_x: &Tensor, spec_y: &Tensor) -> Tensor {
    ctx.sum_all(&model.leave_one_out(ctx, spec_x, spec_y).0)
}

/// `model` fine-tuned on one task's specification (spec u32 [1, m, N]).
pub fn ttt_tune(
    ctx: &Ctx,
    model: &InContext,
    spec_x: &Tensor,
    spec_y: &Tensor,
    cfg: &TttConfig,
) -> InContext {
    let tuned = copy(ctx, model);
    let params: Vec<&Tensor> = tuned.params.iter().map(|(_, t)| t).collect();
    let mut adam = Adam::new(AdamConfig {
        lr: cfg.lr,
        max_grad_norm: 0.0,
        ..AdamConfig::default()
    });
    for _ in 0..cfg.steps {
        let grads = ctx.backward(&spec_loss(ctx, &tuned, spec_x, spec_y));
        adam.step(ctx, &params, &grads);
    }
    tuned
}

/// Query predictions of every task after test-time training; `progress`
/// gets tasks done and their total.
pub fn ttt_predict(
    ctx: &Ctx,
    model: &InContext,
    tasks: &[Task],
    cfg: &TttConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<Vec<u32>> {
    tasks
        .iter()
        .enumerate()
        .map(|(i, task)| {
            let p = PackedTasks::new(&[task]);
            let sx = ctx.indices(&p.spec_x, &[1, p.pairs, p.n]);
            let sy = ctx.indices(&p.spec_y, &[1, p.pairs, p.n]);
            let qx = ctx.indices(&p.query_x, &[1, p.n]);
            let tuned = ttt_tune(ctx, model, &sx, &sy, cfg);
            let _g = ctx.no_grad();
            let pred = argmax_rows(&ctx.read(&tuned.predict(ctx, &sx, &sy, &qx)), model.cfg.v);
            progress(i + 1, tasks.len());
            pred
        })
        .collect()
}
