//! nli-wgpu: Neural Language Interpreters on a hand-written wgpu/WGSL engine.
//!
//! - [`gpu`] holds the adapter and device, buffer pool, pipeline cache,
//!   recording and readback;
//! - [`tensor`] and [`ctx`] hold tensors and the handle ops are called on;
//! - [`autodiff`] is the tape;
//! - [`ops`] are the differentiable kernels, each with its backward and a CPU
//!   reference;
//! - [`optim`] is Adam;
//! - [`tasks`] is the compositional task suite;
//! - [`plot`] draws training curves and accuracy figures.

pub mod autodiff;
pub mod checkpoint;
pub mod ctx;
pub mod error;
pub mod eval;
pub mod gpu;
pub mod gradcheck;
pub mod inspect;
pub mod latent_search;
pub mod model;
pub mod ops;
pub mod optim;
pub mod plot;
pub mod search;
pub mod shipped;
pub mod tasks;
pub mod tensor;
pub mod train;
pub mod ttt;

pub use ctx::Ctx;
pub use error::{Error, Result};
pub use tensor::{DType, Tensor};
