//! `nli-wgpu eval`: accuracy per method and split on the fixed test sets,
//! or a sweep of gradient-search budgets; a JSON report and a figure.

use std::path::PathBuf;

use clap::Args;
use nli_wgpu::Ctx;
use nli_wgpu::eval::{
    EvalReport, EvalRow, Method, SweepPoint, SweepReport, accuracy, accuracy_by_program,
    position_accuracy, predict, wrong_answers_as,
};
use nli_wgpu::tasks::{Split, test_set};

use super::{GpuArgs, ModelArgs, SearchArgs, progress_bar};

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Tasks per split (the fixed test sets; 200 by default)
    #[arg(long, default_value_t = 200)]
    pub tasks: usize,
    /// Methods to run [default: all of the model's kind]: NLI and D-LPN: none, prior, gradient; In-Context: none, ttt; LPN: none, gradient (s x L as set), gradient-1x100 (LPN's default search)
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    /// Splits to run: id, ood
    #[arg(long, value_delimiter = ',', default_value = "id,ood")]
    pub splits: Vec<String>,
    /// Write the report here as JSON, and its figure beside it as .svg and .png [default: eval.json (sweep.json for a sweep) beside the checkpoint; eval-<suite>.json (sweep-<suite>.json) here for a shipped model]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Sweep gradient search over these numbers of starts (with --sweep-steps; default: --starts alone)
    #[arg(long, value_delimiter = ',', help_heading = "Search sweep")]
    pub sweep_starts: Vec<usize>,
    /// Sweep gradient search over these numbers of steps (with --sweep-starts; default: --search-steps alone)
    #[arg(long, value_delimiter = ',', help_heading = "Search sweep")]
    pub sweep_steps: Vec<usize>,
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

/// The model under evaluation, on the GPU.
struct Loaded {
    ctx: Ctx,
    model: nli_wgpu::model::Model,
    run: nli_wgpu::model::RunConfig,
    suite: nli_wgpu::tasks::Suite,
    suite_cfg: nli_wgpu::tasks::SuiteConfig,
}

impl Loaded {
    fn new(args: &EvalArgs) -> anyhow::Result<Loaded> {
        let ctx = args.gpu.open()?;
        let (ckpt, model) = args.model.load(&ctx)?;
        if !args.sweep_starts.is_empty() || !args.sweep_steps.is_empty() {
            Method::parse("gradient", model.kind())?;
        }
        let (suite, suite_cfg) = nli_wgpu::train::suite_config(&ckpt.config)?;
        Ok(Loaded {
            ctx,
            model,
            run: ckpt.config,
            suite,
            suite_cfg,
        })
    }

    /// The first `n` tasks of the split's fixed test set.
    fn test_tasks(&self, split: Split, n: usize) -> anyhow::Result<Vec<nli_wgpu::tasks::Task>> {
        test_set(
            self.suite,
            split,
            self.suite.test_seed(split),
            n,
            &self.suite_cfg,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Accuracy of `method` on `tasks` and its wall time, with a progress bar.
    fn measure(
        &self,
        tasks: &[nli_wgpu::tasks::Task],
        method: Method,
        search: &nli_wgpu::search::SearchConfig,
        label: &str,
        quiet: bool,
    ) -> anyhow::Result<(Vec<Vec<u32>>, f64)> {
        let bar = progress_bar(1, label, quiet);
        let t0 = std::time::Instant::now();
        let preds = predict(
            &self.ctx,
            &self.model,
            tasks,
            method,
            search,
            self.run.train.tau_d_end,
            &mut |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            },
        )?;
        bar.finish_and_clear();
        Ok((preds, t0.elapsed().as_secs_f64()))
    }
}

fn parse_splits(names: &[String]) -> anyhow::Result<Vec<Split>> {
    names
        .iter()
        .map(|s| s.parse::<Split>().map_err(|e| anyhow::anyhow!("{e}")))
        .collect()
}

/// Where a report goes: `--out`, else `<name>.json` beside the checkpoint
/// (`<name>-<suite>.json` here for a shipped model).
fn report_path(args: &EvalArgs, name: &str) -> PathBuf {
    args.out.clone().unwrap_or_else(|| {
        let file = match &args.model.checkpoint {
            Some(_) => format!("{name}.json"),
            None if args.model.model_kind == "nli" => format!("{name}-{}.json", args.model.suite),
            None => format!("{name}-{}-{}.json", args.model.model_kind, args.model.suite),
        };
        args.model.report_dir().join(file)
    })
}

/// The report's figure beside it (`.svg` and `.png`); a figure that cannot
/// be drawn is a warning, the report stands.
fn write_figure<F: nli_wgpu::plot::Figure>(fig: anyhow::Result<F>, report: &std::path::Path) {
    match fig.and_then(|f| Ok(nli_wgpu::plot::save_both(&f, report)?)) {
        Ok(paths) => {
            let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            eprintln!("figure written to {}", names.join(" and "));
        }
        Err(e) => eprintln!("warning: no figure for {}: {e:#}", report.display()),
    }
}

pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    // Bad method or split names and search settings fail before any work.
    let model_cfg = args.model.checkpoint()?.config.model;
    args.search.check(&model_cfg)?;
    let kind = model_cfg.kind;
    let methods = if args.methods.is_empty() {
        Method::for_kind(kind).to_vec()
    } else {
        args.methods
            .iter()
            .map(|m| Method::parse(m, kind))
            .collect::<Result<Vec<_>, _>>()?
    };
    let splits = parse_splits(&args.splits)?;
    if !args.sweep_starts.is_empty() || !args.sweep_steps.is_empty() {
        return run_sweep(args, &splits);
    }
    let m = Loaded::new(args)?;
    let _profile = super::ProfileReport(&m.ctx);
    let out = report_path(args, "eval");
    let mut report = EvalReport {
        suite: m.run.suite.clone(),
        model: kind,
        checkpoint: args.model.label(),
        adapter: m.ctx.gpu.summary.name.clone(),
        search: args.search.config(&m.run.model),
        rows: Vec::new(),
    };
    // The programs the model was trained on (the suite's ID programs, or
    // the run's `programs`), to name the wrong answers that are one of
    // their outputs.
    let known =
        nli_wgpu::train::training_programs(m.suite, &m.suite_cfg, m.run.train.programs.as_deref())?;
    for &split in &splits {
        let tasks = m.test_tasks(split, args.tasks)?;
        for &method in &methods {
            let label = format!("{} {}", method.label(kind), split.name());
            let (preds, seconds) = m.measure(&tasks, method, &report.search, &label, args.quiet)?;
            let row = EvalRow {
                method,
                label: method.label(kind),
                split: split.name().to_string(),
                accuracy: accuracy(&tasks, &preds),
                tasks: tasks.len(),
                seconds,
                by_program: accuracy_by_program(&tasks, &preds),
                position_accuracy: position_accuracy(&tasks, &preds),
                wrong_as: wrong_answers_as(&tasks, &preds, &known, m.suite_cfg.v),
            };
            eprintln!(
                "{} {}: accuracy {:.3}, positions {:.3} ({:.1} s)",
                row.label, row.split, row.accuracy, row.position_accuracy, row.seconds
            );
            let cells: Vec<String> = row
                .by_program
                .iter()
                .map(|(p, [right, all])| format!("{p} {right}/{all}"))
                .collect();
            eprintln!("  by program: {}", cells.join(", "));
            let wrong = row.wrong_as_totals();
            if !wrong.is_empty() {
                let cells: Vec<String> = wrong.iter().map(|(k, n)| format!("{k} {n}")).collect();
                eprintln!(
                    "  wrong answers that are a training program's output: {}",
                    cells.join(", ")
                );
            }
            report.rows.push(row);
            // Each finished row is on disk at once: a long evaluation that
            // stops early keeps what it measured.
            nli_wgpu::checkpoint::write_atomic(
                &out,
                serde_json::to_string_pretty(&report)?.as_bytes(),
            )?;
        }
    }
    print!("{}", report.table());
    eprintln!("report written to {}", out.display());
    write_figure(
        serde_json::to_value(&report)
            .map_err(anyhow::Error::from)
            .and_then(|v| Ok(nli_wgpu::plot::AccuracyBars::from_reports(&[v])?)),
        &out,
    );
    Ok(())
}

/// Gradient search over every (starts, steps) of the grid on the same tasks
/// of each split: accuracy against test-time compute.
fn run_sweep(args: &EvalArgs, splits: &[Split]) -> anyhow::Result<()> {
    let or_base = |v: &[usize], base: usize| {
        if v.is_empty() { vec![base] } else { v.to_vec() }
    };
    let starts = or_base(&args.sweep_starts, args.search.starts);
    let steps = or_base(&args.sweep_steps, args.search.search_steps);
    if starts.contains(&0) {
        anyhow::bail!("--sweep-starts: every number of starts must be at least 1");
    }
    let m = Loaded::new(args)?;
    let _profile = super::ProfileReport(&m.ctx);
    let out = report_path(args, "sweep");
    let mut report = SweepReport {
        suite: m.run.suite.clone(),
        checkpoint: args.model.label(),
        adapter: m.ctx.gpu.summary.name.clone(),
        search: args.search.config(&m.run.model),
        sweep: Vec::new(),
    };
    for &split in splits {
        let tasks = m.test_tasks(split, args.tasks)?;
        for &s in &starts {
            for &l in &steps {
                let mut cfg = args.search.config(&m.run.model);
                cfg.starts = s;
                cfg.steps = l;
                let label = format!("{} s={s} L={l}", split.name());
                let (preds, seconds) =
                    m.measure(&tasks, Method::GradientSearch, &cfg, &label, args.quiet)?;
                let point = SweepPoint {
                    split: split.name().to_string(),
                    starts: s,
                    steps: l,
                    accuracy: accuracy(&tasks, &preds),
                    tasks: tasks.len(),
                    seconds,
                };
                eprintln!(
                    "gradient search {} starts={s} steps={l}: accuracy {:.3} ({:.1} s)",
                    point.split, point.accuracy, point.seconds
                );
                report.sweep.push(point);
                nli_wgpu::checkpoint::write_atomic(
                    &out,
                    serde_json::to_string_pretty(&report)?.as_bytes(),
                )?;
            }
        }
    }
    eprintln!("sweep written to {}", out.display());
    write_figure(
        serde_json::to_value(&report)
            .map_err(anyhow::Error::from)
            .and_then(|v| Ok(nli_wgpu::plot::Scaling::from_sweep(&v)?)),
        &out,
    );
    Ok(())
}
