//! Test-time search on the tiny model: gradient search raises the
//! specification log-likelihood; thousands of starts run in chunks; NLI
//! searches programs longer than its inductor writes.

mod common;
use common::*;
use nli_wgpu::model::config::preset;
use nli_wgpu::model::dlpn::DLpn;
use nli_wgpu::model::layers::RandomInit;
use nli_wgpu::model::{ModelKind, Nli, SKIP};
use nli_wgpu::search::{
    SearchConfig, check_search_program_len, chunk_slots, gradient_search, prior_search,
};
use nli_wgpu::tasks::{Split, Suite, SuiteConfig, test_set};

/// Gradient search of programs of `program_len` slots (the model's when
/// None) on three Shift-L OOD tasks with a random tiny model: every task's
/// likelihood rises by more than a nat.
fn search_raises_the_likelihood(program_len: Option<usize>) {
    let ctx = ctx();
    let (mc, _) = preset("tiny", 20, 10).unwrap();
    let model = Nli::build(&ctx, &mc, &mut RandomInit::new(1));
    let tasks = test_set(Suite::ShiftL, Split::Ood, 9, 3, &SuiteConfig::default()).unwrap();
    let cfg = SearchConfig {
        starts: 4,
        steps: 30,
        program_len,
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
        assert!(r.program.len() <= program_len.unwrap_or(mc.program_len));
    }
    // Prior search runs and returns one result per task too.
    let prior = prior_search(&ctx, &model, &tasks, &cfg, &mut |_, _| {});
    assert_eq!(prior.len(), 3);
    assert!(prior.iter().all(|r| r.spec_log_likelihood.is_finite()));
}

#[test]
fn gradient_search_raises_the_spec_log_likelihood() {
    search_raises_the_likelihood(None);
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
    let per_chunk = chunk_slots(&ctx, &model, 4, cfg.memory_mib, mc.program_len);
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

/// D-LPN's decoder runs over the program's slots and the inputs together
/// (32 positions at the `cpu` size). With memory no object the binding
/// limit sizes a chunk, and its widest buffers, the packed q, k, v and the
/// attention scores, stay within it. Sized by the N inputs alone, prior
/// search (8x gradient search's memory budget) overflowed lavapipe's 128
/// MiB on 100 Shift-L tasks.
#[test]
fn d_lpn_chunks_fit_the_binding_limit() {
    let ctx = ctx();
    let (mut mc, _) = preset("cpu", 20, 10).unwrap();
    mc.kind = ModelKind::DLpn;
    let model = DLpn::build(&ctx, &mc, &mut RandomInit::new(4));
    let pairs = 4;
    let slots = chunk_slots(&ctx, &model, pairs, 1 << 20, mc.program_len);
    let l = mc.program_len + mc.n;
    let limit = ctx.gpu.limits().max_storage_buffer_binding_size;
    for (what, width) in [("q, k, v", 3 * mc.d), ("scores", mc.heads * l)] {
        let bytes = (slots * pairs * l * width * 4) as u64;
        assert!(bytes <= limit, "{what}: {bytes} bytes > {limit}");
    }
    assert!(slots > 1, "{slots}");
}

/// The interpreter has no slot position: SKIP slots after a program leave
/// its output as it is, and other tokens there run (so a search may use
/// more slots than the inductor writes).
#[test]
fn the_interpreter_runs_programs_longer_than_the_inductor_writes() {
    let ctx = ctx();
    let (mc, _) = preset("tiny", 20, 10).unwrap();
    let model = Nli::build(&ctx, &mc, &mut RandomInit::new(3));
    let (p, t, k, extra) = (6, mc.program_len, mc.codebook, 3);
    let mut r = rng(4);
    let x: Vec<u32> = (0..p * mc.n).map(|i| (i * 7 % mc.v) as u32).collect();
    let x = ctx.indices(&x, &[p, mc.n]);
    // Logits of soft programs of t slots, and the same with `extra` slots
    // after them that are one-hot SKIP, or one-hot token 1: a logit of 60
    // leaves the others exp(-60) of the mass, far below float resolution.
    let soft = rand_vec(&mut r, p * t * k, -2.0, 2.0);
    let padded = |tok: usize| -> Vec<f32> {
        let mut out = Vec::new();
        for row in soft.chunks(t * k) {
            out.extend_from_slice(row);
            for _ in 0..extra {
                out.extend((0..k).map(|j| if j == tok { 60.0 } else { 0.0 }));
            }
        }
        out
    };
    let run = |z: Vec<f32>, len: usize| {
        let z = ctx.softmax(&ctx.tensor(&z, &[p, len, k]));
        ctx.read(&model.execute(&ctx, &x, &z, 0.5, None))
    };
    let base = run(soft.clone(), t);
    let with_skip = run(padded(SKIP), t + extra);
    let with_token = run(padded(1), t + extra);
    let diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    };
    // SKIP gates the state through exactly (pi = 1 * pi + 0 * candidate):
    // only float noise may differ.
    assert!(
        diff(&base, &with_skip) < 1e-5,
        "SKIP slots changed the output by {}",
        diff(&base, &with_skip)
    );
    // A token in the extra slots is run: the output moves.
    assert!(
        diff(&base, &with_token) > 1e-3,
        "the extra slots were not run ({})",
        diff(&base, &with_token)
    );
}

#[test]
fn gradient_search_of_longer_programs_raises_the_spec_log_likelihood() {
    let (mc, _) = preset("tiny", 20, 10).unwrap();
    search_raises_the_likelihood(Some(mc.program_len + 4));
}

/// A model config's `search_program_len` is what the search runs when the
/// search settings name no length: the same results as naming it, and not
/// those of the model's own `program_len`.
#[test]
fn the_configs_search_program_len_is_the_default() {
    let ctx = ctx();
    let (mut mc, _) = preset("tiny", 20, 10).unwrap();
    let t = mc.program_len;
    let plain = Nli::build(&ctx, &mc, &mut RandomInit::new(3));
    mc.search_program_len = Some(t + 4);
    mc.validate().unwrap();
    let long = Nli::build(&ctx, &mc, &mut RandomInit::new(3));
    let tasks = test_set(Suite::ShiftL, Split::Ood, 11, 2, &SuiteConfig::default()).unwrap();
    let run = |model: &Nli, program_len| {
        let cfg = SearchConfig {
            starts: 3,
            steps: 4,
            program_len,
            ..SearchConfig::default()
        };
        gradient_search(&ctx, model, &tasks, &cfg, &mut |_, _| {})
            .into_iter()
            .map(|r| (r.spec_log_likelihood, r.program))
            .collect::<Vec<_>>()
    };
    let default = run(&long, None);
    assert_eq!(default, run(&plain, Some(t + 4)));
    assert_ne!(default, run(&long, Some(t)));
}

#[test]
fn only_nli_searches_another_program_length() {
    let (nli, _) = preset("tiny", 20, 10).unwrap();
    let t = nli.program_len;
    for len in [None, Some(1), Some(t), Some(4 * t)] {
        assert!(check_search_program_len(&nli, len).is_ok(), "{len:?}");
    }
    assert!(check_search_program_len(&nli, Some(0)).is_err());
    // D-LPN's decoder has a position per slot: only its own length.
    let mut dlpn = nli.clone();
    dlpn.kind = ModelKind::DLpn;
    assert!(check_search_program_len(&dlpn, Some(t)).is_ok());
    let err = check_search_program_len(&dlpn, Some(t + 1)).unwrap_err();
    assert!(
        err.contains(&format!("exactly {t} slots")) && err.contains(&(t + 1).to_string()),
        "{err}"
    );
    // The same rule for the length a model config keeps for its search.
    for (kind, len, ok) in [
        (ModelKind::Nli, 4 * t, true),
        (ModelKind::Nli, 0, false),
        (ModelKind::DLpn, t, true),
        (ModelKind::DLpn, t + 1, false),
    ] {
        let mut mc = nli.clone();
        mc.kind = kind;
        mc.search_program_len = Some(len);
        assert_eq!(mc.validate().is_ok(), ok, "{kind:?} {len}");
    }
}

/// What `eval` reports beside exact match, on hand-made predictions: the
/// mean fraction of output positions right, and each wrong answer named by
/// the training program whose output it equals (or `other`). One right
/// answer, one that is the inner primitive's output, one off by a value.
#[test]
fn wrong_answers_are_named_by_the_training_program_they_equal() {
    use nli_wgpu::eval::{accuracy, position_accuracy, wrong_answers_as};
    use nli_wgpu::tasks::{Program, Query, Task};
    let v = 10;
    let x: Vec<u32> = (0..20).map(|i| (i * 7 % 10) as u32).collect();
    let prog = |s: &str| s.parse::<Program>().unwrap();
    let task = |p: &str| Task {
        program: Some(p.into()),
        spec: Vec::new(),
        query: Query {
            x: x.clone(),
            y: Some(prog(p).apply(&x, v)),
        },
    };
    let tasks = [task("inc(rev)"), task("inc(rev)"), task("neg(swp)")];
    let known: Vec<Program> = ["shl_1", "rev", "swp", "inc", "neg"]
        .into_iter()
        .map(prog)
        .collect();
    let as_rev = prog("rev").apply(&x, v);
    let mut off_by_one = prog("neg(swp)").apply(&x, v);
    off_by_one[0] = (off_by_one[0] + 1) % v as u32;
    assert!(known.iter().all(|k| k.apply(&x, v) != off_by_one));
    let preds = vec![tasks[0].query.y.clone().unwrap(), as_rev, off_by_one];
    assert!((accuracy(&tasks, &preds) - 1.0 / 3.0).abs() < 1e-6);
    // inc changes every value, so rev's output has no position of
    // inc(rev)'s: (1 + 0 + 19/20) / 3.
    let pos = position_accuracy(&tasks, &preds);
    assert!((pos - 0.65).abs() < 1e-6, "{pos}");
    let wrong = wrong_answers_as(&tasks, &preds, &known, v);
    let flat: Vec<(String, String, usize)> = wrong
        .iter()
        .flat_map(|(p, cell)| cell.iter().map(move |(k, n)| (p.clone(), k.clone(), *n)))
        .collect();
    assert_eq!(
        flat,
        [
            ("inc(rev)".to_string(), "rev".to_string(), 1),
            ("neg(swp)".to_string(), "other".to_string(), 1)
        ]
    );
}
