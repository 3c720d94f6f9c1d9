//! Errors a user can cause, each with a message that says what to do.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// No usable GPU adapter (the message says how to install lavapipe).
    #[error("{0}")]
    NoAdapter(String),
    /// A bad flag or configuration value.
    #[error("configuration: {0}")]
    Config(String),
    /// A work size beyond what the adapter allows.
    #[error("exceeds the adapter's limits: {0}")]
    Limits(String),
    /// Training had to stop (a NaN loss); the message says what was kept.
    #[error("training stopped: {0}")]
    Training(String),
    #[error("I/O error on {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;
