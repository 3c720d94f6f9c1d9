//! D-LPN (BASELINES §4): NLI's inductor, unchanged, read by a one-pass
//! decoder instead of the recurrent interpreter. The program's T soft tokens
//! become T context vectors `E_tok^T z_t + Q_t`; SKIP is an ordinary token
//! and there is no interpreter noise or tau_d. NLI's loss, schedule and
//! test-time search apply as they are.

use super::config::ModelConfig;
use super::decoder::{Decoder, sequence_nll};
use super::layers::{Builder, InitKind, ParamSource};
use super::{
    Inductor, LossParts, LossSettings, ProgramModel, StepNoise, detached_params, program_loss,
};
use crate::ctx::Ctx;
use crate::tensor::Tensor;

pub struct DLpn {
    pub cfg: ModelConfig,
    pub params: Vec<(String, Tensor)>,
    pub inductor: Inductor,
    token_embed: Tensor,
    slot_embed: Tensor,
    decoder: Decoder,
}

impl DLpn {
    pub fn build(ctx: &Ctx, cfg: &ModelConfig, source: &mut dyn ParamSource) -> DLpn {
        let emb = InitKind::Normal(1.0 / (cfg.d as f32).sqrt());
        let mut bld = Builder::new(ctx, source);
        let inductor = bld.scope("inductor", |b| Inductor::new(b, cfg));
        let (token_embed, slot_embed, decoder) = bld.scope("decoder", |b| {
            (
                b.param("token_embed", &[cfg.codebook, cfg.d], emb),
                b.param("slot_embed", &[cfg.program_len, cfg.d], emb),
                Decoder::new(b, cfg),
            )
        });
        DLpn {
            cfg: cfg.clone(),
            params: bld.params,
            inductor,
            token_embed,
            slot_embed,
            decoder,
        }
    }

    /// Output logits [P, N, V] of programs z [P, T, K] on inputs x u32 [P, N].
    pub fn decode(&self, ctx: &Ctx, x: &Tensor, z: &Tensor) -> Tensor {
        let context = ctx.add_broadcast(&ctx.matmul(z, &self.token_embed), &self.slot_embed);
        self.decoder.forward(ctx, &context, x)
    }

    /// NLI's training loss with the decoder in place of the interpreter:
    /// leave-one-out cross-entropy (summed over positions, averaged over
    /// pairs and tasks) plus `lambda` times the distinct-token regulariser.
    pub fn loss(&self, ctx: &Ctx, x: &Tensor, y: &Tensor, s: LossSettings) -> LossParts {
        let (b, m, n) = (x.dim(0), x.dim(1), x.dim(2));
        let (t, k) = (self.cfg.program_len, self.cfg.codebook);
        let (logits, views) = self.inductor.leave_one_out(ctx, x, y, s.wants_views());
        let z = s.inductor_sample(ctx, &logits);
        let xf = ctx.reshape(x, &[b * m, n]);
        let yf = ctx.reshape(y, &[b * m, n]);
        let out = self.decode(ctx, &xf, &ctx.reshape(&z, &[b * m, t, k]));
        let nll = sequence_nll(ctx, &out, &yf);
        let recon = ctx.scale(&ctx.sum_all(&nll), 1.0 / (b * m) as f32);
        program_loss(ctx, recon, logits, views, out, yf, s)
    }
}

impl ProgramModel for DLpn {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn inductor(&self) -> &Inductor {
        &self.inductor
    }

    /// The decoder's output distributions (softmax of its logits); no
    /// interpreter, so `tau_d` and `noise` play no part.
    fn execute(
        &self,
        ctx: &Ctx,
        x: &Tensor,
        z: &Tensor,
        _tau_d: f32,
        _noise: Option<StepNoise>,
    ) -> Tensor {
        let logits = self.decode(ctx, x, z);
        let (p, n, v) = (logits.dim(0), logits.dim(1), logits.dim(2));
        ctx.reshape(&ctx.softmax(&ctx.reshape(&logits, &[p * n, v])), &[p, n, v])
    }

    /// The program's slots, then the inputs.
    fn positions(&self, program_len: usize) -> usize {
        program_len + self.cfg.n
    }

    fn frozen(&self, ctx: &Ctx) -> DLpn {
        DLpn::build(ctx, &self.cfg, &mut detached_params(ctx, &self.params))
    }
}
