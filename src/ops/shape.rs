//! Reshape, slice, concat and expand. Kernels: `shaders/shape.wgsl`.

use crate::ctx::Ctx;
use crate::gpu::Storage;
use crate::tensor::{DType, Tensor};

/// One block copy along an axis of tensors viewed as [outer, axis, inner].
struct AxisCopy {
    outer: usize,
    len: usize,
    inner: usize,
    src_axis: usize,
    dst_axis: usize,
    src_start: usize,
    dst_start: usize,
}

impl Ctx {
    fn axis_copy(&self, c: AxisCopy, src: &Storage, dst: &Storage) {
        let n = c.outer * c.len * c.inner;
        let k = self.gpu.kernel("shape", "axis_copy", &[]);
        let params = [
            n as u32,
            c.len as u32,
            c.inner as u32,
            c.src_axis as u32,
            c.dst_axis as u32,
            c.src_start as u32,
            c.dst_start as u32,
            0,
        ];
        self.gpu
            .dispatch(&k, &params, &[(1, src), (2, dst)], self.gpu.groups_1d(n));
    }

    /// The same data with another shape of equal size (no copy).
    pub fn reshape(&self, x: &Tensor, shape: &[usize]) -> Tensor {
        assert_eq!(
            shape.iter().product::<usize>(),
            x.numel(),
            "reshape {:?} -> {shape:?}",
            x.shape()
        );
        if x.dtype() == DType::U32 {
            // Indices carry no gradient: a plain view.
            return self.tensor_on(shape.to_vec(), x.dtype(), x.storage_rc().clone(), false);
        }
        let old = x.shape().to_vec();
        self.op_output_rc(
            "reshape",
            shape.to_vec(),
            x.storage_rc().clone(),
            &[x],
            move |ctx, g| vec![Some(ctx.reshape(g, &old))],
        )
    }

    /// Positions `start..start + len` of `axis`.
    pub fn slice(&self, x: &Tensor, axis: isize, start: usize, len: usize) -> Tensor {
        let ax = x.axis(axis);
        let (outer, size, inner) = x.split_at_axis(ax);
        assert!(
            start + len <= size,
            "slice {start}..{} of axis of size {size}",
            start + len
        );
        let out = self.alloc_f32(outer * len * inner);
        self.axis_copy(
            AxisCopy {
                outer,
                len,
                inner,
                src_axis: size,
                dst_axis: len,
                src_start: start,
                dst_start: 0,
            },
            x.storage(),
            &out,
        );
        let mut shape = x.shape().to_vec();
        shape[ax] = len;
        if x.dtype() == DType::U32 {
            // Indices carry no gradient: the copied words keep their type.
            return self.tensor_on(shape, DType::U32, std::rc::Rc::new(out), false);
        }
        let full = x.shape().to_vec();
        self.op_output("slice", shape, out, &[x], move |ctx, g| {
            // Gradient of a slice: zeros with g written back in place.
            let dx = ctx.gpu.alloc_zeroed((outer * size * inner) as u64 * 4);
            ctx.axis_copy(
                AxisCopy {
                    outer,
                    len,
                    inner,
                    src_axis: len,
                    dst_axis: size,
                    src_start: 0,
                    dst_start: start,
                },
                g.storage(),
                &dx,
            );
            vec![Some(ctx.wrap(&full, dx))]
        })
    }

    /// Join tensors along `axis` (all other dimensions equal).
    pub fn concat(&self, xs: &[&Tensor], axis: isize) -> Tensor {
        assert!(!xs.is_empty(), "concat of nothing");
        let ax = xs[0].axis(axis);
        let mut shape = xs[0].shape().to_vec();
        for x in &xs[1..] {
            let mut s = x.shape().to_vec();
            s[ax] = shape[ax];
            assert_eq!(
                s,
                shape,
                "concat: shapes {:?} and {:?}",
                xs[0].shape(),
                x.shape()
            );
        }
        let lens: Vec<usize> = xs.iter().map(|x| x.shape()[ax]).collect();
        let total: usize = lens.iter().sum();
        shape[ax] = total;
        let (outer, _, inner) = xs[0].split_at_axis(ax);
        let out = self.alloc_f32(outer * total * inner);
        let mut start = 0;
        for (x, &len) in xs.iter().zip(&lens) {
            self.axis_copy(
                AxisCopy {
                    outer,
                    len,
                    inner,
                    src_axis: len,
                    dst_axis: total,
                    src_start: 0,
                    dst_start: start,
                },
                x.storage(),
                &out,
            );
            start += len;
        }
        if xs[0].dtype() == DType::U32 {
            assert!(
                xs.iter().all(|x| x.dtype() == DType::U32),
                "concat of indices with floats"
            );
            return self.tensor_on(shape, DType::U32, std::rc::Rc::new(out), false);
        }
        self.op_output("concat", shape, out, xs, move |ctx, g| {
            let mut start = 0;
            lens.iter()
                .map(|&len| {
                    let part = ctx.slice(g, ax as isize, start, len);
                    start += len;
                    Some(part)
                })
                .collect()
        })
    }

    /// Insert a new axis of size `repeats` at `axis`, repeating the data.
    pub fn expand(&self, x: &Tensor, axis: usize, repeats: usize) -> Tensor {
        assert!(
            axis <= x.rank(),
            "expand at axis {axis} of rank {}",
            x.rank()
        );
        let outer: usize = x.shape()[..axis].iter().product();
        let inner: usize = x.shape()[axis..].iter().product();
        let n = outer * repeats * inner;
        let out = self.alloc_f32(n);
        let k = self.gpu.kernel("shape", "expand", &[]);
        let params = [n as u32, repeats as u32, inner as u32, 0, 0, 0, 0, 0];
        self.gpu.dispatch(
            &k,
            &params,
            &[(1, x.storage()), (2, &out)],
            self.gpu.groups_1d(n),
        );
        let mut shape = x.shape().to_vec();
        shape.insert(axis, repeats);
        self.op_output("expand", shape, out, &[x], move |ctx, g| {
            vec![Some(ctx.sum_axis(g, axis as isize))]
        })
    }
}
