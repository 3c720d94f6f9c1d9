//! Differentiable ops, one file per kernel family; each file holds the
//! forward, the backward it records on the tape, and a CPU reference.

pub mod attention;
pub mod elementwise;
pub mod embedding;
pub mod gumbel;
pub mod layer_norm;
pub mod matmul;
pub mod mlp;
pub mod reduce;
pub mod shape;
pub mod skip_gate;
pub mod softmax;
