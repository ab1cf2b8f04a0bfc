//! Starting generations. Progress arrives on the `watch_jobs` channel.

use fluxdesk_core::views::GenerateRequest;
use tauri::State;

use crate::error::IpcError;
use crate::state::AppState;

/// Records one ledger job per image (before anything is sent) and returns their ids.
#[tauri::command]
#[specta::specta]
pub async fn generate(state: State<'_, AppState>, request: GenerateRequest) -> Result<Vec<i64>, IpcError> {
    Ok(state.studio().await?.generate(request).await?)
}
