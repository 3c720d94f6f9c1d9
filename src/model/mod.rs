//! The NLI model (SPEC §2): an inductor that writes a program of T tokens
//! from a specification, and a recurrent interpreter that runs it token by
//! token on an input.
//!
//! Layout choices (ours where the paper is silent): pre-LayerNorm blocks with
//! GELU MLPs; x and y share one position table plus a learned x/y type
//! embedding; program slots have no position embedding; the inductor head is
//! D -> D (GELU) -> K; `u_t` is added to the interpreter block's input before
//! its LayerNorm; the output of both transformers goes through a final
//! LayerNorm.

pub mod config;
pub mod decoder;
pub mod dlpn;
pub mod in_context;
pub mod kind;
pub mod layers;
pub mod lpn;

pub use config::{ModelConfig, ModelKind, RunConfig, TrainConfig};
pub use kind::Model;
pub use layers::InitKind;
use layers::{Block, Builder, LayerNorm, Linear, ParamSource};

use crate::ctx::Ctx;
use crate::ops::gumbel::{Gumbel, NoiseKey};
use crate::tensor::Tensor;

/// Index of the SKIP token in the codebook.
pub const SKIP: usize = 0;
/// `log pi_T` is clamped here (SPEC §5).
pub const LOG_PROB_FLOOR: f32 = 1e-12;
/// `1 - q` is clamped here in the regulariser (SPEC §5).
pub const ONE_MINUS_Q_FLOOR: f32 = 1e-6;

/// Noise of one step: the same (seed, step) always draws the same Gumbel
/// noise. Stream 0 is the inductor's, stream 1 + t the interpreter's at
/// program step t; `interpreter_scale` scales the interpreter's noise (1 in
/// SPEC, 0: none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepNoise {
    pub seed: u64,
    pub step: u32,
    pub interpreter_scale: f32,
}

impl StepNoise {
    pub fn inductor(self) -> NoiseKey {
        NoiseKey {
            seed: self.seed,
            step: self.step,
            stream: 0,
        }
    }
    pub fn interpreter(self, t: usize) -> NoiseKey {
        NoiseKey {
            seed: self.seed,
            step: self.step,
            stream: 1 + t as u32,
        }
    }
}

/// A Fourier position table [n, d]: row i holds cos and sin of 2 pi f i / n
/// for f = 1, 2, ... (frequencies past n / 2 wrap around), scaled so each
/// entry's mean square is 1 / d, as the random start's. Shifting the rows
/// cyclically by k rotates each (cos, sin) pair by 2 pi f k / n.
pub fn fourier_positions(n: usize, d: usize) -> Vec<f32> {
    let scale = (2.0 / d as f64).sqrt();
    let mut table = vec![0.0f32; n * d];
    for i in 0..n {
        for j in 0..d {
            let f = (j / 2 % n.max(1) + 1) as f64;
            let angle = 2.0 * std::f64::consts::PI * f * i as f64 / n as f64;
            let v = if j % 2 == 0 { angle.cos() } else { angle.sin() };
            table[i * d + j] = (scale * v) as f32;
        }
    }
    table
}

/// The inductor q_phi (SPEC §2): pairs -> slot embeddings -> token logits.
/// NLI and D-LPN share it.
pub struct Inductor {
    cfg: ModelConfig,
    value: Tensor,
    position: Tensor,
    type_x: Tensor,
    type_y: Tensor,
    slots: Tensor,
    blocks: Vec<Block>,
    norm: LayerNorm,
    head_hidden: Linear,
    head_out: Linear,
}

impl Inductor {
    /// Its parameters, named under the builder's current scope.
    pub fn new(b: &mut Builder, cfg: &ModelConfig) -> Inductor {
        let d = cfg.d;
        let emb = InitKind::Normal(1.0 / (d as f32).sqrt());
        // Parameters are drawn in this order (value, then position): a
        // fresh model's initialisation depends on it.
        let value = b.param("value_embed", &[cfg.v, d], emb);
        let position = b.param("position_embed", &[cfg.n, d], emb);
        if cfg.inductor_fourier_positions && b.fresh() {
            b.ctx.write(&position, &fourier_positions(cfg.n, d));
        }
        Inductor {
            cfg: cfg.clone(),
            value,
            position,
            type_x: b.param("type_x", &[d], emb),
            type_y: b.param("type_y", &[d], emb),
            slots: b.param("slots", &[cfg.program_len, d], emb),
            blocks: (0..cfg.inductor_layers)
                .map(|i| Block::new(b, &format!("block{i}"), d, cfg.heads, cfg.mlp_mult))
                .collect(),
            norm: LayerNorm::new(b, "norm", d),
            head_hidden: Linear::new(b, "head_hidden", d, d),
            head_out: Linear::with_scale(b, "head_out", d, cfg.codebook, cfg.head_init_scale),
        }
    }

    /// Encode each pair independently: x, y u32 [P, N] -> slot outputs
    /// e [P, T, D].
    pub fn encode(&self, ctx: &Ctx, x: &Tensor, y: &Tensor) -> Tensor {
        let (n, t) = (self.cfg.n, self.cfg.program_len);
        let p = x.dim(0);
        let side = |idx: &Tensor, type_embed: &Tensor| {
            ctx.add_broadcast(
                &layers::embed_positions(ctx, &self.value, &self.position, idx),
                type_embed,
            )
        };
        let ex = side(x, &self.type_x);
        let ey = side(y, &self.type_y);
        let slots = ctx.expand(&self.slots, 0, p);
        let mut h = ctx.concat(&[&ex, &ey, &slots], 1);
        for block in &self.blocks {
            h = block.forward(ctx, &h);
        }
        let h = self.norm.forward(ctx, &h);
        ctx.slice(&h, 1, 2 * n, t)
    }

    /// The shared head f_phi: e [.., T, D] -> token logits [.., T, K].
    pub fn token_logits(&self, ctx: &Ctx, e: &Tensor) -> Tensor {
        let h = ctx.gelu(&self.head_hidden.forward(ctx, e));
        self.head_out.forward(ctx, &h)
    }

    /// Leave-one-out token logits of a batch x, y u32 [B, m, N]: for pair j,
    /// the head of the mean of the other pairs' slot embeddings (each pair
    /// encoded once: (sum - e_j) / (m - 1)). [B, m, T, K].
    pub fn leave_one_out_logits(&self, ctx: &Ctx, x: &Tensor, y: &Tensor) -> Tensor {
        self.leave_one_out(ctx, x, y, WantViews::No).0
    }

    /// [`Inductor::leave_one_out_logits`] and the two views of each task
    /// that `views` asks for: the first m/2 pairs' mean and the other pairs'
    /// mean, from the same encodings (for [`view_mutual_information`] and
    /// [`view_contrastive_loss`]), with their token logits only when asked.
    pub fn leave_one_out(
        &self,
        ctx: &Ctx,
        x: &Tensor,
        y: &Tensor,
        views: WantViews,
    ) -> (Tensor, Option<Views>) {
        let (b, m, n) = (x.dim(0), x.dim(1), x.dim(2));
        let (t, d) = (self.cfg.program_len, self.cfg.d);
        assert!(m >= 2, "leave-one-out needs at least 2 pairs per task");
        let e = self.encode(
            ctx,
            &ctx.reshape(x, &[b * m, n]),
            &ctx.reshape(y, &[b * m, n]),
        );
        let e = ctx.reshape(&e, &[b, m, t, d]);
        let total = ctx.expand(&ctx.sum_axis(&e, 1), 1, m);
        let loo = ctx.scale(&ctx.sub(&total, &e), 1.0 / (m - 1) as f32);
        let views = (views != WantViews::No).then(|| {
            let half = m / 2;
            let pool = |start: usize, len: usize| ctx.mean_axis(&ctx.slice(&e, 1, start, len), 1);
            let embeddings = (pool(0, half), pool(half, m - half));
            Views {
                logits: (views == WantViews::WithLogits).then(|| {
                    (
                        self.token_logits(ctx, &embeddings.0),
                        self.token_logits(ctx, &embeddings.1),
                    )
                }),
                embeddings,
            }
        });
        (self.token_logits(ctx, &loo), views)
    }

    /// Pooled slot embeddings of whole specifications: x, y u32 [B, m, N]
    /// -> ebar [B, T, D] (mean over the m pairs).
    pub fn pooled_embedding(&self, ctx: &Ctx, x: &Tensor, y: &Tensor) -> Tensor {
        let (b, m, n) = (x.dim(0), x.dim(1), x.dim(2));
        let e = self.encode(
            ctx,
            &ctx.reshape(x, &[b * m, n]),
            &ctx.reshape(y, &[b * m, n]),
        );
        ctx.mean_axis(
            &ctx.reshape(&e, &[b, m, self.cfg.program_len, self.cfg.d]),
            1,
        )
    }
}

/// `sum_{k != SKIP} [1 - exp(sum_rows log(1 - q_k))]`, q = softmax(logits)
/// over every row of `logits` [.., K]: the expected number of distinct
/// tokens used.
pub fn distinct_token_regulariser(ctx: &Ctx, logits: &Tensor) -> Tensor {
    let k = logits.dim(-1);
    let rows = logits.numel() / k;
    let q = ctx.softmax(&ctx.reshape(logits, &[rows, k]));
    let unused_log = ctx.sum_axis(&ctx.log1m_clamped(&q, ONE_MINUS_Q_FLOOR), 0);
    let unused = ctx.slice(&ctx.exp(&unused_log), 0, SKIP + 1, k - 1);
    ctx.add_scalar(&ctx.scale(&ctx.sum_all(&unused), -1.0), (k - 1) as f32)
}

/// The mutual information between a program's row and its token, summed
/// over the T slots: `sum_t H(mean_i p_it) - mean_i H(p_it)` with p_it =
/// softmax(logits[i, t]) over the rows i of `logits` [.., T, K] (a batch of
/// tasks' leave-one-out programs). It is large when tasks write different
/// tokens and each task's token is sure, and 0 when every task writes the
/// same distribution: a bonus for it rewards a specification-dependent
/// inductor (its gradient for row i is log(p_i / mean p) / rows: it grows
/// each row's deviation from the batch's mean).
pub fn token_mutual_information(ctx: &Ctx, logits: &Tensor) -> Tensor {
    let (t, k) = (logits.dim(-2), logits.dim(-1));
    let rows = logits.numel() / (t * k);
    let logp = ctx.log_softmax(&ctx.reshape(logits, &[rows * t, k]));
    let p = ctx.exp(&logp);
    // mean_i H(p_it), summed over t.
    let mean_entropy = ctx.scale(&ctx.sum_all(&ctx.mul(&p, &logp)), -1.0 / rows as f32);
    // H(mean_i p_it), summed over t; log of the mean as log(1 - (1 - p)),
    // clamped like the regulariser's.
    let mean_p = ctx.mean_axis(&ctx.reshape(&p, &[rows, t, k]), 0);
    let log_mean = ctx.log1m_clamped(
        &ctx.add_scalar(&ctx.scale(&mean_p, -1.0), 1.0),
        ONE_MINUS_Q_FLOOR,
    );
    let entropy_of_mean = ctx.scale(&ctx.sum_all(&ctx.mul(&mean_p, &log_mean)), -1.0);
    ctx.sub(&entropy_of_mean, &mean_entropy)
}

/// The mutual information between the tokens two views of each task induce,
/// summed over the T slots: for slot t the joint `P_t = mean_b pa_bt pb_bt^T`
/// of `pa = softmax(la)`, `pb = softmax(lb)` (la, lb [B, T, K]), and
/// `sum_ij P_t log(P_t / (ra_t rb_t))` with its marginals. The views are two
/// disjoint halves of a task's pairs, which share only the program: the
/// bonus pays for tokens that identify the program, not for tokens that
/// hash the specification (unlike [`token_mutual_information`]). Computed
/// as `sum P log P + H(ra) + H(rb)`, logs clamped like the regulariser's.
pub fn view_mutual_information(ctx: &Ctx, la: &Tensor, lb: &Tensor) -> Tensor {
    let (t, k) = (la.dim(-2), la.dim(-1));
    let b = la.numel() / (t * k);
    assert_eq!(la.shape(), lb.shape(), "two views of the same tasks");
    let pa = ctx.softmax(&ctx.reshape(la, &[b * t, k]));
    let pb = ctx.softmax(&ctx.reshape(lb, &[b * t, k]));
    // Every slot pair's joint at once, [T*K, T*K]; the K x K blocks on the
    // diagonal are the per-slot joints, the rest is masked to 0.
    let all = ctx.matmul_t(
        &ctx.reshape(&pa, &[b, t * k]),
        &ctx.reshape(&pb, &[b, t * k]),
        true,
        false,
    );
    let tk = t * k;
    let mut mask = vec![0.0f32; tk * tk];
    for i in 0..tk {
        for j in (i / k * k)..(i / k * k + k) {
            mask[i * tk + j] = 1.0 / b as f32;
        }
    }
    let joint = ctx.mul(&all, &ctx.tensor(&mask, &[tk, tk]));
    let log = |p: &Tensor| {
        ctx.log1m_clamped(&ctx.add_scalar(&ctx.scale(p, -1.0), 1.0), ONE_MINUS_Q_FLOOR)
    };
    let neg_joint_entropy = ctx.sum_all(&ctx.mul(&joint, &log(&joint)));
    let entropy = |p: &Tensor| {
        let mean = ctx.mean_axis(&ctx.reshape(p, &[b, t, k]), 0);
        ctx.scale(&ctx.sum_all(&ctx.mul(&mean, &log(&mean))), -1.0)
    };
    ctx.add(&neg_joint_entropy, &ctx.add(&entropy(&pa), &entropy(&pb)))
}

/// Two views of each task of a batch, from disjoint halves of its pairs.
pub struct Views {
    /// Pooled slot embeddings [B, T, D] of each half.
    pub embeddings: (Tensor, Tensor),
    /// Their token logits [B, T, K], when a loss term reads them.
    pub logits: Option<(Tensor, Tensor)>,
}

/// Which views a loss needs ([`LossSettings::wants_views`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WantViews {
    No,
    /// The slot embeddings alone (the contrastive loss on embeddings).
    Embeddings,
    /// The embeddings and the token logits (the view mutual information,
    /// or the contrastive loss on logits).
    WithLogits,
}

/// Temperature of [`view_contrastive_loss`] (a correlation of 1 is a logit
/// of 10).
pub const VIEW_CONTRAST_TEMPERATURE: f32 = 0.1;

/// InfoNCE between the two views' pooled slot embeddings ea, eb [B, T, D]:
/// each task's first view must pick its own second view among the batch's,
/// by the correlation of the flattened embeddings (less their batch mean)
/// over `temperature`; the
/// mean cross-entropy over the batch. The halves share only the program, so
/// this trains the inductor's encoder on features of the program directly
/// (tasks of the same program are negatives too, so its floor is about
/// ln(tasks per program), not 0).
pub fn view_contrastive_loss(ctx: &Ctx, ea: &Tensor, eb: &Tensor, temperature: f32) -> Tensor {
    assert_eq!(ea.shape(), eb.shape(), "two views of the same tasks");
    let b = ea.dim(0);
    let w = ea.numel() / b;
    // Each task's deviation from the batch mean (the slot embeddings share a
    // large task-independent part, which would make every pair of tasks
    // alike), standardised (layer norm without gain or bias): the dot
    // product of two rows over w is their correlation.
    let (ones, zeros) = (
        ctx.tensor(&vec![1.0; w], &[w]),
        ctx.tensor(&vec![0.0; w], &[w]),
    );
    let norm = |e: &Tensor| {
        let rows = ctx.reshape(e, &[b, w]);
        let centred = ctx.sub(&rows, &ctx.expand(&ctx.mean_axis(&rows, 0), 0, b));
        ctx.layer_norm(&centred, &ones, &zeros)
    };
    let logits = ctx.scale(
        &ctx.matmul_t(&norm(ea), &norm(eb), false, true),
        1.0 / (w as f32 * temperature),
    );
    let own: Vec<u32> = (0..b as u32).collect();
    ctx.mean_all(&ctx.cross_entropy(&logits, &ctx.indices(&own, &[b])))
}

/// Adds `weight` times the views' contrastive loss of `ea`, `eb` to `loss`,
/// logged as `view_nce` in `extra` (every kind's training loss).
pub(crate) fn add_view_nce(
    ctx: &Ctx,
    loss: &mut Tensor,
    extra: &mut Vec<(&'static str, Tensor)>,
    (ea, eb): (&Tensor, &Tensor),
    weight: f32,
) {
    let nce = view_contrastive_loss(ctx, ea, eb, VIEW_CONTRAST_TEMPERATURE);
    *loss = ctx.add(loss, &ctx.scale(&nce, weight));
    extra.push(("view_nce", nce));
}

/// A model that writes token programs with an inductor and runs them on
/// inputs: what test-time program search needs (NLI and D-LPN).
pub trait ProgramModel {
    fn config(&self) -> &ModelConfig;
    fn inductor(&self) -> &Inductor;
    /// Output distributions [P, N, V] of programs z [P, T, K] run on inputs
    /// x u32 [P, N]. `tau_d` and `noise` are the interpreter's; a model
    /// without interpreter noise ignores them.
    fn execute(
        &self,
        ctx: &Ctx,
        x: &Tensor,
        z: &Tensor,
        tau_d: f32,
        noise: Option<StepNoise>,
    ) -> Tensor;
    /// The same model with its parameters detached: search differentiates
    /// with respect to the slot embeddings only, never the weights.
    fn frozen(&self, ctx: &Ctx) -> Self
    where
        Self: Sized;

    /// Positions of the sequence a program of `program_len` slots runs
    /// over: NLI's interpreter reads the N inputs, one program step at a
    /// time; D-LPN's decoder reads the slots and the inputs together.
    /// Search sizes its chunks by it (each buffer within the GPU's binding
    /// limit).
    fn positions(&self, _program_len: usize) -> usize {
        self.config().n
    }

    fn pooled_embedding(&self, ctx: &Ctx, x: &Tensor, y: &Tensor) -> Tensor {
        self.inductor().pooled_embedding(ctx, x, y)
    }

    fn token_logits(&self, ctx: &Ctx, e: &Tensor) -> Tensor {
        self.inductor().token_logits(ctx, e)
    }

    /// Prediction without search: the hard program one_hot(argmax l) from
    /// all specification pairs, run without noise at `tau_d` on the queries
    /// (u32 [B, N]). Returns the output distributions [B, N, V].
    fn predict_hard(
        &self,
        ctx: &Ctx,
        spec_x: &Tensor,
        spec_y: &Tensor,
        query_x: &Tensor,
        tau_d: f32,
    ) -> Tensor {
        let ebar = self.pooled_embedding(ctx, spec_x, spec_y);
        let logits = self.token_logits(ctx, &ebar);
        self.execute(ctx, query_x, &hard_program(ctx, &logits), tau_d, None)
    }
}

/// one_hot(argmax logits) along the last axis.
pub fn hard_program(ctx: &Ctx, logits: &Tensor) -> Tensor {
    ctx.gumbel_softmax(
        logits,
        Gumbel {
            tau: 1.0,
            noise: None,
            hard: true,
        },
    )
}

/// Every parameter of a model detached from the tape, in creation order.
pub fn detached_params(ctx: &Ctx, params: &[(String, Tensor)]) -> layers::GivenParams {
    layers::GivenParams::new(params.iter().map(|(_, t)| ctx.detach(t)).collect())
}

pub struct Nli {
    pub cfg: ModelConfig,
    /// Every parameter with its name, in creation order.
    pub params: Vec<(String, Tensor)>,
    pub inductor: Inductor,
    // Interpreter.
    io_embed: Tensor,
    int_position: Tensor,
    token_embed: Tensor,
    int_blocks: Vec<Block>,
    int_norm: LayerNorm,
    int_head: Linear,
    /// [V, V] identity: one_hot(x) is a gather from it.
    identity: Tensor,
}

/// Temperatures, loss weights and noise of one loss evaluation.
#[derive(Clone, Copy, Debug)]
pub struct LossSettings {
    pub tau_e: f32,
    pub tau_d: f32,
    /// Weight of the distinct-token regulariser (NLI, D-LPN).
    pub lambda: f32,
    /// Weight of the token mutual-information bonus, subtracted from the
    /// loss (NLI, D-LPN; 0 in SPEC).
    pub mi_weight: f32,
    /// Cap on the mutual information the bonus pays for (None: no cap).
    pub mi_cap: Option<f32>,
    /// Weight of the view mutual-information bonus (NLI, D-LPN; 0 in SPEC)
    /// and its cap.
    pub view_mi_weight: f32,
    pub view_mi_cap: Option<f32>,
    /// Weight of the views' contrastive loss (every kind; 0 in SPEC and
    /// BASELINES), and whether it reads the views' token logits instead of their slot
    /// embeddings.
    pub view_nce_weight: f32,
    pub view_nce_logits: bool,
    /// Weight of the KL term (LPN).
    pub kl_beta: f32,
    /// LPN: one latent ascent step before the loss ("Grad 1").
    pub latent_ascent: bool,
    /// Program models: hard (straight-through) inductor samples.
    pub hard_inductor: bool,
    /// Scale of the Gumbel noise in the inductor's samples (1 in SPEC).
    pub inductor_noise: f32,
    /// The inductor's samples never choose SKIP (its logit masked).
    pub no_skip: bool,
    /// Floor of the reconstruction's probabilities (SPEC: LOG_PROB_FLOOR).
    pub prob_floor: f32,
    pub noise: Option<StepNoise>,
}

impl LossSettings {
    /// Which of the inductor's two views of each task the loss needs.
    pub fn wants_views(&self) -> WantViews {
        if self.view_mi_weight != 0.0 || (self.view_nce_weight != 0.0 && self.view_nce_logits) {
            WantViews::WithLogits
        } else if self.view_nce_weight != 0.0 {
            WantViews::Embeddings
        } else {
            WantViews::No
        }
    }

    /// The inductor's Gumbel-Softmax of these settings (program models).
    pub fn inductor_gumbel(&self) -> Gumbel {
        Gumbel {
            tau: self.tau_e,
            noise: self.noise.map(|nz| nz.inductor()),
            hard: self.hard_inductor,
        }
    }

    /// The inductor's sample of `logits`: softmax((logits + c g) / tau_e)
    /// with c = `inductor_noise` ([`scaled_gumbel_softmax`]), SKIP masked
    /// out when `no_skip`.
    pub fn inductor_sample(&self, ctx: &Ctx, logits: &Tensor) -> Tensor {
        let masked;
        let logits = if self.no_skip {
            // SKIP's logit pushed far below the others (and below any scaled
            // noise, Gumbel draws being below 20 in f32): exp underflows to 0
            // in the sample, and its gradient with it.
            let k = logits.dim(-1);
            let mut mask = vec![0.0; k];
            mask[SKIP] = -1e4 * self.inductor_noise.max(1.0);
            masked = ctx.add_broadcast(logits, &ctx.tensor(&mask, &[k]));
            &masked
        } else {
            logits
        };
        scaled_gumbel_softmax(ctx, logits, self.inductor_gumbel(), self.inductor_noise)
    }

    /// The settings of `tc` at training step `step`.
    pub fn at_step(tc: &TrainConfig, step: usize) -> LossSettings {
        let (tau_e, tau_d) = tc.temperatures(step);
        let (main_step, main_steps) = tc.main_phase(step);
        LossSettings {
            tau_e,
            tau_d,
            lambda: tc.lambda,
            mi_weight: tc.mi_weight,
            mi_cap: tc.mi_cap,
            view_mi_weight: tc.view_mi_weight,
            view_mi_cap: tc.view_mi_cap,
            view_nce_weight: tc.view_nce_weight,
            view_nce_logits: tc.view_nce_logits,
            kl_beta: tc.kl_beta,
            latent_ascent: tc.lpn_train_grad > 0,
            hard_inductor: (main_step as f32) < tc.hard_inductor_frac * main_steps as f32,
            inductor_noise: tc.inductor_noise,
            no_skip: (main_step as f32) < tc.no_skip_frac * main_steps as f32,
            prob_floor: tc.prob_floor,
            noise: Some(StepNoise {
                seed: tc.seed,
                step: step as u32,
                interpreter_scale: tc.interpreter_noise,
            }),
        }
    }
}

/// softmax((logits + c g) / tau) with `g` the noise of `gumbel` and c =
/// `scale`, computed as softmax((logits / c + g) / (tau / c)) (the same
/// distribution, and the same argmax for hard samples), or without noise
/// when c = 0.
pub fn scaled_gumbel_softmax(ctx: &Ctx, logits: &Tensor, gumbel: Gumbel, scale: f32) -> Tensor {
    if scale == 1.0 || gumbel.noise.is_none() {
        ctx.gumbel_softmax(logits, gumbel)
    } else if scale == 0.0 {
        ctx.gumbel_softmax(
            logits,
            Gumbel {
                noise: None,
                ..gumbel
            },
        )
    } else {
        ctx.gumbel_softmax(
            &ctx.scale(logits, 1.0 / scale),
            Gumbel {
                tau: gumbel.tau / scale,
                ..gumbel
            },
        )
    }
}

/// The parts of the training loss, all on the GPU.
pub struct LossParts {
    pub loss: Tensor,
    /// The reconstruction term.
    pub recon: Tensor,
    /// Further logged terms by name: the regulariser (`reg`) of NLI and
    /// D-LPN, the KL term (`kl`) of LPN.
    pub extra: Vec<(&'static str, Tensor)>,
    /// Leave-one-out token logits [batch, pairs, T, K] of program models.
    pub logits: Option<Tensor>,
    /// Scores [rows, N, V] whose argmax is the prediction of each
    /// reconstructed output...
    pub pred: Tensor,
    /// ...and those outputs, u32 [rows, N].
    pub targets: Tensor,
}

impl Nli {
    pub fn build(ctx: &Ctx, cfg: &ModelConfig, source: &mut dyn ParamSource) -> Nli {
        let (d, v, n, k) = (cfg.d, cfg.v, cfg.n, cfg.codebook);
        let emb = InitKind::Normal(1.0 / (d as f32).sqrt());
        let mut bld = Builder::new(ctx, source);
        let inductor = bld.scope("inductor", |b| Inductor::new(b, cfg));
        let (io_embed, int_position, token_embed, int_blocks, int_norm, int_head) =
            bld.scope("interpreter", |b| {
                (
                    b.param("io_embed", &[v, d], emb),
                    b.param("position_embed", &[n, d], emb),
                    b.param("token_embed", &[k, d], emb),
                    (0..cfg.interpreter_layers)
                        .map(|i| Block::new(b, &format!("block{i}"), d, cfg.heads, cfg.mlp_mult))
                        .collect::<Vec<_>>(),
                    LayerNorm::new(b, "norm", d),
                    Linear::new(b, "head", d, v),
                )
            });
        if cfg.interpreter_identity_init > 0.0 && bld.fresh() {
            // The blocks start as the identity (their residual branches'
            // output weights at 0), and head.w [D, V] = C E_io^T: the head's
            // logit for value j at a position is C <norm(h), E_io[j]>,
            // largest for the value whose embedding the state carries there.
            for block in &int_blocks {
                block.zero_residual_outputs(ctx);
            }
            let e = ctx.read(&io_embed);
            let mut w = vec![0.0f32; d * v];
            for j in 0..v {
                for c in 0..d {
                    w[c * v + j] = cfg.interpreter_identity_init * e[j * d + c];
                }
            }
            ctx.write(&int_head.w, &w);
        }
        let params = bld.params;
        let mut eye = vec![0.0f32; v * v];
        for i in 0..v {
            eye[i * v + i] = 1.0;
        }
        Nli {
            cfg: cfg.clone(),
            params,
            inductor,
            io_embed,
            int_position,
            token_embed,
            int_blocks,
            int_norm,
            int_head,
            identity: ctx.tensor(&eye, &[v, v]),
        }
    }

    pub fn param_tensors(&self) -> Vec<&Tensor> {
        self.params.iter().map(|(_, t)| t).collect()
    }

    pub fn param_count(&self) -> usize {
        self.params.iter().map(|(_, t)| t.numel()).sum()
    }

    /// s = E_io^T pi + P for distributions pi [P, N, V].
    fn embed_state(&self, ctx: &Ctx, pi: &Tensor) -> Tensor {
        ctx.add_broadcast(&ctx.matmul(pi, &self.io_embed), &self.int_position)
    }

    /// Run the program z [P, T, K] on inputs x (u32 [P, N]); returns pi_T
    /// [P, N, V]. With `noise`, the interpreter's Gumbel noise h is drawn per
    /// step; without, `pitilde = softmax(n_t / tau_d)`.
    pub fn execute(
        &self,
        ctx: &Ctx,
        x: &Tensor,
        z: &Tensor,
        tau_d: f32,
        noise: Option<StepNoise>,
    ) -> Tensor {
        let k = self.cfg.codebook;
        let p = x.dim(0);
        let mut pi = ctx.embedding(&self.identity, x);
        let mut s = self.embed_state(ctx, &pi);
        // The program's own length: the interpreter has no slot position,
        // so a program longer than the inductor writes runs too (search's
        // `program_len`).
        let len = z.dim(1);
        for t in 0..len {
            let zt = ctx.reshape(&ctx.slice(z, 1, t, 1), &[p, k]);
            let u = ctx.matmul(&zt, &self.token_embed);
            let mut h = ctx.add_expanded(&s, &u, 1);
            for block in &self.int_blocks {
                h = block.forward(ctx, &h);
            }
            let logits = self.int_head.forward(ctx, &self.int_norm.forward(ctx, &h));
            let cand = scaled_gumbel_softmax(
                ctx,
                &logits,
                Gumbel {
                    tau: tau_d,
                    noise: noise.map(|nz| nz.interpreter(t)),
                    hard: false,
                },
                noise.map_or(1.0, |nz| nz.interpreter_scale),
            );
            let skip = ctx.reshape(&ctx.slice(&zt, 1, SKIP, 1), &[p]);
            pi = ctx.skip_gate(&skip, &pi, &cand);
            if t + 1 < len {
                s = self.embed_state(ctx, &pi);
            }
        }
        pi
    }

    /// The training loss of a batch: x, y u32 [B, m, N]; leave-one-out
    /// reconstruction plus `lambda` times the distinct-token regulariser.
    pub fn loss(&self, ctx: &Ctx, x: &Tensor, y: &Tensor, s: LossSettings) -> LossParts {
        self.loss_with_programs(ctx, x, y, s, None)
    }

    /// [`Nli::loss`] with the interpreter running `programs` [B, m, T, K]
    /// instead of the inductor's sample when given (the oracle diagnostic,
    /// [`oracle_programs`]); the regulariser still reads the inductor.
    pub fn loss_with_programs(
        &self,
        ctx: &Ctx,
        x: &Tensor,
        y: &Tensor,
        s: LossSettings,
        programs: Option<&Tensor>,
    ) -> LossParts {
        let (b, m, n) = (x.dim(0), x.dim(1), x.dim(2));
        let (t, k) = (self.cfg.program_len, self.cfg.codebook);
        let (logits, views) = self.inductor.leave_one_out(ctx, x, y, s.wants_views());
        let z = match programs {
            Some(z) => {
                assert_eq!(z.shape(), logits.shape(), "oracle programs [B, m, T, K]");
                z.clone()
            }
            None => s.inductor_sample(ctx, &logits),
        };
        let xf = ctx.reshape(x, &[b * m, n]);
        let pi = self.execute(ctx, &xf, &ctx.reshape(&z, &[b * m, t, k]), s.tau_d, s.noise);
        let targets = ctx.reshape(y, &[b * m, n]);
        let nll = ctx.nll_probs(
            &ctx.reshape(&pi, &[b * m * n, self.cfg.v]),
            &ctx.reshape(y, &[b * m * n]),
            s.prob_floor,
        );
        let recon = ctx.scale(&ctx.sum_all(&nll), 1.0 / (b * m) as f32);
        program_loss(ctx, recon, logits, views, pi, targets, s)
    }
}

/// The oracle programs of a batch (a diagnostic, never SPEC training): for
/// each task and pair, token `1 + program_index % (K - 1)` in slot 0 and SKIP
/// in the other slots, one-hot, [B, m, T, K].
pub fn oracle_programs(
    ctx: &Ctx,
    program_index: &[u32],
    pairs: usize,
    program_len: usize,
    codebook: usize,
) -> Tensor {
    let (b, t, k) = (program_index.len(), program_len, codebook);
    assert!(k >= 2, "oracle programs need a token besides SKIP");
    let mut z = vec![0.0f32; b * pairs * t * k];
    for (task, &prog) in program_index.iter().enumerate() {
        let token = 1 + prog as usize % (k - 1);
        for pair in 0..pairs {
            let base = (task * pairs + pair) * t * k;
            for slot in 0..t {
                let chosen = if slot == 0 { token } else { SKIP };
                z[base + slot * k + chosen] = 1.0;
            }
        }
    }
    ctx.tensor(&z, &[b, pairs, t, k])
}

/// The loss of the encoder warm-up ([`TrainConfig::encoder_warmup`]) of a
/// program model's inductor on a batch x, y u32 [B, m, N]: the views'
/// contrastive loss of the pooled slot embeddings, alone. Nothing is
/// reconstructed: `recon` is 0 and `pred` all zeros (so the logged training
/// accuracy is 0); `logits` are the leave-one-out token logits, for the
/// count of distinct tokens.
pub fn encoder_warmup_loss(
    ctx: &Ctx,
    inductor: &Inductor,
    x: &Tensor,
    y: &Tensor,
    v: usize,
) -> LossParts {
    let (logits, views) = inductor.leave_one_out(ctx, x, y, WantViews::Embeddings);
    let views = views.expect("leave_one_out returns the views it is asked for");
    let (ea, eb) = &views.embeddings;
    warmup_parts(ctx, ea, eb, y, v, Some(logits))
}

/// Two views of each of `b` tasks from rows [B * m, W], one per pair (a
/// baseline's pair tokens or latent means): the mean row of its first
/// m / 2 pairs and of the rest, [B, W] each (what the views' contrastive
/// loss compares, as NLI's pooled slot embeddings).
pub(crate) fn pair_views(ctx: &Ctx, rows: &Tensor, b: usize, m: usize) -> (Tensor, Tensor) {
    assert!(m >= 2, "two views need at least 2 pairs per task");
    let per_task = ctx.reshape(rows, &[b, m, rows.numel() / (b * m)]);
    let half = m / 2;
    let pool = |lo: usize, len: usize| ctx.mean_axis(&ctx.slice(&per_task, 1, lo, len), 1);
    (pool(0, half), pool(half, m - half))
}

/// The loss parts of an encoder warm-up step on targets y u32 [B, m, N]:
/// the views' contrastive loss of `ea`, `eb` alone, nothing reconstructed
/// (`recon` 0, `pred` all zeros, so the logged training accuracy is 0).
pub(crate) fn warmup_parts(
    ctx: &Ctx,
    ea: &Tensor,
    eb: &Tensor,
    y: &Tensor,
    v: usize,
    logits: Option<Tensor>,
) -> LossParts {
    let (b, m, n) = (y.dim(0), y.dim(1), y.dim(2));
    let nce = view_contrastive_loss(ctx, ea, eb, VIEW_CONTRAST_TEMPERATURE);
    LossParts {
        loss: nce.clone(),
        recon: ctx.tensor(&[0.0], &[1]),
        extra: vec![("view_nce", nce)],
        logits,
        pred: ctx.tensor(&vec![0.0; b * m * n * v], &[b * m, n, v]),
        targets: ctx.reshape(y, &[b * m, n]),
    }
}

/// min(x, cap) = x - relu(x - cap); x itself without a cap.
fn capped(ctx: &Ctx, x: &Tensor, cap: Option<f32>) -> Tensor {
    match cap {
        Some(cap) => ctx.sub(x, &ctx.relu(&ctx.add_scalar(x, -cap))),
        None => x.clone(),
    }
}

/// The loss of a program model (NLI, D-LPN) from its reconstruction term:
/// plus `lambda` times the distinct-token regulariser of the logits, minus
/// `mi_weight` times their token mutual information (when not 0; at most
/// `mi_cap` of it when set), and minus `view_mi_weight` times the view
/// mutual information of `views` at temperature `tau_e` (at most
/// `view_mi_cap`), plus `view_nce_weight` times their contrastive loss (of
/// their slot embeddings, or of their token logits with `view_nce_logits`).
pub(crate) fn program_loss(
    ctx: &Ctx,
    recon: Tensor,
    logits: Tensor,
    views: Option<Views>,
    pred: Tensor,
    targets: Tensor,
    s: LossSettings,
) -> LossParts {
    let reg = distinct_token_regulariser(ctx, &logits);
    let mut loss = ctx.add(&recon, &ctx.scale(&reg, s.lambda));
    let mut extra = vec![("reg", reg)];
    if s.mi_weight != 0.0 {
        let mi = token_mutual_information(ctx, &logits);
        let bonus = capped(ctx, &mi, s.mi_cap);
        loss = ctx.sub(&loss, &ctx.scale(&bonus, s.mi_weight));
        extra.push(("mi", mi));
    }
    if let Some(v) = views.as_ref().filter(|_| s.view_nce_weight != 0.0) {
        let (a, b) = if s.view_nce_logits {
            v.logits
                .as_ref()
                .expect("views with logits (LossSettings::wants_views)")
        } else {
            &v.embeddings
        };
        add_view_nce(ctx, &mut loss, &mut extra, (a, b), s.view_nce_weight);
    }
    if let Some((la, lb)) = views
        .and_then(|v| v.logits)
        .filter(|_| s.view_mi_weight != 0.0)
    {
        // At the sampling temperature: softmax(logits) itself is saturated
        // on SKIP early in training (logit gaps of ~tau_e log K), where the
        // MI's gradient would vanish.
        let tempered = |l: &Tensor| ctx.scale(l, 1.0 / s.tau_e);
        let mi = view_mutual_information(ctx, &tempered(&la), &tempered(&lb));
        loss = ctx.sub(
            &loss,
            &ctx.scale(&capped(ctx, &mi, s.view_mi_cap), s.view_mi_weight),
        );
        extra.push(("view_mi", mi));
    }
    LossParts {
        loss,
        recon,
        extra,
        logits: Some(logits),
        pred,
        targets,
    }
}

impl ProgramModel for Nli {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn inductor(&self) -> &Inductor {
        &self.inductor
    }

    fn execute(
        &self,
        ctx: &Ctx,
        x: &Tensor,
        z: &Tensor,
        tau_d: f32,
        noise: Option<StepNoise>,
    ) -> Tensor {
        Nli::execute(self, ctx, x, z, tau_d, noise)
    }

    fn frozen(&self, ctx: &Ctx) -> Nli {
        Nli::build(ctx, &self.cfg, &mut detached_params(ctx, &self.params))
    }
}

/// Argmax along the last axis of host data [rows, cols].
pub fn argmax_rows(data: &[f32], cols: usize) -> Vec<u32> {
    data.chunks(cols)
        .map(|row| {
            let mut best = 0;
            for (i, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = i;
                }
            }
            best as u32
        })
        .collect()
}
