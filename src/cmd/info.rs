//! `nli-wgpu info`: the adapter and the limits that matter.

use clap::Args;
use nli_wgpu::gpu::{Device, Gpu};

use super::GpuArgs;

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub gpu: GpuArgs,
    /// List every adapter found instead of opening one
    #[arg(long)]
    pub all: bool,
}

pub fn run(args: &InfoArgs) -> anyhow::Result<()> {
    if args.all {
        for line in Device::list_adapters(&args.gpu.options())? {
            println!("{line}");
        }
    } else {
        let g = Gpu::new(&args.gpu.options())?;
        println!("{}", g.summary);
    }
    Ok(())
}
