//! Test-time search on the tiny model: gradient search raises the
//! specification log-likelihood; thousands of starts run in chunks.

mod common;
use common::*;
use nli_wgpu::model::Nli;
use nli_wgpu::model::config::preset;
use nli_wgpu::model::layers::RandomInit;
use nli_wgpu::search::{SearchConfig, chunk_slots, gradient_search, prior_search};
use nli_wgpu::tasks::{Split, Suite, SuiteConfig, test_set};

#[test]
fn gradient_search_raises_the_spec_log_likelihood() {
    let ctx = ctx();
    let (mc, _) = preset("tiny", 20, 10).unwrap();
    let model = Nli::build(&ctx, &mc, &mut RandomInit::new(1));
    let tasks = test_set(Suite::ShiftL, Split::Ood, 9, 3, &SuiteConfig::default()).unwrap();
    let cfg = SearchConfig {
        starts: 4,
        steps: 30,
        ..SearchConfig::default()
    };
    let results = gradient_search(&ctx, &model, &tasks, &cfg, &mut |_, _| {});
    assert_eq!(results.len(), 3);
    for (i, r) in results.iter().enumerate() {
        assert!(
            r.spec_log_likelihood > r.start_log_likelihood + 1.0,
            "task {i}: log-likelihood {} after search vs {} at the start",
            r.spec_log_likelihood,
            r.start_log_likelihood
        );
        assert_eq!(r.prediction.len(), 20);
        assert!(r.program.len() <= mc.program_len);
    }
    // Prior search runs and returns one result per task too.
    let prior = prior_search(&ctx, &model, &tasks, &cfg, &mut |_, _| {});
    assert_eq!(prior.len(), 3);
    assert!(prior.iter().all(|r| r.spec_log_likelihood.is_finite()));
}

#[test]
fn four_thousand_starts_run_in_chunks_within_the_limits() {
    let ctx = ctx();
    let (mc, _) = preset("tiny", 20, 10).unwrap();
    let model = Nli::build(&ctx, &mc, &mut RandomInit::new(2));
    let tasks = test_set(Suite::ShiftL, Split::Ood, 10, 1, &SuiteConfig::default()).unwrap();
    // A small memory budget forces several chunks.
    let cfg = SearchConfig {
        starts: 4096,
        steps: 1,
        memory_mib: 32,
        ..SearchConfig::default()
    };
    let per_chunk = chunk_slots(&ctx, &model, 4, cfg.memory_mib);
    assert!(
        per_chunk < 4096,
        "the budget must split 4096 starts, got {per_chunk} per chunk"
    );
    let mut seen = (0, 0);
    let results = gradient_search(&ctx, &model, &tasks, &cfg, &mut |done, total| {
        seen = (done, total)
    });
    assert_eq!(seen.0, seen.1);
    assert_eq!(seen.1, 4096usize.div_ceil(per_chunk), "chunks");
    assert_eq!(results.len(), 1);
    assert!(results[0].spec_log_likelihood.is_finite());
    // Every buffer of a chunk stayed within the adapter's binding limit.
    let widest = (mc.mlp_mult * mc.d).max(3 * mc.d) * mc.n * 4 * per_chunk * 4;
    assert!(widest as u64 <= ctx.gpu.limits().max_storage_buffer_binding_size);
}
