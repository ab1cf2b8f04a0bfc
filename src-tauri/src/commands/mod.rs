//! The IPC commands, grouped by domain. Each is a thin adapter: it unpacks the managed
//! [`AppState`](crate::state::AppState) (and a Channel or the app handle when it needs one), calls
//! one [`Studio`](fluxdesk_core::studio::Studio) method and maps the error to
//! [`IpcError`](crate::error::IpcError).
//!
//! Contract: every command is `async` (none runs on the UI thread); synchronous SQLite calls go
//! through [`blocking`](crate::state::blocking). All of them are registered in the one list in
//! `lib.rs` ([`crate::specta_builder`]), which is also what `bindings.ts` is generated from.

pub mod account;
pub mod app;
pub mod clipboard;
pub mod drag;
pub mod edit;
pub mod export;
pub mod gallery;
pub mod generate;
pub mod jobs;
pub mod key;
pub mod queue;
pub mod settings;
