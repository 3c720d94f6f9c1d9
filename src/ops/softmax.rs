//! Softmax, log-softmax and cross-entropy with integer targets, along the last
//! axis. Kernels: `shaders/softmax.wgsl`.

use crate::ctx::Ctx;
use crate::gpu::Storage;
use crate::tensor::{DType, Tensor};

/// Binding numbers of `shaders/softmax.wgsl`.
const X: u32 = 1;
const DY: u32 = 2;
const LABELS: u32 = 3;
const OUT: u32 = 4;

impl Ctx {
    fn row_kernel(
        &self,
        entry: &str,
        rows: usize,
        cols: usize,
        out_len: usize,
        bufs: &[(u32, &Storage)],
    ) -> Storage {
        self.row_kernel_eps(entry, rows, cols, 0.0, out_len, bufs)
    }

    fn row_kernel_eps(
        &self,
        entry: &str,
        rows: usize,
        cols: usize,
        eps: f32,
        out_len: usize,
        bufs: &[(u32, &Storage)],
    ) -> Storage {
        let out = self.alloc_f32(out_len);
        let mut all = bufs.to_vec();
        all.push((OUT, &out));
        let k = self.gpu.kernel("softmax", entry, &[]);
        self.gpu.dispatch(
            &k,
            &[rows as u32, cols as u32, eps.to_bits(), 0],
            &all,
            self.gpu.groups_1d(rows),
        );
        out
    }

    /// Softmax along the last axis.
    pub fn softmax(&self, x: &Tensor) -> Tensor {
        let (rows, cols) = x.rows_cols();
        let out = std::rc::Rc::new(self.row_kernel(
            "softmax",
            rows,
            cols,
            x.numel(),
            &[(X, x.storage())],
        ));
        let y = self.tensor_on(x.shape().to_vec(), DType::F32, out.clone(), false);
        self.op_output_rc("softmax", x.shape().to_vec(), out, &[x], move |ctx, g| {
            let dx = ctx.row_kernel(
                "softmax_backward",
                rows,
                cols,
                rows * cols,
                &[(X, y.storage()), (DY, g.storage())],
            );
            vec![Some(ctx.wrap(y.shape(), dx))]
        })
    }

    /// Log-softmax along the last axis.
    pub fn log_softmax(&self, x: &Tensor) -> Tensor {
        let (rows, cols) = x.rows_cols();
        let out = std::rc::Rc::new(self.row_kernel(
            "log_softmax",
            rows,
            cols,
            x.numel(),
            &[(X, x.storage())],
        ));
        let y = self.tensor_on(x.shape().to_vec(), DType::F32, out.clone(), false);
        self.op_output_rc(
            "log_softmax",
            x.shape().to_vec(),
            out,
            &[x],
            move |ctx, g| {
                let dx = ctx.row_kernel(
                    "log_softmax_backward",
                    rows,
                    cols,
                    rows * cols,
                    &[(X, y.storage()), (DY, g.storage())],
                );
                vec![Some(ctx.wrap(y.shape(), dx))]
            },
        )
    }

    /// Per-row cross-entropy `-log softmax(logits)[target]`: logits [.., C],
    /// targets u32 [..] (values below C); the result has the targets' shape.
    pub fn cross_entropy(&self, logits: &Tensor, targets: &Tensor) -> Tensor {
        assert_eq!(
            targets.dtype(),
            DType::U32,
            "cross_entropy targets must be u32 indices"
        );
        let (rows, cols) = logits.rows_cols();
        assert_eq!(
            targets.numel(),
            rows,
            "cross_entropy: {:?} logits for {:?} targets",
            logits.shape(),
            targets.shape()
        );
        let out = self.row_kernel(
            "cross_entropy",
            rows,
            cols,
            rows,
            &[(X, logits.storage()), (LABELS, targets.storage())],
        );
        let (l2, t2) = (logits.clone(), targets.clone());
        self.op_output(
            "cross_entropy",
            targets.shape().to_vec(),
            out,
            &[logits],
            move |ctx, g| {
                let dx = ctx.row_kernel(
                    "cross_entropy_backward",
                    rows,
                    cols,
                    rows * cols,
                    &[(X, l2.storage()), (DY, g.storage()), (LABELS, t2.storage())],
                );
                vec![Some(ctx.wrap(l2.shape(), dx))]
            },
        )
    }
}

impl Ctx {
    /// Per-row `-log(max(probs[target], eps))` of probability rows (not
    /// logits): probs [.., C], targets u32 [..]; the result has the targets'
    /// shape. The clamp keeps the loss finite when a probability underflows.
    pub fn nll_probs(&self, probs: &Tensor, targets: &Tensor, eps: f32) -> Tensor {
        assert_eq!(
            targets.dtype(),
            DType::U32,
            "nll_probs targets must be u32 indices"
        );
        let (rows, cols) = probs.rows_cols();
        assert_eq!(
            targets.numel(),
            rows,
            "nll_probs: {:?} probabilities for {:?} targets",
            probs.shape(),
            targets.shape()
        );
        let out = self.row_kernel_eps(
            "nll_probs",
            rows,
            cols,
            eps,
            rows,
            &[(X, probs.storage()), (LABELS, targets.storage())],
        );
        let (p2, t2) = (probs.clone(), targets.clone());
        self.op_output(
            "nll_probs",
            targets.shape().to_vec(),
            out,
            &[probs],
            move |ctx, g| {
                let dx = ctx.row_kernel_eps(
                    "nll_probs_backward",
                    rows,
                    cols,
                    eps,
                    rows * cols,
                    &[(X, p2.storage()), (DY, g.storage()), (LABELS, t2.storage())],
                );
                vec![Some(ctx.wrap(p2.shape(), dx))]
            },
        )
    }
}

/// CPU references for tests.
pub mod cpu {
    pub fn softmax_row(x: &[f32]) -> Vec<f32> {
        let m = x.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let e: Vec<f64> = x.iter().map(|&v| (v as f64 - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| (v / s) as f32).collect()
    }
    pub fn log_softmax_row(x: &[f32]) -> Vec<f32> {
        let m = x.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let lse = m + x.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
        x.iter().map(|&v| (v as f64 - lse) as f32).collect()
    }
}
