//! The trained models that ship inside the binary, so that `eval`, `solve`
//! and `inspect` work right after install, from any directory, without
//! training first. They are the files under `models/<suite>/` (written by
//! `nli-wgpu export`; how each was made is in `models/README.md`).

use crate::checkpoint::{Checkpoint, load_bytes};
use crate::error::{Error, Result};

/// (suite, safetensors bytes) of every shipped model.
pub const MODELS: &[(&str, &[u8])] = &[
    (
        "shift-l",
        include_bytes!("../models/shift-l/checkpoint.safetensors"),
    ),
    (
        "shift-p",
        include_bytes!("../models/shift-p/checkpoint.safetensors"),
    ),
    (
        "comp-i",
        include_bytes!("../models/comp-i/checkpoint.safetensors"),
    ),
];

/// The shipped model of `suite`.
pub fn load(suite: &str) -> Result<Checkpoint> {
    let (_, bytes) = MODELS.iter().find(|(s, _)| *s == suite).ok_or_else(|| {
        let have: Vec<&str> = MODELS.iter().map(|(s, _)| *s).collect();
        Error::Config(format!(
            "no shipped model for suite `{suite}` (shipped: {}); train one with \
             `nli-wgpu train --suite {suite}` and pass --checkpoint",
            have.join(", ")
        ))
    })?;
    let ckpt = load_bytes(bytes, &format!("shipped model {suite}"))?;
    if ckpt.config.suite != suite {
        return Err(Error::Config(format!(
            "the shipped model for `{suite}` was trained on `{}`",
            ckpt.config.suite
        )));
    }
    Ok(ckpt)
}
