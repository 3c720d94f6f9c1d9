//! Elementwise ops: add, sub, mul, scale, broadcast add (bias), GELU, ReLU.
//! Kernels: `shaders/elementwise.wgsl`.

use crate::ctx::Ctx;
use crate::gpu::{Bindings, Storage};
use crate::tensor::Tensor;

/// Binding numbers of `shaders/elementwise.wgsl`.
const A: u32 = 1;
const B: u32 = 2;
const OUT: u32 = 3;

/// Staging-texture slots of a and b (matmul 0-1, layer norm 2-3 and 6-9,
/// attention 4-5).
const TEXTURE_SLOT_A: u32 = 10;
const TEXTURE_SLOT_B: u32 = 11;

fn same_shape(op: &str, a: &Tensor, b: &Tensor) {
    assert_eq!(
        a.shape(),
        b.shape(),
        "{op}: shapes {:?} and {:?} differ",
        a.shape(),
        b.shape()
    );
}

impl Ctx {
    /// Launch an entry of `elementwise.wgsl` over `n` elements. Four floats
    /// per invocation when the sizes allow it.
    fn elementwise(&self, entry: &str, n: usize, alpha: f32, bufs: &[(u32, &Storage)]) {
        // A second operand, if any, is as large as the output: one copy of
        // `n` elements (so only `n` decides whether vec4s fit).
        self.elementwise_broadcast(entry, n, n, 1, alpha, bufs)
    }

    /// [`Ctx::elementwise`] with the shape of the broadcast operand of
    /// `add_broadcast`: `inner` elements shared by `rep` rows.
    fn elementwise_broadcast(
        &self,
        entry: &str,
        n: usize,
        inner: usize,
        rep: usize,
        alpha: f32,
        bufs: &[(u32, &Storage)],
    ) {
        let vec4 = n.is_multiple_of(4) && inner.is_multiple_of(4);
        let lanes = if vec4 { 4 } else { 1 };
        let params = [
            (n / lanes) as u32,
            (inner / lanes).max(1) as u32,
            alpha.to_bits(),
            rep as u32,
        ];
        let groups = self.gpu.groups_1d(n / lanes);
        // On lavapipe large vec4 operands are read through staging textures
        // (a storage load there is a loop over the SIMD lanes): a, n
        // elements, and b, n / rep.
        if vec4 && self.gpu.texture_reads(n / 4) {
            let k = self
                .gpu
                .textured_element_kernel("elementwise", entry, &[("a", A), ("b", B)]);
            let mut bind = Bindings::default();
            for &(binding, s) in bufs {
                match binding {
                    A => bind.operand(&self.gpu, true, A, s, n / 4, TEXTURE_SLOT_A),
                    B => bind.operand(&self.gpu, true, B, s, n / rep / 4, TEXTURE_SLOT_B),
                    _ => bind.buffer(binding, s),
                };
            }
            self.gpu.dispatch_bound(&k, &params, &bind, groups);
            return;
        }
        let k = self.gpu.element_kernel("elementwise", entry, vec4);
        self.gpu.dispatch(&k, &params, bufs, groups);
    }

    pub(crate) fn fill_storage(&self, s: &Storage, n: usize, value: f32) {
        self.elementwise("fill", n, value, &[(OUT, s)]);
    }

    /// `a + b` on raw storages of `n` floats (no tape).
    pub(crate) fn add_storage(&self, a: &Storage, b: &Storage, n: usize) -> Storage {
        let out = self.alloc_f32(n);
        self.elementwise("add", n, 0.0, &[(A, a), (B, b), (OUT, &out)]);
        out
    }

    fn binary(&self, entry: &str, a: &Tensor, b: &Tensor) -> Storage {
        let n = a.numel();
        let out = self.alloc_f32(n);
        self.elementwise(
            entry,
            n,
            0.0,
            &[(A, a.storage()), (B, b.storage()), (OUT, &out)],
        );
        out
    }

    fn unary(&self, entry: &str, a: &Tensor, alpha: f32) -> Storage {
        let n = a.numel();
        let out = self.alloc_f32(n);
        self.elementwise(entry, n, alpha, &[(A, a.storage()), (OUT, &out)]);
        out
    }

    /// `a + b` (same shapes).
    pub fn add(&self, a: &Tensor, b: &Tensor) -> Tensor {
        same_shape("add", a, b);
        let out = self.binary("add", a, b);
        self.op_output("add", a.shape().to_vec(), out, &[a, b], |_, g| {
            vec![Some(g.clone()), Some(g.clone())]
        })
    }

    /// `a - b` (same shapes).
    pub fn sub(&self, a: &Tensor, b: &Tensor) -> Tensor {
        same_shape("sub", a, b);
        let out = self.binary("sub", a, b);
        self.op_output("sub", a.shape().to_vec(), out, &[a, b], |ctx, g| {
            vec![Some(g.clone()), Some(ctx.scale(g, -1.0))]
        })
    }

    /// `a * b` elementwise (same shapes).
    pub fn mul(&self, a: &Tensor, b: &Tensor) -> Tensor {
        same_shape("mul", a, b);
        let out = self.binary("mul", a, b);
        let (a2, b2) = (a.clone(), b.clone());
        self.op_output("mul", a.shape().to_vec(), out, &[a, b], move |ctx, g| {
            vec![Some(ctx.mul(g, &b2)), Some(ctx.mul(g, &a2))]
        })
    }

    /// `alpha * a`.
    pub fn scale(&self, a: &Tensor, alpha: f32) -> Tensor {
        let out = self.unary("scale", a, alpha);
        self.op_output("scale", a.shape().to_vec(), out, &[a], move |ctx, g| {
            vec![Some(ctx.scale(g, alpha))]
        })
    }

    /// `x + b` where `b`'s shape is a suffix of `x`'s (a bias over the last
    /// axis, position embeddings over a batch, ...).
    pub fn add_broadcast(&self, x: &Tensor, b: &Tensor) -> Tensor {
        let (xs, bs) = (x.shape(), b.shape());
        assert!(
            bs.len() <= xs.len() && xs[xs.len() - bs.len()..] == *bs,
            "add_broadcast: {bs:?} is not a suffix of {xs:?}"
        );
        let n = x.numel();
        let inner = b.numel();
        let out = self.alloc_f32(n);
        self.elementwise_broadcast(
            "add_broadcast",
            n,
            inner,
            n / inner.max(1),
            0.0,
            &[(A, x.storage()), (B, b.storage()), (OUT, &out)],
        );
        let b2 = b.clone();
        self.op_output("add_broadcast", xs.to_vec(), out, &[x, b], move |ctx, g| {
            // db: g summed over the leading axes, plus b's gradient
            // accumulated so far (added by the sum as it stores).
            let db = b2.requires_grad().then(|| {
                let outer = g.numel() / inner;
                let acc = ctx.take_grad_acc(&b2);
                let g2 = ctx.reshape(g, &[outer, inner]);
                let sum = ctx.reduce_axis_acc(&g2, 0, 1.0, acc.as_ref().map(|a| a.storage()));
                ctx.wrap(b2.shape(), sum)
            });
            vec![Some(g.clone()), db]
        })
    }

    /// `x + expand(b, axis, x.dim(axis))`: `b` has the shape of `x`
    /// without `axis`; one kernel instead of an expand and an add.
    pub fn add_expanded(&self, x: &Tensor, b: &Tensor, axis: usize) -> Tensor {
        let xs = x.shape();
        assert!(axis < xs.len(), "add_expanded: axis {axis} of {xs:?}");
        let mut want = xs.to_vec();
        want.remove(axis);
        assert_eq!(
            b.shape(),
            &want[..],
            "add_expanded: b must be x's shape {xs:?} without axis {axis}"
        );
        let (outer, rep) = (xs[..axis].iter().product::<usize>(), xs[axis]);
        let inner: usize = xs[axis + 1..].iter().product();
        let n = x.numel();
        let out = self.alloc_f32(n);
        if n > 0 {
            self.elementwise_broadcast(
                "add_broadcast",
                n,
                inner,
                rep,
                0.0,
                &[(A, x.storage()), (B, b.storage()), (OUT, &out)],
            );
        }
        let bshape = want;
        let b_needs = b.requires_grad();
        self.op_output("add_expanded", xs.to_vec(), out, &[x, b], move |ctx, g| {
            let db = b_needs.then(|| {
                let g3 = ctx.reshape(g, &[outer, rep, inner]);
                ctx.reshape(&ctx.sum_axis(&g3, 1), &bshape)
            });
            vec![Some(g.clone()), db]
        })
    }

    /// `exp(x)`.
    pub fn exp(&self, x: &Tensor) -> Tensor {
        let out = std::rc::Rc::new(self.unary("exp_fwd", x, 0.0));
        let y = self.tensor_on(
            x.shape().to_vec(),
            crate::tensor::DType::F32,
            out.clone(),
            false,
        );
        self.op_output_rc("exp", x.shape().to_vec(), out, &[x], move |ctx, g| {
            vec![Some(ctx.mul(g, &y))]
        })
    }

    /// `x + c`.
    pub fn add_scalar(&self, x: &Tensor, c: f32) -> Tensor {
        let out = self.unary("add_scalar", x, c);
        self.op_output("add_scalar", x.shape().to_vec(), out, &[x], |_, g| {
            vec![Some(g.clone())]
        })
    }

    /// `log(max(1 - q, floor))`: the regulariser's "token unused" log
    /// probability, finite as q -> 1 (no gradient where clamped).
    pub fn log1m_clamped(&self, q: &Tensor, floor: f32) -> Tensor {
        let out = self.unary("log1m_clamped", q, floor);
        let q2 = q.clone();
        self.op_output(
            "log1m_clamped",
            q.shape().to_vec(),
            out,
            &[q],
            move |ctx, g| {
                let n = q2.numel();
                let dq = ctx.alloc_f32(n);
                ctx.elementwise(
                    "log1m_clamped_backward",
                    n,
                    floor,
                    &[(A, q2.storage()), (B, g.storage()), (OUT, &dq)],
                );
                vec![Some(ctx.wrap(q2.shape(), dq))]
            },
        )
    }

    /// GELU of `n` floats of `x` into a new storage (no tape).
    pub(crate) fn gelu_storage(&self, x: &Storage, n: usize) -> Storage {
        let out = self.alloc_f32(n);
        self.gelu_storage_into(x, &out, n);
        out
    }

    /// GELU of `n` floats of `x` into `out` (no tape).
    pub(crate) fn gelu_storage_into(&self, x: &Storage, out: &Storage, n: usize) {
        self.elementwise("gelu", n, 0.0, &[(A, x), (OUT, out)]);
    }

    /// `dy * gelu'(x)` on `n` floats into a new storage (no tape).
    pub(crate) fn gelu_backward_storage(&self, x: &Storage, dy: &Storage, n: usize) -> Storage {
        let out = self.alloc_f32(n);
        self.elementwise("gelu_backward", n, 0.0, &[(A, x), (B, dy), (OUT, &out)]);
        out
    }

    /// GELU (tanh approximation).
    pub fn gelu(&self, x: &Tensor) -> Tensor {
        let out = self.unary("gelu", x, 0.0);
        let x2 = x.clone();
        self.op_output("gelu", x.shape().to_vec(), out, &[x], move |ctx, g| {
            let dx = ctx.binary("gelu_backward", &x2, g);
            vec![Some(ctx.wrap(x2.shape(), dx))]
        })
    }

    /// ReLU.
    pub fn relu(&self, x: &Tensor) -> Tensor {
        let out = self.unary("relu", x, 0.0);
        let x2 = x.clone();
        self.op_output("relu", x.shape().to_vec(), out, &[x], move |ctx, g| {
            let dx = ctx.binary("relu_backward", &x2, g);
            vec![Some(ctx.wrap(x2.shape(), dx))]
        })
    }
}

/// CPU references for tests.
pub mod cpu {
    pub fn gelu(x: f32) -> f32 {
        let c = (2.0f64 / std::f64::consts::PI).sqrt();
        let x = x as f64;
        (0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())) as f32
    }
}
