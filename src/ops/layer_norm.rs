//! Layer norm over the last axis with learned scale and shift.
//! Kernels: `shaders/layer_norm.wgsl`.

use crate::ctx::Ctx;
use crate::tensor::Tensor;

const X: u32 = 1;
const GAMMA: u32 = 2;
const BETA: u32 = 3;
const Y: u32 = 4;
const STATS: u32 = 5;
const DY: u32 = 6;
const DX: u32 = 7;
const DGAMMA: u32 = 8;
const DBETA: u32 = 9;

pub const LAYER_NORM_EPS: f32 = 1e-5;

impl Ctx {
    /// `(x - mean) / sqrt(var + eps) * gamma + beta` over the last axis.
    pub fn layer_norm(&self, x: &Tensor, gamma: &Tensor, beta: &Tensor) -> Tensor {
        let (rows, cols) = x.rows_cols();
        assert!(
            gamma.shape() == [cols] && beta.shape() == [cols],
            "layer_norm: x {:?}, gamma {:?}, beta {:?}",
            x.shape(),
            gamma.shape(),
            beta.shape()
        );
        let y = self.alloc_f32(rows * cols);
        let stats = self.alloc_f32(rows * 2);
        // Rows of a multiple of 4 floats are read as vec4s.
        let vec4 = cols.is_multiple_of(4);
        let lanes = if vec4 { 4 } else { 1 };
        // Rows per partial sum of the parameter gradients (all rows in one
        // unless that leaves too few invocations: Ctx::reduction_chunk).
        let chunk = self.reduction_chunk(cols / lanes, rows);
        let chunks = rows.div_ceil(chunk);
        let params = [
            rows as u32,
            (cols / lanes) as u32,
            LAYER_NORM_EPS.to_bits(),
            (1.0 / cols as f32).to_bits(),
            chunk as u32,
            0,
            0,
            0,
        ];
        let k = self.gpu.element_kernel("layer_norm", "layer_norm", vec4);
        self.gpu.dispatch(
            &k,
            &params,
            &[
                (X, x.storage()),
                (GAMMA, gamma.storage()),
                (BETA, beta.storage()),
                (Y, &y),
                (STATS, &stats),
            ],
            self.gpu.groups_1d(rows),
        );
        let (x2, g2, b2) = (x.clone(), gamma.clone(), beta.clone());
        self.op_output(
            "layer_norm",
            x.shape().to_vec(),
            y,
            &[x, gamma, beta],
            move |ctx, dy| {
                let dx = if x2.requires_grad() {
                    let dx = ctx.alloc_f32(rows * cols);
                    let k = ctx
                        .gpu
                        .element_kernel("layer_norm", "layer_norm_backward_x", vec4);
                    ctx.gpu.dispatch(
                        &k,
                        &params,
                        &[
                            (X, x2.storage()),
                            (GAMMA, g2.storage()),
                            (STATS, &stats),
                            (DY, dy.storage()),
                            (DX, &dx),
                        ],
                        ctx.gpu.groups_1d(rows),
                    );
                    Some(ctx.wrap(x2.shape(), dx))
                } else {
                    None
                };
                let (dg, db) = if g2.requires_grad() || b2.requires_grad() {
                    let dg = ctx.alloc_f32(chunks * cols);
                    let db = ctx.alloc_f32(chunks * cols);
                    let k =
                        ctx.gpu
                            .element_kernel("layer_norm", "layer_norm_backward_params", vec4);
                    ctx.gpu.dispatch(
                        &k,
                        &params,
                        &[
                            (X, x2.storage()),
                            (STATS, &stats),
                            (DY, dy.storage()),
                            (DGAMMA, &dg),
                            (DBETA, &db),
                        ],
                        ctx.gpu.groups_1d(chunks * cols / lanes),
                    );
                    let total = |partial| {
                        if chunks <= 1 {
                            ctx.wrap(&[cols], partial)
                        } else {
                            let p = ctx.wrap(&[chunks, cols], partial);
                            ctx.wrap(&[cols], ctx.reduce_axis(&p, 0, 1.0))
                        }
                    };
                    (Some(total(dg)), Some(total(db)))
                } else {
                    (None, None)
                };
                vec![dx, dg, db]
            },
        )
    }
}

/// CPU reference for one row.
pub fn cpu_layer_norm_row(x: &[f32], gamma: &[f32], beta: &[f32]) -> Vec<f32> {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let rstd = 1.0 / (var + LAYER_NORM_EPS as f64).sqrt();
    x.iter()
        .zip(gamma.iter().zip(beta))
        .map(|(&v, (&g, &b))| ((v as f64 - mean) * rstd * g as f64 + b as f64) as f32)
        .collect()
}
