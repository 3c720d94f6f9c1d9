//! The subcommands, one file each, and the arguments they share.

pub mod demo;
pub mod eval;
pub mod export;
pub mod info;
pub mod inspect;
pub mod plot;
pub mod solve;
pub mod table;
pub mod train;

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nli_wgpu::Ctx;
use nli_wgpu::gpu::DeviceOptions;
use nli_wgpu::search::SearchConfig;

/// Adapter selection, shared by every command that uses the GPU.
#[derive(Args, Clone, Debug)]
pub struct GpuArgs {
    /// Backend: vulkan, metal or dx12 (default: WGPU_BACKEND, else all)
    #[arg(long)]
    pub backend: Option<String>,
    /// Use the adapter whose name contains this text (e.g. llvmpipe)
    #[arg(long)]
    pub adapter: Option<String>,
    /// Print the GPU time of every kernel at the end (from timestamp
    /// queries; each dispatch then runs in its own pass, a little slower)
    #[arg(long)]
    pub profile: bool,
}

impl GpuArgs {
    pub fn options(&self) -> DeviceOptions {
        DeviceOptions {
            backend: self.backend.clone(),
            adapter: self.adapter.clone(),
        }
    }

    /// Open the adapter. Keep the returned guard alive as long as the
    /// work: with `--profile` it prints the GPU time by kernel when dropped.
    pub fn open(&self) -> anyhow::Result<Ctx> {
        let ctx = Ctx::new(&self.options())?;
        if self.profile && !ctx.gpu.start_profile() {
            eprintln!(
                "--profile: {} has no timestamp queries, so no kernel times",
                ctx.gpu.summary.name
            );
        }
        Ok(ctx)
    }
}

/// Prints the kernel profile started by [`GpuArgs::open`] (if any) when
/// dropped, at the end of a command or on its error.
pub struct ProfileReport<'a>(pub &'a Ctx);

impl Drop for ProfileReport<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.0.gpu.stop_profile() {
            eprintln!("GPU time by kernel:\n{}", p.table());
        }
    }
}

/// Where a trained model comes from.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// A checkpoint file or run directory [default: the shipped model of --suite, built into the binary]
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Suite whose shipped model to use when --checkpoint is not given
    #[arg(long, default_value = "shift-l")]
    pub suite: String,
    /// Kind of the shipped model to use when --checkpoint is not given: nli, in-context, lpn, d-lpn
    #[arg(long, default_value = "nli")]
    pub model_kind: String,
}

impl ModelArgs {
    /// What the model is called in reports: the checkpoint's path, or
    /// `shipped:<suite>` for the model built into the binary.
    pub fn label(&self) -> String {
        match &self.checkpoint {
            Some(p) => p.display().to_string(),
            None if self.model_kind == "nli" => format!("shipped:{}", self.suite),
            None => format!("shipped:{}-{}", self.model_kind, self.suite),
        }
    }

    /// The directory reports go to by default: the run directory of the
    /// checkpoint, else the current one.
    pub fn report_dir(&self) -> PathBuf {
        match &self.checkpoint {
            Some(p) if p.is_dir() => p.clone(),
            Some(p) => p.parent().map(PathBuf::from).unwrap_or_default(),
            None => PathBuf::new(),
        }
    }

    /// The checkpoint (no GPU needed): its config says the model kind.
    pub fn checkpoint(&self) -> anyhow::Result<nli_wgpu::checkpoint::Checkpoint> {
        Ok(match &self.checkpoint {
            Some(path) => nli_wgpu::checkpoint::load(path)
                .with_context(|| format!("loading the model {}", path.display()))?,
            None => nli_wgpu::shipped::load(&self.model_kind, &self.suite)?,
        })
    }

    pub fn load(
        &self,
        ctx: &Ctx,
    ) -> anyhow::Result<(nli_wgpu::checkpoint::Checkpoint, nli_wgpu::model::Model)> {
        let ckpt = self.checkpoint()?;
        let model = nli_wgpu::train::load_model(ctx, &ckpt)?;
        Ok((ckpt, model))
    }
}

/// Test-time search settings (SPEC §3; defaults are the cpu-preset settings of SPEC §5).
#[derive(Args, Debug, Clone)]
pub struct SearchArgs {
    /// Starts per task (s)
    #[arg(long, default_value_t = 16)]
    pub starts: usize,
    /// Adam steps on the slot embeddings (L)
    #[arg(long, default_value_t = 50)]
    pub search_steps: usize,
    /// Spread of the starts around the inductor's guess (sigma_s)
    #[arg(long, default_value_t = 0.5)]
    pub sigma: f32,
    /// Adam learning rate of the search
    #[arg(long, default_value_t = 0.1)]
    pub search_lr: f32,
    #[arg(long, default_value_t = 2.0)]
    pub search_tau_start: f32,
    #[arg(long, default_value_t = 0.5)]
    pub search_tau_end: f32,
    #[arg(long, default_value_t = 0)]
    pub search_seed: u64,
    /// Activation memory per chunk of candidates, MiB
    #[arg(long, default_value_t = 2048)]
    pub memory_mib: usize,
    /// Slots of the searched programs [default: the checkpoint's
    /// search_program_len, else its program length]. NLI only: its
    /// interpreter has no slot position, so a model trained on short
    /// programs can search longer ones; the extra slots start from the
    /// inductor's last slot
    #[arg(long)]
    pub search_program_len: Option<usize>,
}

impl SearchArgs {
    /// The search settings for `model`: the searched programs' length is the
    /// flag's, else the checkpoint's default.
    pub fn config(&self, model: &nli_wgpu::model::ModelConfig) -> SearchConfig {
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
            program_len: Some(
                self.search_program_len
                    .unwrap_or_else(|| model.default_search_program_len()),
            ),
        }
    }

    /// Refuses settings this model cannot search, before any work.
    pub fn check(&self, model: &nli_wgpu::model::ModelConfig) -> anyhow::Result<()> {
        nli_wgpu::search::check_search_program_len(model, self.search_program_len)
            .map_err(|e| anyhow::anyhow!("--search-program-len: {e}"))
    }
}

/// A program's token ids as the commands print it: `[14 14 19]`.
pub fn token_list(tokens: &[u32]) -> String {
    let t: Vec<String> = tokens.iter().map(|t| t.to_string()).collect();
    format!("[{}]", t.join(" "))
}

pub fn progress_bar(len: usize, label: &str, quiet: bool) -> ProgressBar {
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
