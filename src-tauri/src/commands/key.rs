//! The PiAPI key: where it comes from, saving it to and deleting it from the OS keychain.
//!
//! Contract: the key goes in (`set_key`) and never comes back out; only [`KeyStatus`] is
//! returned. The studio runs the keychain calls on the blocking pool. The key is not logged.

use fluxdesk_core::secrets::KeyStatus;
use tauri::State;

use crate::error::IpcError;
use crate::state::AppState;

#[tauri::command]
#[specta::specta]
pub async fn key_status(state: State<'_, AppState>) -> Result<KeyStatus, IpcError> {
    Ok(state.studio().await?.key_status().await)
}

/// Stores the key in the keychain and switches from demo mode to PiAPI.
#[tauri::command]
#[specta::specta]
pub async fn set_key(state: State<'_, AppState>, key: String) -> Result<KeyStatus, IpcError> {
    Ok(state.studio().await?.set_key(&key).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn delete_key(state: State<'_, AppState>) -> Result<KeyStatus, IpcError> {
    Ok(state.studio().await?.delete_key().await?)
}
