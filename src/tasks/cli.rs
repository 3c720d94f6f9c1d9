//! The `nli-wgpu tasks` subcommand: print or save generated tasks.
//!
//! `nli-wgpu tasks --suite shift-l --split ood -n 5 [--seed S] [--out FILE]`
//!
//! Without `--seed` the suite/split's fixed test-set seed is used, so
//! `-n 200` prints exactly the fixed test set (and `-n 5` its first five
//! tasks). `--programs` prints the split's program names instead of tasks.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;

use crate::tasks::SuiteConfig;
use crate::tasks::file::{write_task_file, write_tasks};
use crate::tasks::suite::{DEFAULT_TEST_SET_SIZE, Split, Suite};
use crate::tasks::task::test_set;

/// Arguments of the `tasks` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct TasksArgs {
    /// Task suite: shift-l, shift-p or comp-i.
    #[arg(long)]
    pub suite: Suite,
    /// Split: id (training distribution) or ood (held-out programs).
    #[arg(long, default_value = "id")]
    pub split: Split,
    /// Number of tasks.
    #[arg(short = 'n', long = "count", default_value_t = DEFAULT_TEST_SET_SIZE)]
    pub count: usize,
    /// Generator seed [default: the fixed test-set seed of the suite and split].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the tasks to this file (atomically) instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Sequence length N.
    #[arg(long, default_value_t = SuiteConfig::default().n)]
    pub length: usize,
    /// Number of values V (values are 0..V-1).
    #[arg(long, default_value_t = SuiteConfig::default().v)]
    pub values: usize,
    /// Specification pairs per task (m).
    #[arg(long, default_value_t = SuiteConfig::default().m)]
    pub pairs: usize,
    /// Print the split's program names, one per line, instead of tasks.
    #[arg(long)]
    pub programs: bool,
}

impl TasksArgs {
    /// The task shape these arguments ask for.
    pub fn config(&self) -> SuiteConfig {
        SuiteConfig {
            n: self.length,
            v: self.values,
            m: self.pairs,
        }
    }

    /// The seed in effect: `--seed`, or the fixed test-set seed.
    pub fn effective_seed(&self) -> u64 {
        self.seed
            .unwrap_or_else(|| self.suite.test_seed(self.split))
    }
}

/// Runs the `tasks` subcommand, printing to standard output unless `--out`
/// is given. A closed pipe (e.g. `| head`) ends the output quietly.
pub fn run_tasks_command(args: &TasksArgs) -> anyhow::Result<()> {
    let stdout = io::stdout();
    match run_tasks_command_to(args, stdout.lock()) {
        Err(error) if is_broken_pipe(&error) => Ok(()),
        other => other,
    }
}

/// Runs the `tasks` subcommand with `stdout` standing in for standard output
/// (tests pass a buffer). With `--out`, tasks go to that file and a one-line
/// summary goes to standard error.
pub fn run_tasks_command_to(args: &TasksArgs, mut stdout: impl Write) -> anyhow::Result<()> {
    let cfg = args.config();
    if args.programs {
        let programs = args.suite.programs(args.split, &cfg).with_context(|| {
            format!("cannot list the programs of {} {}", args.suite, args.split)
        })?;
        for program in programs {
            writeln!(stdout, "{program}")?;
        }
        stdout.flush()?;
        return Ok(());
    }

    let seed = args.effective_seed();
    let tasks = test_set(args.suite, args.split, seed, args.count, &cfg)
        .with_context(|| format!("cannot generate {} {} tasks", args.suite, args.split))?;
    match &args.out {
        Some(path) => {
            write_task_file(path, &tasks)
                .with_context(|| format!("cannot write task file {}", path.display()))?;
            eprintln!(
                "wrote {} {} {} tasks (seed {seed}) to {}",
                tasks.len(),
                args.suite,
                args.split,
                path.display()
            );
        }
        None => write_tasks(stdout, &tasks)?,
    }
    Ok(())
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
