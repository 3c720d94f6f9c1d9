//! Finite-difference gradient checks for any function built from ops.
//!
//! The function's output is reduced to a scalar by a fixed random weighting,
//! `loss = sum(f(inputs) * w)`, so every output element contributes; the
//! tape's gradient of that loss is compared with the central difference
//! `(loss(x + h e_i) - loss(x - h e_i)) / 2h` at chosen elements of each input.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::ctx::Ctx;
use crate::tensor::Tensor;

#[derive(Clone, Debug)]
pub struct GradCheckConfig {
    /// Finite-difference step.
    pub h: f32,
    /// Relative tolerance.
    pub rtol: f32,
    /// Absolute tolerance (floor for gradients near zero).
    pub atol: f32,
    /// Elements checked per input (all of them if the input is smaller).
    pub max_elements: usize,
    pub seed: u64,
}

impl Default for GradCheckConfig {
    /// f32 central differences: with h = 1e-2 on inputs of order 1 the
    /// truncation error is O(h^2 f''') ~ 1e-4 and the rounding error of a
    /// loss of order 10 is ~1e-6 / 2h ~ 1e-4, so a relative 1e-2 with an
    /// absolute floor of 2e-3 passes every correct backward while a wrong
    /// one (a missing term or factor) misses by far more.
    fn default() -> Self {
        GradCheckConfig {
            h: 1e-2,
            rtol: 1e-2,
            atol: 2e-3,
            max_elements: 24,
            seed: 7,
        }
    }
}

/// One checked element that disagreed.
#[derive(Clone, Debug)]
pub struct Mismatch {
    pub input: usize,
    pub element: usize,
    pub analytic: f32,
    pub numeric: f32,
}

#[derive(Clone, Debug, Default)]
pub struct GradCheckReport {
    pub checked: usize,
    pub max_abs_err: f32,
    pub mismatches: Vec<Mismatch>,
}

impl GradCheckReport {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty() && self.checked > 0
    }
}

impl std::fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} elements checked, max abs error {:.2e}, {} mismatches",
            self.checked,
            self.max_abs_err,
            self.mismatches.len()
        )?;
        for m in self.mismatches.iter().take(8) {
            write!(
                f,
                "\n  input {} element {}: analytic {:.6} numeric {:.6}",
                m.input, m.element, m.analytic, m.numeric
            )?;
        }
        Ok(())
    }
}

/// Check the gradients of `f` with respect to every input. `inputs` are
/// (data, shape) pairs; `f` must be deterministic (fixed noise seeds).
pub fn gradcheck(
    ctx: &Ctx,
    inputs: &[(Vec<f32>, Vec<usize>)],
    cfg: &GradCheckConfig,
    f: impl Fn(&Ctx, &[Tensor]) -> Tensor,
) -> GradCheckReport {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    // Analytic gradients.
    let params: Vec<Tensor> = inputs.iter().map(|(d, s)| ctx.param(d, s)).collect();
    let out = f(ctx, &params);
    let weights: Vec<f32> = (0..out.numel())
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let w = ctx.tensor(&weights, out.shape());
    let loss = ctx.sum_all(&ctx.mul(&out, &w));
    let grads = ctx.backward(&loss);
    let analytic: Vec<Vec<f32>> = params
        .iter()
        .map(|p| match grads.get(p) {
            Some(g) => ctx.read(g),
            None => vec![0.0; p.numel()],
        })
        .collect();
    drop(grads);

    // The same weighted loss without the tape.
    let eval = |data: &[Vec<f32>]| -> f64 {
        let _g = ctx.no_grad();
        let ts: Vec<Tensor> = data
            .iter()
            .zip(inputs)
            .map(|(d, (_, s))| ctx.tensor(d, s))
            .collect();
        let out = f(ctx, &ts);
        let loss = ctx.sum_all(&ctx.mul(&out, &w));
        ctx.item(&loss) as f64
    };

    let mut report = GradCheckReport::default();
    let mut data: Vec<Vec<f32>> = inputs.iter().map(|(d, _)| d.clone()).collect();
    for i in 0..inputs.len() {
        let n = data[i].len();
        let elements: Vec<usize> = if n <= cfg.max_elements {
            (0..n).collect()
        } else {
            (0..cfg.max_elements)
                .map(|_| rng.random_range(0..n))
                .collect()
        };
        for e in elements {
            let orig = data[i][e];
            data[i][e] = orig + cfg.h;
            let plus = eval(&data);
            data[i][e] = orig - cfg.h;
            let minus = eval(&data);
            data[i][e] = orig;
            let numeric = ((plus - minus) / (2.0 * cfg.h as f64)) as f32;
            let a = analytic[i][e];
            let err = (a - numeric).abs();
            report.checked += 1;
            report.max_abs_err = report.max_abs_err.max(err);
            if err > cfg.atol + cfg.rtol * a.abs().max(numeric.abs()) {
                report.mismatches.push(Mismatch {
                    input: i,
                    element: e,
                    analytic: a,
                    numeric,
                });
            }
        }
    }
    report
}
