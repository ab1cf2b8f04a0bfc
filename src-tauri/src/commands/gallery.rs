//! The gallery: listing and counting, details, rating, favourites, deleting (to the OS trash,
//! undoable), importing files and folders, reusing an image's settings ("Use settings", "Vary"),
//! and revealing a file or the gallery folder in the system file manager.
//!
//! Contract: image paths in [`ImageView`] are absolute and inside the folders the asset protocol
//! was allowed to read at startup (or after a settings change). `reveal_image` and `reveal_gallery`
//! are done on the Rust side, so the webview needs no opener permission for local paths.

use std::path::PathBuf;

use fluxdesk_core::ErrorCode;
use fluxdesk_core::gallery::GalleryQuery;
use fluxdesk_core::gallery_ops::{DeleteReceipt, ImportReport};
use fluxdesk_core::studio::ImagePageView;
use fluxdesk_core::views::{GenerateRequest, ImageView};
use tauri::State;

use crate::error::IpcError;
use crate::state::{AppState, blocking};

/// One page of the gallery. With `query.count` false the page never waits for an expensive count
/// (`counted` says whether `total` is exact); `count_images` then counts.
#[tauri::command]
#[specta::specta]
pub async fn list_images(state: State<'_, AppState>, query: GalleryQuery) -> Result<ImagePageView, IpcError> {
    blocking(state.studio().await?, move |s| s.list_images(&query)).await
}

/// The exact number of images matching `query`'s filters (its cursor and limit are ignored). Reads
/// on a read-only connection, so it never holds up a page query or waits behind a write.
#[tauri::command]
#[specta::specta]
pub async fn count_images(state: State<'_, AppState>, query: GalleryQuery) -> Result<u64, IpcError> {
    blocking(state.studio().await?, move |s| s.count_images(&query)).await
}

#[tauri::command]
#[specta::specta]
pub async fn get_image(state: State<'_, AppState>, id: i64) -> Result<ImageView, IpcError> {
    blocking(state.studio().await?, move |s| s.get_image(id)).await
}

/// The images of `ids` in the order asked, without those no longer in the gallery (at most
/// `MAX_IMAGES_BY_ID` per call).
#[tauri::command]
#[specta::specta]
pub async fn get_images(state: State<'_, AppState>, ids: Vec<i64>) -> Result<Vec<ImageView>, IpcError> {
    blocking(state.studio().await?, move |s| s.get_images(&ids)).await
}

/// Sets the 0–5 star rating of every image in `ids`.
#[tauri::command]
#[specta::specta]
pub async fn set_rating(state: State<'_, AppState>, ids: Vec<i64>, rating: u8) -> Result<(), IpcError> {
    blocking(state.studio().await?, move |s| s.set_rating(&ids, rating)).await
}

#[tauri::command]
#[specta::specta]
pub async fn set_favourite(
    state: State<'_, AppState>,
    ids: Vec<i64>,
    favourite: bool,
) -> Result<(), IpcError> {
    blocking(state.studio().await?, move |s| s.set_favourite(&ids, favourite)).await
}

/// Moves the files to the OS trash and removes them from the index. The receipt's token undoes
/// it (`undo_delete`) for as long as the app runs.
#[tauri::command]
#[specta::specta]
pub async fn delete_images(state: State<'_, AppState>, ids: Vec<i64>) -> Result<DeleteReceipt, IpcError> {
    Ok(state.studio().await?.delete_images_undoable(&ids).await?)
}

/// Restores a delete from the trash (with ratings and favourites); returns how many images came
/// back.
#[tauri::command]
#[specta::specta]
pub async fn undo_delete(state: State<'_, AppState>, token: String) -> Result<u32, IpcError> {
    Ok(state.studio().await?.undo_delete(&token).await?)
}

/// Copies image files or whole folders (recursively) into the gallery and indexes them; exact
/// duplicates are skipped. The paths come from the UI's file/folder picker or from files dropped
/// on the window. The copies land in the gallery folder, which the asset protocol may already
/// read.
#[tauri::command]
#[specta::specta]
pub async fn import_paths(state: State<'_, AppState>, paths: Vec<String>) -> Result<ImportReport, IpcError> {
    Ok(state.studio().await?.import_paths(paths).await?)
}

/// "Use settings": the request that made the image (count 1, seed locked to the image's).
#[tauri::command]
#[specta::specta]
pub async fn image_settings(state: State<'_, AppState>, id: i64) -> Result<GenerateRequest, IpcError> {
    blocking(state.studio().await?, move |s| s.image_settings(id)).await
}

/// "Vary": `count` new images with the image's settings and new random seeds; returns the job ids.
#[tauri::command]
#[specta::specta]
pub async fn vary_image(state: State<'_, AppState>, id: i64, count: u32) -> Result<Vec<i64>, IpcError> {
    Ok(state.studio().await?.vary_image(id, count).await?)
}

/// Opens the system file manager with the image's file selected.
#[tauri::command]
#[specta::specta]
pub async fn reveal_image(state: State<'_, AppState>, id: i64) -> Result<(), IpcError> {
    let image = blocking(state.studio().await?, move |s| s.get_image(id)).await?;
    let path = PathBuf::from(image.path);
    // Blocking: a D-Bus round trip on Linux, a shell call elsewhere.
    let shown = path.clone();
    tokio::task::spawn_blocking(move || tauri_plugin_opener::reveal_item_in_dir(&shown))
        .await?
        .map_err(|e| reveal_error(&path, e))
}

/// Opens the gallery folder itself in the system file manager.
#[tauri::command]
#[specta::specta]
pub async fn reveal_gallery(state: State<'_, AppState>) -> Result<(), IpcError> {
    let dir = state.studio().await?.paths().gallery;
    // The folder may not exist yet on a fresh install (it is created by the first save).
    let opened = dir.clone();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&opened).map_err(|e| {
            IpcError::new(
                ErrorCode::Io,
                format!("The gallery folder {} could not be created ({e}).", opened.display()),
            )
        })?;
        tauri_plugin_opener::open_path(&opened, None::<&str>).map_err(|e| reveal_error(&opened, e))
    })
    .await?
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
