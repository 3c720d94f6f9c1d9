//! `nli-wgpu solve`: gradient search on the tasks of a task file.

use std::path::PathBuf;

use clap::Args;
use nli_wgpu::search::gradient_search;
use nli_wgpu::tasks::{SuiteConfig, read_task_file};

use super::{GpuArgs, ModelArgs, SearchArgs, progress_bar, token_list};

#[derive(Args, Debug)]
pub struct SolveArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Task file: JSON Lines, one task per line (see docs/suite.md)
    #[arg(long)]
    pub tasks: PathBuf,
    /// Print JSON Lines instead of text
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

pub fn run(args: &SolveArgs) -> anyhow::Result<()> {
    let ctx = args.gpu.open()?;
    let _profile = super::ProfileReport(&ctx);
    let (ckpt, model) = args.model.load(&ctx)?;
    let model = model.nli("solve")?;
    args.search.check(&ckpt.config.model)?;
    let suite_cfg = SuiteConfig {
        n: ckpt.config.model.n,
        v: ckpt.config.model.v,
        m: ckpt.config.train.pairs,
    };
    let tasks = read_task_file(&args.tasks, &suite_cfg)?;
    let bar = progress_bar(1, "gradient search (steps)", args.quiet);
    let results = gradient_search(
        &ctx,
        model,
        &tasks,
        &args.search.config(&ckpt.config.model),
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    );
    bar.finish_and_clear();
    let fmt = |v: &[u32]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (i, (task, r)) in tasks.iter().zip(&results).enumerate() {
        let correct = task.query.y.as_ref().map(|y| *y == r.prediction);
        if args.json {
            let mut line = serde_json::json!({
                "task": i + 1,
                "prediction": r.prediction,
                "program": r.program,
                "spec_log_likelihood": r.spec_log_likelihood,
                "reproduces_spec": r.reproduces_spec,
            });
            if let Some(c) = correct {
                line["correct"] = serde_json::json!(c);
            }
            println!("{line}");
        } else {
            println!(
                "task {}{}",
                i + 1,
                task.program
                    .as_ref()
                    .map_or(String::new(), |p| format!(" ({p})"))
            );
            println!("  prediction:        {}", fmt(&r.prediction));
            if let Some(c) = correct {
                println!("  matches the file:  {}", if c { "yes" } else { "no" });
            }
            println!("  program (tokens):  {}", token_list(&r.program));
            println!("  spec log-lik:      {:.4}", r.spec_log_likelihood);
            println!(
                "  reproduces spec:   {}",
                if r.reproduces_spec { "yes" } else { "no" }
            );
        }
    }
    Ok(())
}
