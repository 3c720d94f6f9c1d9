//! `nli-wgpu inspect`: which tokens the inductor writes for which family.

use clap::Args;
use nli_wgpu::inspect::{
    check_program, family_programs, probe_programs, probe_tokens, spec_dependence, token_usage,
};
use nli_wgpu::model::Model;
use nli_wgpu::tasks::Split;

use super::{GpuArgs, ModelArgs, token_list};

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Tasks drawn per program family
    #[arg(long, default_value_t = 20)]
    pub tasks: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also run each token alone through the interpreter (NLI) and say which
    /// map it computes, and measure how much the programs depend on the
    /// specification
    #[arg(long)]
    pub probe: bool,
    /// Random inputs per token for --probe
    #[arg(long, default_value_t = 50)]
    pub probe_samples: usize,
    /// Run this token string (ids separated by spaces or commas, e.g.
    /// "14 14 19") through the interpreter (NLI) and say which map it
    /// computes; repeat the flag for more. At most the model's program
    /// length, or its search length if longer (the programs `solve` prints)
    #[arg(long, value_name = "TOKENS")]
    pub probe_program: Vec<String>,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

/// The three maps a probe matches best, with their shares of positions.
fn best_maps(matches: &[(String, f32)]) -> String {
    matches
        .iter()
        .take(3)
        .map(|(name, f)| format!("{name} {f:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `--probe-program` value: token ids separated by spaces or commas.
fn parse_program(text: &str) -> anyhow::Result<Vec<u32>> {
    let tokens: Vec<&str> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        anyhow::bail!("--probe-program {text:?}: give at least one token id");
    }
    tokens
        .iter()
        .map(|t| {
            t.parse::<u32>()
                .map_err(|_| anyhow::anyhow!("--probe-program {text:?}: {t:?} is not a token id"))
        })
        .collect()
}

pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let programs = args
        .probe_program
        .iter()
        .map(|p| parse_program(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let ctx = args.gpu.open()?;
    let _profile = super::ProfileReport(&ctx);
    let (ckpt, model) = args.model.load(&ctx)?;
    // The strings are checked against the model before anything is printed.
    let program_model = if programs.is_empty() {
        None
    } else {
        let nli = model.nli("--probe-program")?;
        for p in &programs {
            check_program(&nli.cfg, p).map_err(|e| anyhow::anyhow!("--probe-program: {e}"))?;
        }
        Some(nli)
    };
    let (suite, suite_cfg) = nli_wgpu::train::suite_config(&ckpt.config)?;
    for split in [Split::Id, Split::Ood] {
        let families = suite
            .programs(split, &suite_cfg)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let found = match &model {
            Model::Nli(m) => family_programs(&ctx, m, &families, &suite_cfg, args.tasks, args.seed),
            Model::DLpn(m) => {
                family_programs(&ctx, m, &families, &suite_cfg, args.tasks, args.seed)
            }
            other => anyhow::bail!(
                "inspect shows the programs of models with an inductor (nli, d-lpn); this is a {} model",
                other.kind().label()
            ),
        };
        println!(
            "{} {} programs written by the inductor (no search), {} tasks each:",
            suite.name(),
            split.name(),
            args.tasks
        );
        for f in &found {
            println!(
                "  {:<12} {}  ({:.0}% of tasks)",
                f.family,
                token_list(&f.top_program),
                100.0 * f.top_share
            );
        }
        if split == Split::Id {
            println!("token use across ID families:");
            for (tok, fams) in token_usage(&found) {
                println!("  token {tok:>4}: {}", fams.join(", "));
            }
        }
        if args.probe {
            let tasks = nli_wgpu::tasks::test_set(
                suite,
                split,
                suite.test_seed(split),
                args.tasks.max(2),
                &suite_cfg,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            let dep = match &model {
                Model::Nli(m) => spec_dependence(&ctx, m, &tasks),
                Model::DLpn(m) => spec_dependence(&ctx, m, &tasks),
                _ => unreachable!("refused above"),
            };
            println!(
                "dependence on the specification ({} {} tasks): mean TV distance between two tasks' token distributions {:.3}, argmax agreement {:.3}",
                tasks.len(),
                split.name(),
                dep.mean_tv_distance,
                dep.argmax_agreement
            );
        }
    }
    if args.probe {
        let nli = model.nli("the token probe")?;
        println!(
            "each token alone through the interpreter ({} random inputs, no noise, tau_d {}): the maps it matches best, by share of positions",
            args.probe_samples, ckpt.config.train.tau_d_end
        );
        let probes = probe_tokens(
            &ctx,
            nli,
            ckpt.config.train.tau_d_end,
            args.probe_samples,
            args.seed,
        );
        for p in probes {
            println!("  token {:>4}: {}", p.token, best_maps(&p.matches));
        }
    }
    if let Some(nli) = program_model {
        let probes = probe_programs(
            &ctx,
            nli,
            &programs,
            ckpt.config.train.tau_d_end,
            args.probe_samples,
            args.seed,
        )
        .map_err(|e| anyhow::anyhow!("--probe-program: {e}"))?;
        println!(
            "token strings through the interpreter ({} random inputs, no noise, tau_d {}): the maps each matches best, by share of positions",
            args.probe_samples, ckpt.config.train.tau_d_end
        );
        for p in probes {
            println!("  {}: {}", token_list(&p.program), best_maps(&p.matches));
        }
    }
    Ok(())
}
