//! A small self-contained pseudo-random generator.
//!
//! The suite's fixed test sets must never change, so generation does not go
//! through the `rand` crate (whose algorithms may change between versions):
//! this is SplitMix64 (Steele, Lea and Flood, 2014), a 64-bit state generator
//! with good statistical quality that is a few lines long.

/// SplitMix64 generator. The same seed always yields the same stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRng {
    state: u64,
}

impl TaskRng {
    /// A generator seeded with `seed`. Every seed, including 0, is fine:
    /// SplitMix64 scrambles the state before output.
    pub fn new(seed: u64) -> Self {
        TaskRng { state: seed }
    }

    /// Generator number `index` of a family of independent ones under `seed`
    /// (one per training step, one per probed program, ...).
    ///
    /// Not `new(seed ^ index * golden)`: SplitMix64 advances its state by
    /// that same golden-ratio constant, so such generators are one stream
    /// shifted by one draw per index (the batch of step s + 1 would be the
    /// batch of step s moved along by one value). Here the index is
    /// scrambled first, so neighbouring indices start at unrelated states.
    pub fn substream(seed: u64, index: u64) -> Self {
        let scrambled = TaskRng::new(index ^ 0x5851_F42D_4C95_7F2D).next_u64();
        TaskRng::new(seed ^ scrambled)
    }

    /// The next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..bound`, exactly unbiased.
    ///
    /// Lemire's multiply-and-reject method: the high half of `r * bound` is
    /// the result, rejected only when the low half falls in the
    /// `2^64 mod bound` biased region (probability below `bound / 2^64`, so in
    /// practice each call consumes exactly one `next_u64`).
    ///
    /// # Panics
    /// If `bound` is 0 (an empty range has no element to return).
    pub fn below(&mut self, bound: u32) -> u32 {
        assert!(bound > 0, "TaskRng::below needs a non-empty range");
        let bound = u64::from(bound);
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(bound);
            if (product as u64) >= threshold {
                return (product >> 64) as u32;
            }
        }
    }

    /// A uniform index in `0..len` (for picking from a slice).
    ///
    /// # Panics
    /// If `len` is 0 or does not fit in `u32`.
    pub fn index(&mut self, len: usize) -> usize {
        let bound = u32::try_from(len).expect("TaskRng::index: length must fit in u32");
        self.below(bound) as usize
    }
}
