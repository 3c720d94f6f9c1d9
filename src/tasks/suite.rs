//! Suites, splits, their program sets and the fixed test-set seeds.
//!
//! | suite   | ID (train and in-distribution test) | OOD test |
//! |---------|-------------------------------------|----------|
//! | Shift-L | `shl_k`, k in 1..=5                 | `shl_k`, k in 6..=10 |
//! | Shift-P | `shl_k`, k in 6..=10                | `shl_k`, k in 1..=5 |
//! | Comp-I  | one of `shl_1, rev, swp, inc, neg`  | `f(g(x))`, f != g from that set, minus compositions equal (as functions) to the identity or to a single primitive of the ID set |
//!
//! The Comp-I exclusion is computed from the exact canonical form (see
//! [`crate::tasks::program`]), so it stays right for any N and V. For the
//! default N = 20, V = 10 it excludes nothing and the OOD split has all 20
//! ordered pairs; for N = 2 (where `shl_1`, `rev` and `swp` coincide) or
//! V = 2 (where `neg` is the identity) it does exclude some.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use crate::tasks::primitive::Primitive;
use crate::tasks::program::{CanonicalMap, Program};
use crate::tasks::{ConfigError, SuiteConfig};

/// Shift amounts of Shift-L's ID split and Shift-P's OOD split.
pub const SHIFT_SHORT: RangeInclusive<usize> = 1..=5;
/// Shift amounts of Shift-L's OOD split and Shift-P's ID split.
pub const SHIFT_LONG: RangeInclusive<usize> = 6..=10;

/// Comp-I's ID programs, in this order; OOD compositions are formed from them.
pub const COMP_I_PRIMITIVES: [Primitive; 5] = [
    Primitive::ShiftLeft(1),
    Primitive::Reverse,
    Primitive::SwapPairs,
    Primitive::Increment,
    Primitive::Negate,
];

/// Number of tasks in each fixed test set.
pub const DEFAULT_TEST_SET_SIZE: usize = 200;

// Fixed test-set seeds, one per suite and split (ID and OOD differ so the two
// test sets draw independent inputs). Changing any of these changes the
// published test sets: don't.
/// Seed of the Shift-L ID test set.
pub const SHIFT_L_ID_SEED: u64 = 0x5EED_0101;
/// Seed of the Shift-L OOD test set.
pub const SHIFT_L_OOD_SEED: u64 = 0x5EED_0102;
/// Seed of the Shift-P ID test set.
pub const SHIFT_P_ID_SEED: u64 = 0x5EED_0201;
/// Seed of the Shift-P OOD test set.
pub const SHIFT_P_OOD_SEED: u64 = 0x5EED_0202;
/// Seed of the Comp-I ID test set.
pub const COMP_I_ID_SEED: u64 = 0x5EED_0301;
/// Seed of the Comp-I OOD test set.
pub const COMP_I_OOD_SEED: u64 = 0x5EED_0302;

/// One of the three task suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    /// Shift-L (length extrapolation): train on short shifts, test on long.
    ShiftL,
    /// Shift-P (primitive extraction): train on long shifts, test on short.
    ShiftP,
    /// Comp-I (composition isolation): train on single primitives, test on
    /// compositions of two.
    CompI,
}

/// Every suite, in a fixed order.
pub const ALL_SUITES: [Suite; 3] = [Suite::ShiftL, Suite::ShiftP, Suite::CompI];

/// In-distribution or out-of-distribution half of a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training distribution (and the ID test set drawn from it).
    Id,
    /// The held-out programs.
    Ood,
}

/// Both splits, ID first.
pub const ALL_SPLITS: [Split; 2] = [Split::Id, Split::Ood];

/// A Comp-I composition left out of the OOD split, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompIExclusion {
    /// The excluded composition.
    pub program: Program,
    /// What it equals as a function: `id` or the name of an ID primitive.
    pub equals: String,
}

impl Suite {
    /// The command-line name: `shift-l`, `shift-p` or `comp-i`.
    pub fn name(self) -> &'static str {
        match self {
            Suite::ShiftL => "shift-l",
            Suite::ShiftP => "shift-p",
            Suite::CompI => "comp-i",
        }
    }

    /// The fixed seed of this suite's test set for `split`.
    pub fn test_seed(self, split: Split) -> u64 {
        match (self, split) {
            (Suite::ShiftL, Split::Id) => SHIFT_L_ID_SEED,
            (Suite::ShiftL, Split::Ood) => SHIFT_L_OOD_SEED,
            (Suite::ShiftP, Split::Id) => SHIFT_P_ID_SEED,
            (Suite::ShiftP, Split::Ood) => SHIFT_P_OOD_SEED,
            (Suite::CompI, Split::Id) => COMP_I_ID_SEED,
            (Suite::CompI, Split::Ood) => COMP_I_OOD_SEED,
        }
    }

    /// Checks that `cfg` is valid and that this suite's splits are
    /// meaningful at its length (shift suites need N > 10, or a long shift
    /// would equal a short one mod N).
    pub fn check_config(self, cfg: &SuiteConfig) -> Result<(), ConfigError> {
        cfg.validate()?;
        let max_shift = *SHIFT_LONG.end();
        if matches!(self, Suite::ShiftL | Suite::ShiftP) && cfg.n <= max_shift {
            return Err(ConfigError::TooShortForShifts {
                suite: self,
                n: cfg.n,
                max_shift,
            });
        }
        Ok(())
    }

    /// The programs of `split`, in a fixed order (tasks sample uniformly
    /// from this list). Depends on `cfg` only through Comp-I's exclusion
    /// rule, which compares programs as functions on length-N sequences over
    /// V values.
    pub fn programs(self, split: Split, cfg: &SuiteConfig) -> Result<Vec<Program>, ConfigError> {
        self.check_config(cfg)?;
        let shifts = |range: RangeInclusive<usize>| {
            range
                .map(|k| Program::single(Primitive::ShiftLeft(k)))
                .collect()
        };
        Ok(match (self, split) {
            (Suite::ShiftL, Split::Id) | (Suite::ShiftP, Split::Ood) => shifts(SHIFT_SHORT),
            (Suite::ShiftL, Split::Ood) | (Suite::ShiftP, Split::Id) => shifts(SHIFT_LONG),
            (Suite::CompI, Split::Id) => COMP_I_PRIMITIVES.map(Program::single).to_vec(),
            (Suite::CompI, Split::Ood) => comp_i_compositions(cfg)
                .into_iter()
                .filter(|(_, equals)| equals.is_none())
                .map(|(program, _)| program)
                .collect(),
        })
    }
}

/// The Comp-I compositions the exclusion rule removes for `cfg`'s N and V,
/// each with what it equals. Empty for the default N = 20, V = 10.
pub fn comp_i_exclusions(cfg: &SuiteConfig) -> Result<Vec<CompIExclusion>, ConfigError> {
    Suite::CompI.check_config(cfg)?;
    Ok(comp_i_compositions(cfg)
        .into_iter()
        .filter_map(|(program, equals)| equals.map(|equals| CompIExclusion { program, equals }))
        .collect())
}

/// All ordered pairs `f(g)` with `f != g` from [`COMP_I_PRIMITIVES`] (outer
/// loop over `f`, inner over `g`, both in that list's order), each with the
/// name of the identity or ID primitive it equals as a function, if any.
fn comp_i_compositions(cfg: &SuiteConfig) -> Vec<(Program, Option<String>)> {
    let (n, v) = (cfg.n, cfg.v);
    // Functions a composition must not equal: the identity and each ID
    // primitive. Exact comparison of canonical forms (see `program`).
    let mut forbidden: Vec<(String, CanonicalMap)> =
        vec![("id".to_string(), CanonicalMap::identity(n, v))];
    forbidden.extend(
        COMP_I_PRIMITIVES
            .iter()
            .map(|p| (p.to_string(), p.canonical(n, v))),
    );
    let mut compositions = Vec::new();
    for outer in COMP_I_PRIMITIVES {
        for inner in COMP_I_PRIMITIVES {
            if outer == inner {
                continue;
            }
            let program = Program::compose(outer, inner);
            let map = program.canonical(n, v);
            let equals = forbidden
                .iter()
                .find(|(_, other)| *other == map)
                .map(|(name, _)| name.clone());
            compositions.push((program, equals));
        }
    }
    compositions
}

impl Split {
    /// The command-line name: `id` or `ood`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Id => "id",
            Split::Ood => "ood",
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown suite or split name; the message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuiteNameError {
    #[error("unknown suite {0:?}; valid suites are shift-l, shift-p, comp-i")]
    Suite(String),
    #[error("unknown split {0:?}; valid splits are id, ood")]
    Split(String),
}

impl FromStr for Suite {
    type Err = SuiteNameError;

    /// Parses `shift-l`, `shift-p` or `comp-i` (ASCII case ignored).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ALL_SUITES
            .into_iter()
            .find(|suite| suite.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| SuiteNameError::Suite(name.to_string()))
    }
}

impl FromStr for Split {
    type Err = SuiteNameError;

    /// Parses `id` or `ood` (ASCII case ignored).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ALL_SPLITS
            .into_iter()
            .find(|split| split.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| SuiteNameError::Split(name.to_string()))
    }
}
