//! Persists the studio's settings through tauri-plugin-store, in the same file and format the CLI
//! reads: `FLUXDESK_HOME/settings.json` = `{"version": 1, "settings": {…}}`.
//!
//! Why: the app and the CLI must agree on one settings file; the plugin store gives the app a
//! single in-memory copy that is also flushed on exit. The format rules (tolerant reading, a
//! corrupt file moved aside, validation before saving) belong to the core's
//! [`SettingsFile`]; this backend reuses them instead of repeating them:
//! - before the store first reads the file, [`SettingsFile::load`] runs once, so a corrupt file is
//!   moved aside to `settings.json.corrupt` rather than silently overwritten by the store;
//! - a stored value that does not deserialise as a whole falls back to [`SettingsFile::load`],
//!   which resets only the unusable fields.
//!
//! Contract: the API key is never part of [`Settings`], so it never reaches this file.

use std::path::PathBuf;
use std::sync::Arc;

use fluxdesk_core::settings::{SETTINGS_FILE_VERSION, Settings, SettingsFile};
use fluxdesk_core::studio::SettingsBackend;
use fluxdesk_core::{Error, Result};
use tauri::{Manager, Runtime};
use tauri_plugin_store::{Store, StoreBuilder};

/// The store key holding the settings object.
const SETTINGS_KEY: &str = "settings";
/// The store key holding the file format version.
const VERSION_KEY: &str = "version";

/// A [`SettingsBackend`] over a tauri-plugin-store [`Store`]. The store plugin must be
/// registered on the app before [`StoreSettings::open`] is called.
pub struct StoreSettings<R: Runtime> {
    store: Arc<Store<R>>,
    file: SettingsFile,
}

impl<R: Runtime> StoreSettings<R> {
    /// Opens (or creates) the store at `path`, an absolute path (the store resolves relative
    /// paths against the app data dir, which is not where Fluxdesk keeps its settings).
    pub fn open(app: &impl Manager<R>, path: PathBuf) -> Result<Self> {
        let file = SettingsFile::new(path.clone());
        // Moves a corrupt file aside before the store reads (and would later overwrite) it.
        file.load()?;
        let store = StoreBuilder::new(app, &path)
            // Written only by `save` (a plain write, not atomic: a file torn by a crash is set
            // aside by `SettingsFile::load` at the next start, and defaults are used).
            .disable_auto_save()
            .serialize(serialize_sorted)
            .build()
            .map_err(|e| store_error(&path, e))?;
        Ok(StoreSettings { store, file })
    }
}

impl<R: Runtime> SettingsBackend for StoreSettings<R> {
    fn load(&self) -> Result<Settings> {
        match self.store.get(SETTINGS_KEY) {
            None | Some(serde_json::Value::Null) => Ok(Settings::default()),
            Some(value) => match serde_json::from_value::<Settings>(value) {
                Ok(settings) => Ok(settings),
                Err(e) => {
                    tracing::warn!("saved settings are partly unusable ({e}); keeping the usable fields");
                    self.file.load()
                }
            },
        }
    }

    fn save(&self, settings: &Settings) -> Result<()> {
        settings.validate()?;
        let value = serde_json::to_value(settings)
            .map_err(|e| Error::Internal(format!("settings could not be serialised: {e}")))?;
        self.store.set(VERSION_KEY, SETTINGS_FILE_VERSION);
        self.store.set(SETTINGS_KEY, value);
        self.store.save().map_err(|e| store_error(self.file.path(), e))
    }
}

/// The store plugin's file serialiser: pretty JSON with sorted keys and a final newline, byte for
/// byte what [`SettingsFile::save`] writes, so the file does not churn between the app and the CLI.
fn serialize_sorted(
    cache: &std::collections::HashMap<String, serde_json::Value>,
) -> std::result::Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let sorted: std::collections::BTreeMap<&String, &serde_json::Value> = cache.iter().collect();
    let mut bytes = serde_json::to_vec_pretty(&sorted)?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn store_error(path: &std::path::Path, e: tauri_plugin_store::Error) -> Error {
    match e {
        tauri_plugin_store::Error::Io(io) => Error::io("writing the settings file", path, io),
        other => Error::Internal(format!("the settings store failed: {other}")),
    }
}
