//! Counter-based RNG and Gumbel-Softmax. Kernels: `shaders/gumbel_softmax.wgsl`.
//!
//! Noise is a pure function of (seed, step, stream, element index) through
//! Philox4x32-10, so it is the same for any dispatch shape and can be
//! regenerated rather than stored.

use crate::ctx::Ctx;
use crate::gpu::Storage;
use crate::tensor::{DType, Tensor};

const LOGITS: u32 = 1;
const Y_SOFT: u32 = 2;
const Y_OUT: u32 = 3;
const DY: u32 = 4;
const DL: u32 = 5;
const BITS: u32 = 6;

/// Which noise to draw: the same key always gives the same numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoiseKey {
    pub seed: u64,
    /// Training or search step.
    pub step: u32,
    /// Tells apart independent noise sources of one step (e.g. the inductor's
    /// and the interpreter's Gumbel layers, or interpreter steps).
    pub stream: u32,
}

/// Settings of one Gumbel-Softmax layer.
#[derive(Clone, Copy, Debug)]
pub struct Gumbel {
    /// Temperature (> 0).
    pub tau: f32,
    /// `None`: no noise, `softmax(l / tau)`.
    pub noise: Option<NoiseKey>,
    /// Straight-through: output one_hot(argmax), gradient of the soft output.
    pub hard: bool,
}

impl Ctx {
    #[allow(clippy::too_many_arguments)]
    fn gumbel_params(
        rows: usize,
        cols: usize,
        key: Option<NoiseKey>,
        tau: f32,
        hard: bool,
        offset: u32,
        n: usize,
    ) -> [u32; 12] {
        let k = key.unwrap_or(NoiseKey {
            seed: 0,
            step: 0,
            stream: 0,
        });
        [
            rows as u32,
            cols as u32,
            k.seed as u32,
            (k.seed >> 32) as u32,
            k.step,
            k.stream,
            tau.to_bits(),
            key.is_some() as u32,
            hard as u32,
            offset,
            n as u32,
            0,
        ]
    }

    /// Raw Philox draws for elements `offset .. offset + n` (u32 tensor).
    pub fn random_bits(&self, key: NoiseKey, offset: u32, n: usize) -> Tensor {
        let out = self.gpu.alloc(n as u64 * 4);
        let k = self.gpu.kernel("gumbel_softmax", "random_bits_fill", &[]);
        let params = Self::gumbel_params(0, 0, Some(key), 1.0, false, offset, n);
        self.gpu
            .dispatch(&k, &params, &[(BITS, &out)], self.gpu.groups_1d(n));
        self.tensor_on(vec![n], DType::U32, std::rc::Rc::new(out), false)
    }

    /// Gumbel(0, 1) draws for elements `offset .. offset + n`.
    pub fn gumbel_noise(&self, key: NoiseKey, offset: u32, n: usize) -> Tensor {
        let out = self.alloc_f32(n);
        let k = self.gpu.kernel("gumbel_softmax", "gumbel_fill", &[]);
        let params = Self::gumbel_params(0, 0, Some(key), 1.0, false, offset, n);
        self.gpu
            .dispatch(&k, &params, &[(Y_OUT, &out)], self.gpu.groups_1d(n));
        self.wrap(&[n], out)
    }

    /// `softmax((logits + g) / tau)` along the last axis, `g` Gumbel noise
    /// keyed by element index (or none); hard gives the straight-through
    /// one-hot. Differentiable with respect to `logits`.
    pub fn gumbel_softmax(&self, logits: &Tensor, cfg: Gumbel) -> Tensor {
        assert!(
            cfg.tau > 0.0,
            "gumbel_softmax: tau must be positive, got {}",
            cfg.tau
        );
        let (rows, cols) = logits.rows_cols();
        let params = Self::gumbel_params(rows, cols, cfg.noise, cfg.tau, cfg.hard, 0, 0);
        let soft = std::rc::Rc::new(self.alloc_f32(rows * cols));
        let out: Storage = self.alloc_f32(rows * cols);
        let k = self.gpu.kernel("gumbel_softmax", "gumbel_softmax", &[]);
        self.gpu.dispatch(
            &k,
            &params,
            &[(LOGITS, logits.storage()), (Y_SOFT, &soft), (Y_OUT, &out)],
            self.gpu.groups_1d(rows),
        );
        let shape = logits.shape().to_vec();
        self.op_output(
            "gumbel_softmax",
            shape.clone(),
            out,
            &[logits],
            move |ctx, g| {
                let dl = ctx.alloc_f32(rows * cols);
                let k = ctx
                    .gpu
                    .kernel("gumbel_softmax", "gumbel_softmax_backward", &[]);
                ctx.gpu.dispatch(
                    &k,
                    &params,
                    &[(Y_SOFT, &soft), (DY, g.storage()), (DL, &dl)],
                    ctx.gpu.groups_1d(rows),
                );
                vec![Some(ctx.wrap(&shape, dl))]
            },
        )
    }
}

/// CPU reference of the shader's Philox4x32-10.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for _ in 0..10 {
        let p0 = 0xD2511F53u64 * c[0] as u64;
        let p1 = 0xCD9E8D57u64 * c[2] as u64;
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
        k = [k[0].wrapping_add(0x9E3779B9), k[1].wrapping_add(0xBB67AE85)];
    }
    c
}

/// CPU reference of the draw for one element.
pub fn cpu_random_bits(key: NoiseKey, index: u32) -> u32 {
    philox4x32_10(
        [index, key.step, key.stream, 0],
        [key.seed as u32, (key.seed >> 32) as u32],
    )[0]
}

/// The shader's map from 32 random bits to a uniform strictly inside (0, 1).
pub fn uniform_from_bits(x: u32) -> f32 {
    ((x >> 9) as f32 + 0.5) * (1.0 / 8388608.0)
}
