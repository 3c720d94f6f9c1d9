//! `inspect`: which codebook tokens the model writes for which program
//! family: the evidence that tokens are reused primitives (for Shift-L, the
//! programs of shl_1 .. shl_5).

use std::collections::BTreeMap;

use crate::ctx::Ctx;
use crate::eval::inductor_programs;
use crate::model::ProgramModel;
use crate::tasks::{Program, SuiteConfig, TaskRng, generate_task};

/// The programs the inductor writes for one family.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FamilyPrograms {
    pub family: String,
    /// Most common program (token ids, SKIP left out) and its share of the
    /// family's tasks.
    pub top_program: Vec<u32>,
    pub top_share: f32,
    pub tasks: usize,
}

/// Programs of `tasks_per_family` fresh tasks of each family (no search).
pub fn family_programs<M: ProgramModel>(
    ctx: &Ctx,
    model: &M,
    families: &[Program],
    cfg: &SuiteConfig,
    tasks_per_family: usize,
    seed: u64,
) -> Vec<FamilyPrograms> {
    families
        .iter()
        .enumerate()
        .map(|(fi, prog)| {
            let mut rng = TaskRng::new(seed ^ (fi as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let tasks: Vec<_> = (0..tasks_per_family)
                .map(|_| generate_task(&mut rng, prog, cfg).expect("valid suite config"))
                .collect();
            let mut counts: BTreeMap<Vec<u32>, usize> = BTreeMap::new();
            for prog in inductor_programs(ctx, model, &tasks) {
                *counts.entry(prog).or_default() += 1;
            }
            let (top, n) = counts
                .into_iter()
                .max_by_key(|(_, n)| *n)
                .unwrap_or_default();
            FamilyPrograms {
                family: prog.name(),
                top_program: top,
                top_share: n as f32 / tasks_per_family.max(1) as f32,
                tasks: tasks_per_family,
            }
        })
        .collect()
}

/// Which families use each token (in their top program).
pub fn token_usage(families: &[FamilyPrograms]) -> BTreeMap<u32, Vec<String>> {
    let mut usage: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for f in families {
        let mut seen = f.top_program.clone();
        seen.sort_unstable();
        seen.dedup();
        for tok in seen {
            usage.entry(tok).or_default().push(f.family.clone());
        }
    }
    usage
}
