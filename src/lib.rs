//! nli-wgpu: Neural Language Interpreters on a hand-written wgpu/WGSL engine.
//!
//! - [`gpu`]: adapter and device, buffer pool, pipeline cache, recording and
//!   readback;
//! - [`tensor`], [`ctx`]: tensors and the handle ops are called on;
//! - [`autodiff`]: the tape;
//! - [`ops`]: differentiable kernels, each with its backward and a CPU
//!   reference;
//! - [`optim`]: Adam;
//! - [`tasks`]: the compositional task suite.

pub mod autodiff;
pub mod ctx;
pub mod error;
pub mod gpu;
pub mod gradcheck;
pub mod ops;
pub mod optim;
pub mod tasks;
pub mod tensor;

pub use ctx::Ctx;
pub use error::{Error, Result};
pub use tensor::{DType, Tensor};
