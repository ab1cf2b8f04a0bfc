//! The PiAPI account (or the simulator's, in demo mode): balance, plan, concurrency.

use fluxdesk_core::views::AccountView;
use tauri::State;

use crate::error::IpcError;
use crate::state::AppState;

#[tauri::command]
#[specta::specta]
pub async fn account_info(state: State<'_, AppState>) -> Result<AccountView, IpcError> {
    Ok(state.studio().await?.account().await?)
}
