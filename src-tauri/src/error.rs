//! The one error every command returns: `{ code, message }`.
//!
//! Why: the UI branches only on `code` (one of [`ErrorCode`], the list the core, the CLI and the
//! UI share) and shows `message`, a full sentence saying what to do next. Core errors keep their
//! own code and text; the few failures the shell itself can hit (a Tauri or opener error, a
//! panicked background task) are mapped here to the nearest code.
//!
//! Contract: an `IpcError` never carries the API key (core messages never include it, and the
//! shell never formats one).

use std::fmt;

use fluxdesk_core::ErrorCode;
use serde::Serialize;

/// The error of every Fluxdesk command, as the UI receives it.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct IpcError {
    /// The machine code the UI branches on.
    pub code: ErrorCode,
    /// A full sentence for the user, saying what to do next.
    pub message: String,
}

impl IpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        IpcError { code, message: message.into() }
    }

    /// A failure inside the shell that the user cannot fix by themselves.
    pub fn internal(what: impl fmt::Display) -> Self {
        IpcError::new(
            ErrorCode::Internal,
            format!("Internal error: {what}. Please restart Fluxdesk and report this with the log."),
        )
    }
}

impl fmt::Display for IpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for IpcError {}

impl From<fluxdesk_core::Error> for IpcError {
    fn from(e: fluxdesk_core::Error) -> Self {
        IpcError { code: e.code(), message: e.to_string() }
    }
}

impl From<tokio::task::JoinError> for IpcError {
    fn from(e: tokio::task::JoinError) -> Self {
        IpcError::internal(format_args!("a background task failed ({e})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_code_and_message() {
        let e: IpcError = fluxdesk_core::Error::NoApiKey.into();
        let json = serde_json::to_value(&e).expect("serialise");
        assert_eq!(json["code"], "NoApiKey");
        assert!(json["message"].as_str().expect("message").contains("Settings"));
        assert_eq!(json.as_object().expect("object").len(), 2);
    }
}
