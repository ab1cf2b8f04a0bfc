//! Exporting gallery images to a folder the user picked (PNG, JPEG or WebP, with the prompt and
//! parameters in the file's metadata), and showing the result in the file manager.
//!
//! The destination folder is chosen in the UI with the dialog plugin's folder picker
//! (`dialog:allow-open`); the shell only receives its path.
//!
//! Contract: `reveal_export` reveals only files (or destination folders) that `export_images`
//! wrote during this run, so the page cannot use it to open arbitrary paths.

use std::path::{Path, PathBuf};

use fluxdesk_core::ErrorCode;
use fluxdesk_core::export::{ExportReport, ExportRequest};
use tauri::State;

use crate::error::IpcError;
use crate::state::AppState;

/// Writes the images into `request.destDir` as PNG, JPEG or WebP (never overwriting), with the
/// prompt and parameters in the files' metadata.
#[tauri::command]
#[specta::specta]
pub async fn export_images(
    state: State<'_, AppState>,
    request: ExportRequest,
) -> Result<ExportReport, IpcError> {
    let dest = PathBuf::from(&request.dest_dir);
    let report = state.studio().await?.export_images(request).await?;
    state.remember_export(&dest, &report.written);
    Ok(report)
}

/// Opens the file manager at a file `export_images` wrote (or at its destination folder).
#[tauri::command]
#[specta::specta]
pub async fn reveal_export(state: State<'_, AppState>, path: String) -> Result<(), IpcError> {
    let path = PathBuf::from(path);
    if !state.was_exported(&path) {
        return Err(IpcError::new(
            ErrorCode::InvalidInput,
            format!(
                "{} was not exported by Fluxdesk in this session, so it is not revealed.",
                path.display()
            ),
        ));
    }
    tokio::task::spawn_blocking(move || reveal(&path)).await?
}

fn reveal(path: &Path) -> Result<(), IpcError> {
    let shown = if path.is_dir() {
        tauri_plugin_opener::open_path(path, None::<&str>)
    } else {
        tauri_plugin_opener::reveal_item_in_dir(path)
    };
    shown.map_err(|e| match e {
        tauri_plugin_opener::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => IpcError::new(
            ErrorCode::Missing,
            format!("{} is no longer there; it may have been moved or deleted.", path.display()),
        ),
        other => IpcError::new(
            ErrorCode::Io,
            format!("The file manager could not be opened ({other}). The export is at {}.", path.display()),
        ),
    })
}
