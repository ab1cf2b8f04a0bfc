//! The gallery: listing, details, rating, favourites, deleting (to the OS trash) and revealing a
//! file in the system file manager.
//!
//! Contract: image paths in [`ImageView`] are absolute and inside the folders the asset protocol
//! was allowed to read at startup (or after a settings change). `reveal_image` is done on the
//! Rust side, so the webview needs no opener permission for local paths.

use std::path::PathBuf;

use fluxdesk_core::ErrorCode;
use fluxdesk_core::gallery::GalleryQuery;
use fluxdesk_core::studio::ImagePageView;
use fluxdesk_core::views::ImageView;
use tauri::State;

use crate::error::IpcError;
use crate::state::{AppState, blocking};

#[tauri::command]
#[specta::specta]
pub async fn list_images(state: State<'_, AppState>, query: GalleryQuery) -> Result<ImagePageView, IpcError> {
    blocking(state.studio()?, move |s| s.list_images(&query)).await
}

#[tauri::command]
#[specta::specta]
pub async fn get_image(state: State<'_, AppState>, id: i64) -> Result<ImageView, IpcError> {
    blocking(state.studio()?, move |s| s.get_image(id)).await
}

/// Sets the 0–5 star rating of every image in `ids`.
#[tauri::command]
#[specta::specta]
pub async fn set_rating(state: State<'_, AppState>, ids: Vec<i64>, rating: u8) -> Result<(), IpcError> {
    blocking(state.studio()?, move |s| s.set_rating(&ids, rating)).await
}

#[tauri::command]
#[specta::specta]
pub async fn set_favourite(
    state: State<'_, AppState>,
    ids: Vec<i64>,
    favourite: bool,
) -> Result<(), IpcError> {
    blocking(state.studio()?, move |s| s.set_favourite(&ids, favourite)).await
}

/// Moves the files to the OS trash and removes them from the index.
#[tauri::command]
#[specta::specta]
pub async fn delete_images(state: State<'_, AppState>, ids: Vec<i64>) -> Result<(), IpcError> {
    Ok(state.studio()?.delete_images(&ids).await?)
}

/// Opens the system file manager with the image's file selected.
#[tauri::command]
#[specta::specta]
pub async fn reveal_image(state: State<'_, AppState>, id: i64) -> Result<(), IpcError> {
    let image = blocking(state.studio()?, move |s| s.get_image(id)).await?;
    let path = PathBuf::from(image.path);
    // Blocking: a D-Bus round trip on Linux, a shell call elsewhere.
    let shown = path.clone();
    tokio::task::spawn_blocking(move || tauri_plugin_opener::reveal_item_in_dir(&shown))
        .await?
        .map_err(|e| reveal_error(&path, e))
}

fn reveal_error(path: &std::path::Path, e: tauri_plugin_opener::Error) -> IpcError {
    match e {
        tauri_plugin_opener::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => IpcError::new(
            ErrorCode::Missing,
            format!(
                "The image file {} is no longer on disk. Refresh the gallery; if it was moved by hand, \
                 the next start re-indexes the folder.",
                path.display()
            ),
        ),
        other => IpcError::new(
            ErrorCode::Io,
            format!("The file manager could not be opened ({other}). The image is at {}.", path.display()),
        ),
    }
}
