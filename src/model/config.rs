//! Model and training configuration, with the presets of SPEC §5.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which model a run trains: NLI or one of the paper's baselines
/// (BASELINES.md). Checkpoints record it; commands refuse kinds they cannot
/// use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Inductor + recurrent interpreter (SPEC §2).
    #[default]
    Nli,
    /// Pair encoder, pair tokens in context of a one-pass decoder (BASELINES §1).
    InContext,
    /// Gaussian latent program, leave-one-out pooled samples (BASELINES §3).
    Lpn,
    /// NLI's inductor read by a one-pass decoder (BASELINES §4).
    DLpn,
}

impl ModelKind {
    pub const NAMES: &'static str = "nli, in-context, lpn or d-lpn";

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Nli => "nli",
            ModelKind::InContext => "in-context",
            ModelKind::Lpn => "lpn",
            ModelKind::DLpn => "d-lpn",
        }
    }

    /// How the paper's table names the model.
    pub fn label(self) -> &'static str {
        match self {
            ModelKind::Nli => "NLI",
            ModelKind::InContext => "In-Context",
            ModelKind::Lpn => "LPN",
            ModelKind::DLpn => "D-LPN",
        }
    }
}

impl std::str::FromStr for ModelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<ModelKind> {
        [
            ModelKind::Nli,
            ModelKind::InContext,
            ModelKind::Lpn,
            ModelKind::DLpn,
        ]
        .into_iter()
        .find(|k| k.name() == s)
        .ok_or_else(|| {
            Error::Config(format!(
                "unknown model kind `{s}`: expected {}",
                ModelKind::NAMES
            ))
        })
    }
}

fn default_latent_dim() -> usize {
    32
}
fn default_decoder_layers() -> usize {
    2
}
fn default_one() -> usize {
    1
}
fn default_kl_beta() -> f32 {
    1e-4
}
fn default_scale() -> f32 {
    1.0
}
fn default_prob_floor() -> f32 {
    crate::model::LOG_PROB_FLOOR
}

/// Sizes of the model. The task sizes `n` (sequence length) and `v` (values)
/// come from the suite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The model kind (absent in checkpoints made before baselines existed:
    /// NLI).
    #[serde(default)]
    pub kind: ModelKind,
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
    /// Baselines: the latent size d_z of LPN.
    #[serde(default = "default_latent_dim")]
    pub latent_dim: usize,
    /// Baselines: blocks of the one-pass decoder.
    #[serde(default = "default_decoder_layers")]
    pub decoder_layers: usize,
    /// Baselines: MLP width of the decoder's blocks, as a multiple of D.
    #[serde(default = "default_one")]
    pub decoder_mlp_mult: usize,
    /// Scale of the inductor head's initial output weights (1: LeCun
    /// normal). Larger makes the first programs depend more on the
    /// specification relative to the Gumbel noise.
    #[serde(default = "default_scale")]
    pub head_init_scale: f32,
    /// NLI: start the interpreter as a copy of its input: its blocks'
    /// residual branches with zero output weights, and its output head at C
    /// times the transpose of its value embedding (the head reads back the
    /// value embedded at each position), so that the first programs do not
    /// scramble their input (0: SPEC's LeCun-normal initialisation).
    #[serde(default)]
    pub interpreter_identity_init: f32,
    /// NLI, D-LPN: start the inductor's position embeddings as a Fourier
    /// table over the sequence (cosines and sines of frequencies 1, 2, ...
    /// cycles per N positions) instead of random: a cyclic shift of the
    /// positions is then a fixed rotation of the table, which attention can
    /// read as a relative offset (false: SPEC's random start). Still learned.
    #[serde(default)]
    pub inductor_fourier_positions: bool,
    /// NLI: slots of the programs the gradient search runs when not told
    /// otherwise (`--search-program-len`; absent: `program_len`). Its
    /// interpreter has no slot position, so a model trained on short
    /// programs searches longer ones; Shift-P's `cpu` preset trains on 3
    /// slots and searches 12 (docs/experiments.md, runs 56-59).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_program_len: Option<usize>,
}

impl ModelConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(self.head_init_scale > 0.0 && self.head_init_scale.is_finite()) {
            return bad(format!(
                "head_init_scale={} must be positive",
                self.head_init_scale
            ));
        }
        if !(self.interpreter_identity_init >= 0.0 && self.interpreter_identity_init.is_finite()) {
            return bad(format!(
                "interpreter_identity_init={} must be 0 or positive",
                self.interpreter_identity_init
            ));
        }
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
            || self.decoder_layers == 0
            || self.decoder_mlp_mult == 0
            || self.latent_dim == 0
        {
            return bad(
                "program_len, layers, mlp_mult, decoder sizes and latent_dim must be positive"
                    .into(),
            );
        }
        if let Some(l) = self.search_program_len {
            self.check_search_len(l)
                .map_err(|e| Error::Config(format!("search_program_len={l}: {e}")))?;
        }
        Ok(())
    }

    /// Slots of the programs the gradient search runs by default.
    pub fn default_search_program_len(&self) -> usize {
        self.search_program_len.unwrap_or(self.program_len)
    }

    /// Why programs of `len` slots cannot be searched on this model, if they
    /// cannot: zero slots, or another length than `program_len` on a model
    /// other than NLI. NLI's interpreter has no slot position (it runs one
    /// slot per step and a SKIP leaves its state as it is), so it runs a
    /// program of any length; D-LPN's decoder has a position per slot.
    pub fn check_search_len(&self, len: usize) -> std::result::Result<(), String> {
        let t = self.program_len;
        match len {
            0 => Err("a searched program needs at least one slot".into()),
            l if l == t || self.kind == ModelKind::Nli => Ok(()),
            l => Err(format!(
                "the {} model reads programs of exactly {t} slots (a position per slot); \
                 it cannot search programs of {l}",
                self.kind.label()
            )),
        }
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
    /// Keep a snapshot of the parameters (no optimiser state, as `export`
    /// writes) every this many steps under `snapshots/step-NNNNN/` of the run
    /// directory, to choose among later (0: none).
    #[serde(default)]
    pub keep_every: usize,
    /// Tasks of the fixed ID test set used for validation during training.
    pub eval_tasks: usize,
    /// Linear learning-rate warm-up over the first steps (0: none; the
    /// baselines use 100, BASELINES §0).
    #[serde(default)]
    pub warmup_steps: usize,
    /// Decoupled weight decay (AdamW): each step also takes lr x
    /// weight_decay x the parameter off it. 0 (SPEC, BASELINES §0's
    /// settings) is plain Adam; BASELINES' [C] settings use AdamW (optax's
    /// default decay 1e-4) at lr 4e-4, batch 128.
    #[serde(default)]
    pub weight_decay: f32,
    /// Encoder warm-up (0 in SPEC): the first N steps train only the
    /// inductor (In-Context: its pair encoder; LPN: its encoder), on the
    /// views' contrastive loss alone (no interpreter or decoder, no
    /// reconstruction); the temperature schedule and the
    /// hard / no-SKIP fractions then run over the remaining steps as if
    /// the run began there. Shift-P's encoder needs about 1500 such steps to
    /// tell the shifts apart, which the full loss never gives it
    /// (docs/experiments.md, runs 43 and 47). Adam restarts at its end (the
    /// rest of the model starts training there).
    #[serde(default)]
    pub encoder_warmup: usize,
    /// End the encoder warm-up on its loss instead of a step count: with
    /// this set, `encoder_warmup` is the most warm-up steps, and the
    /// warm-up ends at the first step where the mean contrastive loss of
    /// the last [`ENCODER_WARMUP_WINDOW`] warm-up steps is below it. The
    /// steps not taken come off `steps` (the main phase keeps its length),
    /// and the run's config then records the step the warm-up ended at as
    /// `encoder_warmup`, so a resumed run keeps it. Shift-P's runs that
    /// ended their warm-up with the encoder still near chance learned
    /// their language late and missed (docs/experiments.md, runs 48, 52).
    #[serde(default)]
    pub encoder_warmup_until: Option<f32>,
    /// LPN: weight of the KL term.
    #[serde(default = "default_kl_beta")]
    pub kl_beta: f32,
    /// LPN: latent ascent steps during training (1: "Grad 1", 0: "Grad 0").
    #[serde(default = "default_one")]
    pub lpn_train_grad: usize,
    /// Fraction of the run during which the inductor's samples are hard
    /// (one-hot forward, straight-through gradient); 0: soft throughout.
    #[serde(default)]
    pub hard_inductor_frac: f32,
    /// Weight of a bonus for the mutual information between tasks and the
    /// inductor's tokens (subtracted from the loss; 0 in SPEC, see
    /// docs/experiments.md).
    #[serde(default)]
    pub mi_weight: f32,
    /// Cap on the mutual information the bonus pays for (nats; None: no
    /// cap): the bonus is min(MI, cap), so hashing tasks beyond it earns
    /// nothing.
    #[serde(default)]
    pub mi_cap: Option<f32>,
    /// Weight of a bonus for the mutual information between the tokens two
    /// disjoint halves of a task's pairs induce, slot by slot (subtracted
    /// from the loss; 0 in SPEC). The halves share nothing but the program,
    /// so only program-dependent tokens earn it (docs/experiments.md).
    #[serde(default)]
    pub view_mi_weight: f32,
    /// Cap on the view mutual information the bonus pays for (nats; None:
    /// no cap).
    #[serde(default)]
    pub view_mi_cap: Option<f32>,
    /// Weight of a contrastive loss (InfoNCE) between the pooled slot
    /// embeddings of the same two halves: each task's first half must
    /// recognise its own second half among the batch's (0 in SPEC).
    #[serde(default)]
    pub view_nce_weight: f32,
    /// The contrastive loss reads the two halves' token logits instead of
    /// their slot embeddings (so that the tokens, not only the encoder's
    /// features, tell programs apart).
    #[serde(default)]
    pub view_nce_logits: bool,
    /// Fraction of the run during which the inductor's samples never
    /// choose SKIP (its logit masked out of the sample; 0 in SPEC).
    #[serde(default)]
    pub no_skip_frac: f32,
    /// Scale of the Gumbel noise in the inductor's samples: softmax((logits
    /// + c g) / tau_e) (1 in SPEC; 0: no noise; see docs/experiments.md).
    #[serde(default = "default_scale")]
    pub inductor_noise: f32,
    /// Scale of the Gumbel noise in the interpreter's per-step samples (1 in
    /// SPEC; 0: no noise).
    #[serde(default = "default_scale")]
    pub interpreter_noise: f32,
    /// The reconstruction's probabilities are clamped at this floor before
    /// the log (SPEC: 1e-12), and a clamped one passes no gradient. The
    /// gradient of -log p is -1/p: with the SPEC floor a target probability
    /// of 1e-10 sends 1e10 back, through the skip gate's mixture, where no
    /// softmax cancels it, into the inductor (the late gradient spikes;
    /// docs/experiments.md).
    #[serde(default = "default_prob_floor")]
    pub prob_floor: f32,
    /// Train on these ID programs of the suite only (names as `tasks
    /// --programs` prints them); validation uses the same ones. None: all.
    #[serde(default)]
    pub programs: Option<Vec<String>>,
    /// Diagnostic (NLI only; not a way to train, SPEC uses no program
    /// labels): the interpreter runs a fixed oracle program per task, token
    /// 1 + the task's program index in slot 0 and SKIP elsewhere, instead of
    /// the inductor's sample. Shows whether the interpreter can learn the
    /// primitives from distinct tokens at all (docs/experiments.md).
    #[serde(default)]
    pub oracle_programs: bool,
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
        keep_every: 0,
        eval_tasks: 200,
        warmup_steps: 0,
        weight_decay: 0.0,
        encoder_warmup: 0,
        encoder_warmup_until: None,
        kl_beta: default_kl_beta(),
        lpn_train_grad: 1,
        hard_inductor_frac: 0.0,
        mi_weight: 0.0,
        mi_cap: None,
        view_mi_weight: 0.0,
        view_mi_cap: None,
        view_nce_weight: 0.0,
        view_nce_logits: false,
        no_skip_frac: 0.0,
        inductor_noise: 1.0,
        interpreter_noise: 1.0,
        prob_floor: default_prob_floor(),
        programs: None,
        oracle_programs: false,
    };
    let base = ModelConfig {
        kind: ModelKind::Nli,
        v,
        n,
        d: 64,
        heads: 4,
        inductor_layers: 2,
        interpreter_layers: 1,
        mlp_mult: 4,
        codebook: 32,
        program_len: 12,
        latent_dim: default_latent_dim(),
        decoder_layers: default_decoder_layers(),
        decoder_mlp_mult: 1,
        head_init_scale: 1.0,
        interpreter_identity_init: 0.0,
        inductor_fourier_positions: false,
        search_program_len: None,
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
                latent_dim: 8,
                decoder_layers: 1,
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

/// Weight of the views' contrastive loss in NLI's `cpu` preset.
pub const CPU_VIEW_NCE_WEIGHT: f32 = 5.0;
/// Floor of the reconstruction's probabilities in NLI's `cpu` preset.
pub const CPU_PROB_FLOOR: f32 = 1e-4;

/// What `train --preset NAME --model KIND` starts from: [`preset`] (SPEC
/// §5's sizes and settings) with two changes by model kind. The baselines
/// warm the learning rate up over 100 steps (BASELINES §0). NLI's `cpu`
/// preset adds the two settings under which Shift-L and Comp-I
/// learn on its budget (docs/experiments.md, runs 31-35): the views'
/// contrastive loss at weight 5 and a probability floor of 1e-4 (SPEC's
/// exact settings: `--view-nce-weight 0 --prob-floor 1e-12`). D-LPN, which
/// trains with NLI's loss, takes the contrastive loss too (run 44). `tiny` and
/// `gpu` stay as SPEC has them (`gpu` untried with the two).
pub fn preset_for(
    name: &str,
    kind: ModelKind,
    n: usize,
    v: usize,
) -> Result<(ModelConfig, TrainConfig)> {
    let (mut model, mut train) = preset(name, n, v)?;
    model.kind = kind;
    if kind != ModelKind::Nli {
        train.warmup_steps = 100;
    }
    if name == "cpu" {
        // D-LPN trains with NLI's loss (BASELINES §4), so with its
        // contrastive term too; the floor is the interpreter's only.
        if matches!(kind, ModelKind::Nli | ModelKind::DLpn) {
            train.view_nce_weight = CPU_VIEW_NCE_WEIGHT;
        }
        if kind == ModelKind::Nli {
            train.prob_floor = CPU_PROB_FLOOR;
        }
    }
    Ok((model, train))
}

/// Steps of encoder warm-up that D-LPN's `cpu` preset adds on Shift-L,
/// before SPEC's 3600 (docs/experiments.md, run 63: ID 0.22 -> 0.995).
pub const CPU_DLPN_ENCODER_WARMUP: usize = 1800;

/// Steps of encoder warm-up that In-Context's `cpu` preset adds on Shift-L
/// and Shift-P before SPEC's 3600, with the views' contrastive loss of its
/// pair tokens at [`CPU_VIEW_NCE_WEIGHT`] (docs/experiments.md, runs 61-62:
/// ID 1.00 and 0.98, where without them the decoder learned shl_5 alone on
/// Shift-L, 0.22, and nothing on Shift-P by step 3820).
pub const CPU_IN_CONTEXT_ENCODER_WARMUP: usize = 1800;

/// Steps of encoder warm-up that LPN's `cpu` preset adds on every suite
/// before SPEC's 3600, with the views' contrastive loss of its latent means
/// at [`CPU_VIEW_NCE_WEIGHT`] (docs/experiments.md, runs 64 and 66-67: ID
/// 1.00 on Shift-L, Shift-P and Comp-I, where without them it stayed on the
/// plateau of the averaged shift on Shift-L, 0.00, and reached 0.315 on
/// Shift-P and 0.70 on Comp-I).
pub const CPU_LPN_ENCODER_WARMUP: usize = 1800;

/// Steps that LPN's `cpu` preset adds after SPEC's 3600 on Shift-P: it
/// leaves the plateau later there (run 66, three seeds: validation 0.45,
/// 0.57 and 0.07 at SPEC's last step; best checkpoints 1.00 and 0.99 by
/// step 7200, the third seed 0.855 at 7200 and 1.00 at 8600). A longer
/// run holds a shorter one of its seed whole (LPN's training does not
/// depend on the run's length), so its best is never worse.
pub const CPU_LPN_SHIFT_P_EXTRA_STEPS: usize = 3600;

/// The `cpu` preset's recipe on Shift-P for NLI and D-LPN (which trains
/// with NLI's loss and schedule, BASELINES §4): the most encoder warm-up
/// steps, added to SPEC's 3600 ...
pub const CPU_SHIFT_P_WARMUP_MAX: usize = 3600;
/// ... ended once the views' mean contrastive loss is below this ...
pub const CPU_SHIFT_P_WARMUP_UNTIL: f32 = 2.4;
/// ... and training programs of this many slots ...
pub const CPU_SHIFT_P_PROGRAM_LEN: usize = 3;
/// ... which NLI searches as programs of SPEC's 12 slots at test time.
pub const CPU_SHIFT_P_NLI_SEARCH_PROGRAM_LEN: usize = 12;

/// Warm-up steps whose mean contrastive loss [`TrainConfig::encoder_warmup_until`]
/// compares with its threshold (single steps scatter by about 0.2).
pub const ENCODER_WARMUP_WINDOW: usize = 100;

/// What a kind's `cpu` preset adds on one suite ([`cpu_suite_levers`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SuiteLevers {
    /// Encoder warm-up steps (the most, when `warmup_until` ends it),
    /// added to the run's steps so that SPEC's schedule follows it whole.
    pub warmup: usize,
    /// The warm-up's end by its loss ([`TrainConfig::encoder_warmup_until`]).
    pub warmup_until: Option<f32>,
    /// The views' contrastive loss at [`CPU_VIEW_NCE_WEIGHT`] (`Some(true)`),
    /// off (`Some(false)`), or as [`preset_for`] has it for the kind.
    pub view_nce: Option<bool>,
    /// Steps added to the run after the warm-up: the main phase, and any
    /// schedule over it (NLI's and D-LPN's temperatures), gets longer.
    pub extra_steps: usize,
    /// Slots of the programs trained.
    pub program_len: Option<usize>,
    /// Slots of the programs searched at test time.
    pub search_program_len: Option<usize>,
}

/// The `cpu` preset's levers per model kind and suite, one row each where
/// it differs from [`preset_for`]:
/// - NLI on Shift-P: an encoder warm-up of up to [`CPU_SHIFT_P_WARMUP_MAX`]
///   steps ended by the contrastive loss ([`CPU_SHIFT_P_WARMUP_UNTIL`]),
///   programs of 3 slots in training and 12 in search (a token per shift
///   on all three seeds tried, OOD 0.93 / 0.99 / 0.95 with the search,
///   where the 12-slot recipe wrote a token per shift on 1 of 3:
///   docs/experiments.md, runs 56-60). On Shift-L no contrastive loss, the
///   floor alone: Shift-L learns without it, and with it the gradient
///   search solves fewer OOD tasks (run 51 against runs 41 and 49: 1.00
///   against 0.92-0.93). Comp-I learns without a warm-up.
/// - D-LPN on Shift-P: NLI's recipe there (run 68: ID 0.995, 0.90 and
///   0.985 on three seeds, where an 1800-step warm-up of 12-slot programs gave
///   0.54, run 50); on Shift-L [`CPU_DLPN_ENCODER_WARMUP`] steps of
///   warm-up (run 63). It keeps the contrastive loss on every suite.
/// - In-Context on Shift-L and Shift-P: [`CPU_IN_CONTEXT_ENCODER_WARMUP`]
///   steps of warm-up of its pair encoder and the views' contrastive loss.
///   It tells Comp-I's programs apart without them (0.98 ID; 1.00 with
///   them, run 69), and its shipped model was trained without.
/// - LPN on every suite: [`CPU_LPN_ENCODER_WARMUP`] steps of warm-up of its
///   encoder and the views' contrastive loss of its latent means, and on
///   Shift-P [`CPU_LPN_SHIFT_P_EXTRA_STEPS`] more steps.
pub fn cpu_suite_levers(kind: ModelKind, suite: crate::tasks::Suite) -> SuiteLevers {
    use crate::tasks::Suite;
    let shift_p = SuiteLevers {
        warmup: CPU_SHIFT_P_WARMUP_MAX,
        warmup_until: Some(CPU_SHIFT_P_WARMUP_UNTIL),
        program_len: Some(CPU_SHIFT_P_PROGRAM_LEN),
        ..SuiteLevers::default()
    };
    let lpn = SuiteLevers {
        warmup: CPU_LPN_ENCODER_WARMUP,
        view_nce: Some(true),
        ..SuiteLevers::default()
    };
    match (kind, suite) {
        (ModelKind::Nli, Suite::ShiftL) => SuiteLevers {
            view_nce: Some(false),
            ..SuiteLevers::default()
        },
        (ModelKind::Nli, Suite::ShiftP) => SuiteLevers {
            search_program_len: Some(CPU_SHIFT_P_NLI_SEARCH_PROGRAM_LEN),
            ..shift_p
        },
        (ModelKind::DLpn, Suite::ShiftP) => shift_p,
        (ModelKind::DLpn, Suite::ShiftL) => SuiteLevers {
            warmup: CPU_DLPN_ENCODER_WARMUP,
            ..SuiteLevers::default()
        },
        (ModelKind::InContext, Suite::ShiftL | Suite::ShiftP) => SuiteLevers {
            warmup: CPU_IN_CONTEXT_ENCODER_WARMUP,
            view_nce: Some(true),
            ..SuiteLevers::default()
        },
        (ModelKind::Lpn, Suite::ShiftP) => SuiteLevers {
            extra_steps: CPU_LPN_SHIFT_P_EXTRA_STEPS,
            ..lpn
        },
        (ModelKind::Lpn, _) => lpn,
        _ => SuiteLevers::default(),
    }
}

/// [`preset_for`] for training on `suite`: with the `cpu` preset, plus
/// [`cpu_suite_levers`] for the kind and suite.
pub fn suite_preset(
    name: &str,
    kind: ModelKind,
    suite: crate::tasks::Suite,
    n: usize,
    v: usize,
) -> Result<(ModelConfig, TrainConfig)> {
    let (mut model, mut train) = preset_for(name, kind, n, v)?;
    if name != "cpu" {
        return Ok((model, train));
    }
    let levers = cpu_suite_levers(kind, suite);
    train.encoder_warmup = levers.warmup;
    train.encoder_warmup_until = levers.warmup_until;
    train.steps += levers.warmup + levers.extra_steps;
    match levers.view_nce {
        Some(true) => train.view_nce_weight = CPU_VIEW_NCE_WEIGHT,
        Some(false) => train.view_nce_weight = 0.0,
        None => {}
    }
    if let Some(t) = levers.program_len {
        model.program_len = t;
    }
    if levers.search_program_len.is_some() {
        model.search_program_len = levers.search_program_len;
    }
    Ok((model, train))
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
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(format!(
                "weight_decay={} must be zero or positive",
                self.weight_decay
            ));
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
        if self.encoder_warmup > 0 && self.encoder_warmup >= self.steps {
            return bad(format!(
                "encoder_warmup={} must be below steps={}: the warm-up trains the encoder \
                 alone, and the run needs steps after it to train the rest (the cpu preset \
                 adds a warm-up on some suites: pass --encoder-warmup 0, or more --steps)",
                self.encoder_warmup, self.steps
            ));
        }
        if let Some(until) = self.encoder_warmup_until {
            if !(until > 0.0 && until.is_finite()) {
                return bad(format!(
                    "encoder_warmup_until={until} must be a positive loss"
                ));
            }
            if self.encoder_warmup == 0 {
                return bad(
                    "encoder_warmup_until ends an encoder warm-up: set encoder_warmup, the most \
                     steps it may take"
                        .into(),
                );
            }
        }
        if self.lpn_train_grad > 1 {
            return bad(format!(
                "lpn_train_grad={} must be 0 or 1",
                self.lpn_train_grad
            ));
        }
        if !(0.0..=1.0).contains(&self.hard_inductor_frac) {
            return bad(format!(
                "hard_inductor_frac={} must be in [0, 1]",
                self.hard_inductor_frac
            ));
        }
        if !(0.0..=1.0).contains(&self.no_skip_frac) {
            return bad(format!(
                "no_skip_frac={} must be in [0, 1]",
                self.no_skip_frac
            ));
        }
        for (name, cap) in [("mi_cap", self.mi_cap), ("view_mi_cap", self.view_mi_cap)] {
            if cap.is_some_and(|c| !(c > 0.0 && c.is_finite())) {
                return bad(format!(
                    "{name}={:?} must be positive",
                    cap.unwrap_or_default()
                ));
            }
        }
        // Weights and noise scales: any finite number >= 0.
        for (name, v) in [
            ("mi_weight", self.mi_weight),
            ("view_mi_weight", self.view_mi_weight),
            ("view_nce_weight", self.view_nce_weight),
            ("inductor_noise", self.inductor_noise),
            ("interpreter_noise", self.interpreter_noise),
            ("kl_beta", self.kl_beta),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return bad(format!("{name}={v} must be finite and >= 0"));
            }
        }
        // Not below the smallest normal float: a GPU may flush subnormals
        // to 0, and log 0 would stop the run.
        if !(self.prob_floor >= f32::MIN_POSITIVE && self.prob_floor < 1.0) {
            return bad(format!(
                "prob_floor={} must be in [{:e}, 1)",
                self.prob_floor,
                f32::MIN_POSITIVE
            ));
        }
        if self.programs.as_ref().is_some_and(|p| p.is_empty()) {
            return bad("programs: name at least one program, or leave it out".into());
        }
        Ok(())
    }

    /// The learning rate at `step`: linear warm-up over `warmup_steps`, then
    /// constant.
    pub fn lr_at(&self, step: usize) -> f32 {
        if step < self.warmup_steps {
            self.lr * (step + 1) as f32 / self.warmup_steps as f32
        } else {
            self.lr
        }
    }

    /// Whether `step` is one of the encoder warm-up's.
    pub fn in_encoder_warmup(&self, step: usize) -> bool {
        step < self.encoder_warmup
    }

    /// `step` counted from the end of the encoder warm-up, and the steps
    /// after it: the clock of the temperature schedule and of the hard /
    /// no-SKIP fractions (the warm-up's own steps read as step 0).
    pub fn main_phase(&self, step: usize) -> (usize, usize) {
        (
            step.saturating_sub(self.encoder_warmup),
            self.steps.saturating_sub(self.encoder_warmup),
        )
    }

    /// End the encoder warm-up at `step` (before its last step): the steps
    /// not taken come off the run, so the main phase keeps its length.
    pub fn end_encoder_warmup(&mut self, step: usize) {
        assert!(
            step < self.encoder_warmup,
            "the warm-up ends before its last step"
        );
        self.steps -= self.encoder_warmup - step;
        self.encoder_warmup = step;
    }

    /// Adam's step count after `step` steps: it restarts at the end of the
    /// encoder warm-up.
    pub fn adam_steps(&self, step: usize) -> usize {
        if self.encoder_warmup > 0 && step >= self.encoder_warmup {
            step - self.encoder_warmup
        } else {
            step
        }
    }

    /// Temperatures (tau_e, tau_d) at `step`: exponential from start to end
    /// over `anneal_frac` of the run.
    pub fn temperatures(&self, step: usize) -> (f32, f32) {
        let (step, steps) = self.main_phase(step);
        let horizon = (steps as f32 * self.anneal_frac).max(1.0);
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
