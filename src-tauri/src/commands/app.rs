//! What the UI asks first: version, demo mode, key status, gallery folder.
//!
//! `app_info` is also how the UI learns that the studio could not open: it then returns the
//! startup error (e.g. `DatabaseUnusable`), and so does every other command.

use fluxdesk_core::views::AppInfo;
use tauri::State;

use crate::error::IpcError;
use crate::state::AppState;

#[tauri::command]
#[specta::specta]
pub async fn app_info(state: State<'_, AppState>) -> Result<AppInfo, IpcError> {
    Ok(state.studio().await?.app_info().await)
}
