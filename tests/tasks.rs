//! Tests of the task suite (`nli_wgpu::tasks`): primitives against hand-worked
//! examples, split membership checked by independent evaluation, the Comp-I
//! exclusion rule, determinism, task files and the `tasks` command.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::PathBuf;

use clap::Parser;
use nli_wgpu::tasks::suite::{
    COMP_I_ID_SEED, COMP_I_OOD_SEED, SHIFT_L_ID_SEED, SHIFT_L_OOD_SEED, SHIFT_P_ID_SEED,
    SHIFT_P_OOD_SEED,
};
use nli_wgpu::tasks::*;

fn default_cfg() -> SuiteConfig {
    SuiteConfig::default()
}

fn program(name: &str) -> Program {
    name.parse()
        .unwrap_or_else(|e| panic!("{name} should parse: {e}"))
}

fn random_input(rng: &mut TaskRng, n: usize, v: usize) -> Vec<u32> {
    (0..n).map(|_| rng.below(v as u32)).collect()
}

/// Cyclic left shift written independently of the module: rotate a copy.
fn rotate_left(x: &[u32], k: usize) -> Vec<u32> {
    let mut y = x.to_vec();
    y.rotate_left(k % x.len());
    y
}

/// A scratch directory unique to this test process and test name.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nli-tasks-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------- primitives

#[test]
fn shift_left_matches_hand_worked_examples_including_wrap_around() {
    let x = [3, 1, 4, 1, 5, 9];
    assert_eq!(
        Primitive::ShiftLeft(1).apply(&x, 10),
        vec![1, 4, 1, 5, 9, 3]
    );
    assert_eq!(
        Primitive::ShiftLeft(2).apply(&x, 10),
        vec![4, 1, 5, 9, 3, 1]
    );
    assert_eq!(
        Primitive::ShiftLeft(5).apply(&x, 10),
        vec![9, 3, 1, 4, 1, 5]
    );
    // k >= N wraps around: shl_8 on length 6 is shl_2, shl_6 the identity.
    assert_eq!(
        Primitive::ShiftLeft(8).apply(&x, 10),
        vec![4, 1, 5, 9, 3, 1]
    );
    assert_eq!(Primitive::ShiftLeft(6).apply(&x, 10), x.to_vec());
}

#[test]
fn reverse_swap_increment_negate_match_hand_worked_examples() {
    let x = [3, 1, 4, 1, 5, 9];
    assert_eq!(Primitive::Reverse.apply(&x, 10), vec![9, 5, 1, 4, 1, 3]);
    assert_eq!(Primitive::SwapPairs.apply(&x, 10), vec![1, 3, 1, 4, 9, 5]);
    // Odd length: the last element has no neighbour and stays.
    assert_eq!(
        Primitive::SwapPairs.apply(&[3, 1, 4, 1, 5], 10),
        vec![1, 3, 1, 4, 5]
    );
    // inc wraps 9 -> 0 for V = 10, and 4 -> 0 for V = 5.
    assert_eq!(
        Primitive::Increment.apply(&[0, 8, 9, 4], 10),
        vec![1, 9, 0, 5]
    );
    assert_eq!(
        Primitive::Increment.apply(&[0, 8, 9, 4], 5).last(),
        Some(&0)
    );
    // neg: 0 stays 0, a -> V - a otherwise.
    assert_eq!(
        Primitive::Negate.apply(&[0, 1, 5, 9, 3], 10),
        vec![0, 9, 5, 1, 7]
    );
    assert_eq!(Primitive::Negate.apply(&[0, 1, 6, 3], 7), vec![0, 6, 1, 4]);
}

#[test]
fn compositions_apply_the_inner_primitive_first() {
    let x: Vec<u32> = (0..6).collect();
    // rev(shl_1(x)): shl_1 gives [1,2,3,4,5,0], then reversed.
    assert_eq!(program("rev(shl_1)").apply(&x, 10), vec![0, 5, 4, 3, 2, 1]);
    // shl_1(rev(x)): rev gives [5,4,3,2,1,0], then shifted.
    assert_eq!(program("shl_1(rev)").apply(&x, 10), vec![4, 3, 2, 1, 0, 5]);
    // inc(rev(x)) on [3,1,4,1,5,9]: rev gives [9,5,1,4,1,3], then +1 mod 10.
    assert_eq!(
        program("inc(rev)").apply(&[3, 1, 4, 1, 5, 9], 10),
        vec![0, 6, 2, 5, 2, 4]
    );
    // The canonical form gives the same hand-worked answers.
    assert_eq!(
        program("rev(shl_1)").canonical(6, 10).apply(&x),
        vec![0, 5, 4, 3, 2, 1]
    );
    assert_eq!(
        program("shl_1(rev)").canonical(6, 10).apply(&x),
        vec![4, 3, 2, 1, 0, 5]
    );
    assert_eq!(
        program("inc(rev)")
            .canonical(6, 10)
            .apply(&[3, 1, 4, 1, 5, 9]),
        vec![0, 6, 2, 5, 2, 4]
    );
}

#[test]
fn program_names_round_trip_and_bad_names_are_rejected() {
    for name in [
        "id",
        "shl_3",
        "shl_10",
        "rev",
        "swp",
        "inc",
        "neg",
        "inc(rev)",
        "neg(shl_2(swp))",
    ] {
        assert_eq!(program(name).name(), name);
    }
    assert_eq!(
        program("inc(rev)").steps(),
        &[Primitive::Reverse, Primitive::Increment]
    );
    assert_eq!(
        Program::compose(Primitive::Increment, Primitive::Reverse).name(),
        "inc(rev)"
    );
    for bad in [
        "",
        "shl_0",
        "shl_+3",
        "shl_",
        "shl_x",
        "shl3",
        "foo",
        "inc(rev",
        "inc()",
        "inc(rev))",
        "(rev)",
        "inc (rev)",
        "inc(rev)(neg)",
        "id(rev)",
        "Rev",
    ] {
        assert!(bad.parse::<Program>().is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn suite_and_split_names_parse_and_unknown_names_list_the_valid_ones() {
    assert_eq!("shift-l".parse::<Suite>().unwrap(), Suite::ShiftL);
    assert_eq!("Shift-P".parse::<Suite>().unwrap(), Suite::ShiftP);
    assert_eq!("comp-i".parse::<Suite>().unwrap(), Suite::CompI);
    assert_eq!("id".parse::<Split>().unwrap(), Split::Id);
    assert_eq!("OOD".parse::<Split>().unwrap(), Split::Ood);
    let suite_error = "shift".parse::<Suite>().unwrap_err().to_string();
    assert!(suite_error.contains("\"shift\"") && suite_error.contains("shift-l, shift-p, comp-i"));
    let split_error = "test".parse::<Split>().unwrap_err().to_string();
    assert!(split_error.contains("\"test\"") && split_error.contains("id, ood"));
}

// ---------------------------------------------------------------- shift suites

/// Every task of the fixed test set is `shl_k` for its named k, with k in
/// `expected`; checked by rotating the inputs independently. Every k occurs.
fn check_shift_test_set(suite: Suite, split: Split, expected: std::ops::RangeInclusive<usize>) {
    let cfg = default_cfg();
    let tasks = test_set(
        suite,
        split,
        suite.test_seed(split),
        DEFAULT_TEST_SET_SIZE,
        &cfg,
    )
    .unwrap();
    assert_eq!(tasks.len(), DEFAULT_TEST_SET_SIZE);
    let mut seen = BTreeSet::new();
    for task in &tasks {
        let name = task
            .program
            .as_deref()
            .expect("generated tasks name their program");
        let k = match program(name).steps() {
            [Primitive::ShiftLeft(k)] => *k,
            other => panic!("{suite} {split}: {name} is not a single shift: {other:?}"),
        };
        assert!(
            expected.contains(&k),
            "{suite} {split}: shl_{k} outside {expected:?}"
        );
        seen.insert(k);
        assert_eq!(task.spec.len(), cfg.m);
        for pair in &task.spec {
            assert_eq!(pair.x.len(), cfg.n);
            assert!(pair.x.iter().all(|&a| a < cfg.v as u32));
            assert_eq!(
                pair.y,
                rotate_left(&pair.x, k),
                "{suite} {split}: spec pair of {name}"
            );
        }
        let query_y = task.query.y.as_ref().expect("generated queries have y");
        assert_eq!(
            *query_y,
            rotate_left(&task.query.x, k),
            "{suite} {split}: query of {name}"
        );
    }
    let all: BTreeSet<usize> = expected.collect();
    assert_eq!(
        seen, all,
        "{suite} {split}: every shift should occur in 200 tasks"
    );
}

#[test]
fn shift_l_id_is_short_shifts_and_ood_is_long_shifts() {
    check_shift_test_set(Suite::ShiftL, Split::Id, 1..=5);
    check_shift_test_set(Suite::ShiftL, Split::Ood, 6..=10);
}

#[test]
fn shift_p_id_is_long_shifts_and_ood_is_short_shifts() {
    check_shift_test_set(Suite::ShiftP, Split::Id, 6..=10);
    check_shift_test_set(Suite::ShiftP, Split::Ood, 1..=5);
}

#[test]
fn shift_suites_reject_lengths_where_shifts_would_coincide() {
    let short = SuiteConfig {
        n: 10,
        ..default_cfg()
    };
    assert!(matches!(
        Suite::ShiftL.programs(Split::Id, &short),
        Err(ConfigError::TooShortForShifts { .. })
    ));
    assert!(
        Suite::ShiftP
            .programs(
                Split::Ood,
                &SuiteConfig {
                    n: 11,
                    ..default_cfg()
                }
            )
            .is_ok()
    );
    // Comp-I has no such limit.
    assert!(
        Suite::CompI
            .programs(
                Split::Ood,
                &SuiteConfig {
                    n: 2,
                    ..default_cfg()
                }
            )
            .is_ok()
    );
}

// ---------------------------------------------------------------- Comp-I

/// Finds an input on which `a` and `b` differ, by brute evaluation (not the
/// canonical form) on random inputs.
fn find_difference(
    a: &Program,
    b: &Program,
    cfg: &SuiteConfig,
    rng: &mut TaskRng,
) -> Option<Vec<u32>> {
    (0..64)
        .map(|_| random_input(rng, cfg.n, cfg.v))
        .find(|x| a.apply(x, cfg.v) != b.apply(x, cfg.v))
}

fn identity_and_comp_i_id(cfg: &SuiteConfig) -> Vec<Program> {
    let mut programs = vec![program("id")];
    programs.extend(Suite::CompI.programs(Split::Id, cfg).unwrap());
    programs
}

#[test]
fn comp_i_splits_for_the_default_configuration() {
    let cfg = default_cfg();
    let id: Vec<String> = Suite::CompI
        .programs(Split::Id, &cfg)
        .unwrap()
        .iter()
        .map(Program::name)
        .collect();
    assert_eq!(id, ["shl_1", "rev", "swp", "inc", "neg"]);
    let ood = Suite::CompI.programs(Split::Ood, &cfg).unwrap();
    // N = 20, V = 10: no composition of two different primitives collapses.
    assert_eq!(ood.len(), 20);
    assert!(comp_i_exclusions(&cfg).unwrap().is_empty());
    let names: BTreeSet<String> = ood.iter().map(Program::name).collect();
    assert_eq!(names.len(), 20, "no duplicate names");
    for p in &ood {
        match p.steps() {
            [inner, outer] => {
                assert_ne!(inner, outer);
                assert!(COMP_I_PRIMITIVES.contains(inner) && COMP_I_PRIMITIVES.contains(outer));
            }
            other => panic!("{p} is not a composition of two primitives: {other:?}"),
        }
    }
}

#[test]
fn no_comp_i_ood_program_equals_an_id_program_or_the_identity() {
    let mut rng = TaskRng::new(7);
    for cfg in [
        default_cfg(),
        SuiteConfig {
            n: 2,
            ..default_cfg()
        },
        SuiteConfig {
            v: 2,
            ..default_cfg()
        },
        SuiteConfig { n: 3, v: 2, m: 4 },
    ] {
        for ood in Suite::CompI.programs(Split::Ood, &cfg).unwrap() {
            for other in identity_and_comp_i_id(&cfg) {
                assert!(
                    find_difference(&ood, &other, &cfg, &mut rng).is_some(),
                    "{ood} looks equal to {other} for {cfg:?}"
                );
            }
        }
    }
}

#[test]
fn comp_i_exclusions_are_computed_and_really_equal_what_they_claim() {
    // N = 2: shl_1, rev and swp are all the same swap, so any two of them
    // compose to the identity (6 ordered pairs).
    let cfg_n2 = SuiteConfig {
        n: 2,
        ..default_cfg()
    };
    let excluded = comp_i_exclusions(&cfg_n2).unwrap();
    let names: Vec<String> = excluded.iter().map(|e| e.program.name()).collect();
    assert_eq!(
        names,
        [
            "shl_1(rev)",
            "shl_1(swp)",
            "rev(shl_1)",
            "rev(swp)",
            "swp(shl_1)",
            "swp(rev)"
        ]
    );
    assert!(excluded.iter().all(|e| e.equals == "id"));
    assert_eq!(
        Suite::CompI.programs(Split::Ood, &cfg_n2).unwrap().len(),
        14
    );
    // Exhaustively over all 100 inputs of length 2 over 10 values.
    for e in &excluded {
        for a in 0..10 {
            for b in 0..10 {
                assert_eq!(e.program.apply(&[a, b], 10), vec![a, b], "{}", e.program);
            }
        }
    }

    // V = 2: neg is the identity, so f(neg) and neg(f) equal f (8 pairs).
    let cfg_v2 = SuiteConfig {
        v: 2,
        ..default_cfg()
    };
    let excluded = comp_i_exclusions(&cfg_v2).unwrap();
    assert_eq!(excluded.len(), 8);
    assert_eq!(
        Suite::CompI.programs(Split::Ood, &cfg_v2).unwrap().len(),
        12
    );
    let mut rng = TaskRng::new(11);
    for e in &excluded {
        assert!(
            e.program.steps().contains(&Primitive::Negate),
            "{}",
            e.program
        );
        let claimed = program(&e.equals);
        for _ in 0..200 {
            let x = random_input(&mut rng, cfg_v2.n, cfg_v2.v);
            assert_eq!(
                e.program.apply(&x, 2),
                claimed.apply(&x, 2),
                "{} vs {}",
                e.program,
                e.equals
            );
        }
    }
}

#[test]
fn print_comp_i_programs_and_exclusions_for_the_docs() {
    // `cargo test --release print_comp_i -- --nocapture` shows the lists
    // docs/suite.md quotes.
    for cfg in [
        default_cfg(),
        SuiteConfig {
            n: 2,
            ..default_cfg()
        },
        SuiteConfig {
            v: 2,
            ..default_cfg()
        },
    ] {
        let ood = Suite::CompI.programs(Split::Ood, &cfg).unwrap();
        let excluded = comp_i_exclusions(&cfg).unwrap();
        // Distinct functions among the OOD programs (e.g. inc(rev) = rev(inc)).
        let distinct: BTreeSet<Vec<u32>> = ood
            .iter()
            .map(|p| {
                let map = p.canonical(cfg.n, cfg.v);
                map.source
                    .iter()
                    .map(|&s| s as u32)
                    .chain(map.value.iter().copied())
                    .collect()
            })
            .collect();
        println!(
            "N={} V={}: {} OOD programs ({} distinct functions): {}",
            cfg.n,
            cfg.v,
            ood.len(),
            distinct.len(),
            ood.iter().map(Program::name).collect::<Vec<_>>().join(" ")
        );
        for e in &excluded {
            println!("  excluded {} (equals {})", e.program, e.equals);
        }
        assert_eq!(ood.len() + excluded.len(), 20);
    }
}

// ---------------------------------------------------------------- canonical form

fn random_program(rng: &mut TaskRng) -> Program {
    let length = rng.index(7);
    let steps = (0..length)
        .map(|_| match rng.below(5) {
            0 => Primitive::ShiftLeft(1 + rng.index(25)),
            1 => Primitive::Reverse,
            2 => Primitive::SwapPairs,
            3 => Primitive::Increment,
            _ => Primitive::Negate,
        })
        .collect();
    Program::new(steps)
}

#[test]
fn canonical_form_agrees_with_step_by_step_evaluation() {
    let mut rng = TaskRng::new(2024);
    for cfg in [
        default_cfg(),
        SuiteConfig { n: 7, v: 5, m: 4 }, // odd length: swp leaves the last element
        SuiteConfig { n: 2, v: 2, m: 1 },
        SuiteConfig { n: 11, v: 3, m: 4 },
    ] {
        let mut programs: Vec<Program> = Vec::new();
        for suite in ALL_SUITES {
            for split in ALL_SPLITS {
                if let Ok(list) = suite.programs(split, &cfg) {
                    programs.extend(list);
                }
            }
        }
        programs.extend((0..200).map(|_| random_program(&mut rng)));
        for p in &programs {
            let map = p.canonical(cfg.n, cfg.v);
            for _ in 0..10 {
                let x = random_input(&mut rng, cfg.n, cfg.v);
                assert_eq!(
                    map.apply(&x),
                    p.apply(&x, cfg.v),
                    "{p} for {cfg:?} on {x:?}"
                );
            }
        }
    }
}

#[test]
fn canonical_form_detects_identity_and_inverse_pairs() {
    let cfg = default_cfg();
    for name in ["id", "rev(rev)", "swp(swp)", "neg(neg)", "shl_15(shl_5)"] {
        assert!(
            program(name).canonical(cfg.n, cfg.v).is_identity(),
            "{name}"
        );
    }
    // Ten increments wrap around V = 10; nine do not.
    assert!(
        Program::new(vec![Primitive::Increment; 10])
            .canonical(cfg.n, cfg.v)
            .is_identity()
    );
    assert!(
        !Program::new(vec![Primitive::Increment; 9])
            .canonical(cfg.n, cfg.v)
            .is_identity()
    );
    for name in [
        "rev",
        "swp",
        "inc",
        "neg",
        "shl_1",
        "inc(rev)",
        "shl_19(shl_2)",
    ] {
        assert!(
            !program(name).canonical(cfg.n, cfg.v).is_identity(),
            "{name}"
        );
    }
    // inc and rev commute; shl_1 and rev do not.
    assert_eq!(
        program("inc(rev)").canonical(20, 10),
        program("rev(inc)").canonical(20, 10)
    );
    assert_ne!(
        program("rev(shl_1)").canonical(20, 10),
        program("shl_1(rev)").canonical(20, 10)
    );
    // For even N, rev maps neighbour pairs onto neighbour pairs, so rev and
    // swp commute; for odd N, swp's fixed last element breaks that.
    assert_eq!(
        program("rev(swp)").canonical(20, 10),
        program("swp(rev)").canonical(20, 10)
    );
    assert_ne!(
        program("rev(swp)").canonical(7, 10),
        program("swp(rev)").canonical(7, 10)
    );
    let x: Vec<u32> = (0..7).collect();
    // swp then rev: [1,0,3,2,5,4,6] reversed; rev then swp: [6,5,4,3,2,1,0] swapped.
    assert_eq!(program("rev(swp)").apply(&x, 10), vec![6, 4, 5, 2, 3, 0, 1]);
    assert_eq!(program("swp(rev)").apply(&x, 10), vec![5, 6, 3, 4, 1, 2, 0]);
}

// ---------------------------------------------------------------- determinism

#[test]
fn splitmix64_matches_the_reference_stream() {
    // Reference outputs of SplitMix64 seeded with 1234567.
    let mut rng = TaskRng::new(1234567);
    let first: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
    assert_eq!(
        first,
        [
            6457827717110365317,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821
        ]
    );
}

#[test]
fn below_is_in_range_and_roughly_uniform() {
    let mut rng = TaskRng::new(99);
    let mut counts = [0usize; 10];
    for _ in 0..100_000 {
        counts[rng.below(10) as usize] += 1;
    }
    // Expected 10,000 each; 5 standard deviations is about 475.
    assert!(
        counts.iter().all(|&c| (9_500..=10_500).contains(&c)),
        "{counts:?}"
    );
    assert!((0..100).all(|_| rng.below(1) == 0));
}

#[test]
fn test_sets_are_identical_for_the_same_seed_and_differ_otherwise() {
    let cfg = default_cfg();
    for suite in ALL_SUITES {
        let a = test_set(suite, Split::Ood, 42, 50, &cfg).unwrap();
        let b = test_set(suite, Split::Ood, 42, 50, &cfg).unwrap();
        let c = test_set(suite, Split::Ood, 43, 50, &cfg).unwrap();
        assert_eq!(a, b, "{suite}: same seed");
        assert_ne!(a, c, "{suite}: different seed");
        // A shorter set is a prefix of a longer one.
        assert_eq!(
            test_set(suite, Split::Ood, 42, 10, &cfg).unwrap()[..],
            a[..10]
        );
    }
}

#[test]
fn fixed_test_set_seeds_are_distinct_and_pinned() {
    let seeds = [
        SHIFT_L_ID_SEED,
        SHIFT_L_OOD_SEED,
        SHIFT_P_ID_SEED,
        SHIFT_P_OOD_SEED,
        COMP_I_ID_SEED,
        COMP_I_OOD_SEED,
    ];
    assert_eq!(seeds.iter().collect::<BTreeSet<_>>().len(), 6);
    for suite in ALL_SUITES {
        assert_ne!(suite.test_seed(Split::Id), suite.test_seed(Split::Ood));
    }
    assert_eq!(Suite::ShiftL.test_seed(Split::Id), SHIFT_L_ID_SEED);
    assert_eq!(Suite::CompI.test_seed(Split::Ood), COMP_I_OOD_SEED);
    // Guard against silent changes to the generator or the draw order: the
    // first fixed Shift-L OOD task (also shown by `tasks --suite shift-l --split ood`).
    let first = &test_set(
        Suite::ShiftL,
        Split::Ood,
        SHIFT_L_OOD_SEED,
        1,
        &default_cfg(),
    )
    .unwrap()[0];
    assert_eq!(first.program.as_deref(), Some("shl_7"));
    assert_eq!(first.spec[0].x[..6], [6, 7, 8, 7, 6, 3]);
    assert_eq!(first.query.x[..6], [8, 2, 4, 9, 5, 2]);
}

#[test]
fn sample_task_and_generate_task_follow_the_test_set_draws() {
    let cfg = default_cfg();
    let mut rng = TaskRng::new(5);
    let sampled: Vec<Task> = (0..20)
        .map(|_| sample_task(&mut rng, Suite::CompI, Split::Ood, &cfg).unwrap())
        .collect();
    assert_eq!(
        sampled,
        test_set(Suite::CompI, Split::Ood, 5, 20, &cfg).unwrap()
    );

    let neg_rev = program("neg(rev)");
    let task = generate_task(&mut TaskRng::new(1), &neg_rev, &cfg).unwrap();
    assert_eq!(task.program.as_deref(), Some("neg(rev)"));
    for pair in &task.spec {
        assert_eq!(pair.y, neg_rev.apply(&pair.x, cfg.v));
    }
    let other_seed = generate_task(&mut TaskRng::new(2), &neg_rev, &cfg).unwrap();
    assert_ne!(task.spec, other_seed.spec);
    assert!(generate_task(&mut TaskRng::new(1), &neg_rev, &SuiteConfig { v: 1, ..cfg }).is_err());
}

#[test]
fn batch_sampler_matches_sampled_tasks_and_reuses_its_buffers() {
    let cfg = default_cfg();
    let sampler = BatchSampler::for_suite(Suite::CompI, Split::Ood, cfg).unwrap();
    let mut batch = TaskBatch::default();
    sampler.fill(&mut TaskRng::new(77), 16, cfg.m + 1, &mut batch);
    assert_eq!(batch.x.len(), 16 * (cfg.m + 1) * cfg.n);
    assert_eq!(batch.y.len(), batch.x.len());
    let tasks = test_set(Suite::CompI, Split::Ood, 77, 16, &cfg).unwrap();
    for (b, task) in tasks.iter().enumerate() {
        let name = sampler.programs()[batch.program_index[b] as usize].name();
        assert_eq!(task.program.as_deref(), Some(name.as_str()));
        for (p, pair) in task.spec.iter().enumerate() {
            assert_eq!(batch.x_of(b, p), &pair.x[..]);
            assert_eq!(batch.y_of(b, p), &pair.y[..]);
        }
        assert_eq!(batch.x_of(b, cfg.m), &task.query.x[..]);
        assert_eq!(Some(batch.y_of(b, cfg.m).to_vec()), task.query.y);
    }
    // Refilling with a smaller shape keeps capacity and resizes the view.
    let capacity = batch.x.capacity();
    sampler.fill(&mut TaskRng::new(78), 8, cfg.m, &mut batch);
    assert_eq!((batch.batch, batch.pairs, batch.n), (8, cfg.m, cfg.n));
    assert_eq!(batch.x.len(), 8 * cfg.m * cfg.n);
    assert_eq!(batch.x.capacity(), capacity);
    assert!(BatchSampler::new(Vec::new(), cfg).is_err());
}

// ---------------------------------------------------------------- task files

fn seq(n: usize, value: u32) -> String {
    format!("[{}]", vec![value.to_string(); n].join(","))
}

/// A valid task line for N = 20, V = 10, with `spec` and `query` JSON given.
fn line_with(spec: &str, query: &str) -> String {
    format!(r#"{{"program": "shl_1", "spec": {spec}, "query": {query}}}"#)
}

fn valid_line() -> String {
    let pair = format!(r#"{{"x": {}, "y": {}}}"#, seq(20, 1), seq(20, 1));
    line_with(
        &format!("[{pair}, {pair}]"),
        &format!(r#"{{"x": {}, "y": {}}}"#, seq(20, 2), seq(20, 2)),
    )
}

/// Reads `lines` joined by newlines and returns the error message.
fn read_error(lines: &[String]) -> (Option<usize>, String) {
    let text = lines.join("\n");
    let error = read_tasks(Cursor::new(text), &default_cfg()).expect_err("file should be rejected");
    (error.line(), error.to_string())
}

#[test]
fn hand_written_file_with_blank_lines_and_optional_fields_is_read() {
    // N = 4, V = 10: a hand-written shl_1 task, blank lines, and a task
    // with no program and no query answer.
    let cfg = SuiteConfig { n: 4, v: 10, m: 2 };
    let text = r#"
{"program": "shl_1", "spec": [{"x": [1,2,3,4], "y": [2,3,4,1]}, {"x": [0,0,9,9], "y": [0,9,9,0]}], "query": {"x": [5,6,7,8], "y": [6,7,8,5]}}
   
{"spec": [{"x": [1,2,3,4], "y": [4,3,2,1]}], "query": {"x": [1,1,1,1]}}
"#;
    let tasks = read_tasks(Cursor::new(text), &cfg).unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].program.as_deref(), Some("shl_1"));
    assert_eq!(tasks[0].spec[1].y, vec![0, 9, 9, 0]);
    assert_eq!(tasks[0].query.y, Some(vec![6, 7, 8, 5]));
    assert_eq!(tasks[1].program, None);
    assert_eq!(tasks[1].spec.len(), 1);
    assert_eq!(tasks[1].query.y, None);
}

#[test]
fn wrong_length_names_line_pair_and_array() {
    let bad_pair = format!(r#"{{"x": {}, "y": {}}}"#, seq(20, 1), seq(19, 1));
    let good_pair = format!(r#"{{"x": {}, "y": {}}}"#, seq(20, 1), seq(20, 1));
    let bad = line_with(
        &format!("[{good_pair}, {bad_pair}]"),
        &format!(r#"{{"x": {}}}"#, seq(20, 0)),
    );
    let (line, message) = read_error(&[valid_line(), String::new(), bad]);
    assert_eq!(line, Some(3));
    assert_eq!(message, "line 3: spec pair 2: y has length 19, expected 20");
}

#[test]
fn out_of_range_values_name_the_line_and_position() {
    let pair = format!(r#"{{"x": {}, "y": {}}}"#, seq(20, 1), seq(20, 1));
    let mut query_x: Vec<String> = vec!["0".into(); 20];
    query_x[4] = "10".into();
    let bad = line_with(
        &format!("[{pair}]"),
        &format!(r#"{{"x": [{}]}}"#, query_x.join(",")),
    );
    let (line, message) = read_error(&[valid_line(), bad]);
    assert_eq!(line, Some(2));
    assert!(
        message.starts_with("line 2: query: x[4] is 10, expected an integer in 0..=9"),
        "{message}"
    );

    for bad_value in ["-1", "3.5", "\"3\"", "null"] {
        let mut x: Vec<String> = vec!["0".into(); 20];
        x[0] = bad_value.into();
        let bad_pair = format!(r#"{{"x": [{}], "y": {}}}"#, x.join(","), seq(20, 1));
        let bad = line_with(
            &format!("[{bad_pair}]"),
            &format!(r#"{{"x": {}}}"#, seq(20, 0)),
        );
        let (line, message) = read_error(&[bad]);
        assert_eq!(line, Some(1), "{bad_value}");
        assert!(
            message.starts_with("line 1: spec pair 1: x[0] is "),
            "{bad_value}: {message}"
        );
    }
}

#[test]
fn missing_or_empty_spec_and_missing_query_are_rejected_with_their_line() {
    let query = format!(r#"{{"x": {}}}"#, seq(20, 0));
    let (line, message) = read_error(&[valid_line(), valid_line(), line_with("[]", &query)]);
    assert_eq!(
        (line, message.as_str()),
        (
            Some(3),
            "line 3: \"spec\" has no pairs; at least 1 is required"
        )
    );

    let no_spec = format!(r#"{{"query": {query}}}"#);
    let (line, message) = read_error(&[no_spec]);
    assert_eq!(
        (line, message.as_str()),
        (Some(1), "line 1: missing \"spec\"")
    );

    let pair = format!(r#"{{"x": {}, "y": {}}}"#, seq(20, 1), seq(20, 1));
    let no_query = format!(r#"{{"spec": [{pair}]}}"#);
    let (line, message) = read_error(&[valid_line(), no_query]);
    assert_eq!(
        (line, message.as_str()),
        (Some(2), "line 2: missing \"query\"")
    );

    let no_y = line_with(&format!(r#"[{{"x": {}}}]"#, seq(20, 1)), &query);
    let (_, message) = read_error(&[no_y]);
    assert_eq!(message, "line 1: spec pair 1: missing y");

    let too_many = line_with(&format!("[{}]", vec![pair.clone(); 65].join(",")), &query);
    let (_, message) = read_error(&[too_many]);
    assert_eq!(
        message,
        "line 1: \"spec\" has 65 pairs; at most 64 are allowed"
    );
}

#[test]
fn bad_json_unknown_fields_and_non_objects_name_their_line() {
    let truncated = valid_line()[..50].to_string();
    let (line, message) = read_error(&[valid_line(), String::new(), String::new(), truncated]);
    assert_eq!(line, Some(4));
    assert!(message.starts_with("line 4: invalid JSON: "), "{message}");
    assert!(message.contains("(column "), "{message}");

    let misspelt = valid_line().replace("\"query\"", "\"querry\"");
    let (line, message) = read_error(&[misspelt]);
    assert_eq!(line, Some(1));
    assert!(message.contains("unknown field \"querry\""), "{message}");

    let (line, message) = read_error(&[valid_line(), "[1, 2, 3]".to_string()]);
    assert_eq!(line, Some(2));
    assert!(
        message.starts_with("line 2: expected a JSON object"),
        "{message}"
    );

    let numeric_program = valid_line().replace("\"shl_1\"", "3");
    let (_, message) = read_error(&[numeric_program]);
    assert_eq!(message, "line 1: \"program\" must be a string");
}

#[test]
fn empty_files_unreadable_files_and_bad_bytes_are_errors() {
    let cfg = default_cfg();
    assert!(matches!(
        read_tasks(Cursor::new(""), &cfg),
        Err(TaskFileError::NoTasks)
    ));
    assert!(matches!(
        read_tasks(Cursor::new("\n  \n\n"), &cfg),
        Err(TaskFileError::NoTasks)
    ));
    let missing = scratch_dir("missing").join("no-such-file.jsonl");
    let error = read_task_file(&missing, &cfg).unwrap_err();
    assert!(matches!(error, TaskFileError::Open { .. }));
    assert!(error.to_string().contains("no-such-file.jsonl"));
    let mut bytes = format!("{}\n", valid_line()).into_bytes();
    bytes.extend_from_slice(b"\xff\xfe\n");
    let error = read_tasks(Cursor::new(bytes), &cfg).unwrap_err();
    assert_eq!(error.line(), Some(2));
}

#[test]
fn write_then_read_round_trips_tasks_exactly() {
    let cfg = default_cfg();
    let mut tasks = test_set(Suite::CompI, Split::Ood, 3, 25, &cfg).unwrap();
    tasks[0].program = None;
    tasks[1].query.y = None;
    let mut buffer = Vec::new();
    write_tasks(&mut buffer, &tasks).unwrap();
    let text = String::from_utf8(buffer.clone()).unwrap();
    assert_eq!(text.lines().count(), 25);
    assert!(!text.lines().next().unwrap().contains("program"));
    assert_eq!(read_tasks(Cursor::new(buffer), &cfg).unwrap(), tasks);

    let dir = scratch_dir("round-trip");
    let path = dir.join("tasks.jsonl");
    write_task_file(&path, &tasks).unwrap();
    assert_eq!(read_task_file(&path, &cfg).unwrap(), tasks);
    // Only the final file is left: the temporary was renamed, not copied.
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, [std::ffi::OsString::from("tasks.jsonl")]);
    // A failed write (directory missing) leaves nothing behind and errors.
    assert!(write_task_file(dir.join("absent/tasks.jsonl"), &tasks).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- command line

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: TasksArgs,
}

fn parse_args(args: &[&str]) -> Result<TasksArgs, clap::Error> {
    Cli::try_parse_from(std::iter::once("tasks").chain(args.iter().copied())).map(|cli| cli.args)
}

fn run_to_string(args: &[&str]) -> String {
    let mut out = Vec::new();
    run_tasks_command_to(&parse_args(args).unwrap(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn tasks_command_prints_the_fixed_test_set_by_default() {
    let cfg = default_cfg();
    let printed = run_to_string(&["--suite", "shift-l", "--split", "ood", "-n", "5"]);
    let tasks = read_tasks(Cursor::new(printed), &cfg).unwrap();
    assert_eq!(
        tasks,
        test_set(Suite::ShiftL, Split::Ood, SHIFT_L_OOD_SEED, 5, &cfg).unwrap()
    );

    let full = run_to_string(&["--suite", "comp-i", "--split", "id"]);
    assert_eq!(full.lines().count(), DEFAULT_TEST_SET_SIZE);
    let tasks = read_tasks(Cursor::new(full), &cfg).unwrap();
    assert_eq!(
        tasks,
        test_set(Suite::CompI, Split::Id, COMP_I_ID_SEED, 200, &cfg).unwrap()
    );

    let seeded = run_to_string(&[
        "--suite", "shift-l", "--split", "ood", "-n", "5", "--seed", "9",
    ]);
    let tasks = read_tasks(Cursor::new(seeded), &cfg).unwrap();
    assert_eq!(
        tasks,
        test_set(Suite::ShiftL, Split::Ood, 9, 5, &cfg).unwrap()
    );
    assert_ne!(
        tasks,
        test_set(Suite::ShiftL, Split::Ood, SHIFT_L_OOD_SEED, 5, &cfg).unwrap()
    );
}

#[test]
fn tasks_command_writes_files_and_lists_programs() {
    let dir = scratch_dir("command");
    let path = dir.join("shift-p.jsonl");
    let path_text = path.to_str().unwrap();
    let printed = run_to_string(&[
        "--suite", "shift-p", "--split", "ood", "-n", "7", "--out", path_text,
    ]);
    assert!(printed.is_empty(), "with --out nothing goes to stdout");
    let cfg = default_cfg();
    assert_eq!(
        read_task_file(&path, &cfg).unwrap(),
        test_set(Suite::ShiftP, Split::Ood, SHIFT_P_OOD_SEED, 7, &cfg).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let programs = run_to_string(&["--suite", "shift-p", "--programs"]);
    assert_eq!(programs, "shl_6\nshl_7\nshl_8\nshl_9\nshl_10\n");
    let comp = run_to_string(&[
        "--suite",
        "comp-i",
        "--split",
        "ood",
        "--programs",
        "--length",
        "2",
    ]);
    assert_eq!(comp.lines().count(), 14);
}

#[test]
fn tasks_command_rejects_unknown_names_and_bad_shapes_clearly() {
    let error = parse_args(&["--suite", "shift-x"])
        .expect_err("unknown suite")
        .to_string();
    assert!(error.contains("shift-l, shift-p, comp-i"), "{error}");
    let error = parse_args(&["--suite", "shift-l", "--split", "test"])
        .expect_err("unknown split")
        .to_string();
    assert!(error.contains("id, ood"), "{error}");
    assert!(
        parse_args(&["--split", "id"]).is_err(),
        "--suite is required"
    );

    let args = parse_args(&["--suite", "shift-l", "--length", "8"]).unwrap();
    let error = run_tasks_command_to(&args, Vec::new()).unwrap_err();
    assert!(
        format!("{error:#}").contains("sequence length > 10"),
        "{error:#}"
    );
}

/// Every run of `k` consecutive values of `values`.
fn windows_of(values: &[u32], k: usize) -> BTreeSet<Vec<u32>> {
    values.windows(k).map(<[u32]>::to_vec).collect()
}

#[test]
fn substreams_of_neighbouring_indices_share_no_run_of_values() {
    // With `new(seed ^ index * golden)` stream index + 1 was stream index
    // moved along by one draw: they shared every run of values. 16 draws
    // below 2^16 agreeing by chance has probability about 2^-256.
    for seed in [0u64, 1, 0xDEAD_BEEF] {
        let draw = |index: u64| -> Vec<u32> {
            let mut rng = TaskRng::substream(seed, index);
            (0..4000).map(|_| rng.below(1 << 16)).collect()
        };
        let first = windows_of(&draw(0), 16);
        for index in 1..4 {
            let shared = windows_of(&draw(index), 16).intersection(&first).count();
            assert_eq!(shared, 0, "seed {seed}: streams 0 and {index} overlap");
        }
        assert_eq!(
            draw(3),
            draw(3),
            "a substream is a pure function of (seed, index)"
        );
    }
    assert_ne!(
        TaskRng::substream(0, 5).next_u64(),
        TaskRng::substream(1, 5).next_u64(),
        "the seed matters"
    );
}
