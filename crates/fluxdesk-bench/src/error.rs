//! The bench's error type: one enum with a stable machine code per kind, so a failed section is
//! recorded in the results (and in BENCHMARKS.md) with a code instead of killing the whole run.

use std::path::Path;

/// Why a benchmark section (or the run) failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The loopback simulator could not bind or start.
    #[error("the PiAPI simulator could not start: {0}")]
    SimStart(std::io::Error),
    /// The PiAPI client failed where the bench expected success.
    #[error("PiAPI client: {0}")]
    Api(#[from] piapi::Error),
    /// Fluxdesk's core failed (gallery, ledger, thumbnails, files).
    #[error("Fluxdesk core: {0}")]
    Core(#[from] fluxdesk_core::Error),
    /// Reading or writing a bench file or folder failed.
    #[error("{context} ({path}): {source}")]
    Io { context: &'static str, path: String, source: std::io::Error },
    /// Decoding, resizing or encoding an image in the bench itself failed.
    #[error("image work in the bench failed: {0}")]
    Image(String),
    /// An external tool (ImageMagick, a child process of the bench) failed or is missing.
    #[error("{tool}: {message}")]
    Tool { tool: String, message: String },
    /// The measurement ran but its outcome is unusable (e.g. a job did not save).
    #[error("the measurement is not valid: {0}")]
    InvalidRun(String),
    /// The results file could not be read or written as JSON.
    #[error("results JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl BenchError {
    /// A stable machine code for the results file and the report.
    pub fn code(&self) -> &'static str {
        match self {
            BenchError::SimStart(_) => "SimStart",
            BenchError::Api(_) => "Api",
            BenchError::Core(_) => "Core",
            BenchError::Io { .. } => "Io",
            BenchError::Image(_) => "Image",
            BenchError::Tool { .. } => "Tool",
            BenchError::InvalidRun(_) => "InvalidRun",
            BenchError::Json(_) => "Json",
        }
    }

    /// An [`BenchError::Io`] naming what was being done and where.
    pub fn io(context: &'static str, path: impl AsRef<Path>, source: std::io::Error) -> Self {
        BenchError::Io { context, path: path.as_ref().display().to_string(), source }
    }

    pub fn tool(tool: impl Into<String>, message: impl Into<String>) -> Self {
        BenchError::Tool { tool: tool.into(), message: message.into() }
    }
}

pub type Result<T> = std::result::Result<T, BenchError>;
