//! The command line: parse, call the library, print.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use nli_wgpu::Ctx;
use nli_wgpu::eval::{EvalReport, EvalRow, Method, accuracy, predict};
use nli_wgpu::gpu::{Device, DeviceOptions, Gpu};
use nli_wgpu::inspect::{family_programs, token_usage};
use nli_wgpu::model::RunConfig;
use nli_wgpu::model::config::preset;
use nli_wgpu::search::{SearchConfig, gradient_search};
use nli_wgpu::tasks::{Split, SuiteConfig, read_task_file, test_set};
use nli_wgpu::train::{TrainOptions, train};

#[derive(Parser)]
#[command(
    name = "nli-wgpu",
    version,
    about = "Neural Language Interpreters on wgpu: learn a token language from examples, search programs by gradient"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Adapter selection, shared by every command that uses the GPU.
#[derive(Args, Clone, Debug)]
struct GpuArgs {
    /// Backend: vulkan, metal or dx12 (default: WGPU_BACKEND, else all)
    #[arg(long)]
    backend: Option<String>,
    /// Use the adapter whose name contains this text (e.g. llvmpipe)
    #[arg(long)]
    adapter: Option<String>,
}

impl GpuArgs {
    fn options(&self) -> DeviceOptions {
        DeviceOptions {
            backend: self.backend.clone(),
            adapter: self.adapter.clone(),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Print the adapter's name, backend, device type and the limits that matter
    Info {
        #[command(flatten)]
        gpu: GpuArgs,
        /// List every adapter found instead of opening one
        #[arg(long)]
        all: bool,
    },
    /// Print or write tasks of the compositional suite as JSON Lines
    Tasks(nli_wgpu::tasks::TasksArgs),
    /// Train an NLI model on a suite's ID tasks
    Train(Box<TrainArgs>),
    /// ID and OOD accuracy of a trained model without search, with prior search and with gradient search
    Eval(EvalArgs),
    /// Solve the tasks of a task file (JSON Lines) by gradient search
    Solve(SolveArgs),
    /// Show which codebook tokens the model writes for which program family
    Inspect(InspectArgs),
    /// Copy a checkpoint's parameters without the optimiser state (a small model to ship)
    Export {
        /// Checkpoint file or run directory
        #[arg(long)]
        checkpoint: PathBuf,
        /// Directory to write checkpoint.safetensors and config.json into
        #[arg(long)]
        out: PathBuf,
    },
}

/// Where a trained model comes from.
#[derive(Args, Debug, Clone)]
struct ModelArgs {
    /// A checkpoint file or run directory [default: the shipped model of --suite, built into the binary]
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Suite whose shipped model to use when --checkpoint is not given
    #[arg(long, default_value = "shift-l")]
    suite: String,
}

impl ModelArgs {
    /// What the model is called in reports: the checkpoint's path, or
    /// `shipped:<suite>` for the model built into the binary.
    fn label(&self) -> String {
        match &self.checkpoint {
            Some(p) => p.display().to_string(),
            None => format!("shipped:{}", self.suite),
        }
    }

    /// The directory reports go to by default: the run directory of the
    /// checkpoint, else the current one.
    fn report_dir(&self) -> PathBuf {
        match &self.checkpoint {
            Some(p) if p.is_dir() => p.clone(),
            Some(p) => p.parent().map(PathBuf::from).unwrap_or_default(),
            None => PathBuf::new(),
        }
    }

    fn load(
        &self,
        ctx: &Ctx,
    ) -> anyhow::Result<(nli_wgpu::checkpoint::Checkpoint, nli_wgpu::model::Nli)> {
        let ckpt = match &self.checkpoint {
            Some(path) => nli_wgpu::checkpoint::load(path)
                .with_context(|| format!("loading the model {}", path.display()))?,
            None => nli_wgpu::shipped::load(&self.suite)?,
        };
        let model = nli_wgpu::train::load_model(ctx, &ckpt)?;
        Ok((ckpt, model))
    }
}

/// Test-time search settings (SPEC §3; defaults are the cpu-preset settings of SPEC §5).
#[derive(Args, Debug, Clone)]
struct SearchArgs {
    /// Starts per task (s)
    #[arg(long, default_value_t = 16)]
    starts: usize,
    /// Adam steps on the slot embeddings (L)
    #[arg(long, default_value_t = 50)]
    search_steps: usize,
    /// Spread of the starts around the inductor's guess (sigma_s)
    #[arg(long, default_value_t = 0.5)]
    sigma: f32,
    /// Adam learning rate of the search
    #[arg(long, default_value_t = 0.1)]
    search_lr: f32,
    #[arg(long, default_value_t = 2.0)]
    search_tau_start: f32,
    #[arg(long, default_value_t = 0.5)]
    search_tau_end: f32,
    #[arg(long, default_value_t = 0)]
    search_seed: u64,
    /// Activation memory per chunk of candidates, MiB
    #[arg(long, default_value_t = 2048)]
    memory_mib: usize,
}

impl SearchArgs {
    fn config(&self) -> SearchConfig {
        SearchConfig {
            starts: self.starts,
            steps: self.search_steps,
            sigma: self.sigma,
            lr: self.search_lr,
            tau_e_start: self.search_tau_start,
            tau_e_end: self.search_tau_end,
            tau_d_start: self.search_tau_start,
            tau_d_end: self.search_tau_end,
            seed: self.search_seed,
            memory_mib: self.memory_mib,
        }
    }
}

#[derive(Args, Debug)]
struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    search: SearchArgs,
    /// Tasks per split (the fixed test sets; 200 by default)
    #[arg(long, default_value_t = 200)]
    tasks: usize,
    /// Methods to run: any of none, prior, gradient
    #[arg(long, value_delimiter = ',', default_value = "none,prior,gradient")]
    methods: Vec<String>,
    /// Splits to run: id, ood
    #[arg(long, value_delimiter = ',', default_value = "id,ood")]
    splits: Vec<String>,
    /// Write the report here as JSON [default: eval.json beside the checkpoint; eval-<suite>.json here for a shipped model]
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    gpu: GpuArgs,
}

#[derive(Args, Debug)]
struct SolveArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    search: SearchArgs,
    /// Task file: JSON Lines, one task per line (see docs/suite.md)
    #[arg(long)]
    tasks: PathBuf,
    /// Print JSON Lines instead of text
    #[arg(long)]
    json: bool,
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    gpu: GpuArgs,
}

#[derive(Args, Debug)]
struct InspectArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Tasks drawn per program family
    #[arg(long, default_value_t = 20)]
    tasks: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    gpu: GpuArgs,
}

fn progress_bar(len: usize, label: &str, quiet: bool) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len as u64)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:28} {bar:30} {pos}/{len} [{elapsed_precise} < {eta_precise}]",
        )
        .expect("valid template"),
    );
    bar.set_message(label.to_string());
    bar
}

fn run_eval(args: &EvalArgs) -> anyhow::Result<()> {
    // Bad method or split names fail before any work.
    let methods = args
        .methods
        .iter()
        .map(|m| match m.as_str() {
            "none" => Ok(Method::NoSearch),
            "prior" => Ok(Method::PriorSearch),
            "gradient" => Ok(Method::GradientSearch),
            other => Err(anyhow::anyhow!(
                "unknown method `{other}`: expected none, prior or gradient"
            )),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let splits = args
        .splits
        .iter()
        .map(|s| s.parse::<Split>().map_err(|e| anyhow::anyhow!("{e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let ctx = Ctx::new(&args.gpu.options())?;
    let (ckpt, model) = args.model.load(&ctx)?;
    let run = &ckpt.config;
    let (suite, suite_cfg) = nli_wgpu::train::suite_config(run)?;
    let out = args.out.clone().unwrap_or_else(|| {
        let name = match &args.model.checkpoint {
            Some(_) => "eval.json".to_string(),
            None => format!("eval-{}.json", args.model.suite),
        };
        args.model.report_dir().join(name)
    });
    let mut report = EvalReport {
        suite: run.suite.clone(),
        checkpoint: args.model.label(),
        adapter: ctx.gpu.summary.name.clone(),
        search: args.search.config(),
        rows: Vec::new(),
    };
    for &split in &splits {
        let tasks = test_set(suite, split, suite.test_seed(split), args.tasks, &suite_cfg)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for &method in &methods {
            let bar = progress_bar(
                1,
                &format!("{} {}", method.label(), split.name()),
                args.quiet,
            );
            let t0 = std::time::Instant::now();
            let preds = predict(
                &ctx,
                &model,
                &tasks,
                method,
                &report.search,
                run.train.tau_d_end,
                &mut |done, total| {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                },
            );
            bar.finish_and_clear();
            let row = EvalRow {
                method,
                split: split.name().to_string(),
                accuracy: accuracy(&tasks, &preds),
                tasks: tasks.len(),
                seconds: t0.elapsed().as_secs_f64(),
            };
            eprintln!(
                "{} {}: accuracy {:.3} ({:.1} s)",
                method.label(),
                row.split,
                row.accuracy,
                row.seconds
            );
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
    Ok(())
}

fn run_solve(args: &SolveArgs) -> anyhow::Result<()> {
    let ctx = Ctx::new(&args.gpu.options())?;
    let (ckpt, model) = args.model.load(&ctx)?;
    let suite_cfg = SuiteConfig {
        n: ckpt.config.model.n,
        v: ckpt.config.model.v,
        m: ckpt.config.train.pairs,
    };
    let tasks = read_task_file(&args.tasks, &suite_cfg)?;
    let bar = progress_bar(1, "gradient search", args.quiet);
    let results = gradient_search(
        &ctx,
        &model,
        &tasks,
        &args.search.config(),
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
            println!("  program (tokens):  [{}]", fmt(&r.program));
            println!("  spec log-lik:      {:.4}", r.spec_log_likelihood);
            println!(
                "  reproduces spec:   {}",
                if r.reproduces_spec { "yes" } else { "no" }
            );
        }
    }
    Ok(())
}

fn run_inspect(args: &InspectArgs) -> anyhow::Result<()> {
    let ctx = Ctx::new(&args.gpu.options())?;
    let (ckpt, model) = args.model.load(&ctx)?;
    let (suite, suite_cfg) = nli_wgpu::train::suite_config(&ckpt.config)?;
    for split in [Split::Id, Split::Ood] {
        let families = suite
            .programs(split, &suite_cfg)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let found = family_programs(&ctx, &model, &families, &suite_cfg, args.tasks, args.seed);
        println!(
            "{} {} programs written by the inductor (no search), {} tasks each:",
            suite.name(),
            split.name(),
            args.tasks
        );
        for f in &found {
            let toks = f
                .top_program
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" ");
            println!(
                "  {:<12} [{toks}]  ({:.0}% of tasks)",
                f.family,
                100.0 * f.top_share
            );
        }
        if split == Split::Id {
            println!("token use across ID families:");
            for (tok, fams) in token_usage(&found) {
                println!("  token {tok:>4}: {}", fams.join(", "));
            }
        }
    }
    Ok(())
}

/// Training flags. The run's settings start from the preset (or, with
/// --resume, from the checkpoint's config), then the --config file, then the
/// individual flags.
#[derive(Args, Debug)]
struct TrainArgs {
    /// shift-l, shift-p or comp-i
    #[arg(long, default_value = "shift-l")]
    suite: String,
    /// tiny, cpu or gpu (SPEC sizes)
    #[arg(long, default_value = "cpu")]
    preset: String,
    /// JSON file with any part of the run config, e.g. {"train": {"steps": 500}}
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run directory (checkpoint, config.json, metrics.jsonl) [default: runs/<suite>-<preset>]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in --out from its checkpoint
    #[arg(long)]
    resume: bool,
    /// Stop after this many steps (with a checkpoint) without changing the schedule
    #[arg(long)]
    stop_after: Option<usize>,
    /// No progress bar
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    gpu: GpuArgs,
    #[command(flatten)]
    overrides: RunOverrides,
}

/// One flag per setting of the run config.
#[derive(Args, Debug, Default)]
struct RunOverrides {
    #[arg(long, help_heading = "Training")]
    steps: Option<usize>,
    #[arg(long, help_heading = "Training")]
    batch: Option<usize>,
    /// Specification pairs per training task
    #[arg(long, help_heading = "Training")]
    pairs: Option<usize>,
    #[arg(long, help_heading = "Training")]
    lr: Option<f32>,
    #[arg(long, help_heading = "Training")]
    grad_clip: Option<f32>,
    /// Weight of the distinct-token regulariser
    #[arg(long, help_heading = "Training")]
    lambda: Option<f32>,
    #[arg(long, help_heading = "Training")]
    tau_e_start: Option<f32>,
    #[arg(long, help_heading = "Training")]
    tau_e_end: Option<f32>,
    #[arg(long, help_heading = "Training")]
    tau_d_start: Option<f32>,
    #[arg(long, help_heading = "Training")]
    tau_d_end: Option<f32>,
    /// Fraction of the run over which temperatures anneal
    #[arg(long, help_heading = "Training")]
    anneal_frac: Option<f32>,
    #[arg(long, help_heading = "Training")]
    seed: Option<u64>,
    #[arg(long, help_heading = "Training")]
    log_every: Option<usize>,
    #[arg(long, help_heading = "Training")]
    eval_every: Option<usize>,
    #[arg(long, help_heading = "Training")]
    checkpoint_every: Option<usize>,
    /// Tasks of the fixed ID test set used for validation
    #[arg(long, help_heading = "Training")]
    eval_tasks: Option<usize>,
    /// Width D
    #[arg(long, help_heading = "Model")]
    d: Option<usize>,
    #[arg(long, help_heading = "Model")]
    heads: Option<usize>,
    #[arg(long, help_heading = "Model")]
    inductor_layers: Option<usize>,
    #[arg(long, help_heading = "Model")]
    interpreter_layers: Option<usize>,
    #[arg(long, help_heading = "Model")]
    mlp_mult: Option<usize>,
    /// Codebook size K (token 0 is SKIP)
    #[arg(long, help_heading = "Model")]
    codebook: Option<usize>,
    /// Program length T
    #[arg(long, help_heading = "Model")]
    program_len: Option<usize>,
}

impl RunOverrides {
    /// The flags that were given, as a run-config overlay.
    fn overlay(&self) -> serde_json::Value {
        let mut train = serde_json::Map::new();
        let mut model = serde_json::Map::new();
        macro_rules! put {
            ($map:ident, $($field:ident),*) => {
                $(if let Some(v) = self.$field { $map.insert(stringify!($field).into(), serde_json::json!(v)); })*
            };
        }
        put!(
            train,
            steps,
            batch,
            pairs,
            lr,
            grad_clip,
            lambda,
            tau_e_start,
            tau_e_end,
            tau_d_start,
            tau_d_end
        );
        put!(
            train,
            anneal_frac,
            seed,
            log_every,
            eval_every,
            checkpoint_every,
            eval_tasks
        );
        put!(
            model,
            d,
            heads,
            inductor_layers,
            interpreter_layers,
            mlp_mult,
            codebook,
            program_len
        );
        serde_json::json!({ "train": train, "model": model })
    }
}

fn run_train(args: &TrainArgs) -> anyhow::Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}-{}", args.suite, args.preset)));
    let base = if args.resume {
        nli_wgpu::checkpoint::load(&out)
            .with_context(|| format!("--resume needs a checkpoint in {}", out.display()))?
            .config
    } else {
        let suite: nli_wgpu::tasks::Suite =
            args.suite.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        let cfg = nli_wgpu::tasks::SuiteConfig::default();
        let (model, train) = preset(&args.preset, cfg.n, cfg.v)?;
        RunConfig {
            suite: suite.name().to_string(),
            model,
            train,
        }
    };
    let mut run = base;
    if let Some(path) = &args.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let overlay: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        run = run.with_overlay(&overlay, &path.display().to_string())?;
    }
    run = run.with_overlay(&args.overrides.overlay(), "flags")?;
    let ctx = Ctx::new(&args.gpu.options())?;
    let model_params = {
        let _g = ctx.no_grad();
        nli_wgpu::model::Nli::build(
            &ctx,
            &run.model,
            &mut nli_wgpu::model::layers::RandomInit::new(0),
        )
        .param_count()
    };
    eprintln!(
        "training {} on {} ({} parameters, {} steps of {} tasks x {} pairs) into {}",
        run.suite,
        ctx.gpu.summary.name,
        model_params,
        run.train.steps,
        run.train.batch,
        run.train.pairs,
        out.display()
    );
    let opts = TrainOptions {
        run,
        out_dir: out.clone(),
        resume: args.resume,
        stop_after: args.stop_after,
        progress: !args.quiet,
        before_step: None,
    };
    let summary = train(&ctx, &opts)?;
    println!(
        "done: {} steps, loss {:.4}, ID accuracy {}, {:.1} s ({:.2} steps/s); checkpoint in {}",
        summary.steps_done,
        summary.last_loss,
        summary
            .last_val_id_accuracy
            .map_or("-".to_string(), |a| format!("{a:.3}")),
        summary.wall_secs,
        summary.steps_per_sec,
        out.display()
    );
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Info { gpu, all } => {
            if all {
                for line in Device::list_adapters(&gpu.options())? {
                    println!("{line}");
                }
            } else {
                let g = Gpu::new(&gpu.options())?;
                println!("{}", g.summary);
            }
        }
        Command::Tasks(args) => nli_wgpu::tasks::run_tasks_command(&args)?,
        Command::Train(args) => run_train(&args)?,
        Command::Eval(args) => run_eval(&args)?,
        Command::Solve(args) => run_solve(&args)?,
        Command::Inspect(args) => run_inspect(&args)?,
        Command::Export { checkpoint, out } => {
            let mut ckpt = nli_wgpu::checkpoint::load(&checkpoint)?;
            ckpt.tensors.retain(|(name, _, _)| {
                !name.starts_with(nli_wgpu::checkpoint::ADAM_M)
                    && !name.starts_with(nli_wgpu::checkpoint::ADAM_V)
            });
            nli_wgpu::checkpoint::save(&out, &ckpt)?;
            let bytes = std::fs::metadata(nli_wgpu::checkpoint::checkpoint_path(&out))?.len();
            println!(
                "wrote {} ({} tensors, {} KiB)",
                out.display(),
                ckpt.tensors.len(),
                bytes / 1024
            );
        }
    }
    Ok(())
}

fn main() {
    // Mesa's window-system code prints an error per device when
    // XDG_RUNTIME_DIR is unset (headless servers, CI). We never present to a
    // window, so any directory silences it.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: first statement of main, before any thread is started.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
