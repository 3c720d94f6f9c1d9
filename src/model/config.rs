//! Model and training configuration, with the presets of SPEC §5.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Sizes of the model. The task sizes `n` (sequence length) and `v` (values)
/// come from the suite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Values per position (V).
    pub v: usize,
    /// Sequence length (N).
    pub n: usize,
    /// Width (D).
    pub d: usize,
    /// Attention heads (H); D / H must be a multiple of 4.
    pub heads: usize,
    /// Transformer blocks of the inductor.
    pub inductor_layers: usize,
    /// Transformer blocks of the interpreter's step network.
    pub interpreter_layers: usize,
    /// MLP width as a multiple of D.
    pub mlp_mult: usize,
    /// Codebook size (K); token 0 is SKIP.
    pub codebook: usize,
    /// Program length (T).
    pub program_len: usize,
}

impl ModelConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.v < 2 || self.n < 1 {
            return bad(format!(
                "need v >= 2 and n >= 1, got v={} n={}",
                self.v, self.n
            ));
        }
        if self.d == 0 || self.heads == 0 || !self.d.is_multiple_of(self.heads) {
            return bad(format!(
                "d={} must be a positive multiple of heads={}",
                self.d, self.heads
            ));
        }
        if !(self.d / self.heads).is_multiple_of(4) {
            return bad(format!(
                "head size d/heads = {} must be a multiple of 4",
                self.d / self.heads
            ));
        }
        if self.codebook < 2 {
            return bad(format!(
                "codebook={} must hold SKIP and at least one token",
                self.codebook
            ));
        }
        if self.program_len == 0
            || self.inductor_layers == 0
            || self.interpreter_layers == 0
            || self.mlp_mult == 0
        {
            return bad("program_len, layers and mlp_mult must be positive".into());
        }
        Ok(())
    }
}

/// Everything `train` needs besides the model sizes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Tasks per batch.
    pub batch: usize,
    /// Specification pairs per training task (leave-one-out over them).
    pub pairs: usize,
    pub steps: usize,
    pub lr: f32,
    pub grad_clip: f32,
    /// Weight of the distinct-token regulariser.
    pub lambda: f32,
    pub tau_e_start: f32,
    pub tau_e_end: f32,
    pub tau_d_start: f32,
    pub tau_d_end: f32,
    /// Fraction of the run over which temperatures anneal (exponentially);
    /// they stay at the end value after it.
    pub anneal_frac: f32,
    pub seed: u64,
    pub log_every: usize,
    pub eval_every: usize,
    pub checkpoint_every: usize,
    /// Tasks of the fixed ID test set used for validation during training.
    pub eval_tasks: usize,
}

/// A whole run: what `train` saves next to each checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub suite: String,
    pub model: ModelConfig,
    pub train: TrainConfig,
}

pub const PRESETS: &[&str] = &["tiny", "cpu", "gpu"];

/// The presets of SPEC §5 for a suite of sequences of length `n` over `v` values.
pub fn preset(name: &str, n: usize, v: usize) -> Result<(ModelConfig, TrainConfig)> {
    let train = TrainConfig {
        batch: 32,
        pairs: 4,
        steps: 3600,
        lr: 1e-3,
        grad_clip: 1.0,
        lambda: 1e-2,
        tau_e_start: 8.0,
        tau_e_end: 0.5,
        tau_d_start: 2.0,
        tau_d_end: 0.5,
        anneal_frac: 1.0,
        seed: 0,
        log_every: 10,
        eval_every: 200,
        checkpoint_every: 200,
        eval_tasks: 200,
    };
    let base = ModelConfig {
        v,
        n,
        d: 64,
        heads: 4,
        inductor_layers: 2,
        interpreter_layers: 1,
        mlp_mult: 4,
        codebook: 32,
        program_len: 12,
    };
    match name {
        "cpu" => Ok((base, train)),
        "gpu" => Ok((
            ModelConfig {
                d: 256,
                heads: 8,
                inductor_layers: 4,
                interpreter_layers: 2,
                codebook: 512,
                program_len: 16,
                ..base
            },
            TrainConfig {
                batch: 128,
                ..train
            },
        )),
        "tiny" => Ok((
            ModelConfig {
                d: 16,
                heads: 2,
                inductor_layers: 1,
                interpreter_layers: 1,
                mlp_mult: 2,
                codebook: 6,
                program_len: 4,
                ..base
            },
            TrainConfig {
                batch: 4,
                steps: 40,
                log_every: 5,
                eval_every: 20,
                checkpoint_every: 20,
                eval_tasks: 20,
                ..train
            },
        )),
        other => Err(Error::Config(format!(
            "unknown preset `{other}`: expected one of {}",
            PRESETS.join(", ")
        ))),
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.batch == 0 || self.steps == 0 {
            return bad("batch and steps must be positive".into());
        }
        if self.pairs < 2 {
            return bad(format!(
                "pairs={} must be at least 2 for leave-one-out",
                self.pairs
            ));
        }
        for (name, t) in [
            ("tau_e_start", self.tau_e_start),
            ("tau_e_end", self.tau_e_end),
            ("tau_d_start", self.tau_d_start),
            ("tau_d_end", self.tau_d_end),
        ] {
            if !(t > 0.0 && t.is_finite()) {
                return bad(format!("{name}={t} must be a positive number"));
            }
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("lr={} must be positive", self.lr));
        }
        if !(self.anneal_frac > 0.0 && self.anneal_frac <= 1.0) {
            return bad(format!(
                "anneal_frac={} must be in (0, 1]",
                self.anneal_frac
            ));
        }
        if self.log_every == 0 || self.eval_every == 0 || self.checkpoint_every == 0 {
            return bad("log_every, eval_every and checkpoint_every must be positive".into());
        }
        Ok(())
    }

    /// Temperatures (tau_e, tau_d) at `step`: exponential from start to end
    /// over `anneal_frac` of the run.
    pub fn temperatures(&self, step: usize) -> (f32, f32) {
        let horizon = (self.steps as f32 * self.anneal_frac).max(1.0);
        let frac = (step as f32 / horizon).min(1.0);
        let interp = |a: f32, b: f32| a * (b / a).powf(frac);
        (
            interp(self.tau_e_start, self.tau_e_end),
            interp(self.tau_d_start, self.tau_d_end),
        )
    }
}

/// Merge `overlay` into `base` (objects key by key, anything else replaced).
pub fn merge_json(base: &mut serde_json::Value, overlay: &serde_json::Value) {
    match (base, overlay) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge_json(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

impl RunConfig {
    /// `self` with `overlay` (any part of a run config as JSON) on top;
    /// unknown keys and wrong types are errors that name them.
    pub fn with_overlay(&self, overlay: &serde_json::Value, origin: &str) -> Result<RunConfig> {
        let mut v = serde_json::to_value(self).expect("config serialises");
        merge_json(&mut v, overlay);
        serde_json::from_value(v).map_err(|e| Error::Config(format!("{origin}: {e}")))
    }
}
