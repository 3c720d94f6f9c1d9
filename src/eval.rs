//! Prediction without search and exact-match accuracy.

use crate::ctx::Ctx;
use crate::model::{Nli, SKIP, argmax_rows};
use crate::tasks::Task;
use crate::tasks::pack::{PackedTasks, chunks_by_pairs};
use crate::tensor::Tensor;

/// Calls `f` for each chunk of tasks with equal pair counts: the chunk's
/// task indices, the packed tasks and their specification inputs and
/// outputs on the GPU.
fn for_each_chunk(
    ctx: &Ctx,
    tasks: &[Task],
    mut f: impl FnMut(&[usize], &PackedTasks, &Tensor, &Tensor),
) {
    for ids in chunks_by_pairs(tasks, 128) {
        let refs: Vec<&Task> = ids.iter().map(|&i| &tasks[i]).collect();
        let p = PackedTasks::new(&refs);
        let sx = ctx.indices(&p.spec_x, &[p.count, p.pairs, p.n]);
        let sy = ctx.indices(&p.spec_y, &[p.count, p.pairs, p.n]);
        f(&ids, &p, &sx, &sy);
    }
}

/// Query outputs predicted with the hard program and no search.
pub fn predict_hard(ctx: &Ctx, model: &Nli, tasks: &[Task], tau_d: f32) -> Vec<Vec<u32>> {
    let _g = ctx.no_grad();
    let mut out = vec![Vec::new(); tasks.len()];
    for_each_chunk(ctx, tasks, |ids, p, sx, sy| {
        let qx = ctx.indices(&p.query_x, &[p.count, p.n]);
        let pi = model.predict_hard(ctx, sx, sy, &qx, tau_d);
        let pred = argmax_rows(&ctx.read(&pi), model.cfg.v);
        for (k, &i) in ids.iter().enumerate() {
            out[i] = pred[k * p.n..(k + 1) * p.n].to_vec();
        }
    });
    out
}

/// The hard program the inductor writes for each task (argmax token of each
/// slot, SKIP left out), from all its specification pairs.
pub fn inductor_programs(ctx: &Ctx, model: &Nli, tasks: &[Task]) -> Vec<Vec<u32>> {
    let _g = ctx.no_grad();
    let (t, k) = (model.cfg.program_len, model.cfg.codebook);
    let mut out = vec![Vec::new(); tasks.len()];
    for_each_chunk(ctx, tasks, |ids, _, sx, sy| {
        let logits = ctx.read(&model.token_logits(ctx, &model.pooled_embedding(ctx, sx, sy)));
        for (j, &i) in ids.iter().enumerate() {
            out[i] = argmax_rows(&logits[j * t * k..(j + 1) * t * k], k)
                .into_iter()
                .filter(|&x| x as usize != SKIP)
                .collect();
        }
    });
    out
}

/// Fraction of tasks whose whole query output is predicted exactly (tasks
/// without a known query output count as wrong).
pub fn accuracy(tasks: &[Task], predictions: &[Vec<u32>]) -> f32 {
    if tasks.is_empty() {
        return 0.0;
    }
    let right = tasks
        .iter()
        .zip(predictions)
        .filter(|(t, p)| t.query.y.as_deref() == Some(p.as_slice()))
        .count();
    right as f32 / tasks.len() as f32
}

/// The three ways of answering a task that `eval` compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Method {
    /// The inductor's hard program, no search.
    NoSearch,
    /// Best of `starts` programs sampled from the inductor.
    PriorSearch,
    /// Gradient search over the slot embeddings.
    GradientSearch,
}

impl Method {
    pub const ALL: [Method; 3] = [
        Method::NoSearch,
        Method::PriorSearch,
        Method::GradientSearch,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Method::NoSearch => "NLI (no search)",
            Method::PriorSearch => "NLI prior search",
            Method::GradientSearch => "NLI gradient search",
        }
    }
}

/// Query outputs of `tasks` by `method`.
pub fn predict(
    ctx: &Ctx,
    model: &Nli,
    tasks: &[Task],
    method: Method,
    search: &crate::search::SearchConfig,
    tau_d: f32,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<Vec<u32>> {
    match method {
        Method::NoSearch => {
            let p = predict_hard(ctx, model, tasks, tau_d);
            progress(1, 1);
            p
        }
        Method::PriorSearch => crate::search::prior_search(ctx, model, tasks, search, progress)
            .into_iter()
            .map(|r| r.prediction)
            .collect(),
        Method::GradientSearch => {
            crate::search::gradient_search(ctx, model, tasks, search, progress)
                .into_iter()
                .map(|r| r.prediction)
                .collect()
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalRow {
    pub method: Method,
    pub split: String,
    pub accuracy: f32,
    pub tasks: usize,
    pub seconds: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalReport {
    pub suite: String,
    pub checkpoint: String,
    pub adapter: String,
    pub search: crate::search::SearchConfig,
    pub rows: Vec<EvalRow>,
}

impl EvalReport {
    /// The paper's table shape: one row per method, ID and OOD columns.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<22} {:>8} {:>8} {:>10}\n",
            "method",
            format!("{} ID", self.suite),
            "OOD",
            "seconds"
        );
        for m in Method::ALL {
            let get = |split: &str| self.rows.iter().find(|r| r.method == m && r.split == split);
            let (id, ood) = (get("id"), get("ood"));
            if id.is_none() && ood.is_none() {
                continue;
            }
            let acc =
                |r: Option<&EvalRow>| r.map_or("-".to_string(), |r| format!("{:.2}", r.accuracy));
            let secs: f64 = id.map_or(0.0, |r| r.seconds) + ood.map_or(0.0, |r| r.seconds);
            s.push_str(&format!(
                "{:<22} {:>8} {:>8} {:>10.1}\n",
                m.label(),
                acc(id),
                acc(ood),
                secs
            ));
        }
        s
    }
}

/// One point of a search sweep: gradient search with `starts` starts and
/// `steps` Adam steps on the same tasks.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SweepPoint {
    pub split: String,
    pub starts: usize,
    pub steps: usize,
    pub accuracy: f32,
    pub tasks: usize,
    pub seconds: f64,
}

/// Accuracy over a grid of search budgets (`eval --sweep-starts --sweep-steps`):
/// what `plot --scaling` draws.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SweepReport {
    pub suite: String,
    pub checkpoint: String,
    pub adapter: String,
    /// The search settings besides starts and steps.
    pub search: crate::search::SearchConfig,
    pub sweep: Vec<SweepPoint>,
}
