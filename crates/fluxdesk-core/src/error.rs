//! The core's error type. Every variant has a machine code ([`piapi::ErrorCode`], the one list the
//! CLI and the UI branch on) and a message that says what to do next.

use std::path::PathBuf;

use piapi::ErrorCode;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A PiAPI client error (validation, HTTP, task failure, download…).
    #[error(transparent)]
    Api(#[from] piapi::Error),

    #[error("No PiAPI key is set. Add your key in Settings (or set PIAPI_API_KEY), or use demo mode.")]
    NoApiKey,

    #[error(
        "The system keychain is not available ({0}). On Linux, install and unlock a Secret Service \
         (GNOME Keyring or KWallet), or set PIAPI_API_KEY in the environment."
    )]
    KeychainUnavailable(String),

    #[error(
        "The Fluxdesk database {path} was written by a newer Fluxdesk (schema {found}, this one knows {supported}). \
         Update Fluxdesk, or move the file aside and run `fluxdesk gallery rebuild` to re-index your images."
    )]
    DatabaseTooNew { path: PathBuf, found: i64, supported: i64 },

    #[error(
        "The Fluxdesk database {path} is damaged ({message}). Your images are safe in the gallery folder: \
         run `fluxdesk gallery rebuild` (or Settings → Storage → Rebuild) to re-index them."
    )]
    DatabaseCorrupt { path: PathBuf, message: String },

    #[error(
        "Database error: {0}. Try again; if it persists, rebuild the index (`fluxdesk gallery rebuild`)."
    )]
    Sqlite(#[from] rusqlite::Error),

    #[error("The disk is full while writing {path}. Free some space and retry; nothing was lost.")]
    DiskFull { path: PathBuf },

    #[error("{context} ({path}): {source}")]
    Io { context: &'static str, path: PathBuf, source: std::io::Error },

    #[error("{what} was not found.")]
    Missing { what: String },

    #[error("{field}: {message}")]
    InvalidInput { field: String, message: String },

    #[error("The image could not be processed: {0}")]
    Image(String),

    #[error(
        "Today's budget of ${cap:.2} is reached (${spent:.2} spent). Raise the cap in Settings or wait until tomorrow."
    )]
    BudgetReached { cap: f64, spent: f64 },

    #[error("Internal error: {0}. Please report this with the log.")]
    Internal(String),
}

impl Error {
    /// Wraps an I/O error, turning "no space left on device" into [`Error::DiskFull`].
    pub fn io(context: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if is_disk_full(&source) { Error::DiskFull { path } } else { Error::Io { context, path, source } }
    }

    pub fn invalid_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput { field: field.into(), message: message.into() }
    }

    pub fn missing(what: impl Into<String>) -> Self {
        Error::Missing { what: what.into() }
    }

    /// The stable machine code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Api(e) => e.code(),
            Error::NoApiKey => ErrorCode::NoApiKey,
            Error::KeychainUnavailable(_) => ErrorCode::KeychainUnavailable,
            Error::DatabaseTooNew { .. } | Error::DatabaseCorrupt { .. } => ErrorCode::DatabaseUnusable,
            Error::Sqlite(_) => ErrorCode::Storage,
            Error::DiskFull { .. } => ErrorCode::DiskFull,
            Error::Io { .. } => ErrorCode::Io,
            Error::Missing { .. } => ErrorCode::Missing,
            Error::InvalidInput { .. } => ErrorCode::InvalidInput,
            Error::Image(_) => ErrorCode::InvalidImage,
            Error::BudgetReached { .. } => ErrorCode::BudgetReached,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// ENOSPC (28 on Linux and macOS) or ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL (112 / 39 on Windows).
pub fn is_disk_full(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::StorageFull {
        return true;
    }
    match e.raw_os_error() {
        #[cfg(unix)]
        Some(28) => true,
        #[cfg(windows)]
        Some(112) | Some(39) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_its_own_error_with_the_next_step() {
        #[cfg(unix)]
        let full = std::io::Error::from_raw_os_error(28);
        #[cfg(windows)]
        let full = std::io::Error::from_raw_os_error(112);
        let e = Error::io("writing the image", "/gallery/a.png", full);
        assert_eq!(e.code(), ErrorCode::DiskFull);
        assert!(e.to_string().contains("Free some space"), "{e}");

        let other =
            Error::io("writing the image", "/gallery/a.png", std::io::ErrorKind::PermissionDenied.into());
        assert_eq!(other.code(), ErrorCode::Io);
        assert!(other.to_string().contains("writing the image"), "{other}");
    }
}
