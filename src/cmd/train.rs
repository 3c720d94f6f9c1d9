//! `nli-wgpu train`: flags, the run's config (preset, file, flags), and the
//! training loop of the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use nli_wgpu::model::config::suite_preset;
use nli_wgpu::model::{ModelKind, RunConfig};
use nli_wgpu::train::{TrainOptions, train};

use super::GpuArgs;

/// Training flags. The run's settings start from the preset (or, with
/// --resume, from the checkpoint's config), then the --config file, then the
/// individual flags.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// shift-l, shift-p or comp-i
    #[arg(long, default_value = "shift-l")]
    pub suite: String,
    /// Model kind: nli, or a baseline of the paper's Table 1: in-context, lpn, d-lpn [default: nli]
    #[arg(long)]
    pub model: Option<String>,
    /// tiny, cpu or gpu (SPEC sizes; NLI's cpu adds --prob-floor 1e-4, on shift-p and comp-i --view-nce-weight 5, and on shift-p --program-len 3 --search-program-len 12 --encoder-warmup 3600 --encoder-warmup-until 2.4 before SPEC's 3600 steps; D-LPN's takes the contrastive loss on every suite, an 1800-step warm-up on shift-l and NLI's shift-p recipe (--program-len 3 --encoder-warmup 3600 --encoder-warmup-until 2.4) on shift-p; In-Context's the contrastive loss and an 1800-step warm-up on shift-l and shift-p; LPN's the same on every suite, and 3600 more steps on shift-p)
    #[arg(long, default_value = "cpu")]
    pub preset: String,
    /// JSON file with any part of the run config, e.g. {"train": {"steps": 500}}
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run directory (checkpoint, config.json, metrics.jsonl) [default: runs/<suite>-<preset>, runs/<model>-<suite>-<preset> for a baseline]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its checkpoint
    #[arg(long)]
    pub resume: bool,
    /// Start a new run from the parameters of this checkpoint or snapshot (same model settings; step 0, fresh optimiser)
    #[arg(long, conflicts_with = "resume")]
    pub init_from: Option<PathBuf>,
    /// Stop after this many steps (with a checkpoint) without changing the schedule
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// No progress bar
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub gpu: GpuArgs,
    #[command(flatten)]
    pub overrides: RunOverrides,
}

/// One flag per setting of the run config.
#[derive(Args, Debug, Default)]
pub struct RunOverrides {
    #[arg(long, help_heading = "Training")]
    pub steps: Option<usize>,
    #[arg(long, help_heading = "Training")]
    pub batch: Option<usize>,
    /// Specification pairs per training task
    #[arg(long, help_heading = "Training")]
    pub pairs: Option<usize>,
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub lr: Option<f32>,
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub grad_clip: Option<f32>,
    /// Weight of the distinct-token regulariser
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub lambda: Option<f32>,
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub tau_e_start: Option<f32>,
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub tau_e_end: Option<f32>,
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub tau_d_start: Option<f32>,
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub tau_d_end: Option<f32>,
    /// Fraction of the run over which temperatures anneal
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub anneal_frac: Option<f32>,
    #[arg(long, help_heading = "Training")]
    pub seed: Option<u64>,
    #[arg(long, help_heading = "Training")]
    pub log_every: Option<usize>,
    #[arg(long, help_heading = "Training")]
    pub eval_every: Option<usize>,
    #[arg(long, help_heading = "Training")]
    pub checkpoint_every: Option<usize>,
    /// Keep the parameters every N steps under snapshots/step-NNNNN/ of the run (0: none)
    #[arg(long, help_heading = "Training")]
    pub keep_every: Option<usize>,
    /// Tasks of the fixed ID test set used for validation
    #[arg(long, help_heading = "Training")]
    pub eval_tasks: Option<usize>,
    /// Width D
    #[arg(long, help_heading = "Model")]
    pub d: Option<usize>,
    #[arg(long, help_heading = "Model")]
    pub heads: Option<usize>,
    #[arg(long, help_heading = "Model")]
    pub inductor_layers: Option<usize>,
    #[arg(long, help_heading = "Model")]
    pub interpreter_layers: Option<usize>,
    #[arg(long, help_heading = "Model")]
    pub mlp_mult: Option<usize>,
    /// Codebook size K (token 0 is SKIP)
    #[arg(long, help_heading = "Model")]
    pub codebook: Option<usize>,
    /// Program length T
    #[arg(long, help_heading = "Model")]
    pub program_len: Option<usize>,
    /// NLI: slots of the programs test-time search runs by default, kept in the checkpoint [default: T; 12 in Shift-P's cpu preset, which trains T = 3]
    #[arg(long, help_heading = "Model")]
    pub search_program_len: Option<usize>,
    /// Baselines: LPN latent size d_z
    #[arg(long, help_heading = "Model")]
    pub latent_dim: Option<usize>,
    /// Baselines: blocks of the one-pass decoder
    #[arg(long, help_heading = "Model")]
    pub decoder_layers: Option<usize>,
    /// Baselines: MLP width of the decoder, as a multiple of D
    #[arg(long, help_heading = "Model")]
    pub decoder_mlp_mult: Option<usize>,
    /// Linear learning-rate warm-up steps [default: 0 for nli, 100 for the baselines]
    #[arg(long, help_heading = "Training")]
    pub warmup_steps: Option<usize>,
    /// Decoupled weight decay (AdamW; BASELINES' [C] settings: 1e-4 with --lr 4e-4 --batch 128) [default: 0, plain Adam]
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub weight_decay: Option<f32>,
    /// Train only the inductor (In-Context: the pair encoder; LPN: the encoder and its latent-mean head), on the views' contrastive loss, for the first N steps; the temperatures anneal over the steps after [default: 0]
    #[arg(long, help_heading = "Training")]
    pub encoder_warmup: Option<usize>,
    /// End the encoder warm-up once the mean contrastive loss of its last 100 steps is below this; --encoder-warmup is then the most warm-up steps, and the steps not taken come off --steps
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub encoder_warmup_until: Option<f32>,
    /// LPN: weight of the KL term
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub kl_beta: Option<f32>,
    /// LPN: latent ascent steps in training, 1 ("Grad 1") or 0
    #[arg(long, help_heading = "Training")]
    pub lpn_train_grad: Option<usize>,
    /// Fraction of the run with hard (straight-through) inductor samples
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub hard_inductor_frac: Option<f32>,
    /// Weight of a bonus for the mutual information between tasks and the inductor's tokens (0: SPEC)
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub mi_weight: Option<f32>,
    /// Cap (nats) on the mutual information the --mi-weight bonus pays for
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub mi_cap: Option<f32>,
    /// Weight of a bonus for the mutual information between the tokens of two disjoint halves of each task's pairs (0: SPEC)
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub view_mi_weight: Option<f32>,
    /// Cap (nats) on the view mutual information the --view-mi-weight bonus pays for
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub view_mi_cap: Option<f32>,
    /// Weight of a contrastive loss between the inductor's embeddings (In-Context: the mean pair tokens; LPN: the mean latent means) of two disjoint halves of each task's pairs (0: SPEC)
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub view_nce_weight: Option<f32>,
    /// The --view-nce-weight loss reads the two halves' token logits instead of their slot embeddings
    #[arg(long, help_heading = "Training")]
    pub view_nce_logits: bool,
    /// Fraction of the run in which the inductor's samples never choose SKIP
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub no_skip_frac: Option<f32>,
    /// Scale of the Gumbel noise in the inductor's samples (1: SPEC, 0: none)
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub inductor_noise: Option<f32>,
    /// Scale of the Gumbel noise in the interpreter's samples (1: SPEC, 0: none)
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub interpreter_noise: Option<f32>,
    /// Floor of the reconstruction's probabilities before the log (SPEC: 1e-12; below it no gradient)
    #[arg(long, help_heading = "Training", value_parser = finite_f32)]
    pub prob_floor: Option<f32>,
    /// Train (and validate) on these ID programs only, e.g. shl_1,swp
    #[arg(long, value_delimiter = ',', help_heading = "Training")]
    pub programs: Option<Vec<String>>,
    /// Diagnostic, NLI only: run oracle programs (token 1 + program index, then SKIP) instead of the inductor's
    #[arg(long, help_heading = "Training")]
    pub oracle_programs: bool,
    /// Scale of the inductor head's initial weights
    #[arg(long, help_heading = "Model", value_parser = finite_f32)]
    pub head_init_scale: Option<f32>,
    /// NLI: start the interpreter as a copy of its input (blocks' output weights 0, head C x its value embedding's transpose; 0: SPEC)
    #[arg(long, help_heading = "Model", value_parser = finite_f32)]
    pub interpreter_identity_init: Option<f32>,
    /// NLI, D-LPN: start the inductor's position embeddings as a Fourier table over the sequence (SPEC: random)
    #[arg(long, help_heading = "Model")]
    pub inductor_fourier_positions: bool,
}

/// A float flag's value: a finite number (NaN and infinity would become
/// JSON nulls in the run config).
fn finite_f32(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("`{s}` is not a finite number")),
    }
}

impl RunOverrides {
    /// The flags that were given, as a run-config overlay.
    pub fn overlay(&self) -> serde_json::Value {
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
            keep_every,
            eval_tasks,
            warmup_steps,
            weight_decay,
            encoder_warmup,
            encoder_warmup_until,
            kl_beta,
            lpn_train_grad,
            hard_inductor_frac,
            mi_weight,
            mi_cap,
            view_mi_weight,
            view_mi_cap,
            view_nce_weight,
            no_skip_frac,
            inductor_noise,
            interpreter_noise,
            prob_floor
        );
        if let Some(p) = &self.programs {
            train.insert("programs".into(), serde_json::json!(p));
        }
        for (flag, on) in [
            ("oracle_programs", self.oracle_programs),
            ("view_nce_logits", self.view_nce_logits),
        ] {
            if on {
                train.insert(flag.into(), serde_json::json!(true));
            }
        }
        if self.inductor_fourier_positions {
            model.insert("inductor_fourier_positions".into(), serde_json::json!(true));
        }
        put!(
            model,
            d,
            heads,
            inductor_layers,
            interpreter_layers,
            mlp_mult,
            codebook,
            program_len,
            search_program_len,
            latent_dim,
            decoder_layers,
            decoder_mlp_mult,
            head_init_scale,
            interpreter_identity_init
        );
        serde_json::json!({ "train": train, "model": model })
    }
}

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| match args.model.as_deref() {
            None | Some("nli") => PathBuf::from(format!("runs/{}-{}", args.suite, args.preset)),
            Some(kind) => PathBuf::from(format!("runs/{kind}-{}-{}", args.suite, args.preset)),
        });
    let base = if args.resume {
        nli_wgpu::checkpoint::load(&out)
            .with_context(|| format!("--resume needs a checkpoint in {}", out.display()))?
            .config
    } else {
        let suite: nli_wgpu::tasks::Suite =
            args.suite.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        let cfg = nli_wgpu::tasks::SuiteConfig::default();
        let kind = match &args.model {
            Some(kind) => kind.parse()?,
            None => ModelKind::Nli,
        };
        let (model, train) = suite_preset(&args.preset, kind, suite, cfg.n, cfg.v)?;
        RunConfig {
            suite: suite.name().to_string(),
            model,
            train,
        }
    };
    if let (true, Some(kind)) = (args.resume, &args.model) {
        let kind: ModelKind = kind.parse()?;
        if kind != base.model.kind {
            anyhow::bail!(
                "{} holds a {} model; --model {} cannot resume it",
                out.display(),
                base.model.kind.name(),
                kind.name()
            );
        }
    }
    let mut run = base;
    if let Some(path) = &args.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let overlay: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        run = run.with_overlay(&overlay, &path.display().to_string())?;
    }
    run = run.with_overlay(&args.overrides.overlay(), "flags")?;
    let opts = TrainOptions {
        run,
        out_dir: out.clone(),
        resume: args.resume,
        init_from: args.init_from.clone(),
        stop_after: args.stop_after,
        progress: !args.quiet,
        before_step: None,
    };
    // Refuse a bad configuration before opening the GPU or announcing a run.
    nli_wgpu::train::check_run(&opts)?;
    let run = &opts.run;
    let ctx = args.gpu.open()?;
    let _profile = super::ProfileReport(&ctx);
    let model_params = {
        let _g = ctx.no_grad();
        nli_wgpu::model::Model::build(
            &ctx,
            &run.model,
            &mut nli_wgpu::model::layers::RandomInit::new(0),
        )
        .param_count()
    };
    eprintln!(
        "training {} {} on {} ({} parameters, {} steps of {} tasks x {} pairs) into {}",
        run.model.kind.label(),
        run.suite,
        ctx.gpu.summary.name,
        model_params,
        run.train.steps,
        run.train.batch,
        run.train.pairs,
        out.display()
    );
    let summary = train(&ctx, &opts)?;
    println!(
        "done: {} steps, loss {:.4}, ID accuracy {}, {:.1} s ({:.2} steps/s); checkpoint and {} in {}",
        summary.steps_done,
        summary.last_loss,
        summary
            .last_val_id_accuracy
            .map_or("-".to_string(), |a| format!("{a:.3}")),
        summary.wall_secs,
        summary.steps_per_sec,
        nli_wgpu::train::CURVES_FILE,
        out.display()
    );
    Ok(())
}
