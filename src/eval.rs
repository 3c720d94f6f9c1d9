//! Prediction without search and exact-match accuracy.

use crate::ctx::Ctx;
use crate::model::{Nli, argmax_rows};
use crate::tasks::Task;

/// Tasks packed into flat index buffers, all with the same number of
/// specification pairs.
pub struct PackedTasks {
    pub count: usize,
    pub pairs: usize,
    pub n: usize,
    /// [count, pairs, n]
    pub spec_x: Vec<u32>,
    pub spec_y: Vec<u32>,
    /// [count, n]
    pub query_x: Vec<u32>,
}

impl PackedTasks {
    pub fn new(tasks: &[&Task]) -> PackedTasks {
        let pairs = tasks.first().map_or(0, |t| t.spec.len());
        let n = tasks.first().map_or(0, |t| t.query.x.len());
        let mut p = PackedTasks {
            count: tasks.len(),
            pairs,
            n,
            spec_x: Vec::with_capacity(tasks.len() * pairs * n),
            spec_y: Vec::with_capacity(tasks.len() * pairs * n),
            query_x: Vec::with_capacity(tasks.len() * n),
        };
        for t in tasks {
            assert_eq!(
                t.spec.len(),
                pairs,
                "packed tasks must have equal pair counts"
            );
            for pair in &t.spec {
                p.spec_x.extend(&pair.x);
                p.spec_y.extend(&pair.y);
            }
            p.query_x.extend(&t.query.x);
        }
        p
    }
}

/// Indices of `tasks` grouped by their number of specification pairs, in
/// chunks of at most `chunk` tasks.
pub fn chunks_by_pairs(tasks: &[Task], chunk: usize) -> Vec<Vec<usize>> {
    let mut by_pairs: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, t) in tasks.iter().enumerate() {
        by_pairs.entry(t.spec.len()).or_default().push(i);
    }
    by_pairs
        .into_values()
        .flat_map(|ids| {
            ids.chunks(chunk.max(1))
                .map(|c| c.to_vec())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Query outputs predicted with the hard program and no search.
pub fn predict_hard(ctx: &Ctx, model: &Nli, tasks: &[Task], tau_d: f32) -> Vec<Vec<u32>> {
    let _g = ctx.no_grad();
    let mut out = vec![Vec::new(); tasks.len()];
    for ids in chunks_by_pairs(tasks, 128) {
        let refs: Vec<&Task> = ids.iter().map(|&i| &tasks[i]).collect();
        let p = PackedTasks::new(&refs);
        let sx = ctx.indices(&p.spec_x, &[p.count, p.pairs, p.n]);
        let sy = ctx.indices(&p.spec_y, &[p.count, p.pairs, p.n]);
        let qx = ctx.indices(&p.query_x, &[p.count, p.n]);
        let pi = model.predict_hard(ctx, &sx, &sy, &qx, tau_d);
        let pred = argmax_rows(&ctx.read(&pi), model.cfg.v);
        for (k, &i) in ids.iter().enumerate() {
            out[i] = pred[k * p.n..(k + 1) * p.n].to_vec();
        }
    }
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
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
