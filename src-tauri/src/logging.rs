//! Tracing for the desktop app: human-readable lines on stderr and in
//! `FLUXDESK_HOME/logs/fluxdesk-app.log` (the file users attach to bug reports).
//!
//! Contract: the filter comes from `RUST_LOG`, else [`DEFAULT_FILTER`]. The `log` records of Tauri
//! and its plugins (e.g. "asset protocol not configured to allow the path") are captured too.
//! Nothing here ever formats the API key: the core keeps it in a `SecretString` whose `Debug`
//! is redacted, and the shell never receives it except as the `set_key` argument, which is not
//! logged.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;

use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};

/// Debug builds: our crates at debug, everything else at info. Release builds: info. The webview
/// stack is chatty either way. `RUST_LOG` overrides both.
pub const DEFAULT_FILTER: &str = if cfg!(debug_assertions) {
    "info,fluxdesk_app_lib=debug,fluxdesk_core=debug,piapi=debug,tao=warn,wry=warn"
} else {
    "info,tao=warn,wry=warn"
};

/// The log file is moved to `fluxdesk-app.log.1` at startup once it is bigger than this.
const ROTATE_BYTES: u64 = 5 * 1024 * 1024;

/// Installs the global subscriber. `logs_dir` is `None` when the data folder could not be
/// resolved (the app then logs to stderr only). Returns the log file path when one is written.
/// Calling it twice is harmless (the second call keeps the first subscriber).
pub fn init(logs_dir: Option<&Path>) -> Option<PathBuf> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let file = logs_dir.and_then(|dir| match open_log_file(dir) {
        Ok(found) => Some(found),
        Err(e) => {
            eprintln!("fluxdesk: cannot write the log file in {}: {e}", dir.display());
            None
        }
    });
    let (path, file_layer) = match file {
        Some((path, f)) => (Some(path), Some(fmt::layer().with_ansi(false).with_writer(Mutex::new(f)))),
        None => (None, None),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr))
        .with(file_layer)
        .try_init();
    if installed.is_err() {
        return None;
    }
    path
}

fn open_log_file(dir: &Path) -> std::io::Result<(PathBuf, File)> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("fluxdesk-app.log");
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > ROTATE_BYTES) {
        std::fs::rename(&path, dir.join("fluxdesk-app.log.1"))?;
    }
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    Ok((path, file))
}
