//! The compositional program-induction task suite.
//!
//! A task is a hidden program (a map on sequences of length `N` over the
//! values `0..V`) shown through `m` specification pairs `(x, f(x))`; the model
//! must predict `f(x)` for one more query input. Programs are built from five
//! primitives (`shl_k`, `rev`, `swp`, `inc`, `neg`) and grouped into three
//! suites (Shift-L, Shift-P, Comp-I), each with an in-distribution (ID) and an
//! out-of-distribution (OOD) split. `docs/suite.md` is the user-facing
//! description; where the paper is silent (exact splits, seeds, the file
//! format, the Comp-I exclusion rule) the choices are this module's own.
//!
//! Layout:
//! - [`rng`]: the self-contained SplitMix64 generator (results never depend
//!   on a dependency's version);
//! - [`primitive`], [`program`]: the primitives, programs and their exact
//!   canonical form (`y[i] = phi(x[P(i)])`);
//! - [`suite`]: suites, splits, their programs and the fixed test-set seeds;
//! - [`task`]: the `Task` type and seeded generation;
//! - [`batch`]: cheap flat-buffer sampling for the trainer;
//! - [`pack`]: tasks packed into flat buffers for evaluation and search;
//! - [`file`](mod@file): the JSON Lines task-file reader and writer;
//! - [`cli`]: the `nli-wgpu tasks` subcommand.

pub mod batch;
pub mod cli;
pub mod file;
pub mod pack;
pub mod primitive;
pub mod program;
pub mod rng;
pub mod suite;
pub mod task;

pub use batch::{BatchSampler, TaskBatch};
pub use cli::{TasksArgs, run_tasks_command, run_tasks_command_to};
pub use file::{TaskFileError, read_task_file, read_tasks, write_task_file, write_tasks};
pub use primitive::Primitive;
pub use program::{CanonicalMap, Program, ProgramParseError};
pub use rng::TaskRng;
pub use suite::{
    ALL_SPLITS, ALL_SUITES, COMP_I_PRIMITIVES, CompIExclusion, DEFAULT_TEST_SET_SIZE, SHIFT_LONG,
    SHIFT_SHORT, Split, Suite, SuiteNameError, comp_i_exclusions,
};
pub use task::{Pair, Query, Task, generate_task, sample_task, test_set};

use serde::{Deserialize, Serialize};

/// Most specification pairs a task may have, in generated suites and in task
/// files. Generous (the default is 4) but bounded so a malformed or hostile
/// file cannot ask for unbounded work per task.
pub const MAX_SPEC_PAIRS: usize = 64;

/// Longest sequence length a configuration may ask for. Far above the
/// default 20; it bounds the size of the position tables.
pub const MAX_LENGTH: usize = 65_536;

/// Largest number of distinct values a configuration may ask for. Far above
/// the default 10; it bounds the size of the value tables.
pub const MAX_VALUES: usize = 65_536;

/// Shape of the tasks: sequence length `n` (N), number of values `v` (V,
/// values are `0..v`), and number of specification pairs `m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiteConfig {
    /// Sequence length N.
    pub n: usize,
    /// Number of values V; every element is in `0..v`.
    pub v: usize,
    /// Number of specification pairs m per generated task.
    pub m: usize,
}

impl Default for SuiteConfig {
    /// The paper's setting: N = 20, V = 10, m = 4.
    fn default() -> Self {
        SuiteConfig { n: 20, v: 10, m: 4 }
    }
}

impl SuiteConfig {
    /// Checks the bounds every part of the module relies on.
    ///
    /// `n >= 2` and `v >= 2` because with a single position or a single value
    /// every program is the identity, and the canonical form is only an exact
    /// test of functional equality when `v >= 2`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(2..=MAX_LENGTH).contains(&self.n) {
            return Err(ConfigError::Length { n: self.n });
        }
        if !(2..=MAX_VALUES).contains(&self.v) {
            return Err(ConfigError::Values { v: self.v });
        }
        if !(1..=MAX_SPEC_PAIRS).contains(&self.m) {
            return Err(ConfigError::SpecPairs { m: self.m });
        }
        Ok(())
    }
}

/// A configuration (or program list) the suite cannot be generated with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("sequence length {n} is not supported; it must be in 2..={MAX_LENGTH}")]
    Length { n: usize },
    #[error("value count {v} is not supported; it must be in 2..={MAX_VALUES}")]
    Values { v: usize },
    #[error("{m} specification pairs is not supported; it must be in 1..={MAX_SPEC_PAIRS}")]
    SpecPairs { m: usize },
    #[error(
        "suite {suite} shifts by up to {max_shift}, so it needs sequence length > {max_shift} \
         (got {n}); shorter sequences make shifts of the ID and OOD splits coincide"
    )]
    TooShortForShifts {
        suite: Suite,
        n: usize,
        max_shift: usize,
    },
    #[error("the program list is empty; there is nothing to sample")]
    NoPrograms,
}
