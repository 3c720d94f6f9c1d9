//! Prediction with or without search for every model kind, and
//! exact-match accuracy.

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::model::{Model, ModelKind, ProgramModel, SKIP, argmax_rows};
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
pub fn predict_hard<M: ProgramModel>(
    ctx: &Ctx,
    model: &M,
    tasks: &[Task],
    tau_d: f32,
) -> Vec<Vec<u32>> {
    let _g = ctx.no_grad();
    let mut out = vec![Vec::new(); tasks.len()];
    for_each_chunk(ctx, tasks, |ids, p, sx, sy| {
        let qx = ctx.indices(&p.query_x, &[p.count, p.n]);
        let pi = model.predict_hard(ctx, sx, sy, &qx, tau_d);
        let pred = argmax_rows(&ctx.read(&pi), model.config().v);
        for (k, &i) in ids.iter().enumerate() {
            out[i] = pred[k * p.n..(k + 1) * p.n].to_vec();
        }
    });
    out
}

/// The hard program the inductor writes for each task (argmax token of each
/// slot, SKIP left out), from all its specification pairs.
pub fn inductor_programs<M: ProgramModel>(ctx: &Ctx, model: &M, tasks: &[Task]) -> Vec<Vec<u32>> {
    let _g = ctx.no_grad();
    let (t, k) = (model.config().program_len, model.config().codebook);
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

/// Query outputs without search, for any model kind: NLI and D-LPN run the
/// inductor's hard program; In-Context reads every specification pair in
/// context; LPN decodes the mean of the pairs' latent means.
pub fn predict_no_search(ctx: &Ctx, model: &Model, tasks: &[Task], tau_d: f32) -> Vec<Vec<u32>> {
    match model {
        Model::Nli(m) => predict_hard(ctx, m, tasks, tau_d),
        Model::DLpn(m) => predict_hard(ctx, m, tasks, tau_d),
        Model::InContext(m) => {
            predict_by(ctx, model, tasks, |sx, sy, qx| m.predict(ctx, sx, sy, qx))
        }
        Model::Lpn(m) => predict_by(ctx, model, tasks, |sx, sy, qx| {
            m.decode(ctx, &m.mean_latent(ctx, sx, sy), qx)
        }),
    }
}

/// Query outputs from `scores(spec_x, spec_y, query_x)` [B, N, V], chunk by
/// chunk, without gradients.
fn predict_by(
    ctx: &Ctx,
    model: &Model,
    tasks: &[Task],
    scores: impl Fn(&Tensor, &Tensor, &Tensor) -> Tensor,
) -> Vec<Vec<u32>> {
    let _g = ctx.no_grad();
    let v = model.cfg().v;
    let mut out = vec![Vec::new(); tasks.len()];
    for_each_chunk(ctx, tasks, |ids, p, sx, sy| {
        let qx = ctx.indices(&p.query_x, &[p.count, p.n]);
        let pred = argmax_rows(&ctx.read(&scores(sx, sy, &qx)), v);
        for (k, &i) in ids.iter().enumerate() {
            out[i] = pred[k * p.n..(k + 1) * p.n].to_vec();
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

/// Per hidden program (tasks without a program name under `?`): the tasks
/// whose whole query output is predicted exactly, and the tasks; the
/// breakdown of [`accuracy`].
pub fn accuracy_by_program(
    tasks: &[Task],
    predictions: &[Vec<u32>],
) -> std::collections::BTreeMap<String, [usize; 2]> {
    let mut by = std::collections::BTreeMap::new();
    for (t, p) in tasks.iter().zip(predictions) {
        let cell: &mut [usize; 2] = by
            .entry(t.program.clone().unwrap_or_else(|| "?".into()))
            .or_default();
        cell[0] += usize::from(t.query.y.as_deref() == Some(p.as_slice()));
        cell[1] += 1;
    }
    by
}

/// Mean over tasks of the fraction of query output positions predicted
/// right (a partial credit beside [`accuracy`]'s exact match).
pub fn position_accuracy(tasks: &[Task], predictions: &[Vec<u32>]) -> f32 {
    if tasks.is_empty() {
        return 0.0;
    }
    let sum: f64 = tasks
        .iter()
        .zip(predictions)
        .map(|(t, p)| match &t.query.y {
            Some(y) if !y.is_empty() => {
                y.iter().zip(p).filter(|(a, b)| a == b).count() as f64 / y.len() as f64
            }
            _ => 0.0,
        })
        .sum();
    (sum / tasks.len() as f64) as f32
}

/// The wrong answers that are a known program's output on the query: per
/// hidden program (`?` where unnamed), how many wrong predictions equal
/// the output of each of `known` (the first that does, by name), and how
/// many equal none of them (`other`). With the suite's training programs
/// as `known`, it tells a model that ran a program it learned on an
/// out-of-distribution task from one that wrote something new. Tasks
/// without an expected output (task files may leave it out) are not
/// counted.
pub fn wrong_answers_as(
    tasks: &[Task],
    predictions: &[Vec<u32>],
    known: &[crate::tasks::Program],
    v: usize,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, usize>> {
    let mut by: std::collections::BTreeMap<String, std::collections::BTreeMap<String, usize>> =
        Default::default();
    for (t, p) in tasks.iter().zip(predictions) {
        let Some(y) = &t.query.y else { continue };
        if y == p {
            continue;
        }
        let as_known = known
            .iter()
            .find(|k| k.apply(&t.query.x, v) == *p)
            .map_or_else(|| "other".to_string(), |k| k.name());
        *by.entry(t.program.clone().unwrap_or_else(|| "?".into()))
            .or_default()
            .entry(as_known)
            .or_default() += 1;
    }
    by
}

/// The ways of answering a task that `eval` compares. Which apply depends
/// on the model kind ([`Method::for_kind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Method {
    /// No search: the inductor's hard program (NLI, D-LPN), the pairs in
    /// context (In-Context), the mean latent (LPN).
    NoSearch,
    /// Best of `starts` programs sampled from the inductor (NLI, D-LPN).
    PriorSearch,
    /// Gradient search with the run's budget (s starts x L steps): over the
    /// slot embeddings (NLI, D-LPN) or over the latent (LPN).
    GradientSearch,
    /// LPN's own default search: one start, 100 steps, lr 0.1.
    LatentSearchDefault,
    /// Test-time training of every weight on the specification (In-Context).
    Ttt,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::NoSearch,
        Method::PriorSearch,
        Method::GradientSearch,
        Method::LatentSearchDefault,
        Method::Ttt,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Method::NoSearch => "none",
            Method::PriorSearch => "prior",
            Method::GradientSearch => "gradient",
            Method::LatentSearchDefault => "gradient-1x100",
            Method::Ttt => "ttt",
        }
    }

    /// The methods a model kind has, in the paper's order.
    pub fn for_kind(kind: ModelKind) -> &'static [Method] {
        match kind {
            ModelKind::Nli | ModelKind::DLpn => &[
                Method::NoSearch,
                Method::PriorSearch,
                Method::GradientSearch,
            ],
            ModelKind::InContext => &[Method::NoSearch, Method::Ttt],
            ModelKind::Lpn => &[
                Method::NoSearch,
                Method::GradientSearch,
                Method::LatentSearchDefault,
            ],
        }
    }

    /// `name` as a method of `kind`, or an error listing the kind's methods.
    pub fn parse(name: &str, kind: ModelKind) -> Result<Method> {
        let ok = Method::for_kind(kind);
        ok.iter()
            .copied()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = ok.iter().map(|m| m.name()).collect();
                Error::Config(format!(
                    "method `{name}` does not apply to {} models: expected one of {}",
                    kind.label(),
                    names.join(", ")
                ))
            })
    }

    /// The row label of the paper's table.
    pub fn label(self, kind: ModelKind) -> String {
        let k = kind.label();
        match (kind, self) {
            (ModelKind::Nli, Method::NoSearch) => "NLI (no search)".into(),
            (_, Method::NoSearch) => k.into(),
            (_, Method::PriorSearch) => format!("{k} prior search"),
            (_, Method::GradientSearch) => format!("{k} gradient search"),
            (_, Method::LatentSearchDefault) => format!("{k} gradient search (1 x 100)"),
            (_, Method::Ttt) => "TTT".into(),
        }
    }
}

/// Query outputs of `tasks` by `method` (which must apply to the model's
/// kind: [`Method::parse`] checks names up front).
pub fn predict(
    ctx: &Ctx,
    model: &Model,
    tasks: &[Task],
    method: Method,
    search: &crate::search::SearchConfig,
    tau_d: f32,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Vec<u32>>> {
    let preds =
        |rs: Vec<crate::search::SearchResult>| rs.into_iter().map(|r| r.prediction).collect();
    Ok(match (method, model) {
        (Method::NoSearch, _) => {
            let p = predict_no_search(ctx, model, tasks, tau_d);
            progress(1, 1);
            p
        }
        (Method::PriorSearch, Model::Nli(m)) => {
            preds(crate::search::prior_search(ctx, m, tasks, search, progress))
        }
        (Method::PriorSearch, Model::DLpn(m)) => {
            preds(crate::search::prior_search(ctx, m, tasks, search, progress))
        }
        (Method::GradientSearch, Model::Nli(m)) => preds(crate::search::gradient_search(
            ctx, m, tasks, search, progress,
        )),
        (Method::GradientSearch, Model::DLpn(m)) => preds(crate::search::gradient_search(
            ctx, m, tasks, search, progress,
        )),
        (Method::GradientSearch, Model::Lpn(m)) => crate::latent_search::latent_search(
            ctx,
            m,
            tasks,
            &crate::latent_search::LatentSearchConfig::matched(search),
            progress,
        ),
        (Method::LatentSearchDefault, Model::Lpn(m)) => crate::latent_search::latent_search(
            ctx,
            m,
            tasks,
            &crate::latent_search::LatentSearchConfig::lpn_default(search.seed),
            progress,
        ),
        (Method::Ttt, Model::InContext(m)) => {
            crate::ttt::ttt_predict(ctx, m, tasks, &crate::ttt::TttConfig::default(), progress)
        }
        (method, model) => {
            return Err(Error::Config(format!(
                "method `{}` does not apply to {} models",
                method.name(),
                model.kind().label()
            )));
        }
    })
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalRow {
    pub method: Method,
    /// The row's name in the paper's table (e.g. "LPN gradient search").
    pub label: String,
    pub split: String,
    pub accuracy: f32,
    pub tasks: usize,
    pub seconds: f64,
    /// Right and total tasks per hidden program ([`accuracy_by_program`]).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub by_program: std::collections::BTreeMap<String, [usize; 2]>,
    /// Query output positions right, mean over tasks ([`position_accuracy`]).
    pub position_accuracy: f32,
    /// Wrong answers that are a training program's output, per hidden
    /// program ([`wrong_answers_as`]).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub wrong_as: std::collections::BTreeMap<String, std::collections::BTreeMap<String, usize>>,
}

impl EvalRow {
    /// The wrong answers of [`EvalRow::wrong_as`] added up over hidden
    /// programs: by training program, and `other`.
    pub fn wrong_as_totals(&self) -> std::collections::BTreeMap<String, usize> {
        let mut totals = std::collections::BTreeMap::new();
        for cell in self.wrong_as.values() {
            for (k, n) in cell {
                *totals.entry(k.clone()).or_default() += n;
            }
        }
        totals
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalReport {
    pub suite: String,
    /// The model kind evaluated.
    pub model: ModelKind,
    pub checkpoint: String,
    pub adapter: String,
    pub search: crate::search::SearchConfig,
    pub rows: Vec<EvalRow>,
}

impl EvalReport {
    /// The paper's table shape: one row per method, ID and OOD columns.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<32} {:>8} {:>8} {:>10}\n",
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
                "{:<32} {:>8} {:>8} {:>10.1}\n",
                m.label(self.model),
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

/// An accuracy as tables and figures print it: two decimals, three where
/// the third is not 0 (0.985 stays 0.985, 1 is 1.00).
pub fn accuracy_label(a: f64) -> String {
    let s = format!("{a:.3}");
    match s.strip_suffix('0') {
        Some(two) => two.to_string(),
        None => s,
    }
}

/// The paper's Table 1 (ID / OOD accuracy per suite), by row label.
pub const PAPER_TABLE1: &[(&str, [(f32, f32); 3])] = &[
    ("In-Context", [(1.00, 0.00), (1.00, 0.00), (1.00, 0.13)]),
    ("TTT", [(1.00, 0.00), (1.00, 0.00), (0.95, 0.14)]),
    ("LPN", [(1.00, 0.00), (1.00, 0.00), (1.00, 0.18)]),
    (
        "LPN gradient search",
        [(1.00, 0.03), (1.00, 0.00), (1.00, 0.29)],
    ),
    ("LPN gradient search (1 x 100)", [(f32::NAN, f32::NAN); 3]),
    ("D-LPN", [(1.00, 0.02), (1.00, 0.00), (0.99, 0.15)]),
    (
        "D-LPN gradient search",
        [(1.00, 0.01), (1.00, 0.00), (0.99, 0.20)],
    ),
    ("D-LPN prior search", [(f32::NAN, f32::NAN); 3]),
    (
        "NLI (no search)",
        [(1.00, 0.00), (1.00, 0.00), (1.00, 0.17)],
    ),
    (
        "NLI prior search",
        [(1.00, 0.10), (1.00, 0.00), (1.00, 0.23)],
    ),
    (
        "NLI gradient search",
        [(1.00, 0.99), (1.00, 1.00), (1.00, 0.91)],
    ),
];

/// The suites of Table 1, in its column order.
pub const TABLE1_SUITES: [&str; 3] = ["shift-l", "shift-p", "comp-i"];

/// One cell of `eval` reports: a method, by its row label in the paper's
/// table, on one split of a suite.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportCell {
    pub label: String,
    pub suite: String,
    pub split: String,
    /// NaN where the row gives none.
    pub accuracy: f64,
    pub tasks: u64,
    pub seconds: f64,
}

/// The cells of `eval` reports (parsed JSON; reports written before model
/// kinds existed count as NLI), in the order first measured. Where reports
/// measured the same cell, the one over the most tasks stands (the last of
/// those): a search report also measures its first tasks without search,
/// which must not replace a longer measurement of that cell.
pub fn report_cells(reports: &[serde_json::Value]) -> Result<Vec<ReportCell>> {
    let mut cells: Vec<ReportCell> = Vec::new();
    let mut index: std::collections::HashMap<(String, String, String), usize> = Default::default();
    for (i, r) in reports.iter().enumerate() {
        let bad = |w: &str| Error::Config(format!("eval report {}: {w}", i + 1));
        let suite = r["suite"].as_str().ok_or_else(|| bad("no suite"))?;
        let kind: ModelKind = match r.get("model").and_then(|m| m.as_str()) {
            Some(k) => k.parse()?,
            None => ModelKind::Nli,
        };
        let rows = r["rows"]
            .as_array()
            .ok_or_else(|| bad("no rows (is it an eval report?)"))?;
        for row in rows {
            let method: Method = serde_json::from_value(row["method"].clone())
                .map_err(|e| bad(&format!("a row's method: {e}")))?;
            let split = row["split"]
                .as_str()
                .ok_or_else(|| bad("a row lacks a split"))?;
            let cell = ReportCell {
                label: method.label(kind),
                suite: suite.to_string(),
                split: split.to_string(),
                accuracy: row["accuracy"].as_f64().unwrap_or(f64::NAN),
                tasks: row["tasks"].as_u64().unwrap_or(0),
                seconds: row["seconds"].as_f64().unwrap_or(f64::NAN),
            };
            let key = (cell.label.clone(), cell.suite.clone(), cell.split.clone());
            match index.get(&key) {
                Some(&at) if cell.tasks >= cells[at].tasks => cells[at] = cell,
                Some(_) => {}
                None => {
                    index.insert(key, cells.len());
                    cells.push(cell);
                }
            }
        }
    }
    Ok(cells)
}

/// Table 1 of this project as Markdown, from `eval` reports
/// ([`report_cells`]): one row per model and method in the paper's order,
/// ID / OOD per suite with the paper's figures beside ours, and the tasks
/// and wall time of each cell. Cells no report measured stay empty.
pub fn table1(reports: &[serde_json::Value]) -> Result<String> {
    let cells: std::collections::HashMap<(String, String, String), (f64, u64, f64)> =
        report_cells(reports)?
            .into_iter()
            .map(|c| {
                (
                    (c.label, c.suite, c.split),
                    (c.accuracy, c.tasks, c.seconds),
                )
            })
            .collect();
    let mut s = String::from("| method |");
    for suite in TABLE1_SUITES {
        s.push_str(&format!(" {suite} ID | {suite} OOD |"));
    }
    s.push_str("\n| --- |");
    s.push_str(&" --- | --- |".repeat(TABLE1_SUITES.len()));
    s.push('\n');
    let paper = |v: f32| {
        if v.is_nan() {
            String::new()
        } else {
            format!(" ({v:.2})")
        }
    };
    for (label, theirs) in PAPER_TABLE1 {
        let mut row = format!("| {label} |");
        for (si, suite) in TABLE1_SUITES.iter().enumerate() {
            for (split, p) in [("id", theirs[si].0), ("ood", theirs[si].1)] {
                match cells.get(&(label.to_string(), suite.to_string(), split.to_string())) {
                    Some((acc, tasks, secs)) => row.push_str(&format!(
                        " **{}**{} <sub>{tasks} tasks, {secs:.0} s</sub> |",
                        accuracy_label(*acc),
                        paper(p)
                    )),
                    None => row.push_str(&format!(" -{} |", paper(p))),
                }
            }
        }
        s.push_str(&row);
        s.push('\n');
    }
    Ok(s)
}
