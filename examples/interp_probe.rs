//! Diagnostic: can the interpreter learn shl_k given the program "token 1 repeated k times"?
//!
//! `cargo run --release --example interp_probe -- [STEPS]`; `SUITE=shift-p`
//! uses Shift-P's training shifts (k = 6..10) instead of Shift-L's (1..5),
//! `FULL=1` the `cpu` preset's width (D = 64, 4 heads) instead of D = 32,
//! `SINGLE=1` shl_1 with one slot, `NOISE=0` no interpreter noise.
use nli_wgpu::Ctx;
use nli_wgpu::gpu::DeviceOptions;
use nli_wgpu::model::config::preset;
use nli_wgpu::model::layers::RandomInit;
use nli_wgpu::model::{Nli, StepNoise, argmax_rows};
use nli_wgpu::optim::{Adam, AdamConfig};
use nli_wgpu::tasks::{BatchSampler, Split, Suite, SuiteConfig, TaskBatch, TaskRng};

fn main() {
    let ctx = Ctx::new(&DeviceOptions::default()).unwrap();
    let (mut mc, _) = preset("cpu", 20, 10).unwrap();
    if std::env::var("FULL").is_err() {
        mc.d = 32;
        mc.heads = 2;
    }
    let shift_p = std::env::var("SUITE").is_ok_and(|s| s == "shift-p");
    let single = std::env::var("SINGLE").is_ok();
    if single {
        mc.program_len = 1;
    }
    let model = Nli::build(&ctx, &mc, &mut RandomInit::new(0));
    let params: Vec<_> = model
        .params
        .iter()
        .filter(|(n, _)| n.starts_with("interpreter"))
        .map(|(_, t)| t.clone())
        .collect();
    let refs: Vec<_> = params.iter().collect();
    let mut adam = Adam::new(AdamConfig {
        lr: 1e-3,
        ..AdamConfig::default()
    });
    let sampler = if single {
        BatchSampler::new(vec!["shl_1".parse().unwrap()], SuiteConfig::default()).unwrap()
    } else if shift_p {
        BatchSampler::for_suite(Suite::ShiftP, Split::Id, SuiteConfig::default()).unwrap()
    } else {
        BatchSampler::for_suite(Suite::ShiftL, Split::Id, SuiteConfig::default()).unwrap()
    };
    let mut batch = TaskBatch::default();
    let (b, m, n, t, k) = (16, 4, 20, mc.program_len, mc.codebook);
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    for step in 0..steps {
        sampler.fill(&mut TaskRng::new(step as u64), b, m, &mut batch);
        let mut z = vec![0.0f32; b * m * t * k];
        for task in 0..b {
            let shift = batch.program_index[task] as usize + if shift_p { 6 } else { 1 };
            for pair in 0..m {
                for slot in 0..t {
                    let tok = if slot < shift { 1 } else { 0 };
                    z[((task * m + pair) * t + slot) * k + tok] = 1.0;
                }
            }
        }
        let zt = ctx.tensor(&z, &[b * m, t, k]);
        let x = ctx.indices(&batch.x, &[b * m, n]);
        let y = ctx.indices(&batch.y, &[b * m * n]);
        let frac = step as f32 / steps as f32;
        let tau_d = 2.0 * (0.5f32 / 2.0).powf(frac);
        let noise = if std::env::var("NOISE").is_ok_and(|v| v == "0") {
            None
        } else {
            Some(StepNoise {
                seed: 1,
                step: step as u32,
                interpreter_scale: 1.0,
            })
        };
        let pi = model.execute(&ctx, &x, &zt, tau_d, noise);
        let nll = ctx.nll_probs(&ctx.reshape(&pi, &[b * m * n, 10]), &y, 1e-12);
        let loss = ctx.scale(&ctx.sum_all(&nll), 1.0 / (b * m) as f32);
        let g = ctx.backward(&loss);
        adam.step(&ctx, &refs, &g);
        if step % 25 == 0 || step + 1 == steps {
            let got = ctx.read_many(&[&loss, &pi]);
            let pred = argmax_rows(&got[1], 10);
            let pos_acc = pred.iter().zip(&batch.y).filter(|(a, b)| a == b).count() as f32
                / pred.len() as f32;
            println!(
                "step {step}: loss {:.3} tau_d {tau_d:.2} position acc {pos_acc:.3}",
                got[0][0]
            );
        }
    }
}
