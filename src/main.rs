//! The command line: parse, call the library, print. Each subcommand lives
//! in its own file under `src/cmd/`.

mod cmd;

use clap::{Parser, Subcommand};

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

#[derive(Subcommand)]
enum Command {
    /// The paper's result in a minute: the shipped model fails on longer programs without search and solves them with gradient search
    Demo(Box<cmd::demo::DemoArgs>),
    /// Print the adapter's name, backend, device type and the limits that matter
    Info(cmd::info::InfoArgs),
    /// Print or write tasks of the compositional suite as JSON Lines
    Tasks(nli_wgpu::tasks::TasksArgs),
    /// Train an NLI model on a suite's ID tasks
    Train(Box<cmd::train::TrainArgs>),
    /// ID and OOD accuracy of a trained model without search, with prior search and with gradient search (or a sweep of search budgets)
    Eval(Box<cmd::eval::EvalArgs>),
    /// Solve the tasks of a task file (JSON Lines) by gradient search
    Solve(Box<cmd::solve::SolveArgs>),
    /// Show which codebook tokens the model writes for which program family
    Inspect(cmd::inspect::InspectArgs),
    /// Copy a checkpoint's parameters without the optimiser state (a small model to ship)
    Export(cmd::export::ExportArgs),
    /// Draw figures (SVG and PNG): training curves, accuracy bars, accuracy against search compute
    Plot(cmd::plot::PlotArgs),
    /// The paper's Table 1 for this project (Markdown) from eval reports, beside the paper's figures
    Table(cmd::table::TableArgs),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => cmd::demo::run(&args),
        Command::Info(args) => cmd::info::run(&args),
        Command::Tasks(args) => Ok(nli_wgpu::tasks::run_tasks_command(&args)?),
        Command::Train(args) => cmd::train::run(&args),
        Command::Eval(args) => cmd::eval::run(&args),
        Command::Solve(args) => cmd::solve::run(&args),
        Command::Inspect(args) => cmd::inspect::run(&args),
        Command::Export(args) => cmd::export::run(&args),
        Command::Plot(args) => cmd::plot::run(&args),
        Command::Table(args) => cmd::table::run(&args),
    }
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
