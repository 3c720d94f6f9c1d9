//! End-to-end figures: one training step of a preset (ms/step and each
//! kernel's share of the GPU time of a step) and gradient-search throughput
//! (candidate-steps per second) on a freshly initialised model, and what
//! `eval --methods gradient` does per task: gradient search with the default
//! settings (s = 16 starts, L = 50 steps) by the shipped Shift-L model on the
//! first 8 Shift-L OOD test tasks, wall time per task (and the accuracy, as
//! a check that the search still works). Writes bench/results/step-<preset>.json.
//!
//!   cargo bench --bench step               # cpu preset
//!   NLI_BENCH_PRESET=tiny cargo bench --bench step

use std::time::Instant;

use nli_wgpu::Ctx;
use nli_wgpu::gpu::DeviceOptions;
use nli_wgpu::model::Model;
use nli_wgpu::model::config::preset;
use nli_wgpu::model::layers::RandomInit;
use nli_wgpu::optim::{Adam, AdamConfig};
use nli_wgpu::search::{SearchConfig, gradient_search};
use nli_wgpu::tasks::{BatchSampler, Split, Suite, SuiteConfig, TaskBatch, test_set};
use nli_wgpu::train::train_step;

fn main() {
    let preset_name = std::env::var("NLI_BENCH_PRESET").unwrap_or_else(|_| "cpu".into());
    let steps: usize = std::env::var("NLI_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let ctx = Ctx::new(&DeviceOptions::default()).expect("a GPU adapter");
    let suite_cfg = SuiteConfig::default();
    let (mc, tc) = preset(&preset_name, suite_cfg.n, suite_cfg.v).unwrap();
    let any = Model::build(&ctx, &mc, &mut RandomInit::new(0));
    let params: Vec<_> = any.param_tensors().into_iter().cloned().collect();
    let refs: Vec<_> = params.iter().collect();
    let mut adam = Adam::new(AdamConfig {
        lr: tc.lr,
        max_grad_norm: tc.grad_clip,
        ..AdamConfig::default()
    });
    let sampler = BatchSampler::for_suite(Suite::ShiftL, Split::Id, suite_cfg).unwrap();
    let mut batch = TaskBatch::default();
    let mut step = |i: usize| {
        let (parts, _) = train_step(&ctx, &any, &mut adam, &refs, &tc, &sampler, &mut batch, i);
        ctx.item(&parts.loss)
    };
    // Warm-up compiles every pipeline and fills the buffer pool.
    step(0);
    let t0 = Instant::now();
    for i in 1..=steps {
        step(i);
    }
    let ms_per_step = t0.elapsed().as_secs_f64() * 1e3 / steps as f64;
    let profiled = ctx.gpu.start_profile();
    step(steps + 1);
    let profile = if profiled {
        ctx.gpu.stop_profile()
    } else {
        None
    };
    println!(
        "{preset_name} preset training step on {}: {ms_per_step:.1} ms/step (mean of {steps}, wall time with one loss readback per step)",
        ctx.gpu.summary.name
    );
    if let Some(p) = &profile {
        println!(
            "GPU time of one step by kernel (each dispatch timed alone):\n{}",
            p.table()
        );
    }

    let model = any.nli("the search benchmark").unwrap();
    // Gradient search: 8 tasks x 16 starts, 10 steps.
    let tasks = test_set(Suite::ShiftL, Split::Ood, 1, 8, &suite_cfg).unwrap();
    let cfg = SearchConfig {
        starts: 16,
        steps: 10,
        ..SearchConfig::default()
    };
    let _ = gradient_search(
        &ctx,
        model,
        &tasks[..1],
        &SearchConfig {
            steps: 1,
            ..cfg.clone()
        },
        &mut |_, _| {},
    );
    let t0 = Instant::now();
    let _ = gradient_search(&ctx, model, &tasks, &cfg, &mut |_, _| {});
    let secs = t0.elapsed().as_secs_f64();
    let cand_steps = (tasks.len() * cfg.starts * cfg.steps) as f64 / secs;
    println!(
        "gradient search: {} tasks x {} starts x {} steps in {secs:.2} s = {cand_steps:.0} candidate-steps/s",
        tasks.len(),
        cfg.starts,
        cfg.steps
    );

    // Where the GPU time of search goes: one chunk of 128 candidates, 2 steps.
    let profiled = ctx.gpu.start_profile();
    let _ = gradient_search(
        &ctx,
        model,
        &tasks,
        &SearchConfig {
            steps: 2,
            ..cfg.clone()
        },
        &mut |_, _| {},
    );
    if profiled && let Some(p) = ctx.gpu.stop_profile() {
        println!(
            "GPU time of gradient search (8 tasks x 16 starts, 2 steps) by kernel:\n{}",
            p.table()
        );
    }

    // What `eval --methods gradient --splits ood --tasks 8` does on the
    // shipped Shift-L model (the same chunking of tasks x starts).
    let eval_tasks = 8;
    let shipped = nli_wgpu::shipped::load("nli", "shift-l").unwrap();
    let shipped_model = nli_wgpu::train::load_model(&ctx, &shipped).unwrap();
    let (suite, shipped_suite) = nli_wgpu::train::suite_config(&shipped.config).unwrap();
    let ood = test_set(
        suite,
        Split::Ood,
        suite.test_seed(Split::Ood),
        eval_tasks,
        &shipped_suite,
    )
    .unwrap();
    let eval_cfg = SearchConfig::default();
    let t0 = Instant::now();
    let found = gradient_search(
        &ctx,
        shipped_model.nli("the search benchmark").unwrap(),
        &ood,
        &eval_cfg,
        &mut |_, _| {},
    );
    let eval_secs_per_task = t0.elapsed().as_secs_f64() / eval_tasks as f64;
    let eval_correct = found
        .iter()
        .zip(&ood)
        .filter(|(f, t)| t.query.y.as_ref() == Some(&f.prediction))
        .count();
    println!(
        "gradient search as eval runs it (shipped Shift-L model, s={} L={}, {eval_tasks} OOD tasks): \
         {eval_secs_per_task:.2} s per task, {eval_correct}/{eval_tasks} correct",
        eval_cfg.starts, eval_cfg.steps
    );

    let kernels: Vec<serde_json::Value> = profile
        .as_ref()
        .map(|p| {
            let total = p.total_ns() / 1e6;
            p.rows()
                .into_iter()
                .map(|(k, c, ms)| serde_json::json!({"kernel": k, "launches": c, "ms": ms, "share": ms / total}))
                .collect()
        })
        .unwrap_or_default();
    let report = serde_json::json!({
        "adapter": ctx.gpu.summary.name,
        "preset": preset_name,
        "train_ms_per_step": ms_per_step,
        "train_steps_timed": steps,
        "kernels_one_step": kernels,
        "search_candidate_steps_per_sec": cand_steps,
        "search": {"tasks": tasks.len(), "starts": cfg.starts, "steps": cfg.steps},
        "eval_search_seconds_per_task": eval_secs_per_task,
        "eval_search": {
            "model": "shipped nli shift-l",
            "split": "ood",
            "tasks": eval_tasks,
            "starts": eval_cfg.starts,
            "steps": eval_cfg.steps,
            "correct": eval_correct,
        },
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("step-{preset_name}.json"));
    nli_wgpu::checkpoint::write_atomic(
        &path,
        serde_json::to_string_pretty(&report).unwrap().as_bytes(),
    )
    .unwrap();
    println!("written to {}", path.display());
}
