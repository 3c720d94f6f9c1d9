//! Task files: JSON Lines, one task per line.
//!
//! ```text
//! {"program": "shl_3", "spec": [{"x": [...], "y": [...]}, ...], "query": {"x": [...], "y": [...]}}
//! ```
//!
//! Rules the reader enforces (each error names the 1-based line number, and
//! spec pairs are numbered from 1):
//! - blank (or whitespace-only) lines are skipped, but still counted;
//! - each other line is one JSON object with the fields `program`
//!   (optional string or null), `spec` (required) and `query` (required);
//!   any other field is an error, so a misspelt field is not silently lost;
//! - `spec` holds 1 to [`MAX_SPEC_PAIRS`] pairs `{"x": [...], "y": [...]}`,
//!   both required;
//! - `query` is `{"x": [...]}` or `{"x": [...], "y": [...]}` (`y` optional,
//!   for tasks whose answer is to be predicted);
//! - every `x` and `y` has exactly N elements, each an integer in `0..V`;
//! - the file has at least one task.
//!
//! The number of spec pairs need not equal `cfg.m`: a model that cannot
//! take a different count must check that itself. `program` is a free label
//! and is not checked against the pairs.
//!
//! The reader checks values itself from a parsed `serde_json::Value` rather
//! than deserializing into typed structs, so its messages say which pair,
//! which array and which element is wrong.

use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::tasks::task::{Pair, Query, Task};
use crate::tasks::{ConfigError, MAX_SPEC_PAIRS, SuiteConfig};

/// Why a task file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TaskFileError {
    #[error("cannot open task file {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("line {line}: cannot read: {source}")]
    Read { line: usize, source: io::Error },
    #[error("line {line}: invalid JSON: {message}")]
    Json { line: usize, message: String },
    #[error("line {line}: {problem}")]
    Invalid { line: usize, problem: String },
    #[error("the task file holds no tasks (it is empty or has only blank lines)")]
    NoTasks,
    #[error("cannot check task files against this configuration: {0}")]
    Config(#[from] ConfigError),
}

impl TaskFileError {
    /// The 1-based line the error is on, when it is about one line.
    pub fn line(&self) -> Option<usize> {
        match self {
            TaskFileError::Read { line, .. }
            | TaskFileError::Json { line, .. }
            | TaskFileError::Invalid { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// Reads and validates the task file at `path` for sequences of length
/// `cfg.n` over `cfg.v` values.
pub fn read_task_file(
    path: impl AsRef<Path>,
    cfg: &SuiteConfig,
) -> Result<Vec<Task>, TaskFileError> {
    let path = path.as_ref();
    let file = fs::File::open(path).map_err(|source| TaskFileError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    read_tasks(BufReader::new(file), cfg)
}

/// Reads and validates tasks in the task-file format from `reader`.
pub fn read_tasks(reader: impl BufRead, cfg: &SuiteConfig) -> Result<Vec<Task>, TaskFileError> {
    cfg.validate()?;
    let mut tasks = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line_number = index + 1;
        let text = line.map_err(|source| TaskFileError::Read {
            line: line_number,
            source,
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&text).map_err(|error| TaskFileError::Json {
            line: line_number,
            message: json_message(&error),
        })?;
        let task = parse_task(&value, cfg).map_err(|problem| TaskFileError::Invalid {
            line: line_number,
            problem,
        })?;
        tasks.push(task);
    }
    if tasks.is_empty() {
        return Err(TaskFileError::NoTasks);
    }
    Ok(tasks)
}

/// Writes `tasks` in the task-file format, one line each.
pub fn write_tasks(mut writer: impl Write, tasks: &[Task]) -> io::Result<()> {
    for task in tasks {
        serde_json::to_writer(&mut writer, task)?;
        writer.write_all(b"\n")?;
    }
    writer.flush()
}

/// Writes `tasks` to `path` atomically: into a temporary file in the same
/// directory, synced, then renamed over `path`, so a crash or error never
/// leaves a half-written task file behind.
pub fn write_task_file(path: impl AsRef<Path>, tasks: &[Task]) -> io::Result<()> {
    let path = path.as_ref();
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a file path", path.display()),
        )
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".tmp-{}", std::process::id()));
    let temp_path = path.with_file_name(temp_name);

    let result = (|| {
        let mut file = io::BufWriter::new(fs::File::create(&temp_path)?);
        write_tasks(&mut file, tasks)?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fs::rename(&temp_path, path)
    })();
    if result.is_err() {
        // Best effort: the original error is the one worth reporting.
        let _ = fs::remove_file(&temp_path);
    }
    result
}

/// serde_json's message without its " at line L column C" suffix: the line
/// is always 1 within our single-line parse, and we report the file's line
/// ourselves, so only the column is kept.
fn json_message(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match full.strip_suffix(&suffix) {
        Some(message) => format!("{message} (column {})", error.column()),
        None => full,
    }
}

const TASK_FIELDS: [&str; 3] = ["program", "spec", "query"];

fn parse_task(value: &Value, cfg: &SuiteConfig) -> Result<Task, String> {
    let object = value
        .as_object()
        .ok_or("expected a JSON object with fields program (optional), spec, query")?;
    reject_unknown_fields(object, &TASK_FIELDS, "task")?;

    let program = match object.get("program") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(_) => return Err("\"program\" must be a string".to_string()),
    };

    let spec_value = object.get("spec").ok_or("missing \"spec\"")?;
    let spec_items = spec_value
        .as_array()
        .ok_or("\"spec\" must be an array of {\"x\": [...], \"y\": [...]} pairs")?;
    if spec_items.is_empty() {
        return Err("\"spec\" has no pairs; at least 1 is required".to_string());
    }
    if spec_items.len() > MAX_SPEC_PAIRS {
        return Err(format!(
            "\"spec\" has {} pairs; at most {MAX_SPEC_PAIRS} are allowed",
            spec_items.len()
        ));
    }
    let spec = spec_items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let context = format!("spec pair {}", index + 1);
            let object = item.as_object().ok_or_else(|| {
                format!("{context}: expected an object {{\"x\": [...], \"y\": [...]}}")
            })?;
            reject_unknown_fields(object, &["x", "y"], &context)?;
            let x = sequence(object, "x", &context, cfg)?
                .ok_or_else(|| format!("{context}: missing x"))?;
            let y = sequence(object, "y", &context, cfg)?
                .ok_or_else(|| format!("{context}: missing y"))?;
            Ok(Pair { x, y })
        })
        .collect::<Result<Vec<_>, String>>()?;

    let query_value = object.get("query").ok_or("missing \"query\"")?;
    let query_object = query_value
        .as_object()
        .ok_or("\"query\" must be an object {\"x\": [...]} or {\"x\": [...], \"y\": [...]}")?;
    reject_unknown_fields(query_object, &["x", "y"], "query")?;
    let query_x = sequence(query_object, "x", "query", cfg)?.ok_or("query: missing x")?;
    let query_y = sequence(query_object, "y", "query", cfg)?;

    Ok(Task {
        program,
        spec,
        query: Query {
            x: query_x,
            y: query_y,
        },
    })
}

fn reject_unknown_fields(
    object: &Map<String, Value>,
    allowed: &[&str],
    context: &str,
) -> Result<(), String> {
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(format!(
            "{context}: unknown field {key:?} (allowed: {})",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

/// The sequence in field `field` of `object`, or `None` when the field is
/// absent (or null); checked for length N and values in `0..V`.
fn sequence(
    object: &Map<String, Value>,
    field: &str,
    context: &str,
    cfg: &SuiteConfig,
) -> Result<Option<Vec<u32>>, String> {
    let items = match object.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(format!("{context}: {field} must be an array of integers")),
    };
    if items.len() != cfg.n {
        return Err(format!(
            "{context}: {field} has length {}, expected {}",
            items.len(),
            cfg.n
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(position, item)| {
            let out_of_range = || {
                format!(
                    "{context}: {field}[{position}] is {item}, expected an integer in 0..={} \
                     (positions count from 0)",
                    cfg.v - 1
                )
            };
            let value = item.as_u64().ok_or_else(out_of_range)?;
            if value >= cfg.v as u64 {
                return Err(out_of_range());
            }
            Ok(value as u32)
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Some)
}
