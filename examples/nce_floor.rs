//! Diagnostic: the views' contrastive loss (`--view-nce-weight`) of a
//! checkpoint on fresh batches, next to its floor.
//!
//! The two halves of a task share nothing but the program, so on fresh data
//! the loss cannot go below E[ln k] (k: tasks of the batch with the task's
//! program). Also printed: the loss with each task's second half swapped for
//! that of another task of the same program, which destroys anything the
//! halves share besides the program. Own and swapped far apart, or own below
//! the floor, means the halves leak something (this found the training
//! batches' shared stream, fixed by `TaskRng::substream`).
//!
//! `cargo run --release --example nce_floor -- CHECKPOINT [FIRST_STEP [old]]`:
//! with FIRST_STEP, the batches are the run's training draws at steps
//! FIRST_STEP.. instead of fresh ones; with `old`, those of the seeding
//! used before `TaskRng::substream` (runs 1-28 of docs/experiments.md).
use nli_wgpu::Ctx;
use nli_wgpu::gpu::DeviceOptions;
use nli_wgpu::model::{VIEW_CONTRAST_TEMPERATURE, view_contrastive_loss};
use nli_wgpu::tasks::{BatchSampler, Split, TaskBatch, TaskRng};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: nce_floor CHECKPOINT [FIRST_STEP]");
    let first_step: Option<usize> = args.next().map(|s| s.parse().expect("a step"));
    let old_seeding = args.next().is_some_and(|a| a == "old");
    let ctx = Ctx::new(&DeviceOptions::default()).unwrap();
    let ckpt = nli_wgpu::checkpoint::load(std::path::Path::new(&path)).unwrap();
    let model = nli_wgpu::train::load_model(&ctx, &ckpt).unwrap();
    let nli = model.nli("the views' diagnostic").unwrap();
    let (suite, suite_cfg) = nli_wgpu::train::suite_config(&ckpt.config).unwrap();
    let sampler = BatchSampler::for_suite(suite, Split::Id, suite_cfg).unwrap();
    let tc = &ckpt.config.train;
    let (b, m, n) = (tc.batch, tc.pairs, suite_cfg.n);
    let (t, d) = (nli.cfg.program_len, nli.cfg.d);
    let w = t * d;
    let mut batch = TaskBatch::default();
    let (mut own, mut swapped, mut floor) = (0.0, 0.0, 0.0);
    let reps = 20;
    for rep in 0..reps {
        let mut rng = match first_step {
            Some(s) if old_seeding => {
                TaskRng::new(tc.seed ^ ((s + rep) as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            }
            Some(s) => nli_wgpu::train::batch_rng(tc.seed, s + rep),
            None => TaskRng::substream(0xF1005, rep as u64),
        };
        sampler.fill(&mut rng, b, m, &mut batch);
        let x = ctx.indices(&batch.x, &[b * m, n]);
        let y = ctx.indices(&batch.y, &[b * m, n]);
        let e = ctx.reshape(&nli.inductor.encode(&ctx, &x, &y), &[b, m, t, d]);
        let ea = ctx.mean_axis(&ctx.slice(&e, 1, 0, m / 2), 1);
        let eb = ctx.mean_axis(&ctx.slice(&e, 1, m / 2, m - m / 2), 1);
        own += ctx.read(&view_contrastive_loss(
            &ctx,
            &ea,
            &eb,
            VIEW_CONTRAST_TEMPERATURE,
        ))[0];
        // Each task's second half replaced by that of the next task with the
        // same program (cyclically; itself when it is alone).
        let eb_host = ctx.read(&eb);
        let mut eb_swapped = vec![0.0f32; b * w];
        for (i, row) in eb_swapped.chunks_exact_mut(w).enumerate() {
            let p = batch.program_index[i];
            let group: Vec<usize> = (0..b).filter(|&j| batch.program_index[j] == p).collect();
            let pos = group.iter().position(|&j| j == i).unwrap();
            let other = group[(pos + 1) % group.len()];
            row.copy_from_slice(&eb_host[other * w..(other + 1) * w]);
            floor += (group.len() as f32).ln() / b as f32;
        }
        let eb_swapped = ctx.tensor(&eb_swapped, &[b, t, d]);
        swapped += ctx.read(&view_contrastive_loss(
            &ctx,
            &ea,
            &eb_swapped,
            VIEW_CONTRAST_TEMPERATURE,
        ))[0];
    }
    let r = reps as f32;
    println!(
        "{reps} batches of {b}: own halves {:.3}  swapped within program {:.3}  floor E[ln k] {:.3}",
        own / r,
        swapped / r,
        floor / r
    );
}
