//! `inspect`: which codebook tokens the model writes for which program
//! family: the evidence that tokens are reused primitives (for Shift-L, the
//! programs of shl_1 .. shl_5).

use std::collections::BTreeMap;

use crate::ctx::Ctx;
use crate::eval::inductor_programs;
use crate::model::config::ModelConfig;
use crate::model::{Nli, ProgramModel, SKIP, argmax_rows};
use crate::tasks::pack::PackedTasks;
use crate::tasks::{Primitive, Program, SuiteConfig, Task, TaskRng, generate_task};

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
            let mut rng = TaskRng::substream(seed, fi as u64);
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

/// What one token computes when run alone through the interpreter: the
/// program `[k]` (then SKIP) on random inputs, compared position by position
/// with each reference map.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenProbe {
    pub token: u32,
    /// Reference maps by the fraction of output positions they match, best
    /// first.
    pub matches: Vec<(String, f32)>,
}

/// The maps a token is compared with: the identity, every left shift, and
/// rev, swp, inc, neg.
fn reference_maps(n: usize) -> Vec<(String, Primitive)> {
    let mut maps = vec![("id".to_string(), Primitive::ShiftLeft(0))];
    maps.extend((1..n).map(|k| (format!("shl_{k}"), Primitive::ShiftLeft(k))));
    for p in [
        Primitive::Reverse,
        Primitive::SwapPairs,
        Primitive::Increment,
        Primitive::Negate,
    ] {
        maps.push((Program::single(p).name(), p));
    }
    maps
}

/// Probe every non-SKIP token of an NLI model on `samples` random inputs
/// (no noise, interpreter at `tau_d`).
pub fn probe_tokens(
    ctx: &Ctx,
    model: &Nli,
    tau_d: f32,
    samples: usize,
    seed: u64,
) -> Vec<TokenProbe> {
    let tokens: Vec<Vec<u32>> = (0..model.cfg.codebook as u32)
        .filter(|&tok| tok as usize != SKIP)
        .map(|tok| vec![tok])
        .collect();
    probe_programs(ctx, model, &tokens, tau_d, samples, seed)
        .expect("single tokens of the codebook are valid programs")
        .into_iter()
        .map(|p| TokenProbe {
            token: p.program[0],
            matches: p.matches,
        })
        .collect()
}

/// What a token string computes when run through the interpreter (then
/// SKIP to the program's length), compared position by position with each
/// reference map.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProgramProbe {
    pub program: Vec<u32>,
    /// Reference maps by the fraction of output positions they match, best
    /// first.
    pub matches: Vec<(String, f32)>,
}

/// The longest token string [`probe_programs`] runs on a model of `cfg`:
/// its program length, or the length its search runs if that is longer
/// (the programs `solve` prints; NLI's interpreter has no slot position).
pub fn probe_len(cfg: &ModelConfig) -> usize {
    cfg.program_len.max(cfg.default_search_program_len())
}

/// Whether a model of `cfg` can run `program`: at most [`probe_len`]
/// tokens, every token in its codebook. The error names the program and
/// the limit.
pub fn check_program(cfg: &ModelConfig, program: &[u32]) -> Result<(), String> {
    let (t, k) = (probe_len(cfg), cfg.codebook);
    if program.len() > t {
        return Err(format!(
            "program {program:?} has {} tokens; this model runs programs of at most {t}",
            program.len()
        ));
    }
    if let Some(bad) = program.iter().find(|&&tok| tok as usize >= k) {
        return Err(format!(
            "program {program:?}: token {bad} is outside the codebook (0..{k})"
        ));
    }
    Ok(())
}

/// Run each of `programs` (token ids, at most [`probe_len`], SKIP after
/// them to that length) on the same `samples` random inputs (no noise,
/// interpreter at `tau_d`) and compare the outputs with every reference map.
/// Errors name the program that is too long or holds a token outside the
/// codebook.
pub fn probe_programs(
    ctx: &Ctx,
    model: &Nli,
    programs: &[Vec<u32>],
    tau_d: f32,
    samples: usize,
    seed: u64,
) -> Result<Vec<ProgramProbe>, String> {
    let _g = ctx.no_grad();
    let (t, k, n, v) = (
        probe_len(&model.cfg),
        model.cfg.codebook,
        model.cfg.n,
        model.cfg.v,
    );
    for prog in programs {
        check_program(&model.cfg, prog)?;
    }
    if programs.is_empty() || samples == 0 {
        return Ok(Vec::new());
    }
    let rows = programs.len() * samples;
    let mut rng = TaskRng::new(seed);
    let x: Vec<u32> = (0..rows * n).map(|_| rng.below(v as u32)).collect();
    let mut z = vec![0.0f32; rows * t * k];
    for (pi, prog) in programs.iter().enumerate() {
        for s in 0..samples {
            let r = pi * samples + s;
            for slot in 0..t {
                let tok = prog.get(slot).map_or(SKIP, |&tok| tok as usize);
                z[(r * t + slot) * k + tok] = 1.0;
            }
        }
    }
    let pi = model.execute(
        ctx,
        &ctx.indices(&x, &[rows, n]),
        &ctx.tensor(&z, &[rows, t, k]),
        tau_d,
        None,
    );
    let out = argmax_rows(&ctx.read(&pi), v);
    let maps = reference_maps(n);
    Ok(programs
        .iter()
        .enumerate()
        .map(|(pi, prog)| {
            let mut matches: Vec<(String, f32)> = maps
                .iter()
                .map(|(name, p)| {
                    let mut same = 0;
                    for s in 0..samples {
                        let r = pi * samples + s;
                        let input = &x[r * n..(r + 1) * n];
                        let want = p.apply(input, v);
                        same += want
                            .iter()
                            .zip(&out[r * n..(r + 1) * n])
                            .filter(|(a, b)| a == b)
                            .count();
                    }
                    (name.clone(), same as f32 / (samples * n) as f32)
                })
                .collect();
            matches.sort_by(|a, b| b.1.total_cmp(&a.1));
            ProgramProbe {
                program: prog.clone(),
                matches,
            }
        })
        .collect())
}

/// How much the inductor's programs depend on the specification, over
/// `tasks`: the mean total-variation distance between the token
/// distributions (softmax of the logits) that two different tasks get in
/// the same slot (0: the inductor ignores its input), and the share of
/// (task pair, slot) whose argmax tokens agree.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SpecDependence {
    pub mean_tv_distance: f32,
    pub argmax_agreement: f32,
}

pub fn spec_dependence<M: ProgramModel>(ctx: &Ctx, model: &M, tasks: &[Task]) -> SpecDependence {
    let _g = ctx.no_grad();
    let (t, k) = (model.config().program_len, model.config().codebook);
    let refs: Vec<&Task> = tasks.iter().collect();
    let p = PackedTasks::new(&refs);
    let sx = ctx.indices(&p.spec_x, &[p.count, p.pairs, p.n]);
    let sy = ctx.indices(&p.spec_y, &[p.count, p.pairs, p.n]);
    let logits = model.token_logits(ctx, &model.pooled_embedding(ctx, &sx, &sy));
    let q = ctx.read(&ctx.softmax(&ctx.reshape(&logits, &[p.count * t, k])));
    let top = argmax_rows(&q, k);
    let (mut tv, mut agree, mut count) = (0.0f64, 0usize, 0usize);
    for a in 0..p.count {
        for b in a + 1..p.count {
            for slot in 0..t {
                let (ra, rb) = ((a * t + slot) * k, (b * t + slot) * k);
                tv += 0.5
                    * (0..k)
                        .map(|i| (q[ra + i] - q[rb + i]).abs() as f64)
                        .sum::<f64>();
                agree += usize::from(top[a * t + slot] == top[b * t + slot]);
                count += 1;
            }
        }
    }
    SpecDependence {
        mean_tv_distance: (tv / count.max(1) as f64) as f32,
        argmax_agreement: agree as f32 / count.max(1) as f32,
    }
}
