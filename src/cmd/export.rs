//! `nli-wgpu export`: a checkpoint's parameters without the optimiser state.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Checkpoint file or run directory
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Directory to write checkpoint.safetensors and config.json into
    #[arg(long)]
    pub out: PathBuf,
    /// NLI: record the slots test-time search runs by default on this model
    /// (the config's search_program_len; what `train --search-program-len`
    /// sets), for a model trained before its run could record it
    #[arg(long)]
    pub search_program_len: Option<usize>,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let mut ckpt = nli_wgpu::checkpoint::load(&args.checkpoint)?;
    if let Some(l) = args.search_program_len {
        ckpt.config.model.search_program_len = Some(l);
        ckpt.config
            .model
            .validate()
            .map_err(|e| anyhow::anyhow!("--search-program-len: {e}"))?;
    }
    ckpt.tensors.retain(|(name, _, _)| {
        !name.starts_with(nli_wgpu::checkpoint::ADAM_M)
            && !name.starts_with(nli_wgpu::checkpoint::ADAM_V)
    });
    nli_wgpu::checkpoint::save(&args.out, &ckpt)?;
    let bytes = std::fs::metadata(nli_wgpu::checkpoint::checkpoint_path(&args.out))?.len();
    println!(
        "wrote {} ({} tensors, {} KiB)",
        args.out.display(),
        ckpt.tensors.len(),
        bytes / 1024
    );
    Ok(())
}
