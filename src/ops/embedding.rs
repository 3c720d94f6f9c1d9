//! Embedding gather (backward: a gather-based scatter-add).
//! Kernels: `shaders/embedding.wgsl`.

use crate::ctx::Ctx;
use crate::tensor::{DType, Tensor};

const TABLE: u32 = 1;
const IDX: u32 = 2;
const OUT: u32 = 3;
const DY: u32 = 4;
const DTABLE: u32 = 5;

impl Ctx {
    /// Rows of `table` [rows, dim] picked by `idx` (u32, any shape): the
    /// result has shape `idx.shape() + [dim]`. Indices must be below `rows`
    /// (larger ones are clamped to the last row).
    pub fn embedding(&self, table: &Tensor, idx: &Tensor) -> Tensor {
        assert_eq!(idx.dtype(), DType::U32, "embedding indices must be u32");
        assert_eq!(
            table.rank(),
            2,
            "embedding table must be [rows, dim], got {:?}",
            table.shape()
        );
        let (rows, dim) = (table.dim(0), table.dim(1));
        let n = idx.numel();
        let out = self.alloc_f32(n * dim);
        let params = [n as u32, dim as u32, rows as u32, 0];
        let k = self.gpu.kernel("embedding", "embedding", &[]);
        self.gpu.dispatch(
            &k,
            &params,
            &[(TABLE, table.storage()), (IDX, idx.storage()), (OUT, &out)],
            self.gpu.groups_1d(n * dim),
        );
        let mut shape = idx.shape().to_vec();
        shape.push(dim);
        let idx2 = idx.clone();
        self.op_output("embedding", shape, out, &[table], move |ctx, g| {
            let dt = ctx.alloc_f32(rows * dim);
            let k = ctx.gpu.kernel("embedding", "embedding_backward", &[]);
            ctx.gpu.dispatch(
                &k,
                &params,
                &[(IDX, idx2.storage()), (DY, g.storage()), (DTABLE, &dt)],
                ctx.gpu.groups_1d(rows * dim),
            );
            vec![Some(ctx.wrap(&[rows, dim], dt))]
        })
    }
}
