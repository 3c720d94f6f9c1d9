//! Helpers shared by the GPU tests.
#![allow(dead_code)]

use nli_wgpu::Ctx;
use nli_wgpu::gpu::DeviceOptions;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A context on the default adapter (lavapipe on CPU-only machines).
pub fn ctx() -> Ctx {
    Ctx::new(&DeviceOptions::default()).expect("a GPU adapter (install mesa-vulkan-drivers)")
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn rand_vec(rng: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Elementwise |a - b| <= atol + rtol |b|, with the first bad index in the message.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], rtol: f32, atol: f32) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} vs {}",
        got.len(),
        want.len()
    );
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            approx::relative_eq!(*g, *w, epsilon = atol, max_relative = rtol) && g.is_finite(),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}
