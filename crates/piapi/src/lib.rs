//! Typed, tolerant client for PiAPI's unified task API, as used for Flux.
//!
//! The contract this crate implements is `shared/reference/piapi-api.md`: upload local input
//! images (`POST` to the ephemeral upload endpoint), create a task of any Flux task type with
//! `POST /api/v1/task`, poll `GET /api/v1/task/{id}` until it ends, download the image. PiAPI's
//! responses vary (status spellings, envelope `code` 200 or 0, `output` null or `{}`, `image_url`
//! and/or `image_urls`), so parsing normalises every documented variant into [`Task`].
//!
//! Nothing here knows about storage, the desktop shell or the CLI.

mod client;
mod download;
mod error;
mod model;
mod parse;
mod poll;
mod request;
mod upload;

pub use client::{AccountInfo, Client, ClientConfig, DEFAULT_BASE_URL};
pub use download::{DecodedImage, DownloadOptions, DownloadedImage, FetchedImage};
pub use error::{Error, ErrorCode, Result};
pub use model::{ControlType, LORA_TYPES, Model, TaskType};
pub use parse::{parse_account_info, parse_task_response};
pub use poll::{LEAD_FRACTION, MIN_RAMP_DELAY, PollEvent, PollPolicy, RAMP_FRACTION};
pub use request::{
    ControlNetSetting, FluxInput, LoraSetting, MAX_PIXELS, MAX_SIDE, MIN_SIDE, Outpaint, Size, TaskRequest,
};
pub use upload::{DEFAULT_UPLOAD_URL, MAX_UPLOAD_BYTES};

/// A task as Fluxdesk understands it, normalised from any documented response variant.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub task_id: String,
    pub model: Option<String>,
    pub task_type: Option<String>,
    /// Normalised status; `raw_status` keeps what the server sent.
    pub status: TaskStatus,
    pub raw_status: String,
    /// `output.image_url` first, then `output.image_urls[]`, deduplicated, order kept.
    pub image_urls: Vec<String>,
    /// `error.message`, else `error.raw_message`, when non-empty.
    pub error_message: Option<String>,
    /// `meta.usage.consume` (PiAPI credit units; 1 unit is believed to be 1e-7 USD).
    pub consume: Option<u64>,
    /// RFC 3339 timestamps; `None` for a missing value or Go's zero time.
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The normalised lifecycle of a PiAPI task.
///
/// Status text is trimmed and lowercased; `completed`/`success`/`succeeded` are done,
/// `failed` is failed, `cancelled`/`canceled` is cancelled, `pending`/`staged`/`starting`/empty
/// is pending, and everything else (including unknown words) is still processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum TaskStatus {
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
}

impl TaskStatus {
    /// Normalise a status string from PiAPI.
    pub fn from_wire(raw: &str) -> Self {
        match raw.trim().to_ascii_lowercase().as_str() {
            "completed" | "complete" | "success" | "succeeded" => Self::Completed,
            "failed" | "failure" | "error" => Self::Failed,
            "cancelled" | "canceled" => Self::Cancelled,
            "pending" | "staged" | "starting" | "queued" | "" => Self::Pending,
            _ => Self::Processing,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}
