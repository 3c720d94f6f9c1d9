//! Cheap batch sampling into flat buffers, for the trainer's every step.
//!
//! Program lists and canonical maps are computed once in
//! [`BatchSampler::new`]; [`BatchSampler::fill`] then only draws random
//! inputs and applies table lookups, reusing the caller's buffers (no
//! allocation once they have reached their size).

use crate::tasks::program::{CanonicalMap, Program};
use crate::tasks::rng::TaskRng;
use crate::tasks::suite::{Split, Suite};
use crate::tasks::{ConfigError, MAX_SPEC_PAIRS, SuiteConfig};

/// A batch of tasks in flat row-major buffers.
///
/// `x` and `y` have shape `[batch, pairs, n]`: element `(b, p, i)` is at
/// `(b * pairs + p) * n + i`. `program_index[b]` is the index of task `b`'s
/// program in [`BatchSampler::programs`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskBatch {
    /// Inputs, shape `[batch, pairs, n]`.
    pub x: Vec<u32>,
    /// Outputs, shape `[batch, pairs, n]`.
    pub y: Vec<u32>,
    /// Per task, the index of its program in [`BatchSampler::programs`].
    pub program_index: Vec<u32>,
    /// Number of tasks.
    pub batch: usize,
    /// Pairs per task.
    pub pairs: usize,
    /// Sequence length N.
    pub n: usize,
}

impl TaskBatch {
    /// Input `x` of pair `pair` of task `task` (length n).
    pub fn x_of(&self, task: usize, pair: usize) -> &[u32] {
        let start = (task * self.pairs + pair) * self.n;
        &self.x[start..start + self.n]
    }

    /// Output `y` of pair `pair` of task `task` (length n).
    pub fn y_of(&self, task: usize, pair: usize) -> &[u32] {
        let start = (task * self.pairs + pair) * self.n;
        &self.y[start..start + self.n]
    }
}

/// Samples batches of tasks from a fixed list of programs.
#[derive(Debug, Clone)]
pub struct BatchSampler {
    programs: Vec<Program>,
    maps: Vec<CanonicalMap>,
    cfg: SuiteConfig,
}

impl BatchSampler {
    /// A sampler drawing uniformly from `programs`.
    pub fn new(programs: Vec<Program>, cfg: SuiteConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        if programs.is_empty() {
            return Err(ConfigError::NoPrograms);
        }
        let maps = programs.iter().map(|p| p.canonical(cfg.n, cfg.v)).collect();
        Ok(BatchSampler {
            programs,
            maps,
            cfg,
        })
    }

    /// A sampler over `suite`'s `split` (training uses [`Split::Id`]).
    pub fn for_suite(suite: Suite, split: Split, cfg: SuiteConfig) -> Result<Self, ConfigError> {
        BatchSampler::new(suite.programs(split, &cfg)?, cfg)
    }

    /// The programs sampled from, indexed by [`TaskBatch::program_index`].
    pub fn programs(&self) -> &[Program] {
        &self.programs
    }

    /// The configuration the sampler was built for.
    pub fn config(&self) -> &SuiteConfig {
        &self.cfg
    }

    /// Fills `out` with `batch` tasks of `pairs_per_task` pairs each, shape
    /// `[batch, pairs_per_task, n]`.
    ///
    /// Pass `cfg.m` for specification pairs only, or `cfg.m + 1` to get a
    /// query in the last slot of each task: with `cfg.m + 1` the draws are
    /// exactly those of [`crate::tasks::sample_task`] on the same generator,
    /// so batch task `b` equals the `b`-th sampled task.
    ///
    /// # Panics
    /// If `pairs_per_task` is 0 or above `MAX_SPEC_PAIRS + 1`.
    pub fn fill(
        &self,
        rng: &mut TaskRng,
        batch: usize,
        pairs_per_task: usize,
        out: &mut TaskBatch,
    ) {
        assert!(
            (1..=MAX_SPEC_PAIRS + 1).contains(&pairs_per_task),
            "pairs_per_task must be in 1..={}",
            MAX_SPEC_PAIRS + 1
        );
        let n = self.cfg.n;
        let v = self.cfg.v as u32;
        let total = batch * pairs_per_task * n;
        out.x.resize(total, 0);
        out.y.resize(total, 0);
        out.program_index.resize(batch, 0);
        out.batch = batch;
        out.pairs = pairs_per_task;
        out.n = n;

        let rows_per_task = pairs_per_task * n;
        let tasks = out
            .x
            .chunks_exact_mut(rows_per_task)
            .zip(out.y.chunks_exact_mut(rows_per_task))
            .zip(out.program_index.iter_mut());
        for ((task_x, task_y), program_index) in tasks {
            let chosen = rng.index(self.programs.len());
            *program_index = chosen as u32;
            let map = &self.maps[chosen];
            for (pair_x, pair_y) in task_x.chunks_exact_mut(n).zip(task_y.chunks_exact_mut(n)) {
                for value in pair_x.iter_mut() {
                    *value = rng.below(v);
                }
                map.apply_into(pair_x, pair_y);
            }
        }
    }
}
