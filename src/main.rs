//! The command line: parse, call the library, print.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use nli_wgpu::Ctx;
use nli_wgpu::gpu::{Device, DeviceOptions, Gpu};
use nli_wgpu::model::RunConfig;
use nli_wgpu::model::config::preset;
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
