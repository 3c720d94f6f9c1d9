//! Diagnostic: how saturated the inductor's token logits are, slot by slot.
//!
//! For fresh ID tasks of the checkpoint's suite (all pairs pooled, no
//! noise): per slot, the mean gap between the top logit and SKIP's, the
//! mean gap between the best and second-best non-SKIP logits, the spread
//! across tasks (standard deviation) of each non-SKIP logit averaged over
//! tokens, and the argmax token of each program family. A gap far above
//! tau_e means the samples are one token whatever the noise; a spread far
//! below the gap means the specification cannot move the choice.
//!
//! `cargo run --release --example logit_gaps -- CHECKPOINT [SLOTS]`
use nli_wgpu::Ctx;
use nli_wgpu::gpu::DeviceOptions;
use nli_wgpu::model::{ProgramModel, SKIP};
use nli_wgpu::tasks::{BatchSampler, Split, TaskBatch, TaskRng};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: logit_gaps CHECKPOINT [SLOTS]");
    let slots: usize = args.next().map_or(3, |s| s.parse().expect("a number"));
    let ctx = Ctx::new(&DeviceOptions::default()).unwrap();
    let ckpt = nli_wgpu::checkpoint::load(std::path::Path::new(&path)).unwrap();
    let model = nli_wgpu::train::load_model(&ctx, &ckpt).unwrap();
    let nli = model.nli("the logit diagnostic").unwrap();
    let (suite, suite_cfg) = nli_wgpu::train::suite_config(&ckpt.config).unwrap();
    let sampler = BatchSampler::for_suite(suite, Split::Id, suite_cfg).unwrap();
    let (b, m, n) = (64, ckpt.config.train.pairs, suite_cfg.n);
    let (t, k) = (nli.cfg.program_len, nli.cfg.codebook);
    let mut batch = TaskBatch::default();
    sampler.fill(&mut TaskRng::substream(0x106175, 0), b, m, &mut batch);
    let x = ctx.indices(&batch.x, &[b, m, n]);
    let y = ctx.indices(&batch.y, &[b, m, n]);
    let e = nli.pooled_embedding(&ctx, &x, &y);
    let logits = ctx.read(&nli.token_logits(&ctx, &e));
    println!("checkpoint {path} (step {}), {b} ID tasks", ckpt.step);
    for slot in 0..slots.min(t) {
        let row = |task: usize| &logits[(task * t + slot) * k..(task * t + slot + 1) * k];
        let (mut skip_gap, mut token_gap) = (0.0f64, 0.0f64);
        let mut argmax_by_family = std::collections::BTreeMap::<u32, Vec<usize>>::new();
        for task in 0..b {
            let r = row(task);
            let top = r.iter().cloned().fold(f32::MIN, f32::max);
            skip_gap += (top - r[SKIP]) as f64;
            let mut rest: Vec<f32> = r[1..].to_vec();
            rest.sort_by(|a, b| b.partial_cmp(a).unwrap());
            token_gap += (rest[0] - rest[1]) as f64;
            let arg = (0..k)
                .max_by(|&i, &j| r[i].partial_cmp(&r[j]).unwrap())
                .unwrap();
            argmax_by_family
                .entry(batch.program_index[task])
                .or_default()
                .push(arg);
        }
        let mut spread = 0.0f64;
        for tok in 1..k {
            let vals: Vec<f64> = (0..b).map(|task| row(task)[tok] as f64).collect();
            let mean = vals.iter().sum::<f64>() / b as f64;
            spread += (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / b as f64).sqrt();
        }
        println!(
            "slot {slot}: top - SKIP {:.2}, best - second non-SKIP {:.2}, spread across tasks {:.3}",
            skip_gap / b as f64,
            token_gap / b as f64,
            spread / (k - 1) as f64
        );
        for (fam, args) in argmax_by_family {
            println!("  family {fam}: argmax {args:?}");
        }
    }
}
