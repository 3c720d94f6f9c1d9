//! The models that ship inside the binary: each is small, loads, matches its
//! suite, and is trained (its hard programs solve ID tasks without search).

mod common;
use common::*;
use nli_wgpu::eval::{accuracy, predict_hard};
use nli_wgpu::tasks::{Split, test_set};
use nli_wgpu::train::{load_model, suite_config};

/// Hard-program ID accuracy without search that each shipped model must
/// keep, on the first 50 tasks of its fixed ID test set (models/README.md
/// records what each reaches on 200).
fn min_id_accuracy(suite: &str) -> f32 {
    match suite {
        "shift-l" => 0.95,
        _ => 0.5,
    }
}

#[test]
fn shipped_models_are_small_load_and_solve_id_tasks() {
    let ctx = ctx();
    assert!(!nli_wgpu::shipped::MODELS.is_empty());
    for (suite, bytes) in nli_wgpu::shipped::MODELS {
        assert!(
            bytes.len() < 1 << 20,
            "{suite}: {} bytes, must stay under 1 MiB",
            bytes.len()
        );
        let ckpt = nli_wgpu::shipped::load(suite).unwrap();
        assert_eq!(ckpt.config.suite, *suite);
        assert!(
            ckpt.tensors.iter().all(|(n, _, _)| !n.starts_with("adam.")),
            "{suite}: optimiser state must not ship"
        );
        let model = load_model(&ctx, &ckpt).unwrap();
        let (s, cfg) = suite_config(&ckpt.config).unwrap();
        let tasks = test_set(s, Split::Id, s.test_seed(Split::Id), 50, &cfg).unwrap();
        let preds = predict_hard(&ctx, &model, &tasks, ckpt.config.train.tau_d_end);
        let acc = accuracy(&tasks, &preds);
        assert!(
            acc >= min_id_accuracy(suite),
            "{suite}: ID accuracy {acc} without search"
        );
    }
    assert!(nli_wgpu::shipped::load("no-such-suite").is_err());
}
