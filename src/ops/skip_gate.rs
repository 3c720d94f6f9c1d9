//! The interpreter's skip-gated update `pi_t = z * pi_prev + (1 - z) * pi_cand`.
//! Kernel: `shaders/skip_gate.wgsl`.

use crate::ctx::Ctx;
use crate::tensor::Tensor;

const Z: u32 = 1;
const PREV: u32 = 2;
const CAND: u32 = 3;
const OUT: u32 = 4;
const G: u32 = 5;
const DPREV: u32 = 6;
const DCAND: u32 = 7;
const DZ: u32 = 8;

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
        let params = [n as u32, inner as u32, groups as u32, 0];
        let out = self.alloc_f32(n);
        let k = self.gpu.kernel("skip_gate", "skip_gate", &[]);
        self.gpu.dispatch(
            &k,
            &params,
            &[
                (Z, z.storage()),
                (PREV, prev.storage()),
                (CAND, cand.storage()),
                (OUT, &out),
            ],
            self.gpu.groups_1d(n),
        );
        let (z2, p2, c2) = (z.clone(), prev.clone(), cand.clone());
        self.op_output(
            "skip_gate",
            prev.shape().to_vec(),
            out,
            &[z, prev, cand],
            move |ctx, g| {
                let (dp, dc) = if p2.requires_grad() || c2.requires_grad() {
                    let (dp, dc) = (ctx.alloc_f32(n), ctx.alloc_f32(n));
                    let k = ctx
                        .gpu
                        .kernel("skip_gate", "skip_gate_backward_inputs", &[]);
                    ctx.gpu.dispatch(
                        &k,
                        &params,
                        &[
                            (Z, z2.storage()),
                            (G, g.storage()),
                            (DPREV, &dp),
                            (DCAND, &dc),
                        ],
                        ctx.gpu.groups_1d(n),
                    );
                    (
                        Some(ctx.wrap(p2.shape(), dp)),
                        Some(ctx.wrap(c2.shape(), dc)),
                    )
                } else {
                    (None, None)
                };
                let dz = if z2.requires_grad() {
                    let dz = ctx.alloc_f32(groups);
                    let k = ctx.gpu.kernel("skip_gate", "skip_gate_backward_gate", &[]);
                    ctx.gpu.dispatch(
                        &k,
                        &params,
                        &[
                            (PREV, p2.storage()),
                            (CAND, c2.storage()),
                            (G, g.storage()),
                            (DZ, &dz),
                        ],
                        ctx.gpu.groups_1d(groups),
                    );
                    Some(ctx.wrap(&[groups], dz))
                } else {
                    None
                };
                vec![dz, dp, dc]
            },
        )
    }
}
