//! Sum and mean along an axis, and the sum of all elements.
//! Kernels: `shaders/reduce.wgsl`.

use crate::ctx::Ctx;
use crate::gpu::Storage;
use crate::tensor::Tensor;

impl Ctx {
    fn reduce_axis(&self, x: &Tensor, ax: usize, alpha: f32) -> Storage {
        let (outer, axis, inner) = x.split_at_axis(ax);
        let n = outer * inner;
        let out = self.alloc_f32(n);
        let k = self.gpu.kernel("reduce", "sum_axis", &[]);
        let params = [n as u32, axis as u32, inner as u32, alpha.to_bits()];
        self.gpu.dispatch(
            &k,
            &params,
            &[(1, x.storage()), (2, &out)],
            self.gpu.groups_1d(n),
        );
        out
    }

    fn reduce_op(&self, op: &'static str, x: &Tensor, axis: isize, alpha: f32) -> Tensor {
        let ax = x.axis(axis);
        let out = self.reduce_axis(x, ax, alpha);
        let mut shape = x.shape().to_vec();
        let repeats = shape.remove(ax);
        self.op_output(op, shape, out, &[x], move |ctx, g| {
            let e = ctx.expand(g, ax, repeats);
            vec![Some(if alpha == 1.0 {
                e
            } else {
                ctx.scale(&e, alpha)
            })]
        })
    }

    /// Sum along `axis` (the axis is removed).
    pub fn sum_axis(&self, x: &Tensor, axis: isize) -> Tensor {
        self.reduce_op("sum_axis", x, axis, 1.0)
    }

    /// Mean along `axis` (the axis is removed).
    pub fn mean_axis(&self, x: &Tensor, axis: isize) -> Tensor {
        let a = x.dim(axis);
        self.reduce_op("mean_axis", x, axis, 1.0 / a as f32)
    }

    /// Sum of every element, as a tensor of shape [1].
    pub fn sum_all(&self, x: &Tensor) -> Tensor {
        let flat = self.reshape(x, &[1, x.numel()]);
        self.sum_axis(&flat, 1)
    }

    /// Mean of every element, as a tensor of shape [1].
    pub fn mean_all(&self, x: &Tensor) -> Tensor {
        let flat = self.reshape(x, &[1, x.numel()]);
        self.mean_axis(&flat, 1)
    }

    /// Record `acc[0] += sum(x^2)` (for global-norm clipping).
    pub(crate) fn sum_squares_into(&self, x: &Tensor, acc: &Storage) {
        let k = self.gpu.kernel("reduce", "sum_squares_acc", &[]);
        let params = [x.numel() as u32, 0, 0, 0];
        self.gpu
            .dispatch(&k, &params, &[(1, x.storage()), (2, acc)], [1, 1, 1]);
    }
}
