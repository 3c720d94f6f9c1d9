//! Batched matrix products with transpose options, and linear layers on them.
//! Kernel: `shaders/matmul.wgsl` (strided operands, so transposes and the
//! backward products are strides, never copies).
//!
//! Backward (C = A' B', A' = op(A), B' = op(B)): dA' = dC B'^T and
//! dB' = A'^T dC; when A or B is stored transposed the product is taken in the
//! other order so that the gradient comes out in A's (B's) own layout. When B
//! is shared by the whole batch (a weight), dB sums over the batch by folding
//! the batch into the contraction.

use crate::ctx::Ctx;
use crate::gpu::Storage;
use crate::tensor::Tensor;

/// A matrix operand: element (z, row, col) at
/// `z * batch + row * row_stride + col * col_stride`.
#[derive(Clone, Copy)]
struct View<'a> {
    s: &'a Storage,
    batch: usize,
    row: usize,
    col: usize,
}

impl<'a> View<'a> {
    fn t(self) -> View<'a> {
        View {
            row: self.col,
            col: self.row,
            ..self
        }
    }
}

impl Ctx {
    /// C[z] = L[z] R[z], L: m x k, R: k x n, C contiguous [batch, m, n].
    fn gemm(&self, l: View, r: View, batch: usize, m: usize, n: usize, k: usize) -> Storage {
        let out = self.alloc_f32(batch * m * n);
        let kernel = self.gpu.kernel("matmul", "matmul", &[]);
        let params = [
            m, n, k, batch, l.batch, l.row, l.col, r.batch, r.row, r.col, 0, 0,
        ]
        .map(|v| v as u32);
        let groups = [n.div_ceil(32) as u32, m.div_ceil(32) as u32, batch as u32];
        self.gpu
            .dispatch(&kernel, &params, &[(1, l.s), (2, r.s), (3, &out)], groups);
        out
    }

    /// `a @ b` over the last two axes; leading axes are batch axes (equal for
    /// both), or `b` is 2-D and shared by the whole batch.
    pub fn matmul(&self, a: &Tensor, b: &Tensor) -> Tensor {
        self.matmul_t(a, b, false, false)
    }

    /// `op(a) @ op(b)` where `op` transposes the last two axes when asked.
    pub fn matmul_t(&self, a: &Tensor, b: &Tensor, trans_a: bool, trans_b: bool) -> Tensor {
        assert!(
            a.rank() >= 2 && b.rank() >= 2,
            "matmul needs rank >= 2: {:?} {:?}",
            a.shape(),
            b.shape()
        );
        let (ar, ac) = (a.dim(-2), a.dim(-1));
        let (br, bc) = (b.dim(-2), b.dim(-1));
        let (m, k) = if trans_a { (ac, ar) } else { (ar, ac) };
        let (k2, n) = if trans_b { (bc, br) } else { (br, bc) };
        assert_eq!(
            k,
            k2,
            "matmul: inner sizes differ: {:?}{} x {:?}{}",
            a.shape(),
            if trans_a { "^T" } else { "" },
            b.shape(),
            if trans_b { "^T" } else { "" }
        );
        let batch_shape = a.shape()[..a.rank() - 2].to_vec();
        let batch: usize = batch_shape.iter().product();
        let shared_b = b.rank() == 2 && a.rank() > 2;
        if !shared_b {
            assert_eq!(
                &b.shape()[..b.rank() - 2],
                &batch_shape[..],
                "matmul: batch axes differ: {:?} {:?}",
                a.shape(),
                b.shape()
            );
        }
        assert!(
            !(shared_b && trans_a),
            "matmul: a shared b with a transposed a is not supported"
        );
        let av = View {
            s: a.storage(),
            batch: ar * ac,
            row: if trans_a { 1 } else { ac },
            col: if trans_a { ac } else { 1 },
        };
        let bv = View {
            s: b.storage(),
            batch: if shared_b { 0 } else { br * bc },
            row: if trans_b { 1 } else { bc },
            col: if trans_b { bc } else { 1 },
        };
        let out = self.gemm(av, bv, batch, m, n, k);
        let mut shape = batch_shape;
        shape.extend([m, n]);
        let (a2, b2) = (a.clone(), b.clone());
        self.op_output("matmul", shape, out, &[a, b], move |ctx, g| {
            let av = View {
                s: a2.storage(),
                ..av
            };
            let bv = View {
                s: b2.storage(),
                ..bv
            };
            let gv = View {
                s: g.storage(),
                batch: m * n,
                row: n,
                col: 1,
            };
            // dA' = dC B'^T  (m x k); stored transposed: dA = B' dC^T (k x m).
            let da = if a2.requires_grad() {
                let s = if trans_a {
                    ctx.gemm(bv, gv.t(), batch, k, m, n)
                } else {
                    ctx.gemm(gv, bv.t(), batch, m, k, n)
                };
                Some(ctx.wrap(a2.shape(), s))
            } else {
                None
            };
            // dB' = A'^T dC (k x n); stored transposed: dB = dC^T A' (n x k).
            let db = if b2.requires_grad() {
                let s = if shared_b {
                    // Fold the batch into the contraction: A' rows of all
                    // batches are contiguous ([batch * m, k]).
                    let af = View { batch: 0, ..av };
                    let gf = View { batch: 0, ..gv };
                    if trans_b {
                        ctx.gemm(gf.t(), af, 1, n, k, batch * m)
                    } else {
                        ctx.gemm(af.t(), gf, 1, k, n, batch * m)
                    }
                } else if trans_b {
                    ctx.gemm(gv.t(), av, batch, n, k, m)
                } else {
                    ctx.gemm(av.t(), gv, batch, k, n, m)
                };
                Some(ctx.wrap(b2.shape(), s))
            } else {
                None
            };
            vec![da, db]
        })
    }

    /// `x @ w + b` over the last axis of `x`: x [.., in], w [in, out], b [out].
    pub fn linear(&self, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
        let (rows, cols) = x.rows_cols();
        let x2 = self.reshape(x, &[rows, cols]);
        let y = self.matmul(&x2, w);
        let y = match b {
            Some(b) => self.add_broadcast(&y, b),
            None => y,
        };
        let mut shape = x.shape().to_vec();
        *shape.last_mut().unwrap() = w.dim(-1);
        self.reshape(&y, &shape)
    }
}

/// CPU reference: C[z] = op(A[z]) op(B[z]) with row-major storage; `b_batch`
/// false means B is shared by every batch.
#[allow(clippy::too_many_arguments)]
pub fn cpu_matmul(
    a: &[f32],
    b: &[f32],
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    trans_a: bool,
    trans_b: bool,
    b_batched: bool,
) -> Vec<f32> {
    let mut c = vec![0.0f32; batch * m * n];
    for z in 0..batch {
        let ab = z * m * k;
        let bb = if b_batched { z * k * n } else { 0 };
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f64;
                for l in 0..k {
                    let av = if trans_a {
                        a[ab + l * m + i]
                    } else {
                        a[ab + i * k + l]
                    };
                    let bv = if trans_b {
                        b[bb + j * k + l]
                    } else {
                        b[bb + l * n + j]
                    };
                    acc += av as f64 * bv as f64;
                }
                c[z * m * n + i * n + j] = acc as f32;
            }
        }
    }
    c
}
