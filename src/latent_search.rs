//! Test-time search over LPN's continuous latent (BASELINES §3): gradient
//! ascent on `J(c) = sum_j l_j(c)` over the specification pairs, from the
//! mean of the pairs' latent means and Gaussian perturbations of it; the best
//! point visited is decoded on the query.
//!
//! As the public LPN code does: the gradient of each candidate is clipped to
//! global norm 1, then an Adam step (b1 0.9, b2 0.9, eps 1e-8, eps_root 1e-8)
//! ascends; every visited point counts, the starts included (L + 1 points per
//! start). The latents are small (d_z per candidate), so the optimiser runs
//! on the host; J and its gradient are one batched decoder pass on the GPU.

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::ctx::Ctx;
use crate::model::argmax_rows;
use crate::model::layers::standard_normal;
use crate::model::lpn::Lpn;
use crate::tasks::Task;
use crate::tasks::pack::{PackedTasks, chunks_by_pairs};

#[derive(Clone, Debug, serde::Serialize)]
pub struct LatentSearchConfig {
    /// Starts per task: the mean latent, then `starts - 1` perturbations.
    pub starts: usize,
    /// Adam steps.
    pub steps: usize,
    pub lr: f32,
    /// Spread of the perturbed starts.
    pub sigma: f32,
    pub seed: u64,
    /// Decoder rows (candidates x pairs) per chunk.
    pub max_rows: usize,
}

impl LatentSearchConfig {
    /// The budget of NLI's search (`--starts`, `--search-steps`,
    /// `--search-lr`, `--sigma`): the paper's "LPN gradient search" row.
    pub fn matched(s: &crate::search::SearchConfig) -> LatentSearchConfig {
        LatentSearchConfig {
            starts: s.starts,
            steps: s.steps,
            lr: s.lr,
            sigma: s.sigma,
            seed: s.seed,
            max_rows: 4096,
        }
    }

    /// LPN's own default: one start (the mean), 100 steps, lr 0.1.
    pub fn lpn_default(seed: u64) -> LatentSearchConfig {
        LatentSearchConfig {
            starts: 1,
            steps: 100,
            lr: 0.1,
            sigma: 0.5,
            seed,
            max_rows: 4096,
        }
    }
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.9;
const EPS: f32 = 1e-8;
const EPS_ROOT: f32 = 1e-8;

/// Query predictions of every task; `progress` gets steps done and total.
pub fn latent_search(
    ctx: &Ctx,
    model: &Lpn,
    tasks: &[Task],
    cfg: &LatentSearchConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<Vec<u32>> {
    let frozen = model.frozen(ctx);
    let (dz, v) = (model.cfg.latent_dim, model.cfg.v);
    let s = cfg.starts.max(1);
    let pairs = tasks.iter().map(|t| t.spec.len()).max().unwrap_or(1);
    let per_chunk = (cfg.max_rows / (s * pairs)).max(1);
    let chunks = chunks_by_pairs(tasks, per_chunk);
    let total = chunks.len() * (cfg.steps + 1);
    let mut out = vec![Vec::new(); tasks.len()];
    for (ci, ids) in chunks.iter().enumerate() {
        let refs: Vec<&Task> = ids.iter().map(|&i| &tasks[i]).collect();
        let p = PackedTasks::new(&refs);
        let (nt, m, n) = (p.count, p.pairs, p.n);
        let mean = {
            let _g = ctx.no_grad();
            let sx = ctx.indices(&p.spec_x, &[nt, m, n]);
            let sy = ctx.indices(&p.spec_y, &[nt, m, n]);
            ctx.read(&frozen.mean_latent(ctx, &sx, &sy))
        };
        // Candidates: start 0 of each task is its mean latent.
        let mut rng =
            StdRng::seed_from_u64(cfg.seed ^ (ci as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut c = Vec::with_capacity(nt * s * dz);
        for t in 0..nt {
            for k in 0..s {
                for &x in &mean[t * dz..(t + 1) * dz] {
                    let noise = if k == 0 {
                        0.0
                    } else {
                        cfg.sigma * standard_normal(&mut rng)
                    };
                    c.push(x + noise);
                }
            }
        }
        let repeat = |data: &[u32]| -> Vec<u32> {
            let per = m * n;
            (0..nt)
                .flat_map(|t| {
                    std::iter::repeat_n(&data[t * per..(t + 1) * per], s)
                        .flatten()
                        .copied()
                })
                .collect()
        };
        let sx = ctx.indices(&repeat(&p.spec_x), &[nt * s, m, n]);
        let sy = ctx.indices(&repeat(&p.spec_y), &[nt * s, m, n]);
        let (mut m1, mut m2) = (vec![0.0f32; c.len()], vec![0.0f32; c.len()]);
        let mut best_j = vec![f32::NEG_INFINITY; nt * s];
        let mut best_c = c.clone();
        for step in 0..=cfg.steps {
            let (j, g) = {
                let leaf = ctx.param(&c, &[nt * s, dz]);
                let j = frozen.spec_log_likelihood(ctx, &leaf, &sx, &sy);
                let grads = ctx.backward(&ctx.sum_all(&j));
                let got = ctx.read_many(&[&j, grads.get(&leaf).expect("latent gradient")]);
                (got[0].clone(), got[1].clone())
            };
            for (cand, &jv) in j.iter().enumerate() {
                if jv > best_j[cand] {
                    best_j[cand] = jv;
                    best_c[cand * dz..(cand + 1) * dz]
                        .copy_from_slice(&c[cand * dz..(cand + 1) * dz]);
                }
            }
            progress(ci * (cfg.steps + 1) + step + 1, total);
            if step == cfg.steps {
                break;
            }
            let t = (step + 1) as i32;
            for cand in 0..nt * s {
                let r = cand * dz..(cand + 1) * dz;
                let norm = g[r.clone()].iter().map(|x| x * x).sum::<f32>().sqrt();
                let clip = if norm > 1.0 { 1.0 / norm } else { 1.0 };
                for i in r {
                    let gi = g[i] * clip;
                    m1[i] = BETA1 * m1[i] + (1.0 - BETA1) * gi;
                    m2[i] = BETA2 * m2[i] + (1.0 - BETA2) * gi * gi;
                    let mh = m1[i] / (1.0 - BETA1.powi(t));
                    let vh = m2[i] / (1.0 - BETA2.powi(t));
                    // Ascent: J is a log-likelihood to raise.
                    c[i] += cfg.lr * mh / ((vh + EPS_ROOT).sqrt() + EPS);
                }
            }
        }
        // Per task, the best point over its starts decodes the query.
        let mut chosen = Vec::with_capacity(nt * dz);
        for t in 0..nt {
            let k = (0..s)
                .max_by(|&a, &b| best_j[t * s + a].total_cmp(&best_j[t * s + b]))
                .expect("at least one start");
            chosen.extend_from_slice(&best_c[(t * s + k) * dz..(t * s + k + 1) * dz]);
        }
        let _g = ctx.no_grad();
        let qx = ctx.indices(&p.query_x, &[nt, n]);
        let logits = frozen.decode(ctx, &ctx.tensor(&chosen, &[nt, dz]), &qx);
        let pred = argmax_rows(&ctx.read(&logits), v);
        for (k, &i) in ids.iter().enumerate() {
            out[i] = pred[k * n..(k + 1) * n].to_vec();
        }
    }
    out
}
