//! Diagnostic: where the late-training gradient spikes come from.
//!
//! Runs a checkpoint's training loss at the end temperatures of its run on
//! many batches, with the run's noise and without each noise, and prints the
//! gradient norm (before clipping), its largest parameter tensors, and the
//! largest per-pair reconstruction loss of the spiking batches.
//!
//! `cargo run --release --example grad_spikes -- CHECKPOINT [BATCHES [FLOOR]]`
//! (FLOOR: the reconstruction's probability floor, default the run's;
//! `VARIANT=i` runs only the i-th line).
use nli_wgpu::Ctx;
use nli_wgpu::gpu::DeviceOptions;
use nli_wgpu::model::LossSettings;
use nli_wgpu::tasks::{BatchSampler, Split, TaskBatch};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: grad_spikes CHECKPOINT [BATCHES]");
    let batches: usize = args.next().map_or(40, |s| s.parse().expect("a count"));
    let floor: Option<f32> = args.next().map(|s| s.parse().expect("a probability"));
    let ctx = Ctx::new(&DeviceOptions::default()).unwrap();
    let ckpt = nli_wgpu::checkpoint::load(std::path::Path::new(&path)).unwrap();
    let model = nli_wgpu::train::load_model(&ctx, &ckpt).unwrap();
    let tc = &ckpt.config.train;
    let (suite, suite_cfg) = nli_wgpu::train::suite_config(&ckpt.config).unwrap();
    let sampler = BatchSampler::for_suite(suite, Split::Id, suite_cfg).unwrap();
    let (b, m, n) = (tc.batch, model.train_pairs(tc.pairs), suite_cfg.n);
    let mut batch = TaskBatch::default();
    // (name, Some((inductor, interpreter noise scale)) or no noise, hard samples)
    type Variant = (&'static str, Option<(f32, f32)>, bool);
    let variants: [Variant; 5] = [
        ("run's noise", Some((1.0, 1.0)), false),
        (
            "run's noise, straight-through hard inductor samples",
            Some((1.0, 1.0)),
            true,
        ),
        ("no interpreter noise", Some((1.0, 0.0)), false),
        ("no inductor noise", Some((0.0, 1.0)), false),
        ("no noise", None, false),
    ];
    let only: Option<usize> = std::env::var("VARIANT").ok().map(|v| v.parse().unwrap());
    for (vi, (name, noise, hard)) in variants.into_iter().enumerate() {
        if only.is_some_and(|o| o != vi) {
            continue;
        }
        let mut norms = Vec::new();
        for i in 0..batches {
            let step = tc.steps - 1 - i;
            sampler.fill(
                &mut nli_wgpu::train::batch_rng(1234, step),
                b,
                m,
                &mut batch,
            );
            let x = ctx.indices(&batch.x, &[b, m, n]);
            let y = ctx.indices(&batch.y, &[b, m, n]);
            let mut s = LossSettings::at_step(tc, step);
            s.hard_inductor = hard;
            s.prob_floor = floor.unwrap_or(s.prob_floor);
            match noise {
                Some((ind, int)) => {
                    s.inductor_noise = ind;
                    if let Some(nz) = s.noise.as_mut() {
                        nz.interpreter_scale = int;
                    }
                }
                None => s.noise = None,
            }
            let parts = model.loss(&ctx, &x, &y, s);
            let grads = ctx.backward(&parts.loss);
            let mut per: Vec<(String, f32)> = model
                .params()
                .iter()
                .filter_map(|(name, t)| {
                    grads.get(t).map(|g| {
                        let v = ctx.read(g);
                        (name.clone(), v.iter().map(|a| a * a).sum::<f32>())
                    })
                })
                .collect();
            let total: f32 = per.iter().map(|p| p.1).sum::<f32>().sqrt();
            per.sort_by(|a, c| c.1.total_cmp(&a.1));
            let recon = ctx.item(&parts.recon);
            norms.push((total, recon, per[..3].to_vec(), step));
            ctx.clear_tape();
        }
        let mut sorted: Vec<f32> = norms.iter().map(|r| r.0).collect();
        sorted.sort_by(f32::total_cmp);
        println!(
            "{name}: gradient norm median {:.1}, 90% {:.1}, max {:.1}",
            sorted[sorted.len() / 2],
            sorted[sorted.len() * 9 / 10],
            sorted[sorted.len() - 1]
        );
        norms.sort_by(|a, c| c.0.total_cmp(&a.0));
        for (total, recon, top, step) in norms.iter().take(3) {
            let top: Vec<String> = top
                .iter()
                .map(|(n, sq)| format!("{n} {:.0}%", 100.0 * sq / (total * total)))
                .collect();
            println!(
                "  batch of step {step}: norm {total:.1}, recon {recon:.2}; {}",
                top.join(", ")
            );
        }
    }
}
