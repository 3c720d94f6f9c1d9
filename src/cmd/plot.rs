//! `nli-wgpu plot`: figures from what runs already write.

use std::path::PathBuf;

use clap::Args;
use nli_wgpu::plot::{AccuracyBars, Scaling, TrainingCurves, read_json, save_both};

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["run", "eval", "scaling"])))]
pub struct PlotArgs {
    /// Training curves of a run directory (its metrics.jsonl) [writes DIR/curves.svg and .png]
    #[arg(long, value_name = "DIR")]
    pub run: Option<PathBuf>,
    /// Accuracy bars of one or more eval reports [writes beside the first: NAME.svg and .png]
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub eval: Vec<PathBuf>,
    /// With --eval: only these splits (id, ood) [default: both]
    #[arg(long, value_delimiter = ',', requires = "eval")]
    pub splits: Vec<String>,
    /// Accuracy against search compute from a sweep report (eval --sweep-starts/--sweep-steps)
    #[arg(long, value_name = "FILE")]
    pub scaling: Option<PathBuf>,
    /// Output path without extension: writes OUT.svg and OUT.png
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: &PlotArgs) -> anyhow::Result<()> {
    let paths = if let Some(dir) = &args.run {
        let fig = TrainingCurves::from_run(dir)?;
        let stem = args.out.clone().unwrap_or_else(|| dir.join("curves"));
        save_both(&fig, &stem)?
    } else if let Some(file) = &args.scaling {
        let fig = Scaling::from_sweep(&read_json(file)?)?;
        let stem = args.out.clone().unwrap_or_else(|| file.with_extension(""));
        save_both(&fig, &stem)?
    } else {
        // A split that is not one fails before any file is read.
        let splits = args
            .splits
            .iter()
            .map(|s| {
                s.parse::<nli_wgpu::tasks::Split>()
                    .map(|s| s.name().to_string())
                    .map_err(|e| anyhow::anyhow!("--splits: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let reports = args
            .eval
            .iter()
            .map(|f| read_json(f))
            .collect::<Result<Vec<_>, _>>()?;
        let fig = AccuracyBars::from_reports_of_splits(&reports, &splits)?;
        if fig.groups.is_empty() {
            anyhow::bail!(
                "no rows of split {} in these reports: nothing to draw",
                splits.join(" or ")
            );
        }
        let stem = args
            .out
            .clone()
            .unwrap_or_else(|| args.eval[0].with_extension(""));
        save_both(&fig, &stem)?
    };
    for p in paths {
        println!("wrote {}", p.display());
    }
    Ok(())
}
