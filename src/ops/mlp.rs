//! A transformer block's MLP on its residual connection as one op:
//! `r + gelu(x W1 + b1) W2 + b2`. Kernels: the generated matmul kernels of
//! [`crate::ops::matmul`], with GELU in their stores (forward: the first
//! product stores the pre-activation and its GELU; backward: the product
//! that gives the activation's gradient multiplies it by GELU' of the
//! pre-activation as it stores it), so the hidden layer, the widest
//! activation of a block, is never read by a GELU pass of its own.
//!
//! Backward (h = x W1 + b1, g = gelu(h), y = r + g W2 + b2):
//! dW2 = g^T dy, db2 = the column sums of dy (from dW2's product),
//! dh = (dy W2^T) * gelu'(h), dW1 = x^T dh, db1 = the column sums of dh,
//! dx = dh W1^T, dr = dy.

use crate::ctx::Ctx;
use crate::gpu::Storage;
use crate::ops::matmul::{Epilogue, GeluEpilogue, View};
use crate::tensor::Tensor;

impl Ctx {
    /// `r + gelu(x @ w1 + b1) @ w2 + b2` over the last axis of `x`: x [.., d],
    /// w1 [d, f], b1 [f], w2 [f, e], b2 [e], r of the output's shape
    /// [.., e]. The same values as `linear_residual(gelu(linear(x, w1, b1)),
    /// w2, b2, r)` in fewer passes over memory.
    pub fn mlp_residual(
        &self,
        x: &Tensor,
        w1: &Tensor,
        b1: &Tensor,
        w2: &Tensor,
        b2: &Tensor,
        r: &Tensor,
    ) -> Tensor {
        let (rows, d) = x.rows_cols();
        assert!(
            w1.rank() == 2 && w1.dim(0) == d,
            "mlp: w1 {:?} for inputs of width {d}",
            w1.shape()
        );
        let f = w1.dim(1);
        assert!(
            w2.rank() == 2 && w2.dim(0) == f,
            "mlp: w2 {:?} after a hidden layer of width {f}",
            w2.shape()
        );
        let e = w2.dim(1);
        assert_eq!(b1.shape(), [f], "mlp: b1 for a hidden layer of width {f}");
        assert_eq!(b2.shape(), [e], "mlp: b2 for outputs of width {e}");
        let mut shape = x.shape().to_vec();
        *shape.last_mut().unwrap() = e;
        assert_eq!(r.shape(), &shape[..], "mlp: residual for outputs {shape:?}");

        let xv = View::matrix(x.storage(), rows, d);
        let w1v = View::matrix(w1.storage(), d, f);
        let w2v = View::matrix(w2.storage(), f, e);
        let inputs = [x, w1, b1, w2, b2, r];
        let wants_grad = self.grad_enabled() && inputs.iter().any(|t| t.requires_grad());
        // The hidden layer: GELU alone when nothing is kept for a backward,
        // else the pre-activation h and g = gelu(h), both for the backward.
        let hidden = |gelu: GeluEpilogue, act: Option<&Storage>| {
            let epi = Epilogue {
                bias: Some(b1.storage()),
                gelu,
                act,
                ..Epilogue::default()
            };
            self.gemm_epilogue(xv, w1v, 1, rows, f, d, epi).0
        };
        let output = |g: &Storage| {
            let epi = Epilogue {
                bias: Some(b2.storage()),
                residual: Some(r.storage()),
                ..Epilogue::default()
            };
            self.gemm_epilogue(View::matrix(g, rows, f), w2v, 1, rows, e, f, epi)
                .0
        };
        if !wants_grad {
            let g = hidden(GeluEpilogue::Apply, None);
            return self.wrap(&shape, output(&g));
        }
        let g = self.alloc_f32(rows * f);
        let h = hidden(GeluEpilogue::Keep, Some(&g));
        let y = output(&g);
        let (x2, w1c, b1c, w2c, b2c, rc) = (
            x.clone(),
            w1.clone(),
            b1.clone(),
            w2.clone(),
            b2.clone(),
            r.clone(),
        );
        self.op_output("mlp", shape, y, &inputs, move |ctx, dy| {
            let w1v = View::matrix(w1c.storage(), d, f);
            let w2v = View::matrix(w2c.storage(), f, e);
            // A weight's gradient X^T dY (X: `xs`, rows x k; dY: rows x n)
            // and its bias's.
            // Each weight's gradient product adds the gradient accumulated
            // so far for it (Ctx::take_grad_acc) as it stores.
            let weight_grads = |xs: &Storage, k: usize, dy: &Tensor, w: &Tensor, b: &Tensor| {
                let n = dy.dim(1);
                let xv = View::matrix(xs, rows, k);
                let accs = (ctx.take_grad_acc(w), ctx.take_grad_acc(b));
                let (dw, db) = ctx.weight_bias_grads(
                    xv,
                    dy,
                    k,
                    w.requires_grad(),
                    b.requires_grad(),
                    (accs.0.as_ref(), accs.1.as_ref()),
                );
                (dw.map(|s| ctx.wrap(&[k, n], s)), db)
            };
            let dy2 = ctx.reshape(dy, &[rows, e]);
            let (dw2, db2) = weight_grads(&g, f, &dy2, &w2c, &b2c);
            let (mut dx, mut dw1, mut db1) = (None, None, None);
            if x2.requires_grad() || w1c.requires_grad() || b1c.requires_grad() {
                let epi = Epilogue {
                    gelu: GeluEpilogue::Grad,
                    act: Some(&h),
                    ..Epilogue::default()
                };
                let dyv = View::matrix(dy.storage(), rows, e);
                let dh = ctx.gemm_epilogue(dyv, w2v.t(), 1, rows, f, e, epi).0;
                let dh = ctx.wrap(&[rows, f], dh);
                (dw1, db1) = weight_grads(x2.storage(), d, &dh, &w1c, &b1c);
                dx = x2.requires_grad().then(|| {
                    let dhv = View::matrix(dh.storage(), rows, f);
                    let acc = ctx.take_grad_acc(&x2);
                    let s = ctx.gemm_acc(dhv, w1v.t(), 1, rows, d, f, acc.as_ref());
                    ctx.wrap(x2.shape(), s)
                });
            }
            let dr = rc.requires_grad().then(|| dy.clone());
            vec![dx, dw1, db1, dw2, db2, dr]
        })
    }
}

/// CPU reference of [`Ctx::mlp_residual`] on `rows` rows: x [rows, d],
/// w1 [d, f], b1 [f], w2 [f, e], b2 [e], r [rows, e].
#[allow(clippy::too_many_arguments)]
pub fn cpu_mlp_residual(
    x: &[f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    r: &[f32],
    (rows, d, f, e): (usize, usize, usize, usize),
) -> Vec<f32> {
    let mut y = r.to_vec();
    let mut g = vec![0.0f32; f];
    for i in 0..rows {
        for (j, gj) in g.iter_mut().enumerate() {
            let h: f32 = b1[j] + (0..d).map(|c| x[i * d + c] * w1[c * f + j]).sum::<f32>();
            *gj = crate::ops::elementwise::cpu::gelu(h);
        }
        for o in 0..e {
            y[i * e + o] += b2[o] + (0..f).map(|j| g[j] * w2[j * e + o]).sum::<f32>();
        }
    }
    y
}
