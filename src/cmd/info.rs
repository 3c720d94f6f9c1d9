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
        // Block sizes that replace the kernels' own choice (from the
        // environment, or for this driver).
        let t = g.tuning();
        let or_default = |v: Option<String>| v.unwrap_or_else(|| "the kernels' own".into());
        println!(
            "matmul block: {}",
            or_default(t.matmul_block.map(|b| format!("at most {b}x{b}")))
        );
        println!(
            "attention block: {}",
            or_default(t.attention_block.map(|b| format!("{b} query rows")))
        );
    }
    Ok(())
}
