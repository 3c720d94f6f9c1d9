//! Fused multi-head scaled dot-product attention and its backward.
//! Kernel: `shaders/attention.wgsl` (online softmax, one invocation per row,
//! nothing of size len x len stored).

use crate::ctx::Ctx;
use crate::tensor::Tensor;

const QKV: u32 = 1;
const O: u32 = 4;
const LSE: u32 = 5;
const DO: u32 = 6;
const DELTA: u32 = 7;
const DQKV: u32 = 8;

impl Ctx {
    /// `softmax(Q K^T / sqrt(dh)) V` per head, with Q, K, V separate tensors
    /// [batch, len, heads * dh] (packed into one before the fused kernel).
    pub fn attention(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        heads: usize,
        causal: bool,
    ) -> Tensor {
        assert!(
            q.rank() == 3 && q.shape() == k.shape() && q.shape() == v.shape(),
            "attention: q {:?} k {:?} v {:?} must be equal [batch, len, width]",
            q.shape(),
            k.shape(),
            v.shape()
        );
        self.attention_qkv(&self.concat(&[q, k, v], -1), heads, causal)
    }

    /// Fused attention on a packed projection `qkv` [batch, len, 3 * width]
    /// (Q, K, V side by side, width = heads * dh, dh a multiple of 4); the
    /// result is [batch, len, width]. `causal` masks keys after the query.
    pub fn attention_qkv(&self, qkv: &Tensor, heads: usize, causal: bool) -> Tensor {
        assert!(
            qkv.rank() == 3 && qkv.dim(2).is_multiple_of(3),
            "attention: qkv {:?} must be [batch, len, 3 * width]",
            qkv.shape()
        );
        let (batch, len, width) = (qkv.dim(0), qkv.dim(1), qkv.dim(2) / 3);
        assert!(
            heads > 0 && width % heads == 0,
            "attention: width {width} not divisible by {heads} heads"
        );
        let dh = width / heads;
        assert!(
            dh.is_multiple_of(4),
            "attention: head size {dh} must be a multiple of 4 (vec4 loads)"
        );
        let rows = batch * heads * len;
        let scale = 1.0 / (dh as f32).sqrt();
        let params = [
            batch as u32,
            heads as u32,
            len as u32,
            causal as u32,
            scale.to_bits(),
            (width / 4) as u32,
            0,
            0,
        ];
        let defines = [("DH4", (dh / 4) as u32)];
        let out = std::rc::Rc::new(self.alloc_f32(batch * len * width));
        let lse = self.alloc_f32(rows);
        let kern = self.gpu.kernel("attention", "attention", &defines);
        self.gpu.dispatch(
            &kern,
            &params,
            &[(QKV, qkv.storage()), (O, &out), (LSE, &lse)],
            self.gpu.groups_1d(rows),
        );
        let (qkv2, o2) = (qkv.clone(), out.clone());
        self.op_output_rc(
            "attention",
            vec![batch, len, width],
            out,
            &[qkv],
            move |ctx, g| {
                let dqkv = ctx.alloc_f32(qkv2.numel());
                let delta = ctx.alloc_f32(rows);
                let pass_q = ctx
                    .gpu
                    .kernel("attention", "attention_backward_q", &defines);
                ctx.gpu.dispatch(
                    &pass_q,
                    &params,
                    &[
                        (QKV, qkv2.storage()),
                        (O, &o2),
                        (LSE, &lse),
                        (DO, g.storage()),
                        (DELTA, &delta),
                        (DQKV, &dqkv),
                    ],
                    ctx.gpu.groups_1d(rows),
                );
                let pass_kv = ctx
                    .gpu
                    .kernel("attention", "attention_backward_kv", &defines);
                ctx.gpu.dispatch(
                    &pass_kv,
                    &params,
                    &[
                        (QKV, qkv2.storage()),
                        (LSE, &lse),
                        (DO, g.storage()),
                        (DELTA, &delta),
                        (DQKV, &dqkv),
                    ],
                    ctx.gpu.groups_1d(rows),
                );
                vec![Some(ctx.wrap(qkv2.shape(), dqkv))]
            },
        )
    }
}

/// CPU reference: the same attention on [batch, len, heads * dh] arrays.
#[allow(clippy::too_many_arguments)]
pub fn cpu_attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    batch: usize,
    len: usize,
    heads: usize,
    dh: usize,
    causal: bool,
) -> Vec<f32> {
    let width = heads * dh;
    let scale = 1.0 / (dh as f64).sqrt();
    let mut out = vec![0.0f32; batch * len * width];
    for b in 0..batch {
        for h in 0..heads {
            for i in 0..len {
                let at = |t: &[f32], pos: usize, d: usize| {
                    t[(b * len + pos) * width + h * dh + d] as f64
                };
                let jend = if causal { i + 1 } else { len };
                let scores: Vec<f64> = (0..jend)
                    .map(|j| (0..dh).map(|d| at(q, i, d) * at(k, j, d)).sum::<f64>() * scale)
                    .collect();
                let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for d in 0..dh {
                    let o: f64 = (0..jend).map(|j| e[j] / z * at(v, j, d)).sum();
                    out[(b * len + i) * width + h * dh + d] = o as f32;
                }
            }
        }
    }
    out
}
