//! The trained models that ship inside the binary, so that `eval`, `solve`
//! and `inspect` work right after install, from any directory, without
//! training first. They are the files under `models/<suite>/` (NLI) and
//! `models/<kind>-<suite>/` (baselines), written by `nli-wgpu export`; how
//! each was made is in `models/README.md`.

use crate::checkpoint::{Checkpoint, load_bytes};
use crate::error::{Error, Result};

/// (model kind, suite, safetensors bytes) of every shipped model.
pub const MODELS: &[(&str, &str, &[u8])] = &[
    (
        "nli",
        "shift-l",
        include_bytes!("../models/shift-l/checkpoint.safetensors"),
    ),
    (
        "nli",
        "shift-p",
        include_bytes!("../models/shift-p/checkpoint.safetensors"),
    ),
    (
        "nli",
        "comp-i",
        include_bytes!("../models/comp-i/checkpoint.safetensors"),
    ),
    (
        "in-context",
        "shift-l",
        include_bytes!("../models/in-context-shift-l/checkpoint.safetensors"),
    ),
    (
        "lpn",
        "shift-l",
        include_bytes!("../models/lpn-shift-l/checkpoint.safetensors"),
    ),
    (
        "d-lpn",
        "shift-l",
        include_bytes!("../models/d-lpn-shift-l/checkpoint.safetensors"),
    ),
    (
        "in-context",
        "shift-p",
        include_bytes!("../models/in-context-shift-p/checkpoint.safetensors"),
    ),
    (
        "in-context",
        "comp-i",
        include_bytes!("../models/in-context-comp-i/checkpoint.safetensors"),
    ),
    (
        "lpn",
        "shift-p",
        include_bytes!("../models/lpn-shift-p/checkpoint.safetensors"),
    ),
    (
        "lpn",
        "comp-i",
        include_bytes!("../models/lpn-comp-i/checkpoint.safetensors"),
    ),
    (
        "d-lpn",
        "shift-p",
        include_bytes!("../models/d-lpn-shift-p/checkpoint.safetensors"),
    ),
    (
        "d-lpn",
        "comp-i",
        include_bytes!("../models/d-lpn-comp-i/checkpoint.safetensors"),
    ),
];

/// The shipped model of `kind` (nli, in-context, lpn, d-lpn) for `suite`.
pub fn load(kind: &str, suite: &str) -> Result<Checkpoint> {
    let (_, _, bytes) = MODELS
        .iter()
        .find(|(k, s, _)| *k == kind && *s == suite)
        .ok_or_else(|| {
            let have: Vec<String> = MODELS.iter().map(|(k, s, _)| format!("{k} {s}")).collect();
            Error::Config(format!(
                "no shipped {kind} model for suite `{suite}` (shipped: {}); train one with \
                 `nli-wgpu train --model {kind} --suite {suite}` and pass --checkpoint",
                have.join(", ")
            ))
        })?;
    let ckpt = load_bytes(bytes, &format!("shipped {kind} model {suite}"))?;
    if ckpt.config.suite != suite || ckpt.config.model.kind.name() != kind {
        return Err(Error::Config(format!(
            "the shipped {kind} model for `{suite}` is a {} model of `{}`",
            ckpt.config.model.kind.name(),
            ckpt.config.suite
        )));
    }
    Ok(ckpt)
}
