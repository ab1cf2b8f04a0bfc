//! Editing images with the other Flux task types: the task catalog (which task types, models,
//! LoRAs and ControlNet types exist, and their prices), source images (from the gallery, a file,
//! a drop or the clipboard) and "Edit" from the gallery.
//!
//! Contract: `source_info` validates a source and lets the asset protocol read that one file, so
//! the UI can preview a picked file from anywhere; pasted bytes are staged by core under the data
//! folder (`stage_source`), which the asset protocol may read too. The key never passes here.

use base64::Engine as _;
use fluxdesk_core::ErrorCode;
use fluxdesk_core::studio::Studio;
use fluxdesk_core::views::{GenerateRequest, SourceImage, SourceInfo, TaskCatalog};
use piapi::TaskType;
use tauri::State;

use crate::error::IpcError;
use crate::state::{AppState, blocking};

/// Largest pasted image accepted, as base64 text (about 48 MiB of image).
const MAX_PASTE_BASE64: usize = 64 * 1024 * 1024;

/// Every task type with its models, limits and prices; the documented LoRAs and ControlNet types.
#[tauri::command]
#[specta::specta]
pub fn task_catalog() -> TaskCatalog {
    Studio::task_catalog()
}

/// Size and dimensions of a source image (a gallery id or a file path); the file becomes readable
/// by the webview for the preview.
#[tauri::command]
#[specta::specta]
pub async fn source_info(state: State<'_, AppState>, source: SourceImage) -> Result<SourceInfo, IpcError> {
    let info = blocking(state.studio().await?, move |s| s.source_info(&source)).await?;
    if let Err(e) = state.asset_scope().allow_file(&info.path) {
        tracing::warn!("could not let the webview read a source image: {e}");
    }
    Ok(info)
}

/// Stages a pasted (or otherwise in-memory) image, sent as base64, as a source image file.
#[tauri::command]
#[specta::specta]
pub async fn stage_source(state: State<'_, AppState>, png_base64: String) -> Result<SourceImage, IpcError> {
    if png_base64.len() > MAX_PASTE_BASE64 {
        return Err(IpcError::new(
            ErrorCode::InvalidInput,
            "That image is too large to paste; save it to a file and pick the file instead.",
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(png_base64.trim()).map_err(|_| {
        IpcError::new(
            ErrorCode::InvalidInput,
            "The pasted data is not an image; copy an image and paste again.",
        )
    })?;
    Ok(state.studio().await?.stage_source(bytes).await?)
}

/// "Edit": the request that opens gallery image `id` as the source of `task_type`.
#[tauri::command]
#[specta::specta]
pub async fn edit_settings(
    state: State<'_, AppState>,
    id: i64,
    task_type: TaskType,
) -> Result<GenerateRequest, IpcError> {
    blocking(state.studio().await?, move |s| s.edit_settings(id, task_type)).await
}
