//! `nli-wgpu train`: the training loop.
//!
//! Each step draws a batch of ID tasks (its data and its Gumbel noise are
//! pure functions of the seed and the step number, so a resumed run replays
//! exactly what an uninterrupted one would), computes the leave-one-out loss,
//! backpropagates and takes an Adam step with global-norm clipping. The loss
//! is read back every step: a NaN or infinite loss stops the run before
//! anything is saved, so the last checkpoint on disk is always a good one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::checkpoint::{self, ADAM_M, ADAM_V, Checkpoint, METRICS_FILE};
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::eval;
use crate::model::config::ENCODER_WARMUP_WINDOW;
use crate::model::layers::{ParamSource, RandomInit};
use crate::model::{InitKind, LossSettings, Model, RunConfig, argmax_rows};
use crate::optim::{Adam, AdamConfig};
use crate::tasks::{BatchSampler, Split, Suite, SuiteConfig, TaskBatch, TaskRng, test_set};
use crate::tensor::Tensor;

/// A function called before each training step with the step index.
pub type StepHook = Box<dyn Fn(&Ctx, usize, &Model)>;

pub struct TrainOptions {
    pub run: RunConfig,
    /// Run directory: checkpoint, config.json, metrics.jsonl.
    pub out_dir: PathBuf,
    /// Continue from the checkpoint in `out_dir`.
    pub resume: bool,
    /// A fresh run (step 0, a fresh optimiser) whose parameters start as
    /// those of this checkpoint or snapshot (same model config), instead
    /// of a random initialisation.
    pub init_from: Option<PathBuf>,
    /// Stop after this many completed steps (with a checkpoint), before the
    /// end of the schedule.
    pub stop_after: Option<usize>,
    /// Draw a progress bar.
    pub progress: bool,
    /// Called before each step with the step index (diagnostics, and the
    /// tests' fault injection).
    pub before_step: Option<StepHook>,
}

#[derive(Clone, Debug)]
pub struct TrainSummary {
    pub steps_done: usize,
    pub last_loss: f32,
    pub last_val_id_accuracy: Option<f32>,
    pub wall_secs: f64,
    pub steps_per_sec: f64,
}

/// The suite's task sizes for a run.
pub fn suite_config(run: &RunConfig) -> Result<(Suite, SuiteConfig)> {
    let suite: Suite = run
        .suite
        .parse()
        .map_err(|e| Error::Config(format!("{e}")))?;
    let cfg = SuiteConfig {
        n: run.model.n,
        v: run.model.v,
        m: run.train.pairs,
    };
    cfg.validate().map_err(|e| Error::Config(e.to_string()))?;
    suite
        .check_config(&cfg)
        .map_err(|e| Error::Config(e.to_string()))?;
    Ok((suite, cfg))
}

/// Parameters taken from a checkpoint by name; records every missing or
/// misshapen one instead of panicking, so the caller can refuse cleanly.
struct CheckpointParams<'a> {
    ckpt: &'a Checkpoint,
    problems: Vec<String>,
}

impl ParamSource for CheckpointParams<'_> {
    fn param(&mut self, ctx: &Ctx, name: &str, shape: &[usize], _init: InitKind) -> Tensor {
        match self.ckpt.get(name) {
            Some((s, data)) if s == shape => ctx.param(data, shape),
            Some((s, _)) => {
                self.problems.push(format!(
                    "{name}: checkpoint has shape {s:?}, the config needs {shape:?}"
                ));
                ctx.param(&vec![0.0; shape.iter().product()], shape)
            }
            None => {
                self.problems
                    .push(format!("{name}: missing from the checkpoint"));
                ctx.param(&vec![0.0; shape.iter().product()], shape)
            }
        }
    }
}

/// Build the model stored in a checkpoint (its own config).
pub fn load_model(ctx: &Ctx, ckpt: &Checkpoint) -> Result<Model> {
    ckpt.config.model.validate()?;
    let mut src = CheckpointParams {
        ckpt,
        problems: Vec::new(),
    };
    let model = Model::build(ctx, &ckpt.config.model, &mut src);
    if !src.problems.is_empty() {
        return Err(Error::Config(format!(
            "the checkpoint does not match its model config:\n  {}",
            src.problems.join("\n  ")
        )));
    }
    Ok(model)
}

/// Subdirectory of a run that holds the checkpoint with the best
/// validation accuracy, and the file that records its step and accuracy.
pub const BEST_DIR: &str = "best";
pub const BEST_FILE: &str = "best.json";

/// Validation accuracy and training loss of the run's best checkpoint so
/// far, if any (a record without a loss ranks behind any loss).
fn read_best(dir: &Path) -> Option<(f32, f32)> {
    let text = std::fs::read_to_string(dir.join(BEST_FILE)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let acc = v["val_id_accuracy"].as_f64()? as f32;
    let loss = v["loss"].as_f64().map_or(f32::INFINITY, |l| l as f32);
    Some((acc, loss))
}

/// Whether a checkpoint with validation accuracy `acc` and training loss
/// `loss` beats the best so far: higher accuracy, or the same accuracy and a
/// lower loss (so a run whose accuracy is still 0 keeps its latest progress
/// rather than its first checkpoint).
fn beats(best: Option<(f32, f32)>, acc: f32, loss: f32) -> bool {
    best.is_none_or(|(b_acc, b_loss)| acc > b_acc || (acc == b_acc && loss < b_loss))
}

/// The generator of step `step`'s batch: a pure function of the run seed and
/// the step, independent from step to step (see [`TaskRng::substream`]).
pub fn batch_rng(seed: u64, step: usize) -> TaskRng {
    TaskRng::substream(seed, step as u64)
}

/// The model's parameters at `step`, with the optimiser's moments when
/// `adam` is given (a checkpoint to resume from) or alone (a snapshot, what
/// `export` keeps).
fn save_checkpoint(
    ctx: &Ctx,
    dir: &Path,
    run: &RunConfig,
    step: usize,
    model: &Model,
    adam: Option<&Adam>,
) -> Result<()> {
    let mut tensors = Vec::new();
    for (name, t) in model.params() {
        tensors.push((name.clone(), t.shape().to_vec(), ctx.read(t)));
        if let Some(adam) = adam {
            let (m, v) = adam.read_moments(ctx, t);
            tensors.push((format!("{ADAM_M}{name}"), t.shape().to_vec(), m));
            tensors.push((format!("{ADAM_V}{name}"), t.shape().to_vec(), v));
        }
    }
    checkpoint::save(
        dir,
        &Checkpoint {
            config: run.clone(),
            step,
            tensors,
        },
    )
}

/// Where `keep_every` puts the parameters of step `step` in run `dir`.
pub fn snapshot_dir(dir: &Path, step: usize) -> PathBuf {
    dir.join("snapshots").join(format!("step-{step:05}"))
}

/// The training-curve figure `train` keeps up to date in the run directory.
pub const CURVES_FILE: &str = "curves.svg";

/// Draw `<dir>/metrics.jsonl` into `<dir>/curves.svg`.
pub fn write_curves(dir: &Path) -> Result<()> {
    let fig = crate::plot::TrainingCurves::from_run(dir)?;
    crate::plot::save(&fig, &dir.join(CURVES_FILE))
}

fn open_metrics(dir: &Path, append: bool) -> Result<std::fs::File> {
    let path = dir.join(METRICS_FILE);
    std::fs::OpenOptions::new()
        .create(true)
        .append(append)
        .write(true)
        .truncate(!append)
        .open(&path)
        .map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })
}

/// One optimiser step at `step` of the schedule: draw the step's batch
/// (into `batch`), compute the loss with the step's noise, backpropagate and
/// update the parameters. Returns the loss parts and the squared gradient
/// norm, both still on the GPU.
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    ctx: &Ctx,
    model: &Model,
    adam: &mut Adam,
    params: &[&Tensor],
    tc: &crate::model::TrainConfig,
    sampler: &BatchSampler,
    batch: &mut TaskBatch,
    step: usize,
) -> (crate::model::LossParts, Tensor) {
    let (b, m, n) = (tc.batch, model.train_pairs(tc.pairs), sampler.config().n);
    sampler.fill(&mut batch_rng(tc.seed, step), b, m, batch);
    let x = ctx.indices(&batch.x, &[b, m, n]);
    let y = ctx.indices(&batch.y, &[b, m, n]);
    let settings = LossSettings::at_step(tc, step);
    if tc.encoder_warmup > 0 && step == tc.encoder_warmup {
        // The rest of the model trains from here: a fresh optimiser, so
        // that its moments and bias correction start with it.
        adam.restart();
    }
    let parts = if tc.in_encoder_warmup(step) {
        model.encoder_warmup_loss(ctx, &x, &y)
    } else if tc.oracle_programs {
        let c = model.cfg();
        let z =
            crate::model::oracle_programs(ctx, &batch.program_index, m, c.program_len, c.codebook);
        // check_run refuses oracle programs for every kind but NLI.
        model
            .nli("oracle programs")
            .expect("check_run refused oracle programs for this model")
            .loss_with_programs(ctx, &x, &y, settings, Some(&z))
    } else {
        model.loss(ctx, &x, &y, settings)
    };
    let grads = ctx.backward(&parts.loss);
    adam.cfg.lr = tc.lr_at(step);
    let sumsq = adam.step(ctx, params, &grads);
    (parts, sumsq)
}

/// The ID programs of `suite` a run trains on: all of them, or the ones
/// `only` names (an unknown name is an error that lists the suite's).
pub fn training_programs(
    suite: Suite,
    cfg: &SuiteConfig,
    only: Option<&[String]>,
) -> Result<Vec<crate::tasks::Program>> {
    let all = suite
        .programs(Split::Id, cfg)
        .map_err(|e| Error::Config(e.to_string()))?;
    let Some(only) = only else {
        return Ok(all);
    };
    let names: Vec<String> = all.iter().map(|p| p.name()).collect();
    if let Some(bad) = only.iter().find(|n| !names.contains(n)) {
        return Err(Error::Config(format!(
            "programs: `{bad}` is not an ID program of {}; its ID programs are {}",
            suite.name(),
            names.join(", ")
        )));
    }
    Ok(all
        .into_iter()
        .filter(|p| only.contains(&p.name()))
        .collect())
}

/// Every check that can refuse a run before any work: the sizes and
/// settings, the suite, and the run directory (a fresh run must not overwrite
/// a checkpoint; a resumed one needs one). `train` calls it first; the
/// command line calls it before announcing the run.
pub fn check_run(opts: &TrainOptions) -> Result<()> {
    opts.run.model.validate()?;
    opts.run.train.validate()?;
    let (suite, cfg) = suite_config(&opts.run)?;
    training_programs(suite, &cfg, opts.run.train.programs.as_deref())?;
    // Settings only some kinds have, refused for the others.
    use crate::model::ModelKind::{DLpn, Nli};
    let (tc, mc) = (&opts.run.train, &opts.run.model);
    for (set, kinds, why) in [
        (
            tc.oracle_programs,
            &[Nli][..],
            "oracle programs are a diagnostic of NLI's interpreter",
        ),
        (
            tc.prob_floor != crate::model::LOG_PROB_FLOOR,
            &[Nli],
            "prob_floor applies to NLI's reconstruction (probabilities out of the skip-gated \
             interpreter); other kinds' losses are cross-entropies on logits, with no floor",
        ),
        (
            mc.interpreter_identity_init != 0.0,
            &[Nli],
            "interpreter_identity_init starts NLI's recurrent interpreter as a copy of its input",
        ),
        (
            tc.view_nce_logits || tc.view_mi_weight != 0.0,
            &[Nli, DLpn],
            "view_nce_logits and view_mi_weight read the token logits of NLI's and D-LPN's inductor",
        ),
        (
            mc.inductor_fourier_positions,
            &[Nli, DLpn],
            "inductor_fourier_positions starts the position table of NLI's and D-LPN's inductor",
        ),
    ] {
        if set && !kinds.contains(&mc.kind) {
            return Err(Error::Config(format!(
                "{why}; this run's model is {}",
                mc.kind.name()
            )));
        }
    }
    if let Some(from) = &opts.init_from {
        if opts.resume {
            return Err(Error::Config(
                "--init-from starts a new run; --resume continues one: pass one of them".into(),
            ));
        }
        let ckpt = checkpoint::load(from)?;
        // The search length is not a parameter shape: a run may start from
        // a snapshot that did not record it.
        let shapes = |m: &crate::model::ModelConfig| crate::model::ModelConfig {
            search_program_len: None,
            ..m.clone()
        };
        if shapes(&ckpt.config.model) != shapes(&opts.run.model) {
            return Err(Error::Config(format!(
                "--init-from {}: its model config {:?} differs from this run's {:?}",
                from.display(),
                ckpt.config.model,
                opts.run.model
            )));
        }
    }
    let ckpt_path = checkpoint::checkpoint_path(&opts.out_dir);
    if opts.resume && !ckpt_path.exists() {
        return Err(Error::Config(format!(
            "--resume needs a checkpoint, and {} has none",
            opts.out_dir.display()
        )));
    }
    if !opts.resume && ckpt_path.exists() {
        return Err(Error::Config(format!(
            "{} already holds a checkpoint: pass --resume to continue it, or choose another --out",
            opts.out_dir.display()
        )));
    }
    Ok(())
}

pub fn train(ctx: &Ctx, opts: &TrainOptions) -> Result<TrainSummary> {
    check_run(opts)?;
    // Mutable: a warm-up that ends on its loss rewrites its own length.
    let mut run = opts.run.clone();
    let (suite, suite_cfg) = suite_config(&run)?;
    let tc = &run.train;
    let dir = &opts.out_dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        path: dir.display().to_string(),
        source: e,
    })?;
    let ckpt_path = checkpoint::checkpoint_path(dir);

    let adam_cfg = AdamConfig {
        lr: tc.lr,
        max_grad_norm: tc.grad_clip,
        weight_decay: tc.weight_decay,
        ..AdamConfig::default()
    };
    let mut adam = Adam::new(adam_cfg);
    let (model, start) = if opts.resume {
        let ckpt = checkpoint::load(&ckpt_path)?;
        // A warm-up that ended on its loss is over where the checkpoint
        // says, whatever most steps this run's settings allow it.
        let (was, now) = (&ckpt.config.train, &run.train);
        if was.encoder_warmup_until.is_some()
            && now.encoder_warmup_until.is_some()
            && was.encoder_warmup < now.encoder_warmup
            && ckpt.step >= was.encoder_warmup
        {
            run.train.end_encoder_warmup(was.encoder_warmup);
        }
        if ckpt.config.model != run.model || ckpt.config.suite != run.suite {
            return Err(Error::Config(format!(
                "{} was trained with suite {} and model {:?}; this run asks for suite {} and model {:?}. \
                 Resume with the checkpoint's settings or train into another --out directory.",
                ckpt_path.display(),
                ckpt.config.suite,
                ckpt.config.model,
                run.suite,
                run.model
            )));
        }
        let model = load_model(ctx, &ckpt)?;
        for (name, t) in model.params() {
            let m = ckpt.get(&format!("{ADAM_M}{name}"));
            let v = ckpt.get(&format!("{ADAM_V}{name}"));
            match (m, v) {
                (Some((_, m)), Some((_, v))) => adam.set_moments(ctx, t, m, v),
                _ => {
                    return Err(Error::Config(format!(
                        "{}: no optimiser state for {name}",
                        ckpt_path.display()
                    )));
                }
            }
        }
        adam.t = run.train.adam_steps(ckpt.step) as u64;
        (model, ckpt.step)
    } else if let Some(from) = &opts.init_from {
        // check_run compared the model configs.
        (load_model(ctx, &checkpoint::load(from)?)?, 0)
    } else {
        (
            Model::build(ctx, &run.model, &mut RandomInit::new(run.train.seed)),
            0,
        )
    };
    let tc = &run.train;
    let stop = |steps: usize| opts.stop_after.map_or(steps, |s| s.min(steps));
    let mut end = stop(tc.steps);
    let mut metrics = open_metrics(dir, opts.resume)?;
    let programs = training_programs(suite, &suite_cfg, tc.programs.as_deref())?;
    let names: Vec<String> = programs.iter().map(|p| p.name()).collect();
    let sampler =
        BatchSampler::new(programs, suite_cfg).map_err(|e| Error::Config(e.to_string()))?;
    // Validation: the first tasks of the fixed ID test set, of the programs
    // trained on.
    let val_tasks: Vec<_> = test_set(
        suite,
        Split::Id,
        suite.test_seed(Split::Id),
        tc.eval_tasks,
        &suite_cfg,
    )
    .map_err(|e| Error::Config(e.to_string()))?
    .into_iter()
    .filter(|t| t.program.as_ref().is_some_and(|p| names.contains(p)))
    .collect();

    let bar = if opts.progress {
        ProgressBar::new(tc.steps as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}",
        )
        .expect("valid template"),
    );
    bar.set_position(start as u64);

    let params: Vec<Tensor> = model.param_tensors().into_iter().cloned().collect();
    let param_refs: Vec<&Tensor> = params.iter().collect();
    let n = suite_cfg.n;
    let mut batch = TaskBatch::default();
    let t0 = Instant::now();
    let mut window = (Instant::now(), start);
    let mut last_loss = f32::NAN;
    let mut last_val = None;
    let mut last_saved = if opts.resume { Some(start) } else { None };
    // The checkpoint with the best validation accuracy so far is kept apart:
    // low temperatures late in a run can destabilise training.
    let best_dir = dir.join(BEST_DIR);
    let mut best = read_best(dir);
    // The warm-up's last contrastive losses, when it ends on them.
    let mut warmup_losses = std::collections::VecDeque::new();
    for step in start.. {
        if step >= end {
            break;
        }
        let tc = &run.train;
        if let Some(hook) = &opts.before_step {
            hook(ctx, step, &model);
        }
        let (parts, sumsq) = train_step(
            ctx,
            &model,
            &mut adam,
            &param_refs,
            tc,
            &sampler,
            &mut batch,
            step,
        );
        let (tau_e, tau_d) = tc.temperatures(step);
        let done = step + 1;
        let log_now = done % tc.log_every == 0 || done == end;
        // The loss alone can hide a NaN behind its clamps: check the gradient
        // norm too (one round trip for both).
        let scalars = ctx.read_many(&[&parts.loss, &sumsq]);
        let (loss, grad_sq) = (scalars[0][0], scalars[1][0]);
        if !loss.is_finite() || !grad_sq.is_finite() {
            let what = if loss.is_finite() {
                format!("the gradient norm became {}", grad_sq.sqrt())
            } else {
                format!("the loss became {loss}")
            };
            bar.abandon();
            let kept = match last_saved {
                Some(s) => format!(
                    "the last good checkpoint (step {s}) is kept in {}",
                    ckpt_path.display()
                ),
                None => "no checkpoint had been written yet".to_string(),
            };
            return Err(Error::Training(format!(
                "{what} at step {done}; training stopped and {kept}. \
                 Lower --lr, or anneal the temperatures more slowly."
            )));
        }
        last_loss = loss;
        let mut warmup_ended = None;
        if let (Some(until), true) = (tc.encoder_warmup_until, tc.in_encoder_warmup(step)) {
            // The warm-up's loss is the contrastive loss alone.
            warmup_losses.push_back(loss);
            if warmup_losses.len() > ENCODER_WARMUP_WINDOW {
                warmup_losses.pop_front();
            }
            let mean = warmup_losses.iter().sum::<f32>() / warmup_losses.len() as f32;
            if warmup_losses.len() == ENCODER_WARMUP_WINDOW
                && mean < until
                && done < tc.encoder_warmup
            {
                run.train.end_encoder_warmup(done);
                end = stop(run.train.steps);
                bar.set_length(run.train.steps as u64);
                bar.println(format!(
                    "step {done}: the encoder warm-up ends (mean contrastive loss of the last \
                     {ENCODER_WARMUP_WINDOW} steps {mean:.3} < {until}); {} steps in all",
                    run.train.steps
                ));
                warmup_ended = Some(mean);
            }
        }
        let tc = &run.train;
        if log_now || warmup_ended.is_some() {
            let mut wanted: Vec<&Tensor> = vec![&parts.recon, &parts.pred];
            wanted.extend(parts.extra.iter().map(|(_, t)| t));
            wanted.extend(parts.logits.iter());
            let got = ctx.read_many(&wanted);
            let pred = argmax_rows(&got[1], run.model.v);
            let targets = ctx.read_u32(&parts.targets);
            let rows = targets.len() / n;
            let right = pred
                .chunks(n)
                .zip(targets.chunks(n))
                .filter(|(p, y)| p == y)
                .count();
            let train_acc = right as f64 / rows.max(1) as f64;
            let (wt, ws) = window;
            let sps = (done - ws) as f64 / wt.elapsed().as_secs_f64().max(1e-9);
            window = (Instant::now(), done);
            let mut line = serde_json::json!({
                "step": done,
                "loss": loss,
                "recon": got[0][0],
                "train_accuracy": train_acc,
                "grad_norm": grad_sq.sqrt(),
                "lr": tc.lr_at(step),
                "steps_per_sec": sps,
                "wall_secs": t0.elapsed().as_secs_f64(),
            });
            for (i, (name, _)) in parts.extra.iter().enumerate() {
                line[*name] = serde_json::json!(got[2 + i][0]);
            }
            // Program models: temperatures and the distinct tokens written.
            let mut tokens_used = String::new();
            if parts.logits.is_some() {
                let k = run.model.codebook;
                let mut used: Vec<u32> = argmax_rows(&got[got.len() - 1], k)
                    .into_iter()
                    .filter(|&t| t as usize != crate::model::SKIP)
                    .collect();
                used.sort_unstable();
                used.dedup();
                line["tau_e"] = serde_json::json!(tau_e);
                line["distinct_tokens"] = serde_json::json!(used.len());
                tokens_used = format!(" tau_e {tau_e:.2} tokens {}", used.len());
            }
            if run.model.kind == crate::model::ModelKind::Nli {
                line["tau_d"] = serde_json::json!(tau_d);
            }
            if tc.in_encoder_warmup(step) || warmup_ended.is_some() {
                line["encoder_warmup"] = serde_json::json!(true);
            }
            if let Some(mean) = warmup_ended {
                line["encoder_warmup_ended"] = serde_json::json!(done);
                line["encoder_warmup_mean_loss"] = serde_json::json!(mean);
            }
            // Nothing to validate while only the encoder trains.
            if (done % tc.eval_every == 0 && !tc.in_encoder_warmup(step)) || done == end {
                let preds = eval::predict_no_search(ctx, &model, &val_tasks, tc.tau_d_end);
                let acc = eval::accuracy(&val_tasks, &preds);
                line["val_id_accuracy"] = serde_json::json!(acc);
                last_val = Some(acc);
                if beats(best, acc, loss) {
                    save_checkpoint(ctx, &best_dir, &run, done, &model, Some(&adam))?;
                    let record =
                        serde_json::json!({ "step": done, "val_id_accuracy": acc, "loss": loss });
                    checkpoint::write_atomic(&dir.join(BEST_FILE), record.to_string().as_bytes())?;
                    best = Some((acc, loss));
                }
                bar.println(format!(
                    "step {done}: loss {loss:.4} recon {:.4}{tokens_used} train acc {train_acc:.3} ID acc {acc:.3}",
                    got[0][0],
                ));
            }
            writeln!(metrics, "{line}").map_err(|e| Error::Io {
                path: METRICS_FILE.into(),
                source: e,
            })?;
            bar.set_message(format!(
                "loss {loss:.3} acc {train_acc:.2}{tokens_used} {sps:.2} it/s"
            ));
        }
        if tc.keep_every > 0 && done % tc.keep_every == 0 {
            save_checkpoint(ctx, &snapshot_dir(dir, done), &run, done, &model, None)?;
        }
        if done % tc.checkpoint_every == 0 || done == end {
            save_checkpoint(ctx, dir, &run, done, &model, Some(&adam))?;
            last_saved = Some(done);
            // The curves so far, beside the checkpoint; a figure that cannot
            // be drawn never stops training.
            if let Err(e) = write_curves(dir) {
                bar.println(format!("warning: {CURVES_FILE} not written: {e}"));
            }
        }
        bar.set_position(done as u64);
    }
    bar.finish_and_clear();
    let wall = t0.elapsed().as_secs_f64();
    Ok(TrainSummary {
        steps_done: end,
        last_loss,
        last_val_id_accuracy: last_val,
        wall_secs: wall,
        steps_per_sec: (end - start) as f64 / wall.max(1e-9),
    })
}
