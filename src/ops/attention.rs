//! Fused multi-head scaled dot-product attention and its backward.
//! Kernel: `shaders/attention.wgsl` (online softmax, one invocation per row,
//! nothing of size len x len stored).

use crate::ctx::Ctx;
use crate::tensor::Tensor;

const Q: u32 = 1;
const K: u32 = 2;
const V: u32 = 3;
const O: u32 = 4;
const LSE: u32 = 5;
const DO: u32 = 6;
const DELTA: u32 = 7;
const DQ: u32 = 8;
const DK: u32 = 9;
const DV: u32 = 10;

impl Ctx {
    /// `softmax(Q K^T / sqrt(dh)) V` per head. `q`, `k`, `v` are
    /// [batch, len, heads * dh] with dh a multiple of 4; `causal` masks keys
    /// after the query.
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
        let (batch, len, width) = (q.dim(0), q.dim(1), q.dim(2));
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
            &[
                (Q, q.storage()),
                (K, k.storage()),
                (V, v.storage()),
                (O, &out),
                (LSE, &lse),
            ],
            self.gpu.groups_1d(rows),
        );
        let (q2, k2, v2, o2) = (q.clone(), k.clone(), v.clone(), out.clone());
        self.op_output_rc(
            "attention",
            q.shape().to_vec(),
            out,
            &[q, k, v],
            move |ctx, g| {
                let n = batch * len * width;
                let (dq, dk, dv) = (ctx.alloc_f32(n), ctx.alloc_f32(n), ctx.alloc_f32(n));
                let delta = ctx.alloc_f32(rows);
                let pass_q = ctx
                    .gpu
                    .kernel("attention", "attention_backward_q", &defines);
                ctx.gpu.dispatch(
                    &pass_q,
                    &params,
                    &[
                        (Q, q2.storage()),
                        (K, k2.storage()),
                        (V, v2.storage()),
                        (O, &o2),
                        (LSE, &lse),
                        (DO, g.storage()),
                        (DELTA, &delta),
                        (DQ, &dq),
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
                        (Q, q2.storage()),
                        (K, k2.storage()),
                        (V, v2.storage()),
                        (LSE, &lse),
                        (DO, g.storage()),
                        (DELTA, &delta),
                        (DK, &dk),
                        (DV, &dv),
                    ],
                    ctx.gpu.groups_1d(rows),
                );
                let shape = q2.shape();
                vec![
                    Some(ctx.wrap(shape, dq)),
                    Some(ctx.wrap(shape, dk)),
                    Some(ctx.wrap(shape, dv)),
                ]
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
