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

/// WGSL `src` parsed and validated with naga (every validation flag), or a
/// panic naming `what` with naga's report.
pub fn validate_wgsl(what: &str, src: &str) -> naga::Module {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{what}: {}", e.emit_to_string(src)));
    // Subgroup operations only for the kernels that use them (the matmul
    // with shared reads of R); everything else must validate without.
    let caps = if src.contains("subgroup") {
        naga::valid::Capabilities::SUBGROUP
    } else {
        naga::valid::Capabilities::empty()
    };
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
        .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
        .subgroup_operations(naga::valid::SubgroupOperationSet::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{what}: {}", e.emit_to_string(src)));
    module
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

/// A tiny model of `kind` trained `steps` steps on `suite` into `dir`;
/// returns its last loss.
pub fn train_tiny(
    kind: nli_wgpu::model::ModelKind,
    suite: &str,
    steps: usize,
    dir: &std::path::Path,
) -> f32 {
    let (mut model, mut train) = nli_wgpu::model::config::preset("tiny", 20, 10).unwrap();
    model.kind = kind;
    train.steps = steps;
    train.eval_tasks = 4;
    let run = nli_wgpu::model::RunConfig {
        suite: suite.into(),
        model,
        train,
    };
    nli_wgpu::train::train(
        &ctx(),
        &nli_wgpu::train::TrainOptions {
            run,
            out_dir: dir.to_path_buf(),
            resume: false,
            init_from: None,
            stop_after: None,
            progress: false,
            before_step: None,
        },
    )
    .unwrap()
    .last_loss
}

/// The kernels dispatched since the profile was started (by name, from the
/// per-dispatch GPU timestamps); profiling starts again for the next call.
pub fn profiled_kernels(ctx: &Ctx) -> Vec<String> {
    let names = ctx
        .gpu
        .stop_profile()
        .expect("a running profile")
        .rows()
        .into_iter()
        .map(|r| r.0)
        .collect();
    ctx.gpu.start_profile();
    names
}

/// Loss settings at temperatures `tau_e`, `tau_d` with `noise` and every
/// extra term and option off (no regulariser, bonus or KL term, soft
/// samples, SPEC's noise scales); tests turn on what they exercise with
/// struct update syntax.
pub fn plain_settings(
    tau_e: f32,
    tau_d: f32,
    noise: Option<nli_wgpu::model::StepNoise>,
) -> nli_wgpu::model::LossSettings {
    nli_wgpu::model::LossSettings {
        tau_e,
        tau_d,
        lambda: 0.0,
        mi_weight: 0.0,
        mi_cap: None,
        view_mi_weight: 0.0,
        view_mi_cap: None,
        view_nce_weight: 0.0,
        view_nce_logits: false,
        kl_beta: 0.0,
        latent_ascent: false,
        hard_inductor: false,
        inductor_noise: 1.0,
        no_skip: false,
        prob_floor: nli_wgpu::model::LOG_PROB_FLOOR,
        noise,
    }
}

/// Fixed noise for a loss check: seed 5, step 2, SPEC's interpreter noise.
pub fn fixed_noise() -> nli_wgpu::model::StepNoise {
    nli_wgpu::model::StepNoise {
        seed: 5,
        step: 2,
        interpreter_scale: 1.0,
    }
}
