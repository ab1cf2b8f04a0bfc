//! Opening the studio when the app starts, and keeping the asset protocol's scope in step with
//! where the images are.
//!
//! Why: the window must come up even when the studio cannot open, so the UI can show the coded
//! error (e.g. `DatabaseUnusable` with "run `fluxdesk gallery rebuild`") instead of a crash.
//! The asset protocol starts with an empty scope (`tauri.conf.json`) and is widened here to
//! exactly the gallery and thumbnail folders, because the gallery folder is user-configurable.
//!
//! Contract: [`open_studio`] is fast (SQLite open, maybe the loopback simulator) and needs no
//! network; resume and reconcile continue in the background.

use std::path::Path;
use std::sync::Arc;

use fluxdesk_core::paths::Paths;
use fluxdesk_core::secrets::SecretStore;
use fluxdesk_core::settings::EnvOverrides;
use fluxdesk_core::studio::{DemoChoice, Studio, StudioOptions};
use tauri::scope::fs::Scope;
use tauri::{Manager, Runtime};

use crate::error::IpcError;
use crate::settings_store::StoreSettings;
use crate::state::AppState;

/// Opens the studio with settings persisted through tauri-plugin-store (which must already be
/// registered on `app`) at `FLUXDESK_HOME/settings.json`.
pub async fn open_studio<R: Runtime>(
    app: &impl Manager<R>,
    env: EnvOverrides,
    secrets: Arc<dyn SecretStore>,
    demo: DemoChoice,
) -> Result<Studio, IpcError> {
    let paths = Paths::resolve(&env, None)?;
    let settings = StoreSettings::open(app, paths.settings_path())?;
    let studio = Studio::open(StudioOptions {
        env,
        secrets,
        demo,
        settings_backend: Some(Arc::new(settings)),
        resume_on_open: true,
    })
    .await?;
    Ok(studio)
}

/// Builds the managed state from the outcome of [`open_studio`], widening the asset scope when
/// the studio opened (tests; the app manages [`AppState::pending`] first and calls [`settle`]).
pub fn app_state<R: Runtime>(app: &impl Manager<R>, opened: Result<Studio, IpcError>) -> AppState {
    let state = AppState::pending(app.asset_protocol_scope());
    settle(app, &state, opened);
    state
}

/// Records the outcome of [`open_studio`] in `state` (waking the commands that wait for it),
/// widening the asset scope first when the studio opened.
pub fn settle<R: Runtime>(app: &impl Manager<R>, state: &AppState, opened: Result<Studio, IpcError>) {
    match &opened {
        Ok(studio) => {
            let paths = studio.paths();
            tracing::info!(
                home = %paths.home.display(),
                gallery = %paths.gallery.display(),
                demo = studio.is_demo(),
                "studio opened"
            );
            allow_image_dirs(&app.asset_protocol_scope(), &paths);
        }
        Err(e) => tracing::error!(code = ?e.code, "the studio could not be opened: {}", e.message),
    }
    state.set_studio(opened);
}

/// Lets the webview load images (asset protocol) from the gallery and thumbnail folders.
pub fn allow_image_dirs(scope: &Scope, paths: &Paths) {
    allow_dir(scope, &paths.gallery);
    allow_dir(scope, &paths.thumbs_dir());
}

/// Allows `dir` recursively, and its canonical form too: the asset protocol canonicalises each
/// requested path before matching, so a folder reached through a symlink would be refused.
pub fn allow_dir(scope: &Scope, dir: &Path) {
    let mut dirs = vec![dir.to_path_buf()];
    if let Ok(canonical) = dunce_canonical(dir)
        && canonical != dir
    {
        dirs.push(canonical);
    }
    for d in dirs {
        match scope.allow_directory(&d, true) {
            Ok(()) => tracing::debug!(dir = %d.display(), "asset protocol may read this folder"),
            Err(e) => {
                tracing::warn!(dir = %d.display(), "could not allow the asset protocol to read a folder: {e}")
            }
        }
    }
}

/// `std::fs::canonicalize` without Windows' `\\?\` prefix (the asset protocol strips it too).
fn dunce_canonical(p: &Path) -> std::io::Result<std::path::PathBuf> {
    let c = std::fs::canonicalize(p)?;
    #[cfg(windows)]
    {
        let s = c.to_string_lossy();
        if let Some(rest) = s.strip_prefix(r"\\?\")
            && !rest.starts_with("UNC\\")
        {
            return Ok(std::path::PathBuf::from(rest));
        }
    }
    Ok(c)
}

/// What the app uses: the OS keychain and demo mode when no key is configured.
pub fn production_secrets() -> Arc<dyn SecretStore> {
    Arc::new(fluxdesk_core::secrets::KeyringStore::default_for_env())
}
