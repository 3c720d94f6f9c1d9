//! Adam with global-norm gradient clipping, entirely on the GPU.
//! Kernel: `shaders/adam.wgsl`; the squared norm comes from
//! `reduce.wgsl:sum_squares_acc`.

use std::collections::HashMap;

use crate::autodiff::Grads;
use crate::ctx::Ctx;
use crate::gpu::Storage;
use crate::tensor::{Tensor, TensorId};

#[derive(Clone, Debug)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// Clip the global gradient norm to this value; 0 turns clipping off.
    pub max_grad_norm: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: 1.0,
        }
    }
}

pub struct Adam {
    pub cfg: AdamConfig,
    /// Steps taken (for bias correction).
    pub t: u64,
    moments: HashMap<TensorId, (Storage, Storage)>,
}

impl Adam {
    pub fn new(cfg: AdamConfig) -> Adam {
        Adam {
            cfg,
            t: 0,
            moments: HashMap::new(),
        }
    }

    /// Forget every moment and the step count: the next step is a first
    /// step.
    pub fn restart(&mut self) {
        self.t = 0;
        self.moments.clear();
    }

    /// Update `params` in place from `grads` (parameters without a gradient
    /// are left alone). Returns a one-element tensor holding the squared
    /// global gradient norm before clipping (read it only when needed).
    pub fn step(&mut self, ctx: &Ctx, params: &[&Tensor], grads: &Grads) -> Tensor {
        self.t += 1;
        let sumsq = ctx.zeros(&[1]);
        let with_grad: Vec<(&Tensor, &Tensor)> = params
            .iter()
            .filter_map(|p| grads.get(p).map(|g| (*p, g)))
            .collect();
        for (_, g) in &with_grad {
            ctx.sum_squares_into(g, sumsq.storage());
        }
        let c = &self.cfg;
        let bias1 = 1.0 / (1.0 - c.beta1.powi(self.t as i32));
        let bias2 = 1.0 / (1.0 - c.beta2.powi(self.t as i32));
        let k = ctx.gpu.kernel("adam", "adam", &[]);
        for (p, g) in with_grad {
            let n = p.numel();
            let (m, v) = self.moments.entry(p.id()).or_insert_with(|| {
                (
                    ctx.gpu.alloc_zeroed(n as u64 * 4),
                    ctx.gpu.alloc_zeroed(n as u64 * 4),
                )
            });
            let params = [
                n as u32,
                c.lr.to_bits(),
                c.beta1.to_bits(),
                c.beta2.to_bits(),
                c.eps.to_bits(),
                bias1.to_bits(),
                bias2.to_bits(),
                c.max_grad_norm.to_bits(),
                c.weight_decay.to_bits(),
                0,
                0,
                0,
            ];
            ctx.gpu.dispatch(
                &k,
                &params,
                &[
                    (1, p.storage()),
                    (2, g.storage()),
                    (3, m),
                    (4, v),
                    (5, sumsq.storage()),
                ],
                ctx.gpu.groups_1d(n),
            );
        }
        sumsq
    }

    /// The first and second moments of a parameter, read back (zeros before
    /// its first update), for checkpoints.
    pub fn read_moments(&self, ctx: &Ctx, p: &Tensor) -> (Vec<f32>, Vec<f32>) {
        match self.moments.get(&p.id()) {
            Some((m, v)) => {
                let mut bytes = ctx.gpu.read_bytes(&[m, v]);
                let v = bytemuck::pod_collect_to_vec(&bytes.pop().unwrap());
                let m = bytemuck::pod_collect_to_vec(&bytes.pop().unwrap());
                (m, v)
            }
            None => (vec![0.0; p.numel()], vec![0.0; p.numel()]),
        }
    }

    /// Restore a parameter's moments (resuming from a checkpoint).
    pub fn set_moments(&mut self, ctx: &Ctx, p: &Tensor, m: &[f32], v: &[f32]) {
        assert!(
            m.len() == p.numel() && v.len() == p.numel(),
            "moments of {p:?}"
        );
        let ms = ctx.gpu.upload(bytemuck::cast_slice(m));
        let vs = ctx.gpu.upload(bytemuck::cast_slice(v));
        self.moments.insert(p.id(), (ms, vs));
    }
}
