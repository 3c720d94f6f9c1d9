//! Rough profile of one training step of a preset: dispatch count and wall time.
use nli_wgpu::Ctx;
use nli_wgpu::gpu::DeviceOptions;
use nli_wgpu::model::config::preset;
use nli_wgpu::model::layers::RandomInit;
use nli_wgpu::model::{Nli, StepNoise};
use nli_wgpu::optim::{Adam, AdamConfig};
use nli_wgpu::tasks::{BatchSampler, Split, Suite, SuiteConfig, TaskBatch, TaskRng};

fn main() {
    let name = std::env::args().nth(1).unwrap_or("cpu".into());
    let ctx = Ctx::new(&DeviceOptions::default()).unwrap();
    let (mc, tc) = preset(&name, 20, 10).unwrap();
    let model = Nli::build(&ctx, &mc, &mut RandomInit::new(0));
    let params: Vec<_> = model.param_tensors().into_iter().cloned().collect();
    let refs: Vec<_> = params.iter().collect();
    let mut adam = Adam::new(AdamConfig::default());
    let sampler =
        BatchSampler::for_suite(Suite::ShiftL, Split::Id, SuiteConfig::default()).unwrap();
    let mut batch = TaskBatch::default();
    for step in 0..4 {
        if step == 3 {
            ctx.gpu.start_profile();
        }
        let t0 = std::time::Instant::now();
        let s0 = ctx.gpu.stats();
        sampler.fill(&mut TaskRng::new(step), tc.batch, tc.pairs, &mut batch);
        let x = ctx.indices(&batch.x, &[tc.batch, tc.pairs, 20]);
        let y = ctx.indices(&batch.y, &[tc.batch, tc.pairs, 20]);
        let parts = model.loss(
            &ctx,
            &x,
            &y,
            4.0,
            1.0,
            0.01,
            Some(StepNoise {
                seed: 1,
                step: step as u32,
            }),
        );
        let t_rec = t0.elapsed();
        ctx.gpu.sync();
        let t_fwd = t0.elapsed();
        let g = ctx.backward(&parts.loss);
        let t_brec = t0.elapsed();
        adam.step(&ctx, &refs, &g);
        let loss = ctx.item(&parts.loss);
        let s1 = ctx.gpu.stats();
        println!(
            "step {step}: loss {loss:.3} total {:.3}s (fwd record {:.3}, fwd run {:.3}, bwd record {:.3}) dispatches {} submits {}",
            t0.elapsed().as_secs_f64(),
            t_rec.as_secs_f64(),
            t_fwd.as_secs_f64(),
            t_brec.as_secs_f64(),
            s1.dispatches - s0.dispatches,
            s1.submits - s0.submits
        );
    }
    if let Some(p) = ctx.gpu.stop_profile() {
        print!("{}", p.table());
    }
}
