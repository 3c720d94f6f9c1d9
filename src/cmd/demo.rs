//! `nli-wgpu demo`: the paper's result in a minute. On a few fixed OOD tasks
//! (for Shift-L: longer shifts than any seen in training) the shipped model's
//! inductor writes a program without search and gets the query wrong; then
//! gradient search finds a longer program made of the same tokens and gets it
//! right.

use clap::Args;
use nli_wgpu::eval::{inductor_programs, predict_hard};
use nli_wgpu::search::gradient_search;
use nli_wgpu::tasks::{Split, Task, TaskRng, generate_task};

use super::{GpuArgs, ModelArgs, SearchArgs, progress_bar, token_list};

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Number of OOD tasks (spread over the split's program families)
    #[arg(long, default_value_t = 3)]
    pub tasks: usize,
    #[command(flatten)]
    pub search: SearchArgs,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

/// The seed of the demo's tasks: the same tasks on every run and machine.
const DEMO_SEED: u64 = 2026;

/// `n` tasks of the split, one per family, the families spread evenly over
/// the split's list (for Shift-L OOD and n = 3: shl_6, shl_8, shl_10).
fn demo_tasks(
    families: &[nli_wgpu::tasks::Program],
    cfg: &nli_wgpu::tasks::SuiteConfig,
    n: usize,
) -> anyhow::Result<Vec<Task>> {
    let f = families.len();
    (0..n)
        .map(|i| {
            let fi = if n <= 1 || n > f {
                i % f
            } else {
                i * (f - 1) / (n - 1)
            };
            let mut rng = TaskRng::new(DEMO_SEED + i as u64);
            generate_task(&mut rng, &families[fi], cfg).map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect()
}

/// A sequence in short form: its values as digits (V = 10), else with spaces.
fn short(v: &[u32]) -> String {
    if v.iter().all(|&x| x < 10) {
        v.iter().map(|x| x.to_string()).collect()
    } else {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Whether `got` is the expected output, and the expected one when not.
fn verdict(got: &[u32], want: &[u32]) -> String {
    if got == want {
        "right".into()
    } else {
        format!("wrong (expected {})", short(want))
    }
}

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    if args.tasks == 0 {
        anyhow::bail!("--tasks must be at least 1");
    }
    if args.search.starts == 0 {
        anyhow::bail!("--starts must be at least 1");
    }
    let ctx = args.gpu.open()?;
    let _profile = super::ProfileReport(&ctx);
    let (ckpt, model) = args.model.load(&ctx)?;
    let model = model.nli("demo")?;
    args.search.check(&ckpt.config.model)?;
    let (suite, cfg) = nli_wgpu::train::suite_config(&ckpt.config)?;
    let id_names: Vec<String> = suite
        .programs(Split::Id, &cfg)?
        .iter()
        .map(|p| p.name())
        .collect();
    let tasks = demo_tasks(&suite.programs(Split::Ood, &cfg)?, &cfg, args.tasks)?;
    let search = args.search.config(&ckpt.config.model);
    println!(
        "nli-wgpu demo: the {} model ({}) on {} out-of-distribution task{}",
        suite.name(),
        args.model.label(),
        tasks.len(),
        if tasks.len() == 1 { "" } else { "s" }
    );
    println!("training saw only {}\n", id_names.join(", "));

    let no_search_pred = predict_hard(&ctx, model, &tasks, ckpt.config.train.tau_d_end);
    let no_search_prog = inductor_programs(&ctx, model, &tasks);
    let (mut right_before, mut right_after) = (0, 0);
    let t0 = std::time::Instant::now();
    for (i, task) in tasks.iter().enumerate() {
        let want = task.query.y.as_deref().unwrap_or_default();
        println!(
            "task {} of {}: {}",
            i + 1,
            tasks.len(),
            task.program.as_deref().unwrap_or("?")
        );
        for (j, pair) in task.spec.iter().enumerate() {
            let label = if j == 0 { "examples" } else { "" };
            println!("  {label:<15} {} -> {}", short(&pair.x), short(&pair.y));
        }
        println!("  {:<15} {}", "query", short(&task.query.x));
        let pred = &no_search_pred[i];
        right_before += usize::from(pred.as_slice() == want);
        println!(
            "  {:<15} program {:<26} -> {}  {}",
            "no search",
            token_list(&no_search_prog[i]),
            short(pred),
            verdict(pred, want)
        );
        let bar = progress_bar(
            search.steps.max(1),
            &format!(
                "  gradient search ({} starts x {} steps)",
                search.starts, search.steps
            ),
            false,
        );
        let found = gradient_search(
            &ctx,
            model,
            std::slice::from_ref(task),
            &search,
            &mut |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            },
        );
        bar.finish_and_clear();
        let r = &found[0];
        right_after += usize::from(r.prediction.as_slice() == want);
        println!(
            "  {:<15} program {:<26} -> {}  {}\n",
            "gradient search",
            token_list(&r.program),
            short(&r.prediction),
            verdict(&r.prediction, want)
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    let n = tasks.len();
    println!(
        "accuracy without search:       {right_before}/{n}  (the inductor's program as written)"
    );
    println!(
        "accuracy with gradient search: {right_after}/{n}  ({} starts x {} steps, {:.1} s per task on {})",
        search.starts,
        search.steps,
        secs / n as f64,
        ctx.gpu.summary.name
    );
    Ok(())
}
