//! Reading and saving the user's settings.
//!
//! Contract: `update_settings` validates, saves (tauri-plugin-store, `FLUXDESK_HOME/settings.json`)
//! and applies; when the gallery folder changes, the asset protocol is allowed to read the new
//! one before the command returns, so the UI can show its images straight away; the calling
//! window takes the new theme's background colour (see [`crate::window_theme`]).

use fluxdesk_core::settings::Settings;
use fluxdesk_core::views::SettingsView;
use tauri::{Runtime, State, WebviewWindow};

use crate::error::IpcError;
use crate::state::AppState;

#[tauri::command]
#[specta::specta]
pub async fn get_settings(state: State<'_, AppState>) -> Result<SettingsView, IpcError> {
    Ok(state.studio().await?.settings_view())
}

#[tauri::command]
#[specta::specta]
pub async fn update_settings<R: Runtime>(
    window: WebviewWindow<R>,
    state: State<'_, AppState>,
    settings: Settings,
) -> Result<SettingsView, IpcError> {
    let studio = state.studio().await?;
    let view = studio.update_settings(settings).await?;
    crate::startup::allow_image_dirs(state.asset_scope(), &studio.paths());
    crate::window_theme::apply(&window, view.settings.theme);
    Ok(view)
}
