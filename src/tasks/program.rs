//! Programs (primitives applied in order) and their exact canonical form.
//!
//! Names: a single primitive is named as itself (`shl_3`, `rev`); a
//! composition is written as nested application, outermost first, so
//! `inc(rev)` means `inc(rev(x))` (apply `rev`, then `inc`) and `f(g(h))`
//! means `f(g(h(x)))`. The empty program is the identity, named `id`.
//!
//! Canonical form: every primitive either permutes positions or applies a
//! bijection to each value, and the two kinds commute, so any program is
//! exactly `y[i] = phi(x[P(i)])` with `P` a permutation of `0..N` and `phi` a
//! bijection of `0..V`. Because `phi` is a bijection and `V >= 2`, two
//! programs are equal as functions on all of `V^N` exactly when their
//! `(P, phi)` are equal: if `P(i) != P'(i)`, an input that differs at those
//! two positions tells them apart, and if `P = P'` but `phi(a) != phi'(a)`,
//! an input holding `a` does. This is what the Comp-I exclusion rule uses.

use std::fmt;
use std::str::FromStr;

use crate::tasks::primitive::Primitive;

/// A program name that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramParseError {
    #[error("unknown primitive {0:?}; primitives are shl_K (K >= 1), rev, swp, inc, neg")]
    UnknownPrimitive(String),
    #[error("bad shift {0:?}; a shift is written shl_K with K a decimal integer >= 1")]
    BadShift(String),
    #[error(
        "malformed program name {0:?}; write primitives as nested calls, outermost first, \
         e.g. inc(rev) for inc(rev(x))"
    )]
    Malformed(String),
}

/// Exact form `y[i] = value[x[source[i]]]` of a program on sequences of
/// length `source.len()` over `value.len()` values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CanonicalMap {
    /// `P`: output position `i` reads input position `source[i]`.
    pub source: Vec<usize>,
    /// `phi`: an input value `a` becomes `value[a]`.
    pub value: Vec<u32>,
}

impl CanonicalMap {
    /// The identity map on length-`n` sequences over `v` values.
    pub fn identity(n: usize, v: usize) -> Self {
        CanonicalMap {
            source: (0..n).collect(),
            value: (0..v as u32).collect(),
        }
    }

    /// Whether this is the identity map.
    pub fn is_identity(&self) -> bool {
        self.source.iter().enumerate().all(|(i, &s)| s == i)
            && self.value.iter().enumerate().all(|(a, &b)| b as usize == a)
    }

    /// The map "first `self`, then `next`".
    ///
    /// With `z[j] = phi1(x[P1(j)])` and `y[i] = phi2(z[P2(i)])`,
    /// `y[i] = phi2(phi1(x[P1(P2(i))]))`: positions compose as `P1[P2[i]]`
    /// (the later permutation indexes into the earlier one) and values as
    /// `phi2[phi1[a]]`.
    pub fn then(&self, next: &CanonicalMap) -> CanonicalMap {
        CanonicalMap {
            source: next.source.iter().map(|&j| self.source[j]).collect(),
            value: self.value.iter().map(|&a| next.value[a as usize]).collect(),
        }
    }

    /// Applies the map to `x` (which must have length N and values < V).
    pub fn apply(&self, x: &[u32]) -> Vec<u32> {
        let mut y = vec![0; self.source.len()];
        self.apply_into(x, &mut y);
        y
    }

    /// Applies the map to `x`, writing into `y` (both of length N). This is
    /// the allocation-free path the batch sampler uses.
    ///
    /// # Panics
    /// If an element of `x` is not below V (validated task files and
    /// generated inputs never are).
    pub fn apply_into(&self, x: &[u32], y: &mut [u32]) {
        for (out, &s) in y.iter_mut().zip(&self.source) {
            *out = self.value[x[s] as usize];
        }
    }
}

/// A list of primitives applied in order: `steps[0]` first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Program {
    steps: Vec<Primitive>,
}

impl Program {
    /// The program applying `steps` in order (`steps[0]` first).
    pub fn new(steps: Vec<Primitive>) -> Self {
        Program { steps }
    }

    /// The one-primitive program.
    pub fn single(primitive: Primitive) -> Self {
        Program {
            steps: vec![primitive],
        }
    }

    /// `outer(inner(x))`: apply `inner`, then `outer`.
    pub fn compose(outer: Primitive, inner: Primitive) -> Self {
        Program {
            steps: vec![inner, outer],
        }
    }

    /// The primitives in the order they are applied.
    pub fn steps(&self) -> &[Primitive] {
        &self.steps
    }

    /// The program's name (see the module docs); parses back to `self`.
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// Evaluates the program by applying each primitive in turn (the
    /// reference the canonical form is tested against).
    pub fn apply(&self, x: &[u32], v: usize) -> Vec<u32> {
        self.steps
            .iter()
            .fold(x.to_vec(), |current, step| step.apply(&current, v))
    }

    /// The exact canonical form for length-`n` sequences over `v` values.
    pub fn canonical(&self, n: usize, v: usize) -> CanonicalMap {
        self.steps
            .iter()
            .fold(CanonicalMap::identity(n, v), |map, step| {
                map.then(&step.canonical(n, v))
            })
    }
}

impl From<Primitive> for Program {
    fn from(primitive: Primitive) -> Self {
        Program::single(primitive)
    }
}

impl fmt::Display for Program {
    /// Outermost (last applied) primitive first: steps `[rev, inc]` print as
    /// `inc(rev)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return f.write_str("id");
        }
        for (depth, step) in self.steps.iter().rev().enumerate() {
            if depth > 0 {
                f.write_str("(")?;
            }
            write!(f, "{step}")?;
        }
        for _ in 1..self.steps.len() {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl FromStr for Program {
    type Err = ProgramParseError;

    /// Parses a name written by `Display`: `id`, a primitive, or nested calls
    /// such as `inc(rev)` or `neg(shl_2(swp))`. No whitespace inside names.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let malformed = || ProgramParseError::Malformed(name.to_string());
        if name == "id" {
            return Ok(Program::new(Vec::new()));
        }
        // Parsed iteratively (not recursively) so a name with absurd nesting
        // cannot overflow the stack: `f(g(h))` is `f(g(h` plus two `)`, and
        // the part before the closing run splits on `(` into exactly one more
        // primitive than there are closing parentheses.
        let head = name.trim_end_matches(')');
        let closing = name.len() - head.len();
        let outermost_first: Vec<&str> = head.split('(').collect();
        if outermost_first.len() != closing + 1 || outermost_first.iter().any(|s| s.is_empty()) {
            return Err(malformed());
        }
        let mut steps = outermost_first
            .iter()
            .map(|part| part.parse::<Primitive>())
            .collect::<Result<Vec<_>, _>>()?;
        steps.reverse();
        Ok(Program::new(steps))
    }
}
