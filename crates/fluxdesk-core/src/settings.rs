//! The user's settings: one typed struct owned by Rust, persisted as JSON, with environment
//! overrides on top.
//!
//! Why: the desktop app and the CLI must agree on the same settings, and the familiar PiAPI
//! environment variables (`PIAPI_BASE_URL`, `PIAPI_POLL_*`) must win over the saved file without
//! being written into it. [`Settings::effective`] applies them and says which fields they changed,
//! so the UI can show "overridden by PIAPI_BASE_URL".
//!
//! Contract:
//! - The API key is never part of [`Settings`] or the settings file; it lives in the keychain
//!   ([`crate::secrets`]) or `PIAPI_API_KEY` ([`EnvOverrides::api_key`], redacted in `Debug`).
//! - [`SettingsFile`] stores `{"version":1,"settings":{…}}`; it tolerates unknown fields, missing
//!   fields (defaults) and single bad values (that field falls back to its default), and keeps
//!   other top-level keys (the desktop shell's tauri-plugin-store shares the file). A file that is
//!   not JSON is moved aside to `settings.json.corrupt` and defaults are used, with a warning.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// Everything the user can configure (except the API key, which lives in the keychain).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// PiAPI's base URL: https, or plain http only on loopback (the simulator). Default
    /// `https://api.piapi.ai`. Overridden by `PIAPI_BASE_URL`.
    pub base_url: String,
    /// How many times to check a task before giving up (1–1000). Default 30. Overridden by
    /// `PIAPI_POLL_MAX_ATTEMPTS`.
    pub poll_max_attempts: u32,
    /// The longest wait between two checks of a task, in ms (100–60000). Default 3000. Overridden
    /// by `PIAPI_POLL_INTERVAL_MS`.
    pub poll_interval_ms: u64,
    /// The image folder; `None` means the default (`~/Pictures/Fluxdesk`). Overridden by
    /// `FLUXDESK_GALLERY`.
    pub gallery_dir: Option<PathBuf>,
    /// Light, dark or follow the system. Default `system`.
    pub theme: Theme,
    /// The model preselected in the studio. Default Flux Schnell.
    pub default_model: piapi::Model,
    /// Default output width in pixels. Default 1024.
    pub default_width: u32,
    /// Default output height in pixels. Default 1024.
    pub default_height: u32,
    /// Optional daily spending cap in US dollars (estimated from model prices); `None` = no cap.
    pub daily_budget_usd: Option<f64>,
    /// How many tasks may run at once when the account does not report its own limit (1–20).
    /// Default 4.
    pub max_concurrent: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            base_url: piapi::DEFAULT_BASE_URL.to_string(),
            poll_max_attempts: 30,
            poll_interval_ms: 3000,
            gallery_dir: None,
            theme: Theme::Dark,
            default_model: piapi::Model::Schnell,
            default_width: 1024,
            default_height: 1024,
            daily_budget_usd: None,
            max_concurrent: 4,
        }
    }
}

/// The UI colour scheme. Dark by default: neutral greys put no colour cast next to images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    System,
    Light,
    #[default]
    Dark,
}

/// Valid range of [`Settings::poll_max_attempts`].
pub const POLL_ATTEMPTS_RANGE: std::ops::RangeInclusive<u32> = 1..=1000;
/// Valid range of [`Settings::poll_interval_ms`].
pub const POLL_INTERVAL_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=60_000;
/// Valid range of [`Settings::max_concurrent`].
pub const MAX_CONCURRENT_RANGE: std::ops::RangeInclusive<u32> = 1..=20;

impl Settings {
    /// Checks every field. The error is [`Error::InvalidInput`] whose `field` is the camelCase
    /// field name (`baseUrl`, `pollMaxAttempts`, `defaultWidth`, …) and whose message says what
    /// is allowed.
    pub fn validate(&self) -> Result<()> {
        validate_base_url(&self.base_url)?;
        if !POLL_ATTEMPTS_RANGE.contains(&self.poll_max_attempts) {
            return Err(Error::invalid_input(
                "pollMaxAttempts",
                format!("{} is out of range; use 1–1000 checks", self.poll_max_attempts),
            ));
        }
        if !POLL_INTERVAL_MS_RANGE.contains(&self.poll_interval_ms) {
            return Err(Error::invalid_input(
                "pollIntervalMs",
                format!("{} ms is out of range; use 100–60000 ms", self.poll_interval_ms),
            ));
        }
        piapi::Size::new(self.default_width, self.default_height).validate().map_err(|e| match e {
            piapi::Error::InvalidInput { field, message } => {
                let field = match field.as_str() {
                    "width" => "defaultWidth",
                    "height" => "defaultHeight",
                    _ => "defaultSize",
                };
                Error::invalid_input(field, message)
            }
            other => Error::invalid_input("defaultSize", other.to_string()),
        })?;
        if let Some(b) = self.daily_budget_usd
            && !(b.is_finite() && b >= 0.0)
        {
            return Err(Error::invalid_input(
                "dailyBudgetUsd",
                format!("{b} is not a valid budget; use an amount of 0 or more US dollars, or no cap"),
            ));
        }
        if !MAX_CONCURRENT_RANGE.contains(&self.max_concurrent) {
            return Err(Error::invalid_input(
                "maxConcurrent",
                format!("{} is out of range; use 1–20 tasks at once", self.max_concurrent),
            ));
        }
        if let Some(dir) = &self.gallery_dir
            && !dir.is_absolute()
        {
            return Err(Error::invalid_input(
                "galleryDir",
                format!("\"{}\" is not an absolute folder path", dir.display()),
            ));
        }
        Ok(())
    }

    /// These settings with the environment overrides applied, plus which fields were overridden
    /// (in field order). The overridden values are not validated here; call
    /// [`Settings::validate`] on the result.
    pub fn effective(&self, env: &EnvOverrides) -> (Settings, Vec<Override>) {
        let mut s = self.clone();
        let mut overridden = Vec::new();
        let mut note =
            |field: &str, env: &str| overridden.push(Override { field: field.into(), env: env.into() });
        if let Some(url) = &env.base_url {
            s.base_url = url.clone();
            note("baseUrl", ENV_BASE_URL);
        }
        if let Some(n) = env.poll_max_attempts {
            s.poll_max_attempts = n;
            note("pollMaxAttempts", ENV_POLL_MAX_ATTEMPTS);
        }
        if let Some(ms) = env.poll_interval_ms {
            s.poll_interval_ms = ms;
            note("pollIntervalMs", ENV_POLL_INTERVAL_MS);
        }
        if let Some(g) = &env.gallery {
            s.gallery_dir = Some(g.clone());
            note("galleryDir", ENV_GALLERY);
        }
        (s, overridden)
    }

    /// The polling schedule for these settings: `poll_max_attempts` checks, waits capped at
    /// `poll_interval_ms` (see [`piapi::PollPolicy::with_env_values`]).
    pub fn poll_policy(&self) -> piapi::PollPolicy {
        piapi::PollPolicy::with_env_values(Some(self.poll_max_attempts), Some(self.poll_interval_ms))
    }
}

/// https with a host, or plain http to a loopback host; no user name or password in the URL.
fn validate_base_url(raw: &str) -> Result<()> {
    validate_service_url(raw, "baseUrl")
}

/// The rule of [`Settings::base_url`] for any PiAPI URL (e.g. `PIAPI_UPLOAD_URL`), errors on
/// `field`.
pub fn validate_service_url(raw: &str, field: &str) -> Result<()> {
    let bad = |msg: String| Err(Error::invalid_input(field, msg));
    let url = match url::Url::parse(raw.trim()) {
        Ok(u) => u,
        Err(e) => return bad(format!("\"{raw}\" is not a valid URL ({e}); use e.g. https://api.piapi.ai")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return bad("the URL must not contain a user name or password".into());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return bad(format!("\"{raw}\" has no host; use e.g. https://api.piapi.ai")),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => bad(format!(
            "plain http is only allowed for loopback addresses (127.0.0.1, localhost); use https for \"{raw}\""
        )),
        other => bad(format!("the scheme \"{other}\" is not supported; use https")),
    }
}

/// A settings field whose value comes from the environment rather than the settings file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Override {
    /// The camelCase settings field, e.g. `baseUrl`.
    pub field: String,
    /// The environment variable, e.g. `PIAPI_BASE_URL`.
    pub env: String,
}

pub const ENV_API_KEY: &str = "PIAPI_API_KEY";
pub const ENV_BASE_URL: &str = "PIAPI_BASE_URL";
pub const ENV_POLL_MAX_ATTEMPTS: &str = "PIAPI_POLL_MAX_ATTEMPTS";
pub const ENV_POLL_INTERVAL_MS: &str = "PIAPI_POLL_INTERVAL_MS";
pub const ENV_UPLOAD_URL: &str = "PIAPI_UPLOAD_URL";
pub const ENV_HOME: &str = "FLUXDESK_HOME";
pub const ENV_GALLERY: &str = "FLUXDESK_GALLERY";
pub const ENV_CACHE: &str = "FLUXDESK_CACHE";

/// Values from the environment that override settings and paths. Read once at start-up
/// ([`EnvOverrides::from_process_env`]) and passed around, so tests can build their own
/// ([`EnvOverrides::from_pairs`]) without touching the process environment.
///
/// `Debug` never shows the key (only whether one is set).
#[derive(Clone, Default)]
pub struct EnvOverrides {
    /// `PIAPI_API_KEY`, trimmed; empty means unset.
    pub api_key: Option<SecretString>,
    /// `PIAPI_BASE_URL`, trimmed.
    pub base_url: Option<String>,
    /// `PIAPI_POLL_MAX_ATTEMPTS`.
    pub poll_max_attempts: Option<u32>,
    /// `PIAPI_POLL_INTERVAL_MS`.
    pub poll_interval_ms: Option<u64>,
    /// `PIAPI_UPLOAD_URL`, trimmed: where input images are uploaded (default: PiAPI's ephemeral
    /// upload endpoint for PiAPI's base URL, else `<base>/api/ephemeral_resource`). Ignored in
    /// demo mode, where the bundled simulator takes the uploads.
    pub upload_url: Option<String>,
    /// `FLUXDESK_HOME`.
    pub home: Option<PathBuf>,
    /// `FLUXDESK_GALLERY`.
    pub gallery: Option<PathBuf>,
    /// `FLUXDESK_CACHE`.
    pub cache: Option<PathBuf>,
}

impl fmt::Debug for EnvOverrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvOverrides")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("base_url", &self.base_url)
            .field("poll_max_attempts", &self.poll_max_attempts)
            .field("poll_interval_ms", &self.poll_interval_ms)
            .field("upload_url", &self.upload_url)
            .field("home", &self.home)
            .field("gallery", &self.gallery)
            .field("cache", &self.cache)
            .finish()
    }
}

impl EnvOverrides {
    /// Reads `PIAPI_API_KEY` (trimmed, empty = unset), `PIAPI_BASE_URL`, `PIAPI_UPLOAD_URL`,
    /// `PIAPI_POLL_MAX_ATTEMPTS`, `PIAPI_POLL_INTERVAL_MS` (unparsable numbers are ignored with a
    /// warning), `FLUXDESK_HOME`, `FLUXDESK_GALLERY` and `FLUXDESK_CACHE`. Empty values count as
    /// unset.
    pub fn from_process_env() -> Self {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// The same rules as [`EnvOverrides::from_process_env`], from explicit pairs (for tests).
    /// Later pairs win; unknown names are ignored.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let map: HashMap<&str, &str> = pairs.into_iter().collect();
        Self::from_lookup(|name| map.get(name).map(OsString::from))
    }

    fn from_lookup(get: impl Fn(&str) -> Option<OsString>) -> Self {
        let text = |name: &str| -> Option<String> {
            let raw = get(name)?;
            match raw.into_string() {
                Ok(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
                Err(_) => {
                    tracing::warn!(var = name, "ignoring an environment variable that is not valid UTF-8");
                    None
                }
            }
        };
        let path = |name: &str| -> Option<PathBuf> {
            let raw = get(name)?;
            match raw.to_str() {
                Some(s) if s.trim().is_empty() => None,
                Some(s) => Some(PathBuf::from(s.trim())),
                None => Some(PathBuf::from(raw)),
            }
        };
        fn number<T: std::str::FromStr>(name: &str, value: Option<String>) -> Option<T> {
            let v = value?;
            match v.parse() {
                Ok(n) => Some(n),
                Err(_) => {
                    tracing::warn!(var = name, value = %v, "ignoring an environment variable that is not a number");
                    None
                }
            }
        }
        EnvOverrides {
            // The key is never logged, not even when it is not valid UTF-8.
            api_key: get(ENV_API_KEY)
                .and_then(|k| k.into_string().ok())
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .map(SecretString::from),
            base_url: text(ENV_BASE_URL),
            poll_max_attempts: number(ENV_POLL_MAX_ATTEMPTS, text(ENV_POLL_MAX_ATTEMPTS)),
            poll_interval_ms: number(ENV_POLL_INTERVAL_MS, text(ENV_POLL_INTERVAL_MS)),
            upload_url: text(ENV_UPLOAD_URL),
            home: path(ENV_HOME),
            gallery: path(ENV_GALLERY),
            cache: path(ENV_CACHE),
        }
    }
}

/// The on-disk format version written by [`SettingsFile::save`].
pub const SETTINGS_FILE_VERSION: u64 = 1;

/// Settings persisted as JSON at [`crate::paths::Paths::settings_path`]:
/// `{"version":1,"settings":{…}}`. The desktop shell's tauri-plugin-store writes the same key
/// `settings` into the same file, and may keep other top-level keys there; they are preserved.
///
/// Loading never fails because of the file's content: unknown fields are ignored, missing fields
/// take their defaults, a field with an unusable value takes its default (with a warning), and a
/// file that is not a JSON object is moved aside to `settings.json.corrupt` (never silently lost)
/// before defaults are returned.
#[derive(Debug, Clone)]
pub struct SettingsFile {
    path: PathBuf,
}

impl SettingsFile {
    pub fn new(path: PathBuf) -> Self {
        SettingsFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the settings; a missing file gives the defaults. Only an I/O failure other than
    /// "not found" (permissions, a directory in the way) is an error.
    pub fn load(&self) -> Result<Settings> {
        let Some(root) = self.read_root()? else {
            return Ok(Settings::default());
        };
        if let Some(v) = root.get("version").and_then(Value::as_u64)
            && v > SETTINGS_FILE_VERSION
        {
            tracing::warn!(
                path = %self.path.display(),
                version = v,
                "the settings file was written by a newer Fluxdesk; reading the fields this version knows"
            );
        }
        match root.get("settings") {
            None | Some(Value::Null) => Ok(Settings::default()),
            Some(Value::Object(map)) => Ok(self.settings_from_map(map)),
            Some(_) => {
                self.set_aside("the \"settings\" entry is not an object");
                Ok(Settings::default())
            }
        }
    }

    /// Validates `s` ([`Settings::validate`]) and writes it atomically, keeping any other
    /// top-level keys of the file. A corrupt existing file is moved aside first.
    pub fn save(&self, s: &Settings) -> Result<()> {
        s.validate()?;
        let mut root = self.read_root()?.unwrap_or_default();
        root.insert("version".into(), Value::from(SETTINGS_FILE_VERSION));
        let value = serde_json::to_value(s)
            .map_err(|e| Error::Internal(format!("settings could not be serialised: {e}")))?;
        root.insert("settings".into(), value);
        let mut bytes = serde_json::to_vec_pretty(&Value::Object(root))
            .map_err(|e| Error::Internal(format!("settings could not be serialised: {e}")))?;
        bytes.push(b'\n');
        crate::files::write_replace(&self.path, &bytes)
    }

    /// The file's top-level object; `None` if the file is missing or was corrupt (and has been
    /// moved aside).
    fn read_root(&self) -> Result<Option<Map<String, Value>>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading the settings file", &self.path, e)),
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Some(map)),
            Ok(_) => {
                self.set_aside("the file is not a JSON object");
                Ok(None)
            }
            Err(e) => {
                self.set_aside(&format!("not valid JSON: {e}"));
                Ok(None)
            }
        }
    }

    /// Deserialises field by field so one bad value only resets that field.
    fn settings_from_map(&self, map: &Map<String, Value>) -> Settings {
        if let Ok(s) = serde_json::from_value::<Settings>(Value::Object(map.clone())) {
            return s;
        }
        let mut acc = Map::new();
        for (k, v) in map {
            let mut candidate = acc.clone();
            candidate.insert(k.clone(), v.clone());
            if serde_json::from_value::<Settings>(Value::Object(candidate.clone())).is_ok() {
                acc = candidate;
            } else {
                tracing::warn!(
                    path = %self.path.display(),
                    field = %k,
                    "ignoring an unusable value in the settings file; using the default for this field"
                );
            }
        }
        serde_json::from_value(Value::Object(acc)).unwrap_or_default()
    }

    /// Moves the corrupt file to `settings.json.corrupt` (or `.corrupt.1`, `.2`, … if taken).
    fn set_aside(&self, why: &str) {
        let mut target = with_suffix(&self.path, ".corrupt");
        let mut n = 1;
        while target.exists() && n < 1000 {
            target = with_suffix(&self.path, &format!(".corrupt.{n}"));
            n += 1;
        }
        let moved = std::fs::rename(&self.path, &target)
            .or_else(|_| std::fs::copy(&self.path, &target).and_then(|_| std::fs::remove_file(&self.path)));
        match moved {
            Ok(()) => tracing::warn!(
                path = %self.path.display(),
                kept_as = %target.display(),
                reason = why,
                "the settings file is corrupt; it was kept aside and default settings are used"
            ),
            Err(e) => tracing::warn!(
                path = %self.path.display(),
                reason = why,
                error = %e,
                "the settings file is corrupt and could not be moved aside; default settings are used"
            ),
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}
