//! The five primitive maps on sequences.
//!
//! Each primitive is either a permutation of positions (`shl_k`, `rev`,
//! `swp`) or a bijection applied to every value (`inc`, `neg`). `apply` is a
//! literal transcription of the definitions in `docs/suite.md`; the canonical
//! form in [`crate::tasks::program`] is derived from it, so the table below is
//! the single source of truth.

use std::fmt;
use std::str::FromStr;

use crate::tasks::program::{CanonicalMap, ProgramParseError};

/// One primitive map on sequences of length N over values `0..V`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Primitive {
    /// `shl_k`: cyclic left shift, `y[i] = x[(i + k) mod N]`.
    ShiftLeft(usize),
    /// `rev`: `y[i] = x[N - 1 - i]`.
    Reverse,
    /// `swp`: swap neighbours, `y[2i] = x[2i + 1]`, `y[2i + 1] = x[2i]`.
    /// For odd N the last element has no neighbour and stays in place (our
    /// choice; the suite's default N = 20 is even).
    SwapPairs,
    /// `inc`: `y[i] = (x[i] + 1) mod V`.
    Increment,
    /// `neg`: `y[i] = (V - x[i]) mod V`.
    Negate,
}

impl Primitive {
    /// Whether the primitive moves positions (as opposed to mapping values).
    pub fn is_permutation(&self) -> bool {
        matches!(
            self,
            Primitive::ShiftLeft(_) | Primitive::Reverse | Primitive::SwapPairs
        )
    }

    /// Applies the primitive to `x` (length N = `x.len()`), with values in
    /// `0..v`. Inputs with values `>= v` are the caller's error; value maps
    /// reduce them mod `v` like any other value.
    pub fn apply(&self, x: &[u32], v: usize) -> Vec<u32> {
        let n = x.len();
        let v = v as u64;
        match *self {
            Primitive::ShiftLeft(k) => (0..n).map(|i| x[(i + k) % n]).collect(),
            Primitive::Reverse => (0..n).map(|i| x[n - 1 - i]).collect(),
            Primitive::SwapPairs => {
                let mut y = x.to_vec();
                for pair in y.chunks_exact_mut(2) {
                    pair.swap(0, 1);
                }
                y
            }
            Primitive::Increment => x
                .iter()
                .map(|&value| ((u64::from(value) + 1) % v) as u32)
                .collect(),
            Primitive::Negate => x
                .iter()
                .map(|&value| ((v - u64::from(value) % v) % v) as u32)
                .collect(),
        }
    }

    /// The primitive's exact canonical form for sequences of length `n` over
    /// `v` values.
    ///
    /// Derived from [`Primitive::apply`] by tracing: a permutation applied to
    /// the positions `0, 1, .., n-1` yields its position table `P`, and a
    /// value map applied to the values `0, 1, .., v-1` yields its value table
    /// `phi`.
    pub fn canonical(&self, n: usize, v: usize) -> CanonicalMap {
        let identity = CanonicalMap::identity(n, v);
        if self.is_permutation() {
            let positions: Vec<u32> = (0..n as u32).collect();
            // Permutations never look at values, so `v` plays no part here.
            let source = self.apply(&positions, v);
            CanonicalMap {
                source: source.into_iter().map(|p| p as usize).collect(),
                ..identity
            }
        } else {
            let values: Vec<u32> = (0..v as u32).collect();
            CanonicalMap {
                value: self.apply(&values, v),
                ..identity
            }
        }
    }
}

impl fmt::Display for Primitive {
    /// The primitive's name: `shl_3`, `rev`, `swp`, `inc`, `neg`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Primitive::ShiftLeft(k) => write!(f, "shl_{k}"),
            Primitive::Reverse => f.write_str("rev"),
            Primitive::SwapPairs => f.write_str("swp"),
            Primitive::Increment => f.write_str("inc"),
            Primitive::Negate => f.write_str("neg"),
        }
    }
}

impl FromStr for Primitive {
    type Err = ProgramParseError;

    /// Parses `shl_K` (K a decimal integer >= 1, digits only), `rev`, `swp`,
    /// `inc` or `neg`. Shifts larger than N are allowed and act mod N.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "rev" => Ok(Primitive::Reverse),
            "swp" => Ok(Primitive::SwapPairs),
            "inc" => Ok(Primitive::Increment),
            "neg" => Ok(Primitive::Negate),
            _ => {
                let digits = name
                    .strip_prefix("shl_")
                    .ok_or_else(|| ProgramParseError::UnknownPrimitive(name.to_string()))?;
                // `usize::from_str` would accept a leading '+'; names are digits only.
                let valid = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
                match digits.parse::<usize>() {
                    Ok(k) if valid && k >= 1 => Ok(Primitive::ShiftLeft(k)),
                    _ => Err(ProgramParseError::BadShift(name.to_string())),
                }
            }
        }
    }
}
