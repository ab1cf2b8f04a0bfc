//! The shell's managed state: the opened [`Studio`] (or why it could not be opened) and the one
//! live job-event forwarder.
//!
//! Why: the window must appear even when the studio cannot open (a database from a newer
//! Fluxdesk, an unwritable home folder…), so the UI can show the coded error instead of the app
//! silently quitting. Every command therefore asks [`AppState::studio`], which hands out a cheap
//! clone of the studio or that startup error. The window is created before the studio has opened
//! (WebKit's processes start meanwhile): a command that arrives first waits for the outcome.
//!
//! It also remembers which files this run exported, so `reveal_export` can show them in the file
//! manager without letting the page reveal arbitrary paths.
//!
//! Contract: no lock here is held across an `.await`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fluxdesk_core::studio::Studio;
use tauri::scope::fs::Scope;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::IpcError;

/// Managed with `app.manage(..)` during setup; commands take `State<'_, AppState>`.
pub struct AppState {
    /// `None` while the studio is opening; then the outcome, once and for good.
    studio: watch::Sender<Option<Result<Studio, IpcError>>>,
    /// Cancels the forwarder started by the previous `watch_jobs` (a reloaded page subscribes
    /// again; the old channel's callback no longer exists).
    job_forwarder: Mutex<Option<CancellationToken>>,
    /// The asset protocol's scope (runtime-independent, so commands need no `AppHandle<R>`).
    asset_scope: Scope,
    /// Files written by `export_images` in this run, and their destination folders: what
    /// `reveal_export` may show.
    exported: Mutex<HashSet<PathBuf>>,
}

/// How many exported paths are remembered for `reveal_export`; beyond it the oldest are
/// forgotten all at once (revealing an export from long ago then fails with `InvalidInput`).
const EXPORTED_PATHS_KEPT: usize = 20_000;

impl AppState {
    /// The state while the studio is still opening (see [`AppState::set_studio`]).
    pub fn pending(asset_scope: Scope) -> Self {
        AppState {
            studio: watch::Sender::new(None),
            job_forwarder: Mutex::new(None),
            asset_scope,
            exported: Mutex::default(),
        }
    }

    pub fn ready(studio: Studio, asset_scope: Scope) -> Self {
        let state = AppState::pending(asset_scope);
        state.set_studio(Ok(studio));
        state
    }

    pub fn failed(error: IpcError, asset_scope: Scope) -> Self {
        let state = AppState::pending(asset_scope);
        state.set_studio(Err(error));
        state
    }

    /// Records how opening the studio ended and wakes the commands waiting for it. Only the first
    /// outcome counts.
    pub fn set_studio(&self, opened: Result<Studio, IpcError>) {
        self.studio.send_if_modified(|slot| {
            if slot.is_some() {
                return false;
            }
            *slot = Some(opened);
            true
        });
    }

    /// The studio (a cheap clone sharing all state), or the error that stopped it opening; waits
    /// while it is still opening.
    pub async fn studio(&self) -> Result<Studio, IpcError> {
        // Every command comes through here: the memory trimmer waits for the page to be quiet.
        crate::memory::note_activity();
        let mut rx = self.studio.subscribe();
        let outcome = rx.wait_for(Option::is_some).await.map_err(|_| shutting_down())?;
        outcome.as_ref().map_or_else(|| Err(shutting_down()), Clone::clone)
    }

    /// The asset protocol's scope, to widen when the gallery folder changes.
    pub fn asset_scope(&self) -> &Scope {
        &self.asset_scope
    }

    /// The studio if it has opened, for shutdown.
    pub fn opened(&self) -> Option<Studio> {
        self.studio.borrow().as_ref().and_then(|r| r.as_ref().ok()).cloned()
    }

    /// Registers a new job-event forwarder and cancels the previous one, if any. Returns the
    /// token the new forwarder must watch.
    pub fn replace_job_forwarder(&self) -> CancellationToken {
        let token = CancellationToken::new();
        let previous = self
            .job_forwarder
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace(token.clone());
        if let Some(previous) = previous {
            previous.cancel();
        }
        token
    }
}

impl AppState {
    /// Remembers what an export wrote (files and their folder) for [`AppState::was_exported`].
    pub fn remember_export(&self, dest_dir: &Path, written: &[String]) {
        let mut set = self.exported.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if set.len() + written.len() + 1 > EXPORTED_PATHS_KEPT {
            set.clear();
        }
        set.insert(dest_dir.to_path_buf());
        set.extend(written.iter().map(PathBuf::from));
    }

    /// Whether `path` is a file (or the destination folder) an export of this run wrote.
    pub fn was_exported(&self, path: &Path) -> bool {
        self.exported.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(path)
    }
}

/// The sender lives as long as the state, so waiting can only end early while the app exits.
fn shutting_down() -> IpcError {
    IpcError::new(fluxdesk_core::ErrorCode::Internal, "Fluxdesk is shutting down.")
}

/// Runs a synchronous (SQLite) studio call on the blocking pool, so a slow disk never stalls an
/// async worker.
pub async fn blocking<T, F>(studio: Studio, f: F) -> Result<T, IpcError>
where
    T: Send + 'static,
    F: FnOnce(&Studio) -> fluxdesk_core::Result<T> + Send + 'static,
{
    Ok(tokio::task::spawn_blocking(move || f(&studio)).await??)
}

#[cfg(test)]
mod tests {
    use fluxdesk_core::ErrorCode;

    use super::*;

    #[test]
    fn a_new_job_forwarder_stops_the_previous_one() {
        use tauri::Manager;
        let scope = tauri::test::mock_app().asset_protocol_scope();
        let state = AppState::failed(IpcError::new(ErrorCode::Internal, "test"), scope);
        let first = state.replace_job_forwarder();
        assert!(!first.is_cancelled());
        let second = state.replace_job_forwarder();
        assert!(first.is_cancelled());
        assert!(!second.is_cancelled());
    }

    #[test]
    fn a_command_waits_while_the_studio_opens_and_the_first_outcome_counts() {
        use tauri::Manager;
        let scope = tauri::test::mock_app().asset_protocol_scope();
        let state = std::sync::Arc::new(AppState::pending(scope));
        assert!(state.opened().is_none());
        let waiting = {
            let state = state.clone();
            tauri::async_runtime::spawn(async move { state.studio().await })
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!waiting.inner().is_finished(), "the command must wait for the studio");
        state.set_studio(Err(IpcError::new(ErrorCode::DatabaseUnusable, "first")));
        state.set_studio(Err(IpcError::new(ErrorCode::Internal, "second")));
        let Err(got) = tauri::async_runtime::block_on(waiting).expect("join") else {
            panic!("the startup error was expected");
        };
        assert_eq!(got.code, ErrorCode::DatabaseUnusable);
        let Err(again) = tauri::async_runtime::block_on(state.studio()) else {
            panic!("still the first outcome was expected");
        };
        assert_eq!(again.message, "first");
    }

    #[test]
    fn only_exported_paths_may_be_revealed() {
        use tauri::Manager;
        let scope = tauri::test::mock_app().asset_protocol_scope();
        let state = AppState::failed(IpcError::new(ErrorCode::Internal, "test"), scope);
        state.remember_export(Path::new("/out"), &["/out/a.png".to_owned()]);
        assert!(state.was_exported(Path::new("/out/a.png")));
        assert!(state.was_exported(Path::new("/out")));
        assert!(!state.was_exported(Path::new("/etc/passwd")));
        assert!(!state.was_exported(Path::new("/out/b.png")));
    }
}
