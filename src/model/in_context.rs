//! In-Context (BASELINES §1): each pair is encoded to one token, and a
//! one-pass decoder reads the other pairs' tokens in context with the input
//! whose output it predicts. No latent, no search; TTT (`crate::ttt`)
//! fine-tunes its weights per task.

use super::config::ModelConfig;
use super::decoder::{Decoder, PairEncoder, leave_one_out_rows, sequence_nll};
use super::layers::{Builder, InitKind, Linear, ParamSource};
use super::{LossParts, add_view_nce, detached_params, pair_views, warmup_parts};
use crate::ctx::Ctx;
use crate::tensor::Tensor;

/// Context places with a learned embedding each (the decoder reads at most
/// this many pairs: 4 at test, 3 or 4 in training).
pub const PLACES: usize = 4;

pub struct InContext {
    pub cfg: ModelConfig,
    pub params: Vec<(String, Tensor)>,
    encoder: PairEncoder,
    pair_token: Linear,
    places: Tensor,
    decoder: Decoder,
}

impl InContext {
    pub fn build(ctx: &Ctx, cfg: &ModelConfig, source: &mut dyn ParamSource) -> InContext {
        let emb = InitKind::Normal(1.0 / (cfg.d as f32).sqrt());
        let mut bld = Builder::new(ctx, source);
        let (encoder, pair_token) = bld.scope("encoder", |b| {
            (
                PairEncoder::new(b, cfg),
                Linear::new(b, "pair_token", cfg.d, cfg.d),
            )
        });
        let (places, decoder) = bld.scope("decoder", |b| {
            (
                b.param("places", &[PLACES, cfg.d], emb),
                Decoder::new(b, cfg),
            )
        });
        InContext {
            cfg: cfg.clone(),
            params: bld.params,
            encoder,
            pair_token,
            places,
            decoder,
        }
    }

    pub fn frozen(&self, ctx: &Ctx) -> InContext {
        InContext::build(ctx, &self.cfg, &mut detached_params(ctx, &self.params))
    }

    /// Pair tokens `t = W PairEnc(x, y) + b`: x, y u32 [P, N] -> [P, D].
    fn pair_tokens(&self, ctx: &Ctx, x: &Tensor, y: &Tensor) -> Tensor {
        self.pair_token
            .forward(ctx, &self.encoder.forward(ctx, x, y))
    }

    /// The tokens [B * m, D] of every pair of tasks x, y u32 [B, m, N].
    fn task_pair_tokens(&self, ctx: &Ctx, x: &Tensor, y: &Tensor) -> Tensor {
        let (b, m, n) = (x.dim(0), x.dim(1), x.dim(2));
        self.pair_tokens(
            ctx,
            &ctx.reshape(x, &[b * m, n]),
            &ctx.reshape(y, &[b * m, n]),
        )
    }

    /// The first `c` place embeddings added to contexts [P, c, D].
    fn placed(&self, ctx: &Ctx, context: &Tensor) -> Tensor {
        let c = context.dim(1);
        assert!(
            c <= PLACES,
            "In-Context reads at most {PLACES} pairs, got {c}"
        );
        ctx.add_broadcast(context, &ctx.slice(&self.places, 0, 0, c))
    }

    /// Leave-one-out: for tasks x, y u32 [B, m, N], each pair's output
    /// predicted from the other m - 1 pairs in their order. Returns the
    /// negative log-likelihood of each pair [B * m] and the logits
    /// [B * m, N, V].
    pub fn leave_one_out(&self, ctx: &Ctx, x: &Tensor, y: &Tensor) -> (Tensor, Tensor) {
        let tokens = self.task_pair_tokens(ctx, x, y);
        self.leave_one_out_from(ctx, &tokens, x, y)
    }

    /// [`InContext::leave_one_out`] from the pairs' tokens [B * m, D].
    fn leave_one_out_from(
        &self,
        ctx: &Ctx,
        tokens: &Tensor,
        x: &Tensor,
        y: &Tensor,
    ) -> (Tensor, Tensor) {
        let (b, m, n) = (x.dim(0), x.dim(1), x.dim(2));
        assert!(m >= 2, "leave-one-out needs at least 2 pairs per task");
        let xf = ctx.reshape(x, &[b * m, n]);
        let yf = ctx.reshape(y, &[b * m, n]);
        let rows = ctx.indices(&leave_one_out_rows(b, m), &[b * m, m - 1]);
        let context = self.placed(ctx, &ctx.embedding(tokens, &rows));
        let logits = self.decoder.forward(ctx, &context, &xf);
        (sequence_nll(ctx, &logits, &yf), logits)
    }

    /// The encoder warm-up's loss ([`crate::model::TrainConfig::encoder_warmup`])
    /// on a batch x, y u32 [B, m, N]: the views' contrastive loss of the
    /// pair tokens alone, as NLI's inductor warms up. Nothing is
    /// reconstructed (`recon` 0, `pred` all zeros).
    pub fn encoder_warmup_loss(&self, ctx: &Ctx, x: &Tensor, y: &Tensor) -> LossParts {
        let tokens = self.task_pair_tokens(ctx, x, y);
        let (ea, eb) = pair_views(ctx, &tokens, x.dim(0), x.dim(1));
        warmup_parts(ctx, &ea, &eb, y, self.cfg.v, None)
    }

    /// The training loss of a batch with `pairs + 1` pairs per task
    /// (BASELINES §1): the first half of the tasks predicts each of its
    /// pairs from the other `pairs`, the second half uses its first `pairs`
    /// pairs only (each from the other `pairs - 1`), so both context sizes
    /// are in distribution. Cross-entropy summed over positions, averaged
    /// over a task's targets and over tasks; plus `view_nce_weight` times
    /// the views' contrastive loss of the pair tokens (0 in BASELINES).
    pub fn loss(&self, ctx: &Ctx, x: &Tensor, y: &Tensor, view_nce_weight: f32) -> LossParts {
        let (b, m) = (x.dim(0), x.dim(1));
        assert!(m >= 3, "In-Context trains on at least 3 pairs per task");
        let full = b.div_ceil(2);
        let groups: Vec<(Tensor, Tensor, usize)> = if full == b {
            vec![(x.clone(), y.clone(), m)]
        } else {
            let cut = |t: &Tensor, lo: usize, len: usize, pairs: usize| {
                ctx.slice(&ctx.slice(t, 0, lo, len), 1, 0, pairs)
            };
            vec![
                (cut(x, 0, full, m), cut(y, 0, full, m), m),
                (
                    cut(x, full, b - full, m - 1),
                    cut(y, full, b - full, m - 1),
                    m - 1,
                ),
            ]
        };
        let mut recon: Option<Tensor> = None;
        let (mut preds, mut targets) = (Vec::new(), Vec::new());
        let (mut view_a, mut view_b) = (Vec::new(), Vec::new());
        for (gx, gy, pairs) in &groups {
            let tokens = self.task_pair_tokens(ctx, gx, gy);
            if view_nce_weight != 0.0 {
                let (a, b) = pair_views(ctx, &tokens, gx.dim(0), *pairs);
                view_a.push(a);
                view_b.push(b);
            }
            let (nll, logits) = self.leave_one_out_from(ctx, &tokens, gx, gy);
            let term = ctx.scale(&ctx.sum_all(&nll), 1.0 / (*pairs * b) as f32);
            recon = Some(match recon {
                Some(r) => ctx.add(&r, &term),
                None => term,
            });
            let rows = gx.dim(0) * pairs;
            preds.push(logits);
            targets.push(ctx.reshape(gy, &[rows, gy.dim(2)]));
        }
        let recon = recon.expect("at least one group");
        let (mut loss, mut extra) = (recon.clone(), Vec::new());
        if view_nce_weight != 0.0 {
            let all = |v: &[Tensor]| ctx.concat(&v.iter().collect::<Vec<_>>(), 0);
            let views = (&all(&view_a), &all(&view_b));
            add_view_nce(ctx, &mut loss, &mut extra, views, view_nce_weight);
        }
        let pred_refs: Vec<&Tensor> = preds.iter().collect();
        let target_refs: Vec<&Tensor> = targets.iter().collect();
        LossParts {
            loss,
            recon,
            extra,
            logits: None,
            pred: ctx.concat(&pred_refs, 0),
            targets: ctx.concat(&target_refs, 0),
        }
    }

    /// Output logits [B, N, V] for queries x u32 [B, N] in the context of
    /// every specification pair (spec u32 [B, m, N], m <= PLACES).
    pub fn predict(&self, ctx: &Ctx, spec_x: &Tensor, spec_y: &Tensor, query_x: &Tensor) -> Tensor {
        let (b, m) = (spec_x.dim(0), spec_x.dim(1));
        let tokens = self.task_pair_tokens(ctx, spec_x, spec_y);
        let context = self.placed(ctx, &ctx.reshape(&tokens, &[b, m, self.cfg.d]));
        self.decoder.forward(ctx, &context, query_x)
    }
}
