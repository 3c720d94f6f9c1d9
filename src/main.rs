//! The command line: parse, call the library, print.

use clap::{Args, Parser, Subcommand};
use nli_wgpu::gpu::{Device, DeviceOptions, Gpu};

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
