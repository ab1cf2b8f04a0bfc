//! The one error type of the PiAPI client, with a machine code the UI can branch on.
//!
//! Every variant renders (via `Display`) as a sentence that says what happened and what to do
//! next. [`ErrorCode`] is the stable, serialisable code shared by the CLI, the core and the
//! desktop app (codes that only higher layers produce live here too, so there is one list).

use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Stable machine codes. Serialised as the variant name (e.g. `"RateLimited"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ErrorCode {
    /// A request field is invalid; nothing was sent.
    InvalidInput,
    /// PiAPI rejected the API key (401/403).
    Unauthorized,
    /// The account has no credits left (402 or an "insufficient" message).
    InsufficientCredits,
    /// Too many requests or too many concurrent tasks (429).
    RateLimited,
    /// PiAPI ran the task and it failed; the message is PiAPI's.
    TaskFailed,
    /// The task was cancelled (by the user or on PiAPI).
    Cancelled,
    /// Polling gave up before the task ended; the task may still finish on PiAPI.
    Timeout,
    /// A create request may or may not have reached PiAPI; it was not resent.
    CreateUnknown,
    /// The network failed (DNS, connection refused, reset, timeout).
    Network,
    /// PiAPI answered with a 5xx error.
    ServerError,
    /// PiAPI answered with something we cannot understand; the raw body is kept.
    Protocol,
    /// The task id is not known to PiAPI (404).
    NotFound,
    /// The image could not be downloaded intact.
    DownloadFailed,
    /// An input image could not be uploaded to PiAPI; nothing was created or charged.
    UploadFailed,
    /// The downloaded bytes are not a decodable image.
    InvalidImage,
    /// The configuration is unusable (e.g. a plain-http base URL that is not loopback).
    Config,
    /// No API key is configured (neither `PIAPI_API_KEY` nor the keychain).
    NoApiKey,
    /// The OS keychain (Keychain, Credential Manager, Secret Service) is not available.
    KeychainUnavailable,
    /// The local database or gallery failed.
    Storage,
    /// The database is corrupt or from a newer Fluxdesk; rebuild it from the gallery files.
    DatabaseUnusable,
    /// The disk is full.
    DiskFull,
    /// A file operation failed.
    Io,
    /// The requested item does not exist locally.
    Missing,
    /// The daily budget cap was reached.
    BudgetReached,
    /// An unexpected internal failure.
    Internal,
}

/// Errors from the PiAPI client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    InvalidInput { field: String, message: String },

    #[error(
        "PiAPI rejected the API key{}. Check the key in Settings (or PIAPI_API_KEY) and try again.",
        detail_suffix(.message)
    )]
    Unauthorized { message: String },

    #[error(
        "Your PiAPI account has run out of credits{}. Top up at piapi.ai, then retry.",
        detail_suffix(.message)
    )]
    InsufficientCredits { message: String },

    #[error("PiAPI is rate limiting requests{}; Fluxdesk will retry{}.", detail_suffix(.message), retry_suffix(.retry_after))]
    RateLimited { retry_after: Option<Duration>, message: String },

    #[error("The task failed on PiAPI: {message}. Adjust the prompt or settings and retry.")]
    TaskFailed { task_id: String, message: String },

    #[error("The task was cancelled.")]
    Cancelled { task_id: Option<String> },

    #[error(
        "Task {task_id} was still running after {attempts} checks. It may still finish: run `fluxdesk resume` (or reopen Fluxdesk) to pick it up."
    )]
    Timeout { task_id: String, attempts: u32 },

    #[error(
        "It is unknown whether PiAPI created the task ({message}). It was not resent, so you are not charged twice; check Activity and retry only if it never appears."
    )]
    CreateUnknown { message: String },

    #[error("Could not reach PiAPI: {message}. Check your connection; Fluxdesk retries safe requests.")]
    Network { message: String },

    #[error("PiAPI had a server error (HTTP {status}){}. Try again in a minute.", detail_suffix(.message))]
    ServerError { status: u16, message: String },

    #[error(
        "PiAPI sent a response Fluxdesk does not understand ({message}). Try again; if it persists, report it with the log."
    )]
    Protocol { message: String, body: String },

    #[error("PiAPI does not know task {task_id}. It may have expired; start a new task.")]
    NotFound { task_id: String },

    #[error("The image could not be downloaded ({message}). Retry; PiAPI keeps results for about 3 days.")]
    DownloadFailed { url: String, message: String },

    #[error(
        "The input image could not be uploaded to PiAPI ({message}). Nothing was created or charged; check your connection and retry, or try a smaller image."
    )]
    UploadFailed { message: String },

    #[error("The downloaded file is not a valid image ({message}). Retry the download.")]
    InvalidImage { message: String },

    #[error("{message}")]
    Config { message: String },
}

fn detail_suffix(message: &str) -> String {
    if message.trim().is_empty() { String::new() } else { format!(" ({})", message.trim()) }
}

fn retry_suffix(d: &Option<Duration>) -> String {
    match d {
        Some(d) => format!(" in {} s", d.as_secs().max(1)),
        None => " shortly".to_owned(),
    }
}

impl Error {
    pub fn invalid_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput { field: field.into(), message: message.into() }
    }

    /// The stable machine code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidInput { .. } => ErrorCode::InvalidInput,
            Error::Unauthorized { .. } => ErrorCode::Unauthorized,
            Error::InsufficientCredits { .. } => ErrorCode::InsufficientCredits,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::TaskFailed { .. } => ErrorCode::TaskFailed,
            Error::Cancelled { .. } => ErrorCode::Cancelled,
            Error::Timeout { .. } => ErrorCode::Timeout,
            Error::CreateUnknown { .. } => ErrorCode::CreateUnknown,
            Error::Network { .. } => ErrorCode::Network,
            Error::ServerError { .. } => ErrorCode::ServerError,
            Error::Protocol { .. } => ErrorCode::Protocol,
            Error::NotFound { .. } => ErrorCode::NotFound,
            Error::DownloadFailed { .. } => ErrorCode::DownloadFailed,
            Error::UploadFailed { .. } => ErrorCode::UploadFailed,
            Error::InvalidImage { .. } => ErrorCode::InvalidImage,
            Error::Config { .. } => ErrorCode::Config,
        }
    }

    /// Whether retrying the same *read* request (poll, download, account) may succeed.
    /// Create requests have their own, stricter rule (see `Client::create_task`).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. }
                | Error::Network { .. }
                | Error::ServerError { .. }
                | Error::Protocol { .. }
                | Error::DownloadFailed { .. }
                | Error::InvalidImage { .. }
        )
    }
}
