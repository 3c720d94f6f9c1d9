//! Checkpoints: the model's parameters (and the optimiser's moments) in a
//! safetensors file whose metadata carries the run's configuration and step,
//! plus the same configuration as `config.json` beside it. Every file is
//! written to a temporary name and renamed, so a crash never leaves a
//! half-written checkpoint.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::model::RunConfig;

/// File names inside a run directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const METRICS_FILE: &str = "metrics.jsonl";

/// Prefixes of the optimiser's moments in the tensor names.
pub const ADAM_M: &str = "adam.m.";
pub const ADAM_V: &str = "adam.v.";

pub struct Checkpoint {
    pub config: RunConfig,
    /// Optimiser steps taken.
    pub step: usize,
    /// (name, shape, data), parameters and optimiser moments.
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl Checkpoint {
    pub fn get(&self, name: &str) -> Option<(&[usize], &[f32])> {
        self.tensors
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, s, d)| (s.as_slice(), d.as_slice()))
    }
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Write `bytes` to `path` through a temporary file in the same directory
/// and a rename (atomic on POSIX file systems).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    {
        let mut f = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

pub fn checkpoint_path(run_dir: &Path) -> PathBuf {
    run_dir.join(CHECKPOINT_FILE)
}

/// Save into `run_dir` (checkpoint and config.json).
pub fn save(run_dir: &Path, ckpt: &Checkpoint) -> Result<()> {
    let config_json = serde_json::to_string_pretty(&ckpt.config).expect("config serialises");
    let mut meta = HashMap::new();
    meta.insert("config".to_string(), config_json.clone());
    meta.insert("step".to_string(), ckpt.step.to_string());
    meta.insert("format".to_string(), "nli-wgpu checkpoint v1".to_string());
    let views: Vec<(String, TensorView)> = ckpt
        .tensors
        .iter()
        .map(|(name, shape, data)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), bytemuck::cast_slice(data))
                .expect("tensor data matches its shape");
            (name.clone(), view)
        })
        .collect();
    let bytes = safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::Config(format!("serialising checkpoint: {e}")))?;
    write_atomic(&checkpoint_path(run_dir), &bytes)?;
    write_atomic(&run_dir.join(CONFIG_FILE), config_json.as_bytes())
}

/// Load a checkpoint file, or the checkpoint inside a run directory.
pub fn load(path: &Path) -> Result<Checkpoint> {
    let file = if path.is_dir() {
        checkpoint_path(path)
    } else {
        path.to_path_buf()
    };
    let bytes = std::fs::read(&file).map_err(|e| io_err(&file, e))?;
    load_bytes(&bytes, &file.display().to_string())
}

/// Read a checkpoint from the bytes of a safetensors file; `origin` names it
/// in errors.
pub fn load_bytes(bytes: &[u8], origin: &str) -> Result<Checkpoint> {
    let bad =
        |what: String| Error::Config(format!("{origin}: not an nli-wgpu checkpoint ({what})"));
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let meta = header
        .metadata()
        .clone()
        .ok_or_else(|| bad("no metadata".into()))?;
    let config: RunConfig =
        serde_json::from_str(meta.get("config").ok_or_else(|| bad("no config".into()))?)
            .map_err(|e| bad(format!("config: {e}")))?;
    let step = meta
        .get("step")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no step".into()))?;
    let mut tensors = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "tensor {name} is {:?}, expected F32",
                view.dtype()
            )));
        }
        let data: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
        // A model with a NaN or infinite weight predicts garbage without any
        // error: refuse it here, naming the tensor.
        if let Some((i, x)) = data.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(Error::Config(format!(
                "{origin}: tensor {name} holds {x} at element {i} of {}; \
                 the checkpoint is damaged (use an earlier one, e.g. the run's best/)",
                data.len()
            )));
        }
        tensors.push((name, view.shape().to_vec(), data));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Checkpoint {
        config,
        step,
        tensors,
    })
}
