//! The interpreter's skip-gated update `pi_t = z * pi_prev + (1 - z) * pi_cand`.
//! Kernel: `shaders/skip_gate.wgsl` (its vec4 build, through staging
//! textures on lavapipe, where each group is whole vec4s).

use crate::ctx::Ctx;
use crate::gpu::{Bindings, Storage};
use crate::tensor::Tensor;

const Z: u32 = 1;
const PREV: u32 = 2;
const CAND: u32 = 3;
const OUT: u32 = 4;
const G: u32 = 5;
const DPREV: u32 = 6;
const DCAND: u32 = 7;
const DZ: u32 = 8;
/// Staging texture slots of prev, cand and g (see `gpu::Gpu::stage_texture`;
/// the other ops use slots 0 to 11).
const TEXTURE_SLOT_PREV: u32 = 12;
const TEXTURE_SLOT_CAND: u32 = 13;
const TEXTURE_SLOT_G: u32 = 14;

impl Ctx {
    /// `z * prev + (1 - z) * cand` with one gate per group: `z` is [groups],
    /// `prev` and `cand` are [groups, ...] (e.g. [tasks, pairs, N, V] with
    /// `z` the SKIP probability of each task's current program token).
    pub fn skip_gate(&self, z: &Tensor, prev: &Tensor, cand: &Tensor) -> Tensor {
        assert_eq!(
            prev.shape(),
            cand.shape(),
            "skip_gate: prev {:?} vs cand {:?}",
            prev.shape(),
            cand.shape()
        );
        assert!(
            z.rank() == 1 && prev.dim(0) == z.dim(0),
            "skip_gate: z {:?} must be [groups] for prev {:?}",
            z.shape(),
            prev.shape()
        );
        let groups = z.dim(0);
        let n = prev.numel();
        let inner = n / groups.max(1);
        // Four floats per element where each group is whole vec4s; then, on
        // adapters that read textures faster (lavapipe), prev, cand and g
        // through staging textures.
        let vec4 = inner.is_multiple_of(4);
        let lanes = if vec4 { 4 } else { 1 };
        let texture = vec4 && self.gpu.texture_reads(n / 4);
        let params = [(n / lanes) as u32, (inner / lanes) as u32, groups as u32, 0];
        let kernel = move |ctx: &Ctx, entry: &str| {
            if texture {
                let operands = [("prev", PREV), ("cand", CAND), ("g", G)];
                ctx.gpu
                    .textured_element_kernel("skip_gate", entry, &operands)
            } else {
                ctx.gpu.element_kernel("skip_gate", entry, vec4)
            }
        };
        let out = self.alloc_f32(n);
        let mut bind = Bindings::buffers(&[(Z, z.storage()), (OUT, &out)]);
        bind_operand(self, &mut bind, texture, PREV, prev.storage(), n);
        bind_operand(self, &mut bind, texture, CAND, cand.storage(), n);
        let k = kernel(self, "skip_gate");
        self.gpu
            .dispatch_bound(&k, &params, &bind, self.gpu.groups_1d(n / lanes));
        let (z2, p2, c2) = (z.clone(), prev.clone(), cand.clone());
        self.op_output(
            "skip_gate",
            prev.shape().to_vec(),
            out,
            &[z, prev, cand],
            move |ctx, g| {
                let groups_n = ctx.gpu.groups_1d(n / lanes);
                let (dp, dc) = if p2.requires_grad() || c2.requires_grad() {
                    let (dp, dc) = (ctx.alloc_f32(n), ctx.alloc_f32(n));
                    let mut bind =
                        Bindings::buffers(&[(Z, z2.storage()), (DPREV, &dp), (DCAND, &dc)]);
                    bind_operand(ctx, &mut bind, texture, G, g.storage(), n);
                    let k = kernel(ctx, "skip_gate_backward_inputs");
                    ctx.gpu.dispatch_bound(&k, &params, &bind, groups_n);
                    (
                        Some(ctx.wrap(p2.shape(), dp)),
                        Some(ctx.wrap(c2.shape(), dc)),
                    )
                } else {
                    (None, None)
                };
                let dz = if z2.requires_grad() {
                    let dz = ctx.alloc_f32(groups);
                    let mut bind = Bindings::buffers(&[(DZ, &dz)]);
                    for (binding, t) in
                        [(PREV, p2.storage()), (CAND, c2.storage()), (G, g.storage())]
                    {
                        bind_operand(ctx, &mut bind, texture, binding, t, n);
                    }
                    let k = kernel(ctx, "skip_gate_backward_gate");
                    ctx.gpu
                        .dispatch_bound(&k, &params, &bind, ctx.gpu.groups_1d(groups));
                    Some(ctx.wrap(&[groups], dz))
                } else {
                    None
                };
                vec![dz, dp, dc]
            },
        )
    }
}

/// Bind one of prev, cand and g (`n` floats): a storage buffer, or with
/// `texture` its staging texture (a slot each).
fn bind_operand<'a>(
    ctx: &Ctx,
    bind: &mut Bindings<'a>,
    texture: bool,
    binding: u32,
    s: &'a Storage,
    n: usize,
) {
    let slot = match binding {
        PREV => TEXTURE_SLOT_PREV,
        CAND => TEXTURE_SLOT_CAND,
        _ => TEXTURE_SLOT_G,
    };
    bind.operand(&ctx.gpu, texture, binding, s, n / 4, slot);
}
