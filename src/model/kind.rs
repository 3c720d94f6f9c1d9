//! Any model kind behind one type: what training, checkpoints and
//! evaluation need from each, chosen by the config's `kind`.

use super::config::{ModelConfig, ModelKind};
use super::dlpn::DLpn;
use super::in_context::InContext;
use super::layers::ParamSource;
use super::lpn::Lpn;
use super::{LossParts, LossSettings, Nli};
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

pub enum Model {
    Nli(Nli),
    InContext(InContext),
    Lpn(Lpn),
    DLpn(DLpn),
}

impl Model {
    /// The model of `cfg.kind` with parameters from `source`.
    pub fn build(ctx: &Ctx, cfg: &ModelConfig, source: &mut dyn ParamSource) -> Model {
        match cfg.kind {
            ModelKind::Nli => Model::Nli(Nli::build(ctx, cfg, source)),
            ModelKind::InContext => Model::InContext(InContext::build(ctx, cfg, source)),
            ModelKind::Lpn => Model::Lpn(Lpn::build(ctx, cfg, source)),
            ModelKind::DLpn => Model::DLpn(DLpn::build(ctx, cfg, source)),
        }
    }

    pub fn kind(&self) -> ModelKind {
        self.cfg().kind
    }

    pub fn cfg(&self) -> &ModelConfig {
        match self {
            Model::Nli(m) => &m.cfg,
            Model::InContext(m) => &m.cfg,
            Model::Lpn(m) => &m.cfg,
            Model::DLpn(m) => &m.cfg,
        }
    }

    /// Every parameter with its name, in creation order.
    pub fn params(&self) -> &[(String, Tensor)] {
        match self {
            Model::Nli(m) => &m.params,
            Model::InContext(m) => &m.params,
            Model::Lpn(m) => &m.params,
            Model::DLpn(m) => &m.params,
        }
    }

    pub fn param_tensors(&self) -> Vec<&Tensor> {
        self.params().iter().map(|(_, t)| t).collect()
    }

    pub fn param_count(&self) -> usize {
        self.params().iter().map(|(_, t)| t.numel()).sum()
    }

    /// Pairs per task the training batch must hold when the run asks for
    /// `pairs`: In-Context trains half its tasks on one pair more.
    pub fn train_pairs(&self, pairs: usize) -> usize {
        match self {
            Model::InContext(_) => pairs + 1,
            _ => pairs,
        }
    }

    /// The training loss of a batch x, y u32 [B, m, N] (m from
    /// [`Model::train_pairs`]).
    pub fn loss(&self, ctx: &Ctx, x: &Tensor, y: &Tensor, s: LossSettings) -> LossParts {
        match self {
            Model::Nli(m) => m.loss(ctx, x, y, s),
            Model::InContext(m) => m.loss(ctx, x, y, s.view_nce_weight),
            Model::Lpn(m) => m.loss(ctx, x, y, s),
            Model::DLpn(m) => m.loss(ctx, x, y, s),
        }
    }

    /// The encoder warm-up's loss of a program model
    /// ([`super::encoder_warmup_loss`]), of In-Context's pair encoder
    /// ([`InContext::encoder_warmup_loss`]) or of LPN's encoder
    /// ([`Lpn::encoder_warmup_loss`]).
    pub fn encoder_warmup_loss(&self, ctx: &Ctx, x: &Tensor, y: &Tensor) -> LossParts {
        let v = self.cfg().v;
        match self {
            Model::Nli(m) => super::encoder_warmup_loss(ctx, &m.inductor, x, y, v),
            Model::DLpn(m) => super::encoder_warmup_loss(ctx, &m.inductor, x, y, v),
            Model::InContext(m) => m.encoder_warmup_loss(ctx, x, y),
            Model::Lpn(m) => m.encoder_warmup_loss(ctx, x, y),
        }
    }

    /// The NLI model, or an error naming `what` needs one.
    pub fn nli(&self, what: &str) -> Result<&Nli> {
        match self {
            Model::Nli(m) => Ok(m),
            other => Err(Error::Config(format!(
                "{what} works with NLI models; this checkpoint is a {} model (kind `{}`)",
                other.kind().label(),
                other.kind().name()
            ))),
        }
    }
}
