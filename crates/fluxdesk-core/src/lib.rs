//! Fluxdesk's core: everything the desktop app and the CLI share, with no Tauri dependency.
//!
//! - [`paths`], [`settings`], [`secrets`]: where things live, what the user chose, where the key is.
//! - [`db`], [`ledger`]: one SQLite file; the crash-safe task ledger that makes "never lose an image,
//!   never pay twice" true.
//! - [`gallery`], [`metadata`], [`thumbs`], [`files`]: the image folder, its index, PNG metadata,
//!   thumbnails.
//! - [`runner`], [`studio`]: the job runner (upload → create → poll → download → save) and the
//!   facade the shell and the CLI call; [`inputs`], [`studio_tasks`]: input images of image tasks.

pub mod db;
pub mod durations;
pub mod error;
pub mod export;
pub mod files;
pub mod gallery;
pub mod gallery_ops;
pub mod import;
pub mod inputs;
pub mod ledger;
pub mod metadata;
pub mod paths;
pub mod queue;
pub mod runner;
pub mod secrets;
pub mod settings;
pub mod studio;
pub mod studio_tasks;
pub mod thumbs;
pub mod views;

pub use error::{Error, Result};
pub use piapi::ErrorCode;
