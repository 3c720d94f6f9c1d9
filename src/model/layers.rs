//! Layers built from ops: linear, layer norm, pre-LayerNorm transformer
//! block. Parameters come from a [`ParamSource`], so the same constructor
//! makes a fresh model (random init), loads one (a checkpoint) or wraps given
//! tensors (the whole-model gradient check).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::ctx::Ctx;
use crate::tensor::Tensor;

/// How a parameter starts.
#[derive(Clone, Copy, Debug)]
pub enum InitKind {
    /// N(0, std^2).
    Normal(f32),
    Zeros,
    Ones,
}

/// Where a model's parameters come from.
pub trait ParamSource {
    fn param(&mut self, ctx: &Ctx, name: &str, shape: &[usize], init: InitKind) -> Tensor;
    /// Whether the parameters are fresh (an initialisation a model may
    /// adjust after building) rather than loaded or given.
    fn fresh(&self) -> bool {
        false
    }
}

/// Fresh parameters from a seeded generator.
pub struct RandomInit {
    rng: StdRng,
}

impl RandomInit {
    pub fn new(seed: u64) -> RandomInit {
        RandomInit {
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

/// A standard normal draw (Box-Muller; the generator's own draws keep it
/// reproducible for a given seed).
pub fn standard_normal(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

impl ParamSource for RandomInit {
    fn param(&mut self, ctx: &Ctx, _name: &str, shape: &[usize], init: InitKind) -> Tensor {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = match init {
            InitKind::Normal(std) => (0..n)
                .map(|_| std * standard_normal(&mut self.rng))
                .collect(),
            InitKind::Zeros => vec![0.0; n],
            InitKind::Ones => vec![1.0; n],
        };
        ctx.param(&data, shape)
    }

    fn fresh(&self) -> bool {
        true
    }
}

/// Given tensors, taken in the order the model asks for them.
pub struct GivenParams {
    tensors: std::vec::IntoIter<Tensor>,
}

impl GivenParams {
    pub fn new(tensors: Vec<Tensor>) -> GivenParams {
        GivenParams {
            tensors: tensors.into_iter(),
        }
    }
}

impl ParamSource for GivenParams {
    fn param(&mut self, _ctx: &Ctx, name: &str, shape: &[usize], _init: InitKind) -> Tensor {
        let t = self
            .tensors
            .next()
            .unwrap_or_else(|| panic!("no tensor given for parameter {name}"));
        assert_eq!(t.shape(), shape, "given tensor for {name}");
        t
    }
}

/// Collects every parameter with its name as the model is built.
pub struct Builder<'a> {
    pub ctx: &'a Ctx,
    source: &'a mut dyn ParamSource,
    prefix: Vec<String>,
    pub params: Vec<(String, Tensor)>,
}

impl<'a> Builder<'a> {
    pub fn new(ctx: &'a Ctx, source: &'a mut dyn ParamSource) -> Builder<'a> {
        Builder {
            ctx,
            source,
            prefix: Vec::new(),
            params: Vec::new(),
        }
    }

    pub fn param(&mut self, name: &str, shape: &[usize], init: InitKind) -> Tensor {
        let mut full = self.prefix.join(".");
        if !full.is_empty() {
            full.push('.');
        }
        full.push_str(name);
        let t = self.source.param(self.ctx, &full, shape, init);
        self.params.push((full, t.clone()));
        t
    }

    /// Whether the parameters are a fresh initialisation ([`ParamSource::fresh`]).
    pub fn fresh(&self) -> bool {
        self.source.fresh()
    }

    /// Run `f` with `name` appended to the parameter prefix.
    pub fn scope<T>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        self.prefix.push(name.to_string());
        let out = f(self);
        self.prefix.pop();
        out
    }
}

/// `E[idx] + P`: rows of the value table `table` [V, D] for the indices
/// idx u32 [P, N], plus the position table `position` [N, D].
pub fn embed_positions(ctx: &Ctx, table: &Tensor, position: &Tensor, idx: &Tensor) -> Tensor {
    ctx.add_broadcast(&ctx.embedding(table, idx), position)
}

pub struct Linear {
    pub w: Tensor,
    pub b: Tensor,
}

impl Linear {
    /// LeCun-normal weights (std 1/sqrt(in)), zero bias.
    pub fn new(bld: &mut Builder, name: &str, fan_in: usize, fan_out: usize) -> Linear {
        Linear::with_scale(bld, name, fan_in, fan_out, 1.0)
    }

    /// As [`Linear::new`] with the initial weights' std multiplied by `scale`.
    pub fn with_scale(
        bld: &mut Builder,
        name: &str,
        fan_in: usize,
        fan_out: usize,
        scale: f32,
    ) -> Linear {
        bld.scope(name, |bld| Linear {
            w: bld.param(
                "w",
                &[fan_in, fan_out],
                InitKind::Normal(scale / (fan_in as f32).sqrt()),
            ),
            b: bld.param("b", &[fan_out], InitKind::Zeros),
        })
    }

    pub fn forward(&self, ctx: &Ctx, x: &Tensor) -> Tensor {
        ctx.linear(x, &self.w, Some(&self.b))
    }

    /// `r + forward(x)`, the sum made as the product is stored.
    pub fn forward_residual(&self, ctx: &Ctx, x: &Tensor, r: &Tensor) -> Tensor {
        ctx.linear_residual(x, &self.w, Some(&self.b), r)
    }
}

pub struct LayerNorm {
    pub gamma: Tensor,
    pub beta: Tensor,
}

impl LayerNorm {
    pub fn new(bld: &mut Builder, name: &str, d: usize) -> LayerNorm {
        bld.scope(name, |bld| LayerNorm {
            gamma: bld.param("gamma", &[d], InitKind::Ones),
            beta: bld.param("beta", &[d], InitKind::Zeros),
        })
    }

    pub fn forward(&self, ctx: &Ctx, x: &Tensor) -> Tensor {
        ctx.layer_norm(x, &self.gamma, &self.beta)
    }
}

/// Pre-LayerNorm transformer block: `h + Attn(LN(h))`, then `h + MLP(LN(h))`
/// with a GELU MLP `mlp_mult * d` wide. Non-causal.
pub struct Block {
    ln1: LayerNorm,
    /// Q, K and V projections fused into one D -> 3D linear.
    wqkv: Linear,
    wo: Linear,
    ln2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    heads: usize,
}

impl Block {
    pub fn new(bld: &mut Builder, name: &str, d: usize, heads: usize, mlp_mult: usize) -> Block {
        bld.scope(name, |bld| Block {
            ln1: LayerNorm::new(bld, "ln1", d),
            wqkv: Linear::new(bld, "wqkv", d, 3 * d),
            wo: Linear::new(bld, "wo", d, d),
            ln2: LayerNorm::new(bld, "ln2", d),
            fc1: Linear::new(bld, "fc1", d, mlp_mult * d),
            fc2: Linear::new(bld, "fc2", mlp_mult * d, d),
            heads,
        })
    }

    /// Set the attention's and the MLP's output weights to zero, so that
    /// the block starts as the identity (its residual branches add nothing
    /// until training moves those weights; their gradients are not zero).
    pub fn zero_residual_outputs(&self, ctx: &Ctx) {
        for w in [&self.wo.w, &self.fc2.w] {
            ctx.write(w, &vec![0.0; w.numel()]);
        }
    }

    /// `h`: [batch, len, d].
    pub fn forward(&self, ctx: &Ctx, h: &Tensor) -> Tensor {
        let x = self.ln1.forward(ctx, h);
        let a = ctx.attention_qkv(&self.wqkv.forward(ctx, &x), self.heads, false);
        let h = self.wo.forward_residual(ctx, &a, h);
        let x = self.ln2.forward(ctx, &h);
        let (fc1, fc2) = (&self.fc1, &self.fc2);
        ctx.mlp_residual(&x, &fc1.w, &fc1.b, &fc2.w, &fc2.b, &h)
    }
}
