//! LPN (BASELINES §3): a Gaussian latent program per pair, samples pooled
//! leave-one-out, decoded by a one-pass decoder from one context token; a KL
//! term, and during training one latent gradient-ascent step ("Grad 1")
//! whose move is a constant on the tape. Beyond BASELINES, the views'
//! contrastive loss on the latent means and an encoder warm-up on it (as
//! NLI's inductor and In-Context's pair encoder take). Test-time search
//! over the latent is in `crate::latent_search`.

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::config::ModelConfig;
use super::decoder::{Decoder, PairEncoder, sequence_nll};
use super::layers::{Builder, Linear, ParamSource, standard_normal};
use super::{
    LossParts, LossSettings, StepNoise, add_view_nce, detached_params, pair_views, warmup_parts,
};
use crate::ctx::Ctx;
use crate::tensor::Tensor;

/// Step size of the training-time latent ascent (one Adam step from zero
/// moments, BASELINES §3).
pub const ASCENT_LR: f32 = 0.1;

pub struct Lpn {
    pub cfg: ModelConfig,
    pub params: Vec<(String, Tensor)>,
    encoder: PairEncoder,
    mu: Linear,
    logvar: Linear,
    context: Linear,
    decoder: Decoder,
}

impl Lpn {
    pub fn build(ctx: &Ctx, cfg: &ModelConfig, source: &mut dyn ParamSource) -> Lpn {
        let (d, dz) = (cfg.d, cfg.latent_dim);
        let mut bld = Builder::new(ctx, source);
        let (encoder, mu, logvar) = bld.scope("encoder", |b| {
            (
                PairEncoder::new(b, cfg),
                Linear::new(b, "mu", d, dz),
                Linear::new(b, "logvar", d, dz),
            )
        });
        let (context, decoder) = bld.scope("decoder", |b| {
            (Linear::new(b, "context", dz, d), Decoder::new(b, cfg))
        });
        Lpn {
            cfg: cfg.clone(),
            params: bld.params,
            encoder,
            mu,
            logvar,
            context,
            decoder,
        }
    }

    pub fn frozen(&self, ctx: &Ctx) -> Lpn {
        Lpn::build(ctx, &self.cfg, &mut detached_params(ctx, &self.params))
    }

    /// (mu, logvar) [P, d_z] of pairs x, y u32 [P, N].
    pub fn encode(&self, ctx: &Ctx, x: &Tensor, y: &Tensor) -> (Tensor, Tensor) {
        let h = self.encoder.forward(ctx, x, y);
        (self.mu.forward(ctx, &h), self.logvar.forward(ctx, &h))
    }

    /// Output logits [P, N, V] of inputs x u32 [P, N] under latents c [P, d_z].
    pub fn decode(&self, ctx: &Ctx, c: &Tensor, x: &Tensor) -> Tensor {
        let p = c.dim(0);
        let token = ctx.reshape(&self.context.forward(ctx, c), &[p, 1, self.cfg.d]);
        self.decoder.forward(ctx, &token, x)
    }

    /// `l(c) = (1/N) sum_pos log p(y[pos] | x, c)` per row: [P].
    pub fn log_likelihood(&self, ctx: &Ctx, c: &Tensor, x: &Tensor, y: &Tensor) -> Tensor {
        let nll = sequence_nll(ctx, &self.decode(ctx, c, x), y);
        ctx.scale(&nll, -1.0 / self.cfg.n as f32)
    }

    /// Mean over specification pairs of mu: the latent without search
    /// (spec u32 [B, m, N] -> [B, d_z]).
    pub fn mean_latent(&self, ctx: &Ctx, spec_x: &Tensor, spec_y: &Tensor) -> Tensor {
        let (b, m, n) = (spec_x.dim(0), spec_x.dim(1), spec_x.dim(2));
        let (mu, _) = self.encode(
            ctx,
            &ctx.reshape(spec_x, &[b * m, n]),
            &ctx.reshape(spec_y, &[b * m, n]),
        );
        ctx.mean_axis(&ctx.reshape(&mu, &[b, m, self.cfg.latent_dim]), 1)
    }

    /// `J(c) = sum_j l_j(c)` over each candidate's specification pairs:
    /// c [S, d_z], spec u32 [S, m, N] -> [S].
    pub fn spec_log_likelihood(
        &self,
        ctx: &Ctx,
        c: &Tensor,
        spec_x: &Tensor,
        spec_y: &Tensor,
    ) -> Tensor {
        let (s, m, n) = (spec_x.dim(0), spec_x.dim(1), spec_x.dim(2));
        let cr = ctx.reshape(&ctx.expand(c, 1, m), &[s * m, self.cfg.latent_dim]);
        let ll = self.log_likelihood(
            ctx,
            &cr,
            &ctx.reshape(spec_x, &[s * m, n]),
            &ctx.reshape(spec_y, &[s * m, n]),
        );
        ctx.sum_axis(&ctx.reshape(&ll, &[s, m]), 1)
    }

    /// The encoder warm-up's loss ([`crate::model::TrainConfig::encoder_warmup`])
    /// on a batch x, y u32 [B, m, N]: the views' contrastive loss of the
    /// latent means alone (the encoder and its mu head train; nothing is
    /// reconstructed, `recon` 0 and `pred` all zeros).
    pub fn encoder_warmup_loss(&self, ctx: &Ctx, x: &Tensor, y: &Tensor) -> LossParts {
        let (b, m, n) = (x.dim(0), x.dim(1), x.dim(2));
        let h = self.encoder.forward(
            ctx,
            &ctx.reshape(x, &[b * m, n]),
            &ctx.reshape(y, &[b * m, n]),
        );
        let (ea, eb) = pair_views(ctx, &self.mu.forward(ctx, &h), b, m);
        warmup_parts(ctx, &ea, &eb, y, self.cfg.v, None)
    }

    /// The training loss of a batch x, y u32 [B, m, N] (BASELINES §3):
    /// `mean_{b,j} -l_j(c'_j) + beta * mean_{b,i} KL_i`, with samples
    /// `z_i = mu_i + exp(logvar_i / 2) eps_i` pooled leave-one-out into
    /// `c_j`, and `c'_j` one ascent step from `c_j` when `latent_ascent`;
    /// plus `view_nce_weight` times the views' contrastive loss of the
    /// latent means (0 in BASELINES).
    pub fn loss(&self, ctx: &Ctx, x: &Tensor, y: &Tensor, s: LossSettings) -> LossParts {
        let (b, m, n) = (x.dim(0), x.dim(1), x.dim(2));
        let (dz, rows) = (self.cfg.latent_dim, b * m);
        assert!(m >= 2, "leave-one-out needs at least 2 pairs per task");
        let xf = ctx.reshape(x, &[rows, n]);
        let yf = ctx.reshape(y, &[rows, n]);
        let (mu, logvar) = self.encode(ctx, &xf, &yf);
        let eps = ctx.tensor(&gaussian_noise(s.noise, rows * dz), &[rows, dz]);
        let z = ctx.add(&mu, &ctx.mul(&ctx.exp(&ctx.scale(&logvar, 0.5)), &eps));
        let z3 = ctx.reshape(&z, &[b, m, dz]);
        let total = ctx.expand(&ctx.sum_axis(&z3, 1), 1, m);
        let c = ctx.reshape(
            &ctx.scale(&ctx.sub(&total, &z3), 1.0 / (m - 1) as f32),
            &[rows, dz],
        );
        let c = if s.latent_ascent {
            let delta = self.ascent_move(ctx, &ctx.read(&c), x, y);
            ctx.add(&c, &delta)
        } else {
            c
        };
        let logits = self.decode(ctx, &c, &xf);
        let nll = sequence_nll(ctx, &logits, &yf);
        let recon = ctx.scale(&ctx.sum_all(&nll), 1.0 / (rows * n) as f32);
        let kl = ctx.scale(
            &ctx.sum_all(&kl_terms(ctx, &mu, &logvar)),
            1.0 / rows as f32,
        );
        let mut loss = ctx.add(&recon, &ctx.scale(&kl, s.kl_beta));
        let mut extra = vec![("kl", kl)];
        if s.view_nce_weight != 0.0 {
            let (ea, eb) = pair_views(ctx, &mu, b, m);
            add_view_nce(ctx, &mut loss, &mut extra, (&ea, &eb), s.view_nce_weight);
        }
        LossParts {
            loss,
            recon,
            extra,
            logits: None,
            pred: logits,
            targets: yf,
        }
    }

    /// The training-time latent move (BASELINES §3, "Grad 1"): for each
    /// pair j of each task, `g = grad_c sum_{i != j} l_i(c)` at `c_j`, one
    /// Adam step from zero moments (`0.1 g / (sqrt(g^2 + 1e-8) + 1e-8)`),
    /// kept only where it raises `sum_{i != j} l_i`. Computed on a tape of
    /// its own with the weights frozen; the result is a constant [B*m, d_z].
    fn ascent_move(&self, ctx: &Ctx, c: &[f32], x: &Tensor, y: &Tensor) -> Tensor {
        let (b, m, n) = (x.dim(0), x.dim(1), x.dim(2));
        let (dz, rows) = (self.cfg.latent_dim, b * m);
        let frozen = self.frozen(ctx);
        // Rows (b, j, i) for every i: latent of pair j, data of pair i; the
        // i = j terms are masked out of the sums.
        let mut latent_row = Vec::with_capacity(rows * m);
        let mut data_row = Vec::with_capacity(rows * m);
        let mut mask = Vec::with_capacity(rows * m);
        for bi in 0..b {
            for j in 0..m {
                for i in 0..m {
                    latent_row.push((bi * m + j) as u32);
                    data_row.push((bi * m + i) as u32);
                    mask.push(if i == j { 0.0 } else { 1.0 });
                }
            }
        }
        let gather = |t: &Tensor| {
            let host = ctx.read_u32(t);
            let picked: Vec<u32> = data_row
                .iter()
                .flat_map(|&r| host[r as usize * n..(r as usize + 1) * n].iter().copied())
                .collect();
            ctx.indices(&picked, &[rows * m, n])
        };
        let (xs, ys) = (gather(x), gather(y));
        let latent_row = ctx.indices(&latent_row, &[rows * m]);
        let mask = ctx.tensor(&mask, &[rows * m]);
        // Sum over i != j of l_i at the latents `at` [B*m, d_z]: [B*m].
        let others = |at: &Tensor| {
            let ll = frozen.log_likelihood(ctx, &ctx.embedding(at, &latent_row), &xs, &ys);
            ctx.sum_axis(&ctx.reshape(&ctx.mul(&ll, &mask), &[rows, m]), 1)
        };
        let (before, grad) = ctx.with_own_tape(|| {
            let leaf = ctx.param(c, &[rows, dz]);
            let s = others(&leaf);
            let grads = ctx.backward(&ctx.sum_all(&s));
            let g = grads.get(&leaf).expect("the latent has a gradient");
            let got = ctx.read_many(&[&s, g]);
            (got[0].clone(), got[1].clone())
        });
        let step: Vec<f32> = grad
            .iter()
            .map(|g| ASCENT_LR * g / ((g * g + 1e-8).sqrt() + 1e-8))
            .collect();
        let moved: Vec<f32> = c.iter().zip(&step).map(|(a, d)| a + d).collect();
        let after = {
            let _g = ctx.no_grad();
            ctx.read(&others(&ctx.tensor(&moved, &[rows, dz])))
        };
        let kept: Vec<f32> = step
            .chunks(dz)
            .zip(before.iter().zip(&after))
            .flat_map(|(d, (b0, a))| {
                let keep = a > b0;
                d.iter().map(move |&v| if keep { v } else { 0.0 })
            })
            .collect();
        ctx.tensor(&kept, &[rows, dz])
    }
}

/// `KL_i = -1/2 sum_d (1 + logvar - mu^2 - exp(logvar))` per row: [P].
pub fn kl_terms(ctx: &Ctx, mu: &Tensor, logvar: &Tensor) -> Tensor {
    let inner = ctx.sub(
        &ctx.add_scalar(logvar, 1.0),
        &ctx.add(&ctx.mul(mu, mu), &ctx.exp(logvar)),
    );
    ctx.scale(&ctx.sum_axis(&inner, -1), -0.5)
}

/// Standard normal draws of one step, from a generator keyed by the step's
/// seed and number (the same step always draws the same noise; zeros
/// without noise).
pub fn gaussian_noise(noise: Option<StepNoise>, n: usize) -> Vec<f32> {
    match noise {
        Some(nz) => {
            let mut rng = StdRng::seed_from_u64(
                nz.seed ^ (nz.step as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            );
            (0..n).map(|_| standard_normal(&mut rng)).collect()
        }
        None => vec![0.0; n],
    }
}
