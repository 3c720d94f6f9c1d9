//! `nli-wgpu table`: the paper's Table 1 for this project, from eval reports.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct TableArgs {
    /// Eval reports (JSON written by `eval`), any models and suites
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Also write the table here (Markdown)
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: &TableArgs) -> anyhow::Result<()> {
    let reports = args
        .reports
        .iter()
        .map(|f| nli_wgpu::plot::read_json(f))
        .collect::<Result<Vec<_>, _>>()?;
    let table = nli_wgpu::eval::table1(&reports)?;
    print!("{table}");
    if let Some(out) = &args.out {
        nli_wgpu::checkpoint::write_atomic(out, table.as_bytes())?;
        eprintln!("table written to {}", out.display());
    }
    Ok(())
}
