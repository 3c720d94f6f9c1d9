//! Diagnostic: can the inductor's encoder learn to tell a suite's programs
//! apart on its own? Trains only the inductor of a fresh `cpu`-size NLI
//! model, only on the views' contrastive loss (`--view-nce-weight`'s term:
//! each task's first two pairs must pick out its own last two among the
//! batch's), no interpreter and no reconstruction. Chance is ln(batch);
//! a perfect program detector's floor is about E[ln k], k the tasks of the
//! batch with the task's program (printed beside it).
//!
//! `cargo run --release --example encoder_nce -- SUITE [STEPS]`; `HEADS=H`,
//! `LAYERS=L` and `FOURIER=1` change the inductor (heads, layers,
//! `--inductor-fourier-positions`).
use nli_wgpu::Ctx;
use nli_wgpu::gpu::DeviceOptions;
use nli_wgpu::model::config::preset;
use nli_wgpu::model::layers::RandomInit;
use nli_wgpu::model::{Nli, VIEW_CONTRAST_TEMPERATURE, view_contrastive_loss};
use nli_wgpu::optim::{Adam, AdamConfig};
use nli_wgpu::tasks::{BatchSampler, Split, Suite, SuiteConfig, TaskBatch};

fn main() {
    let mut args = std::env::args().skip(1);
    let suite: Suite = args
        .next()
        .expect("usage: encoder_nce SUITE [STEPS]")
        .parse()
        .expect("a suite name");
    let steps: usize = args.next().map_or(400, |s| s.parse().expect("a number"));
    let ctx = Ctx::new(&DeviceOptions::default()).unwrap();
    let (mut mc, tc) = preset("cpu", 20, 10).unwrap();
    let env = |name: &str| std::env::var(name).ok().map(|v| v.parse().expect(name));
    mc.heads = env("HEADS").unwrap_or(mc.heads);
    mc.inductor_layers = env("LAYERS").unwrap_or(mc.inductor_layers);
    mc.inductor_fourier_positions = std::env::var("FOURIER").is_ok_and(|v| v == "1");
    mc.validate().unwrap();
    let model = Nli::build(&ctx, &mc, &mut RandomInit::new(0));
    let params: Vec<_> = model
        .params
        .iter()
        .filter(|(n, _)| n.starts_with("inductor"))
        .map(|(_, t)| t.clone())
        .collect();
    let refs: Vec<_> = params.iter().collect();
    let mut adam = Adam::new(AdamConfig {
        lr: tc.lr,
        max_grad_norm: tc.grad_clip,
        ..AdamConfig::default()
    });
    let sampler = BatchSampler::for_suite(suite, Split::Id, SuiteConfig::default()).unwrap();
    let (b, m, n, t, d) = (tc.batch, tc.pairs, 20, mc.program_len, mc.d);
    let mut batch = TaskBatch::default();
    let (mut sum, mut floor, mut count) = (0.0f32, 0.0f32, 0);
    for step in 0..steps {
        sampler.fill(
            &mut nli_wgpu::train::batch_rng(tc.seed, step),
            b,
            m,
            &mut batch,
        );
        let x = ctx.indices(&batch.x, &[b * m, n]);
        let y = ctx.indices(&batch.y, &[b * m, n]);
        let e = ctx.reshape(&model.inductor.encode(&ctx, &x, &y), &[b, m, t, d]);
        let ea = ctx.mean_axis(&ctx.slice(&e, 1, 0, m / 2), 1);
        let eb = ctx.mean_axis(&ctx.slice(&e, 1, m / 2, m - m / 2), 1);
        let loss = view_contrastive_loss(&ctx, &ea, &eb, VIEW_CONTRAST_TEMPERATURE);
        let g = ctx.backward(&loss);
        adam.step(&ctx, &refs, &g);
        sum += ctx.item(&loss);
        floor += (0..b)
            .map(|i| {
                let k = (0..b)
                    .filter(|&j| batch.program_index[j] == batch.program_index[i])
                    .count();
                (k as f32).ln()
            })
            .sum::<f32>()
            / b as f32;
        count += 1;
        if (step + 1) % 25 == 0 || step + 1 == steps {
            println!(
                "steps {:>4}-{:>4}: contrastive loss {:.3} (chance {:.3}, floor {:.3})",
                step + 2 - count,
                step + 1,
                sum / count as f32,
                (b as f32).ln(),
                floor / count as f32
            );
            (sum, floor, count) = (0.0, 0.0, 0);
        }
    }
}
