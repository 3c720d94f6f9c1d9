//! Parts the baselines share (BASELINES §0): the pair encoder, NLI's
//! inductor trunk with one CLS slot, and the one-pass decoder that reads
//! context vectors and an input and predicts every output position at once.

use super::config::ModelConfig;
use super::layers::{Block, Builder, InitKind, LayerNorm, Linear, embed_positions};
use crate::ctx::Ctx;
use crate::tensor::Tensor;

/// PairEnc(x, y): `[CLS; E x + P + Y_x; E y + P + Y_y]` through
/// `inductor_layers` non-causal blocks (MLP `mlp_mult * D`) and a final
/// LayerNorm; the output at CLS.
pub struct PairEncoder {
    value: Tensor,
    position: Tensor,
    type_x: Tensor,
    type_y: Tensor,
    cls: Tensor,
    blocks: Vec<Block>,
    norm: LayerNorm,
}

impl PairEncoder {
    pub fn new(b: &mut Builder, cfg: &ModelConfig) -> PairEncoder {
        let d = cfg.d;
        let emb = InitKind::Normal(1.0 / (d as f32).sqrt());
        PairEncoder {
            value: b.param("value_embed", &[cfg.v, d], emb),
            position: b.param("position_embed", &[cfg.n, d], emb),
            type_x: b.param("type_x", &[d], emb),
            type_y: b.param("type_y", &[d], emb),
            cls: b.param("cls", &[1, d], emb),
            blocks: (0..cfg.inductor_layers)
                .map(|i| Block::new(b, &format!("block{i}"), d, cfg.heads, cfg.mlp_mult))
                .collect(),
            norm: LayerNorm::new(b, "norm", d),
        }
    }

    /// x, y u32 [P, N] -> h [P, D].
    pub fn forward(&self, ctx: &Ctx, x: &Tensor, y: &Tensor) -> Tensor {
        let p = x.dim(0);
        let d = self.cls.dim(1);
        let side = |idx: &Tensor, type_embed: &Tensor| {
            ctx.add_broadcast(
                &embed_positions(ctx, &self.value, &self.position, idx),
                type_embed,
            )
        };
        let cls = ctx.expand(&self.cls, 0, p);
        let mut h = ctx.concat(&[&cls, &side(x, &self.type_x), &side(y, &self.type_y)], 1);
        for block in &self.blocks {
            h = block.forward(ctx, &h);
        }
        let h = self.norm.forward(ctx, &h);
        ctx.reshape(&ctx.slice(&h, 1, 0, 1), &[p, d])
    }
}

/// Dec(c_1..c_C; x): `[c_1..c_C; E' x + P']` through `decoder_layers`
/// non-causal blocks (MLP `decoder_mlp_mult * D`) and a final LayerNorm, then
/// a D -> V head at the N input positions.
pub struct Decoder {
    value: Tensor,
    position: Tensor,
    blocks: Vec<Block>,
    norm: LayerNorm,
    head: Linear,
}

impl Decoder {
    pub fn new(b: &mut Builder, cfg: &ModelConfig) -> Decoder {
        let d = cfg.d;
        let emb = InitKind::Normal(1.0 / (d as f32).sqrt());
        Decoder {
            value: b.param("value_embed", &[cfg.v, d], emb),
            position: b.param("position_embed", &[cfg.n, d], emb),
            blocks: (0..cfg.decoder_layers)
                .map(|i| Block::new(b, &format!("block{i}"), d, cfg.heads, cfg.decoder_mlp_mult))
                .collect(),
            norm: LayerNorm::new(b, "norm", d),
            head: Linear::new(b, "head", d, cfg.v),
        }
    }

    /// context [P, C, D], x u32 [P, N] -> output logits [P, N, V].
    pub fn forward(&self, ctx: &Ctx, context: &Tensor, x: &Tensor) -> Tensor {
        let (c, n) = (context.dim(1), x.dim(1));
        let ex = embed_positions(ctx, &self.value, &self.position, x);
        let mut h = ctx.concat(&[context, &ex], 1);
        for block in &self.blocks {
            h = block.forward(ctx, &h);
        }
        let h = self.norm.forward(ctx, &h);
        self.head.forward(ctx, &ctx.slice(&h, 1, c, n))
    }
}

/// Per row, the cross-entropy summed over positions: logits [P, N, V],
/// targets u32 [P, N] -> [P] (`-log p(y | ...)`).
pub fn sequence_nll(ctx: &Ctx, logits: &Tensor, targets: &Tensor) -> Tensor {
    let (p, n, v) = (logits.dim(0), logits.dim(1), logits.dim(2));
    let ce = ctx.cross_entropy(
        &ctx.reshape(logits, &[p * n, v]),
        &ctx.reshape(targets, &[p * n]),
    );
    ctx.sum_axis(&ctx.reshape(&ce, &[p, n]), 1)
}

/// Row indices for leave-one-out contexts: for each task `b` of `tasks`
/// with `m` pairs, each target `j` and each place `k < m - 1`, the row
/// `b * m + i` of the i-th other pair (in order). Shape [tasks * m * (m-1)].
pub fn leave_one_out_rows(tasks: usize, m: usize) -> Vec<u32> {
    let mut idx = Vec::with_capacity(tasks * m * (m - 1));
    for b in 0..tasks {
        for j in 0..m {
            for i in (0..m).filter(|&i| i != j) {
                idx.push((b * m + i) as u32);
            }
        }
    }
    idx
}
