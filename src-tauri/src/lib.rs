//! Fluxdesk's desktop shell: a thin Tauri 2 layer over [`fluxdesk_core::studio::Studio`].
//!
//! Why so thin: everything that matters (the ledger, jobs, keychain, gallery) lives in the core,
//! which the CLI also uses and which is tested without Tauri. This crate only
//! - registers the plugins (store, dialog, opener, drag, notification, clipboard) and the IPC
//!   commands ([`commands`], one list in [`specta_builder`], which is also where
//!   `ui/src/lib/backend/bindings.ts` comes from);
//! - opens the studio at startup ([`startup`]), keeping the window usable when that fails;
//! - widens the asset protocol to the gallery and thumbnail folders, serves the grid's thumbnails
//!   on its own `thumb:` scheme under the same rule ([`thumb_protocol`]), and makes missing
//!   thumbnails in the background;
//! - notifies on the desktop when a batch finishes while the window is in the background
//!   ([`notify`]);
//! - persists settings through tauri-plugin-store ([`settings_store`]);
//! - logs to stderr and `FLUXDESK_HOME/logs` ([`logging`]);
//! - tunes WebKit's caches and compositing ([`webview`]) and hands freed heap memory back to the
//!   OS ([`memory`]).
//!
//! Contract: the API key is accepted by `set_key` and never returned, logged or emitted.

pub mod commands;
pub mod error;
pub mod logging;
pub mod memory;
pub mod notify;
pub mod settings_store;
pub mod startup;
pub mod state;
pub mod thumb_protocol;
pub mod webview;
pub mod window_theme;

use std::path::{Path, PathBuf};

use fluxdesk_core::paths::Paths;
use fluxdesk_core::settings::{EnvOverrides, Theme};
use fluxdesk_core::studio::DemoChoice;
use specta_typescript::Typescript;
use tauri::{Manager, Runtime};
use tauri_specta::{ErrorHandlingMode, collect_commands};

use crate::error::IpcError;
use crate::state::AppState;

/// Where the generated TypeScript bindings go, relative to this crate's manifest.
pub const BINDINGS_PATH: &str = "../ui/src/lib/backend/bindings.ts";

/// The first lines of `bindings.ts`.
const BINDINGS_HEADER: &str = "// Fluxdesk IPC bindings, generated from the Rust commands in src-tauri (fluxdesk-app).\n\
// Regenerate: cargo test -p fluxdesk-app export_bindings. CI fails when it is stale.";

/// The one list of IPC commands, with their TypeScript signatures.
///
/// Generic over the runtime so the same list serves the app (`tauri::Wry`) and the mock-runtime
/// tests.
pub fn specta_builder<R: Runtime>() -> tauri_specta::Builder<R> {
    tauri_specta::Builder::<R>::new()
        .commands(collect_commands![
            commands::app::app_info,
            commands::key::key_status,
            commands::key::set_key,
            commands::key::delete_key,
            commands::settings::get_settings,
            // Generic over the runtime (it recolours the calling window); `Wry` only names the
            // TypeScript signature, as for `copy_image` below.
            commands::settings::update_settings::<tauri::Wry>,
            commands::jobs::watch_jobs,
            commands::generate::generate,
            commands::queue::generate_batch,
            commands::queue::queue_state,
            commands::queue::pause_queue,
            commands::queue::resume_queue,
            commands::queue::move_job,
            commands::queue::cost_summary,
            commands::jobs::cancel_job,
            commands::jobs::retry_job,
            commands::jobs::list_jobs,
            commands::account::account_info,
            commands::gallery::list_images,
            commands::gallery::count_images,
            commands::gallery::get_image,
            commands::gallery::get_images,
            commands::gallery::set_rating,
            commands::gallery::set_favourite,
            commands::gallery::delete_images,
            commands::gallery::undo_delete,
            commands::gallery::import_paths,
            commands::gallery::image_settings,
            commands::gallery::vary_image,
            commands::edit::task_catalog,
            commands::edit::source_info,
            commands::edit::stage_source,
            commands::edit::edit_settings,
            commands::gallery::reveal_image,
            commands::gallery::reveal_gallery,
            commands::export::export_images,
            commands::export::reveal_export,
            // The generic is for the TypeScript signature only (Tauri's handler infers `R`);
            // specta cannot name the outer `R` here.
            commands::clipboard::copy_image::<tauri::Wry>,
            commands::drag::drag_items,
        ])
        // Commands resolve to `T` and reject with an `IpcError` (IPC.md: `appInfo(): AppInfo`);
        // the UI's adapter turns rejections into its BackendError.
        .error_handling(ErrorHandlingMode::Throw)
        .typ::<IpcError>()
        // Limits the UI must respect, from the core (one number, not a copy per side).
        .constant("MAX_IMAGES_BY_ID", fluxdesk_core::studio::MAX_IMAGES_BY_ID)
        // One TS type per Rust type (IPC.md's names), not separate `_Serialize`/`_Deserialize`.
        .disable_serde_phases()
        // Ids, seeds and byte counts are i64/u64 in Rust but stay far below 2^53.
        .dangerously_cast_bigints_to_number()
}

/// The bindings file in the source tree (absolute, from the compile-time manifest dir).
pub fn bindings_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(BINDINGS_PATH)
}

/// Writes the TypeScript bindings to `path` if their content changed (an unchanged file is not
/// touched, so a running Vite dev server does not reload). Returns whether it wrote. Only the
/// `export_bindings` test calls this: a running app never writes into the source tree.
pub fn export_bindings<R: Runtime>(builder: &tauri_specta::Builder<R>, path: &Path) -> std::io::Result<bool> {
    let tmp = std::env::temp_dir().join(format!("fluxdesk-bindings-{}.ts", std::process::id()));
    builder
        .export(Typescript::default().header(BINDINGS_HEADER), &tmp)
        .map_err(|e| std::io::Error::other(format!("exporting the TypeScript bindings failed: {e}")))?;
    let fresh = std::fs::read(&tmp);
    let _ = std::fs::remove_file(&tmp);
    let fresh = fresh?;
    if std::fs::read(path).is_ok_and(|old| old == fresh) {
        return Ok(false);
    }
    std::fs::write(path, &fresh)?;
    Ok(true)
}

/// Runs the desktop app. Called by `main`; returns when the app exits.
pub fn run() {
    // First: it edits the environment, which is only sound while no other thread exists.
    memory::tune_web_process_gc();
    webview::skip_unused_gl_probe();
    let egl_skipped = webview::skip_app_process_egl();
    let env = EnvOverrides::from_process_env();
    let paths = Paths::resolve(&env, None).ok();
    let log_file = logging::init(paths.as_ref().map(|p| p.logs_dir()).as_deref());
    // Read before the window exists: it starts in the page's background colour for this theme.
    let theme = paths.as_ref().map(|p| window_theme::saved_theme(&p.settings_path())).unwrap_or_default();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), log_file = ?log_file, "Fluxdesk starting");
    tracing::debug!(egl_skipped, "EGL in the app process (skipped without GPU compositing)");

    let specta = specta_builder::<tauri::Wry>();

    let app = thumb_protocol::register(tauri::Builder::default())
        .plugin(tauri_plugin_store::Builder::new().build())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_drag::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .invoke_handler(specta.invoke_handler())
        .setup(move |app| {
            // The state exists before the window (tauri.conf.json has `"create": false`), so no
            // command can miss it; commands wait while the studio opens. The window comes first
            // because WebKit's processes take most of a second to start: the studio (database,
            // keychain, demo simulator) opens meanwhile instead of before.
            app.manage(AppState::pending(app.asset_protocol_scope()));
            memory::spawn_trimmer({
                let handle = app.handle().clone();
                move || {
                    if let Some(studio) = handle.state::<AppState>().opened() {
                        studio.release_memory();
                    }
                }
            });
            create_main_window(app, theme)?;
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                // Its own task, so a panic while opening still ends the wait of every command
                // (with an error the UI shows) instead of leaving them waiting for ever.
                let opening = {
                    let handle = handle.clone();
                    tauri::async_runtime::spawn(async move {
                        startup::open_studio(&handle, env, startup::production_secrets(), DemoChoice::Auto)
                            .await
                    })
                };
                let opened = opening.await.unwrap_or_else(|e| {
                    Err(IpcError::new(
                        fluxdesk_core::ErrorCode::Internal,
                        format!(
                            "Fluxdesk could not open its library ({e}). Restart it; the log has details."
                        ),
                    ))
                });
                let state = handle.state::<AppState>();
                startup::settle(&handle, &state, opened);
                if let Some(studio) = state.opened() {
                    notify::spawn(handle.clone(), &studio);
                }
            });
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("Fluxdesk could not start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event
            && let Some(state) = handle.try_state::<AppState>()
            && let Some(studio) = state.opened()
        {
            // Stops the demo simulator; unfinished jobs stay in the ledger and resume next time.
            tauri::async_runtime::block_on(studio.shutdown());
        }
    });
}

/// Creates the `main` window from its `tauri.conf.json` entry, in the page's background colour
/// for `theme` (see [`window_theme`]).
fn create_main_window<R: Runtime>(app: &tauri::App<R>, theme: Theme) -> tauri::Result<()> {
    let Some(config) = app.config().app.windows.iter().find(|w| w.label == "main").cloned() else {
        return Err(tauri::Error::WindowNotFound);
    };
    let window = tauri::WebviewWindowBuilder::from_config(app, &config)?
        .background_color(window_theme::background(theme, None))
        .initialization_script(window_theme::boot_script(theme))
        .build()?;
    // "system" can only be resolved by the window; nothing has been painted yet.
    if theme == Theme::System {
        window_theme::apply(&window, theme);
    }
    webview::tune(&window);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regenerates `ui/src/lib/backend/bindings.ts`. CI runs this test and then
    /// `git diff --exit-code ui/src/lib/backend/bindings.ts`.
    #[test]
    fn export_bindings() {
        let builder = specta_builder::<tauri::Wry>();
        let path = bindings_path();
        super::export_bindings(&builder, &path).expect("export bindings");
        let text = std::fs::read_to_string(&path).expect("read bindings");
        assert!(text.starts_with("// Fluxdesk IPC bindings, generated"), "header missing");
        for command in [
            "appInfo",
            "watchJobs",
            "revealImage",
            "updateSettings",
            "generateBatch",
            "costSummary",
            "exportImages",
            "undoDelete",
            "copyImage",
            "dragItems",
        ] {
            assert!(text.contains(command), "{command} missing from the bindings");
        }
        // Deterministic: a second export changes nothing.
        assert!(
            !super::export_bindings(&builder, &path).expect("export again"),
            "export is not deterministic"
        );
    }
}
