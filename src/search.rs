//! Test-time search (SPEC §3): gradient search over the pooled slot
//! embeddings `e`, and the prior-sampling baseline.
//!
//! A *slot* is one (task, start) pair. Every slot of a chunk runs in the same
//! kernels: the candidate axis is a batch axis. Chunks are sized from the
//! adapter's largest binding and a memory budget, so thousands of starts run
//! on any adapter; the best candidate of each task is kept across chunks.

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::ctx::Ctx;
use crate::model::layers::standard_normal;
use crate::model::{ModelConfig, ProgramModel, SKIP, StepNoise, argmax_rows};
use crate::ops::gumbel::Gumbel;
use crate::optim::{Adam, AdamConfig};
use crate::tasks::Task;
use crate::tasks::pack::PackedTasks;
use crate::tensor::Tensor;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SearchConfig {
    /// Starts per task (s).
    pub starts: usize,
    /// Adam steps (L).
    pub steps: usize,
    /// Spread of the starts around the inductor's embedding (sigma_s).
    pub sigma: f32,
    /// Adam learning rate on e.
    pub lr: f32,
    pub tau_e_start: f32,
    pub tau_e_end: f32,
    pub tau_d_start: f32,
    pub tau_d_end: f32,
    pub seed: u64,
    /// Activation memory a chunk may use, in MiB.
    pub memory_mib: usize,
    /// Slots of the searched programs (gradient search only, and only where
    /// [`check_search_program_len`] allows it; `None`: the model config's
    /// [`ModelConfig::default_search_program_len`]): the slots past the
    /// inductor's start from its last slot's embedding.
    #[serde(default)]
    pub program_len: Option<usize>,
}

impl Default for SearchConfig {
    /// The settings known to work on Shift-L with the cpu preset (SPEC §5).
    fn default() -> Self {
        SearchConfig {
            starts: 16,
            steps: 50,
            sigma: 0.5,
            lr: 0.1,
            tau_e_start: 2.0,
            tau_e_end: 0.5,
            tau_d_start: 2.0,
            tau_d_end: 0.5,
            seed: 0,
            memory_mib: 2048,
            program_len: None,
        }
    }
}

/// What search found for one task.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SearchResult {
    /// Predicted query output.
    pub prediction: Vec<u32>,
    /// argmax token of each program slot of the selected candidate, SKIP left out.
    pub program: Vec<u32>,
    /// Specification log-likelihood of the selected candidate (the selection
    /// objective: soft program, no noise, final temperatures).
    pub spec_log_likelihood: f32,
    /// The best log-likelihood among the starts before any step.
    pub start_log_likelihood: f32,
    /// Whether the selected program reproduces every specification pair.
    pub reproduces_spec: bool,
}

/// Slots per chunk: bounded by the adapter's largest binding (the widest
/// activation of a sequence of [`ProgramModel::positions`], e.g. the MLP's
/// hidden layer, the packed QKV or the attention scores, must fit one
/// buffer) and by the memory budget for the tape.
pub fn chunk_slots<M: ProgramModel>(
    ctx: &Ctx,
    model: &M,
    pairs: usize,
    memory_mib: usize,
    program_len: usize,
) -> usize {
    let c = model.config();
    // The widest tensor of one sequence: per position an MLP's hidden
    // layer, attention's q, k, v, the token logits, or a row of attention
    // scores per head.
    let l = model.positions(program_len);
    let widest = (c.mlp_mult * c.d)
        .max(3 * c.d)
        .max(c.codebook)
        .max(c.heads * l)
        * l
        * 4;
    let by_binding = ctx.gpu.limits().max_storage_buffer_binding_size as usize / widest.max(1);
    // About 12 D-wide and 3 MLP-wide f32 tensors per position per program
    // step stay on the tape for the backward pass (with margin: the count
    // of the cpu preset is about 19 D-wide).
    let per_seq = program_len * c.n * c.d * 4 * (16 + 3 * c.mlp_mult);
    let by_memory = memory_mib * (1 << 20) / per_seq.max(1);
    (by_binding.min(by_memory) / pairs.max(1)).max(1)
}

/// One chunk of slots of tasks with the same number of pairs.
struct Chunk<'a> {
    tasks: Vec<&'a Task>,
    /// Index into `tasks` of each slot.
    slot_task: Vec<usize>,
}

impl Chunk<'_> {
    fn packed(&self) -> PackedTasks {
        let per_slot: Vec<&Task> = self.slot_task.iter().map(|&i| self.tasks[i]).collect();
        PackedTasks::new(&per_slot)
    }
}

/// Inputs of a chunk on the GPU.
struct ChunkData {
    slots: usize,
    pairs: usize,
    spec_x: Tensor,
    spec_y: Tensor,
    query_x: Tensor,
    spec_y_host: Vec<u32>,
}

fn upload(ctx: &Ctx, p: &PackedTasks) -> ChunkData {
    ChunkData {
        slots: p.count,
        pairs: p.pairs,
        spec_x: ctx.indices(&p.spec_x, &[p.count * p.pairs, p.n]),
        spec_y: ctx.indices(&p.spec_y, &[p.count * p.pairs * p.n]),
        query_x: ctx.indices(&p.query_x, &[p.count, p.n]),
        spec_y_host: p.spec_y.clone(),
    }
}

/// Per slot: total NLL of the specification pairs under programs z
/// [slots, T, K]; returns (nll [slots], pi over the spec inputs).
fn spec_nll<M: ProgramModel>(
    ctx: &Ctx,
    model: &M,
    data: &ChunkData,
    z: &Tensor,
    tau_d: f32,
    noise: Option<StepNoise>,
) -> (Tensor, Tensor) {
    let (t, k, n, v) = (
        z.dim(1),
        model.config().codebook,
        model.config().n,
        model.config().v,
    );
    let (s, m) = (data.slots, data.pairs);
    let zr = ctx.reshape(&ctx.expand(z, 1, m), &[s * m, t, k]);
    let pi = model.execute(ctx, &data.spec_x, &zr, tau_d, noise);
    let nll = ctx.nll_probs(
        &ctx.reshape(&pi, &[s * m * n, v]),
        &data.spec_y,
        crate::model::LOG_PROB_FLOOR,
    );
    (ctx.sum_axis(&ctx.reshape(&nll, &[s, m * n]), 1), pi)
}

/// Evaluation of final programs z [slots, T, K] (soft or hard) without
/// noise: log-likelihoods, spec reproduction and query predictions.
struct Scored {
    log_likelihood: Vec<f32>,
    reproduces: Vec<bool>,
    predictions: Vec<Vec<u32>>,
}

fn score<M: ProgramModel>(
    ctx: &Ctx,
    model: &M,
    data: &ChunkData,
    z: &Tensor,
    tau_d: f32,
) -> Scored {
    let (n, v) = (model.config().n, model.config().v);
    let (nll, pi_spec) = spec_nll(ctx, model, data, z, tau_d, None);
    let pi_q = model.execute(ctx, &data.query_x, z, tau_d, None);
    let got = ctx.read_many(&[&nll, &pi_spec, &pi_q]);
    let spec_pred = argmax_rows(&got[1], v);
    let per_slot = data.pairs * n;
    let reproduces = (0..data.slots)
        .map(|i| {
            spec_pred[i * per_slot..(i + 1) * per_slot]
                == data.spec_y_host[i * per_slot..(i + 1) * per_slot]
        })
        .collect();
    let q = argmax_rows(&got[2], v);
    Scored {
        log_likelihood: got[0].iter().map(|x| -x).collect(),
        reproduces,
        predictions: q.chunks(n).map(|c| c.to_vec()).collect(),
    }
}

fn program_tokens(logits: &[f32], k: usize) -> Vec<u32> {
    argmax_rows(logits, k)
        .into_iter()
        .filter(|&t| t as usize != SKIP)
        .collect()
}

fn anneal(start: f32, end: f32, step: usize, steps: usize) -> f32 {
    let frac = if steps <= 1 {
        1.0
    } else {
        step as f32 / (steps - 1) as f32
    };
    start * (end / start).powf(frac)
}

/// Split `tasks` into chunks of slots (`starts` per task).
fn chunks<'a>(tasks: &'a [Task], starts: usize, max_slots: usize) -> Vec<(Vec<usize>, Chunk<'a>)> {
    let mut out = Vec::new();
    for ids in crate::tasks::pack::chunks_by_pairs(tasks, usize::MAX) {
        let mut cur: (Vec<usize>, Chunk) = (
            Vec::new(),
            Chunk {
                tasks: Vec::new(),
                slot_task: Vec::new(),
            },
        );
        for &id in &ids {
            let mut left = starts;
            while left > 0 {
                if cur.1.slot_task.len() == max_slots {
                    out.push(std::mem::replace(
                        &mut cur,
                        (
                            Vec::new(),
                            Chunk {
                                tasks: Vec::new(),
                                slot_task: Vec::new(),
                            },
                        ),
                    ));
                }
                if cur.0.last() != Some(&id) {
                    cur.0.push(id);
                    cur.1.tasks.push(&tasks[id]);
                }
                let take = left.min(max_slots - cur.1.slot_task.len());
                let local = cur.1.tasks.len() - 1;
                cur.1.slot_task.extend(std::iter::repeat_n(local, take));
                left -= take;
            }
        }
        if !cur.1.slot_task.is_empty() {
            out.push(cur);
        }
    }
    out
}

/// Keep, per task, the result with the highest log-likelihood.
fn keep_best(best: &mut [Option<SearchResult>], task: usize, cand: SearchResult) {
    let slot = &mut best[task];
    let start = slot
        .as_ref()
        .map_or(f32::NEG_INFINITY, |b| b.start_log_likelihood)
        .max(cand.start_log_likelihood);
    if slot
        .as_ref()
        .is_none_or(|b| cand.spec_log_likelihood > b.spec_log_likelihood)
    {
        *slot = Some(cand);
    }
    if let Some(b) = slot.as_mut() {
        b.start_log_likelihood = start;
    }
}

/// Why programs of `program_len` slots cannot be searched on a model of
/// `cfg`, if they cannot ([`ModelConfig::check_search_len`]; `None`, the
/// model's default, always can).
pub fn check_search_program_len(
    cfg: &ModelConfig,
    program_len: Option<usize>,
) -> Result<(), String> {
    program_len.map_or(Ok(()), |l| cfg.check_search_len(l))
}

/// Gradient search for every task; `progress` is called after every Adam
/// step with the steps done and their total over all chunks.
pub fn gradient_search<M: ProgramModel>(
    ctx: &Ctx,
    model: &M,
    tasks: &[Task],
    cfg: &SearchConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<SearchResult> {
    let model = model.frozen(ctx);
    // t: the inductor's slots; tl: the searched programs' slots.
    let (t, d, k) = (
        model.config().program_len,
        model.config().d,
        model.config().codebook,
    );
    if let Err(e) = check_search_program_len(model.config(), cfg.program_len) {
        panic!("{e}");
    }
    let tl = cfg
        .program_len
        .unwrap_or_else(|| model.config().default_search_program_len());
    let pairs = tasks.iter().map(|t| t.spec.len()).max().unwrap_or(1);
    let max_slots = chunk_slots(ctx, &model, pairs, cfg.memory_mib, tl);
    let chunks = chunks(tasks, cfg.starts, max_slots);
    let mut best: Vec<Option<SearchResult>> = vec![None; tasks.len()];
    for (ci, (ids, chunk)) in chunks.iter().enumerate() {
        let p = chunk.packed();
        let data = upload(ctx, &p);
        let s = data.slots;
        // Starting points: the inductor's pooled embedding of each task plus
        // Gaussian noise from a generator keyed by the seed and the chunk.
        let ebar = {
            let _g = ctx.no_grad();
            let tp = PackedTasks::new(&chunk.tasks);
            let sx = ctx.indices(&tp.spec_x, &[tp.count, tp.pairs, tp.n]);
            let sy = ctx.indices(&tp.spec_y, &[tp.count, tp.pairs, tp.n]);
            ctx.read(&model.pooled_embedding(ctx, &sx, &sy))
        };
        let mut rng =
            StdRng::seed_from_u64(cfg.seed ^ (ci as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut init = Vec::with_capacity(s * tl * d);
        for &task in &chunk.slot_task {
            let guess = &ebar[task * t * d..(task + 1) * t * d];
            for slot in 0..tl {
                // Slots past the inductor's repeat its last one (usually SKIP).
                let src = slot.min(t - 1) * d;
                for &e in &guess[src..src + d] {
                    init.push(e + cfg.sigma * standard_normal(&mut rng));
                }
            }
        }
        let e = ctx.param(&init, &[s, tl, d]);
        let start_ll = {
            let _g = ctx.no_grad();
            let z = soft_program(ctx, &model, &e, cfg.tau_e_end);
            let (nll, _) = spec_nll(ctx, &model, &data, &z, cfg.tau_d_end, None);
            ctx.read(&nll).into_iter().map(|x| -x).collect::<Vec<f32>>()
        };
        let mut adam = Adam::new(AdamConfig {
            lr: cfg.lr,
            max_grad_norm: 0.0,
            ..AdamConfig::default()
        });
        for step in 0..cfg.steps {
            let tau_e = anneal(cfg.tau_e_start, cfg.tau_e_end, step, cfg.steps);
            let tau_d = anneal(cfg.tau_d_start, cfg.tau_d_end, step, cfg.steps);
            let noise = StepNoise {
                seed: cfg.seed ^ ((ci as u64) << 32),
                step: step as u32,
                interpreter_scale: 1.0,
            };
            let logits = model.token_logits(ctx, &e);
            let z = ctx.gumbel_softmax(
                &logits,
                Gumbel {
                    tau: tau_e,
                    noise: Some(noise.inductor()),
                    hard: false,
                },
            );
            let (nll, _) = spec_nll(ctx, &model, &data, &z, tau_d, Some(noise));
            // Candidates are independent: the gradient of the sum is each
            // candidate's own gradient.
            let loss = ctx.sum_all(&nll);
            let grads = ctx.backward(&loss);
            adam.step(ctx, &[&e], &grads);
            progress(ci * cfg.steps + step + 1, (chunks.len() * cfg.steps).max(1));
        }
        let _g = ctx.no_grad();
        let logits = model.token_logits(ctx, &e);
        let z = ctx.softmax(&ctx.scale(&logits, 1.0 / cfg.tau_e_end));
        let scored = score(ctx, &model, &data, &z, cfg.tau_d_end);
        let logits_host = ctx.read(&logits);
        for slot in 0..s {
            let cand = SearchResult {
                prediction: scored.predictions[slot].clone(),
                program: program_tokens(&logits_host[slot * tl * k..(slot + 1) * tl * k], k),
                spec_log_likelihood: scored.log_likelihood[slot],
                start_log_likelihood: start_ll[slot],
                reproduces_spec: scored.reproduces[slot],
            };
            keep_best(&mut best, ids[chunk.slot_task[slot]], cand);
        }
        if cfg.steps == 0 {
            progress(ci + 1, chunks.len());
        }
    }
    best.into_iter()
        .map(|b| b.expect("every task has a slot"))
        .collect()
}

/// `softmax(f_phi(e) / tau)`: the soft program of embeddings e.
fn soft_program<M: ProgramModel>(ctx: &Ctx, model: &M, e: &Tensor, tau: f32) -> Tensor {
    ctx.softmax(&ctx.scale(&model.token_logits(ctx, e), 1.0 / tau))
}

/// Prior search: `starts` hard programs sampled from the inductor
/// (Gumbel-max on its logits), the best by specification likelihood.
pub fn prior_search<M: ProgramModel>(
    ctx: &Ctx,
    model: &M,
    tasks: &[Task],
    cfg: &SearchConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<SearchResult> {
    let _g = ctx.no_grad();
    let (t, k) = (model.config().program_len, model.config().codebook);
    let pairs = tasks.iter().map(|t| t.spec.len()).max().unwrap_or(1);
    // No tape: a chunk may be larger than gradient search's.
    let max_slots = chunk_slots(ctx, model, pairs, cfg.memory_mib * 8, t);
    let chunks = chunks(tasks, cfg.starts, max_slots);
    let mut best: Vec<Option<SearchResult>> = vec![None; tasks.len()];
    for (ci, (ids, chunk)) in chunks.iter().enumerate() {
        let data = upload(ctx, &chunk.packed());
        let tp = PackedTasks::new(&chunk.tasks);
        let sx = ctx.indices(&tp.spec_x, &[tp.count, tp.pairs, tp.n]);
        let sy = ctx.indices(&tp.spec_y, &[tp.count, tp.pairs, tp.n]);
        let logits_task =
            ctx.read(&model.token_logits(ctx, &model.pooled_embedding(ctx, &sx, &sy)));
        let per_slot: Vec<f32> = chunk
            .slot_task
            .iter()
            .flat_map(|&i| logits_task[i * t * k..(i + 1) * t * k].iter().copied())
            .collect();
        let logits = ctx.tensor(&per_slot, &[data.slots, t, k]);
        let noise = StepNoise {
            seed: cfg.seed ^ ((ci as u64) << 32),
            step: 0,
            interpreter_scale: 1.0,
        };
        let z = ctx.gumbel_softmax(
            &logits,
            Gumbel {
                tau: 1.0,
                noise: Some(noise.inductor()),
                hard: true,
            },
        );
        let scored = score(ctx, model, &data, &z, cfg.tau_d_end);
        let z_host = ctx.read(&z);
        for slot in 0..data.slots {
            let cand = SearchResult {
                prediction: scored.predictions[slot].clone(),
                program: program_tokens(&z_host[slot * t * k..(slot + 1) * t * k], k),
                spec_log_likelihood: scored.log_likelihood[slot],
                start_log_likelihood: scored.log_likelihood[slot],
                reproduces_spec: scored.reproduces[slot],
            };
            keep_best(&mut best, ids[chunk.slot_task[slot]], cand);
        }
        progress(ci + 1, chunks.len());
    }
    best.into_iter()
        .map(|b| b.expect("every task has a slot"))
        .collect()
}
