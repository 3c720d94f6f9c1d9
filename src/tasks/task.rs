//! Tasks and their deterministic, seeded generation.
//!
//! Draw order (the batch sampler follows the same order, so the two agree
//! draw for draw): one uniform program index (only when sampling from a
//! suite), then the inputs of the `m` specification pairs and finally the
//! query input, each as N uniform values in `0..V`, position 0 first.

use serde::Serialize;

use crate::tasks::program::{CanonicalMap, Program};
use crate::tasks::rng::TaskRng;
use crate::tasks::suite::{Split, Suite};
use crate::tasks::{ConfigError, SuiteConfig};

/// One specification pair: an input and the program's output on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pair {
    /// Input, N values in `0..V`.
    pub x: Vec<u32>,
    /// The program's output on `x`.
    pub y: Vec<u32>,
}

/// The query: an input, and the expected output when it is known.
///
/// `y` is optional so users can write files whose answer they want
/// predicted; generated tasks always have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Query {
    /// Input, N values in `0..V`.
    pub x: Vec<u32>,
    /// Expected output, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<Vec<u32>>,
}

/// A program-induction task: specification pairs and one query.
///
/// Values are `u32` (not `u8`) because that is what the GPU buffers hold,
/// so batches need no conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    /// The hidden program's name (see [`Program`]), when known. Task files
    /// may put any label here; it is not used to check the pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// The specification pairs the program is to be induced from.
    pub spec: Vec<Pair>,
    /// The input whose output is to be predicted.
    pub query: Query,
}

/// A task for `program` with `cfg.m` specification pairs and a query, all
/// with uniform random inputs drawn from `rng`.
pub fn generate_task(
    rng: &mut TaskRng,
    program: &Program,
    cfg: &SuiteConfig,
) -> Result<Task, ConfigError> {
    cfg.validate()?;
    let map = program.canonical(cfg.n, cfg.v);
    Ok(generate_with_map(rng, program, &map, cfg))
}

/// A task whose program is drawn uniformly from `suite`'s `split`.
///
/// Recomputes the split's program list on each call (microseconds); use
/// [`test_set`] or [`crate::tasks::BatchSampler`] for many tasks.
pub fn sample_task(
    rng: &mut TaskRng,
    suite: Suite,
    split: Split,
    cfg: &SuiteConfig,
) -> Result<Task, ConfigError> {
    let programs = suite.programs(split, cfg)?;
    let maps = canonical_maps(&programs, cfg);
    Ok(sample_from(rng, &programs, &maps, cfg))
}

/// `count` tasks sampled from `suite`'s `split` with a generator seeded by
/// `seed`. With [`Suite::test_seed`] and
/// [`crate::tasks::DEFAULT_TEST_SET_SIZE`] this is the fixed test set; a
/// smaller `count` gives a prefix of the same sequence.
pub fn test_set(
    suite: Suite,
    split: Split,
    seed: u64,
    count: usize,
    cfg: &SuiteConfig,
) -> Result<Vec<Task>, ConfigError> {
    let programs = suite.programs(split, cfg)?;
    let maps = canonical_maps(&programs, cfg);
    let mut rng = TaskRng::new(seed);
    Ok((0..count)
        .map(|_| sample_from(&mut rng, &programs, &maps, cfg))
        .collect())
}

fn canonical_maps(programs: &[Program], cfg: &SuiteConfig) -> Vec<CanonicalMap> {
    programs.iter().map(|p| p.canonical(cfg.n, cfg.v)).collect()
}

fn sample_from(
    rng: &mut TaskRng,
    programs: &[Program],
    maps: &[CanonicalMap],
    cfg: &SuiteConfig,
) -> Task {
    let chosen = rng.index(programs.len());
    generate_with_map(rng, &programs[chosen], &maps[chosen], cfg)
}

fn generate_with_map(
    rng: &mut TaskRng,
    program: &Program,
    map: &CanonicalMap,
    cfg: &SuiteConfig,
) -> Task {
    let v = cfg.v as u32;
    let mut random_input = || -> Vec<u32> { (0..cfg.n).map(|_| rng.below(v)).collect() };
    let spec = (0..cfg.m)
        .map(|_| {
            let x = random_input();
            let y = map.apply(&x);
            Pair { x, y }
        })
        .collect();
    let query_x = random_input();
    let query_y = map.apply(&query_x);
    Task {
        program: Some(program.name()),
        spec,
        query: Query {
            x: query_x,
            y: Some(query_y),
        },
    }
}
