//! Sum and mean along an axis, and the sum of all elements.
//! Kernels: `shaders/reduce.wgsl`.

use crate::ctx::Ctx;
use crate::gpu::Storage;
use crate::tensor::Tensor;

impl Ctx {
    pub(crate) fn reduce_axis(&self, x: &Tensor, ax: usize, alpha: f32) -> Storage {
        self.reduce_axis_acc(x, ax, alpha, None)
    }

    /// [`Ctx::reduce_axis`] plus `acc` (laid out like the output), added by
    /// the last pass as it stores: a gradient's sum that takes over the
    /// gradient accumulated so far for its tensor ([`Ctx::take_grad_acc`]).
    pub(crate) fn reduce_axis_acc(
        &self,
        x: &Tensor,
        ax: usize,
        alpha: f32,
        acc: Option<&Storage>,
    ) -> Storage {
        let (outer, axis, inner) = x.split_at_axis(ax);
        let n = outer * inner;
        let out = self.alloc_f32(n);
        let chunk = self.reduction_chunk(n, axis);
        let chunks = axis.div_ceil(chunk);
        let sum = match acc {
            Some(_) => self.gpu.kernel("reduce", "sum_axis_acc", &[]),
            None => self.gpu.kernel("reduce", "sum_axis", &[]),
        };
        // The last pass's bindings: its input and output, and acc.
        fn last<'a>(
            input: &'a Storage,
            out: &'a Storage,
            acc: Option<&'a Storage>,
        ) -> Vec<(u32, &'a Storage)> {
            let mut b = vec![(1, input), (2, out)];
            b.extend(acc.map(|a| (3, a)));
            b
        }
        if chunks <= 1 {
            let params = [
                n as u32,
                axis as u32,
                inner as u32,
                alpha.to_bits(),
                0,
                0,
                0,
                0,
            ];
            self.gpu.dispatch(
                &sum,
                &params,
                &last(x.storage(), &out, acc),
                self.gpu.groups_1d(n),
            );
            return out;
        }
        // Partial sums [outer, chunks, inner], then their sum over chunks.
        let partial = self.alloc_f32(outer * chunks * inner);
        let k = self.gpu.kernel("reduce", "sum_axis_partial", &[]);
        let np = outer * chunks * inner;
        let params = [
            np as u32,
            axis as u32,
            inner as u32,
            0,
            chunk as u32,
            0,
            0,
            0,
        ];
        self.gpu.dispatch(
            &k,
            &params,
            &[(1, x.storage()), (2, &partial)],
            self.gpu.groups_1d(np),
        );
        let params = [
            n as u32,
            chunks as u32,
            inner as u32,
            alpha.to_bits(),
            0,
            0,
            0,
            0,
        ];
        self.gpu.dispatch(
            &sum,
            &params,
            &last(&partial, &out, acc),
            self.gpu.groups_1d(n),
        );
        out
    }

    /// Elements of the axis each invocation sums when `outputs` sums run
    /// over an axis of `axis` elements: the whole axis, unless the outputs
    /// alone are too few invocations to fill the device and the axis is
    /// long, in which case it is split into chunks of at least 64 (partial
    /// sums first, then their sum: see `shaders/reduce.wgsl`). Used by every
    /// column reduction (sums along an axis, layer norm's parameter
    /// gradients).
    pub(crate) fn reduction_chunk(&self, outputs: usize, axis: usize) -> usize {
        const MIN_CHUNK: usize = 64;
        // Invocations that fill the device: a GPU wants thousands; lavapipe
        // runs 8-wide SIMD groups on a few cores.
        let wanted = if self.gpu.summary.device_type == "Cpu" {
            64
        } else {
            8192
        };
        if outputs == 0 || outputs >= wanted || axis < 2 * MIN_CHUNK {
            return axis.max(1);
        }
        let chunks = wanted.div_ceil(outputs).min(axis / MIN_CHUNK);
        axis.div_ceil(chunks)
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
        let params = [x.numel() as u32, 0, 0, 0, 0, 0, 0, 0];
        self.gpu
            .dispatch(&k, &params, &[(1, x.storage()), (2, acc)], [1, 1, 1]);
    }
}
