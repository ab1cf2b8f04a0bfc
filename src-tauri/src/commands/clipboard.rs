//! Copying an image to the system clipboard, as an image (not a path), so it pastes into a chat,
//! a document or an image editor.
//!
//! Why on the Rust side: the webview would have to fetch the file and hold clipboard permissions;
//! here the core reads the PNG bytes ([`Studio::read_image_bytes`]), Tauri decodes them (feature
//! `image-png`) and tauri-plugin-clipboard-manager's Rust API writes them. The webview needs no
//! clipboard capability at all.
//!
//! Contract: decoding and the clipboard write run on the blocking pool. On X11 the app owns the
//! clipboard data: it stays pasteable while Fluxdesk runs (or a clipboard manager keeps it).
//!
//! [`Studio::read_image_bytes`]: fluxdesk_core::studio::Studio::read_image_bytes

use fluxdesk_core::ErrorCode;
use tauri::image::Image;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_clipboard_manager::ClipboardExt;

use crate::error::IpcError;
use crate::state::AppState;

/// Puts the image (decoded to RGBA) on the clipboard.
#[tauri::command]
#[specta::specta]
pub async fn copy_image<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: i64,
) -> Result<(), IpcError> {
    let bytes = state.studio().await?.read_image_bytes(id).await?;
    tokio::task::spawn_blocking(move || {
        let image = Image::from_bytes(&bytes).map_err(|e| {
            IpcError::new(
                ErrorCode::InvalidImage,
                format!(
                    "The image file could not be decoded for the clipboard ({e}). Try exporting it instead."
                ),
            )
        })?;
        app.clipboard().write_image(&image).map_err(|e| {
            IpcError::new(
                ErrorCode::Io,
                format!("The clipboard could not be written ({e}). Drag the image out or export it instead."),
            )
        })
    })
    .await?
}
