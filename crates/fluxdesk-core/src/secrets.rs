//! Where the PiAPI key lives: the OS keychain, or `PIAPI_API_KEY` in the environment.
//!
//! Why: the key is the one secret Fluxdesk holds. It is stored only in the OS keychain (Keychain
//! on macOS, Credential Manager on Windows, the Secret Service on Linux), kept in memory as a
//! [`SecretString`] (redacted `Debug`, zeroed on drop, no `Serialize`), and never written to
//! settings, logs, events, errors or image metadata.
//!
//! Contract:
//! - [`SecretStore`] is the seam: [`KeyringStore`] is the real keychain, [`MemoryStore`] an
//!   in-memory one for tests of other modules.
//! - A key in the environment wins over the keychain ([`resolve_api_key`]); when it is present the
//!   keychain is not even asked, so a broken keychain is not an error then.
//! - Keychain calls block (D-Bus round trips on Linux, possibly a system prompt elsewhere): call
//!   them from `tokio::task::spawn_blocking`, never on an async worker or the UI thread.
//! - No keychain (Linux without a Secret Service, no session bus) is the coded, readable
//!   [`Error::KeychainUnavailable`], never a panic or a hang.

use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::settings::EnvOverrides;
use crate::{Error, Result};

/// Storage for the one API key.
///
/// Implementations may block (see the module docs): call them from `spawn_blocking`.
pub trait SecretStore: Send + Sync + 'static {
    /// The stored key, `None` if there is none.
    fn get(&self) -> Result<Option<SecretString>>;
    /// Stores (or replaces) the key.
    fn set(&self, key: &SecretString) -> Result<()>;
    /// Deletes the key; `true` if there was one.
    fn delete(&self) -> Result<bool>;
}

/// The keychain service used by the app and the CLI.
pub const DEFAULT_KEYRING_SERVICE: &str = "ai.fluxdesk.app";
/// Environment variable that changes the keychain service (tests and development builds use
/// their own so they never touch the real key).
pub const ENV_KEYRING_SERVICE: &str = "FLUXDESK_KEYRING_SERVICE";
/// The keychain account (user) name under which the key is stored.
pub const KEYRING_ACCOUNT: &str = "piapi-api-key";

/// The OS keychain via the `keyring` crate (synchronous: Secret Service over libdbus on Linux).
///
/// Every method blocks on the platform store: run it in `tokio::task::spawn_blocking`.
#[derive(Debug, Clone)]
pub struct KeyringStore {
    service: String,
    account: String,
}

impl KeyringStore {
    /// A store for `service` with the account [`KEYRING_ACCOUNT`].
    pub fn new(service: impl Into<String>) -> Self {
        KeyringStore { service: service.into(), account: KEYRING_ACCOUNT.to_string() }
    }

    /// Service [`DEFAULT_KEYRING_SERVICE`] (`ai.fluxdesk.app`), or `FLUXDESK_KEYRING_SERVICE` if set
    /// and not empty.
    pub fn default_for_env() -> Self {
        let service = std::env::var(ENV_KEYRING_SERVICE)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_KEYRING_SERVICE.to_string());
        Self::new(service)
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    fn entry(&self) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, &self.account).map_err(map_keyring_error)
    }
}

impl SecretStore for KeyringStore {
    fn get(&self) -> Result<Option<SecretString>> {
        match self.entry()?.get_password() {
            Ok(p) => Ok(Some(SecretString::from(p))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring_error(e)),
        }
    }

    fn set(&self, key: &SecretString) -> Result<()> {
        self.entry()?.set_password(key.expose_secret()).map_err(map_keyring_error)
    }

    fn delete(&self) -> Result<bool> {
        match self.entry()?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(map_keyring_error(e)),
        }
    }
}

/// Turns a keyring error into ours with a short reason. Keyring errors never carry the secret
/// (except `BadEncoding`, whose bytes are dropped here unread).
fn map_keyring_error(e: keyring::Error) -> Error {
    match e {
        keyring::Error::PlatformFailure(inner) => {
            Error::KeychainUnavailable(platform_reason(&inner.to_string()))
        }
        keyring::Error::NoStorageAccess(inner) => Error::KeychainUnavailable(format!(
            "{} is locked or refused access: {}",
            STORE_NAME,
            short(&inner)
        )),
        keyring::Error::NoEntry => Error::missing("The API key in the keychain"),
        keyring::Error::BadEncoding(_) => Error::Internal(
            "the key stored in the keychain is not valid text; remove it and enter the key again".into(),
        ),
        keyring::Error::TooLong(attr, limit) => {
            Error::invalid_input("key", format!("the keychain limits {attr} to {limit} bytes"))
        }
        keyring::Error::Invalid(attr, why) => {
            Error::invalid_input("key", format!("the keychain rejected {attr}: {why}"))
        }
        keyring::Error::Ambiguous(items) => Error::Internal(format!(
            "the keychain holds {} Fluxdesk keys for the same account; remove them and enter the key again",
            items.len()
        )),
        other => Error::KeychainUnavailable(format!("{} failed: {}", STORE_NAME, short(&other))),
    }
}

#[cfg(target_os = "linux")]
const STORE_NAME: &str = "the Secret Service";
#[cfg(target_os = "macos")]
const STORE_NAME: &str = "the macOS Keychain";
#[cfg(target_os = "windows")]
const STORE_NAME: &str = "the Windows Credential Manager";
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
const STORE_NAME: &str = "the system keychain";

/// A short, readable reason for a platform failure (on Linux, mostly D-Bus trouble).
fn platform_reason(detail: &str) -> String {
    let d = detail.to_ascii_lowercase();
    let what = if d.contains("autolaunch")
        || d.contains("failed to connect to socket")
        || d.contains("dbus_session_bus_address")
        || d.contains("no such file or directory")
        || d.contains("connection refused")
        || d.contains("noserver")
    {
        "there is no D-Bus session bus, so the Secret Service cannot be reached"
    } else if d.contains("org.freedesktop.secrets") || d.contains("serviceunknown") {
        "no Secret Service provider (GNOME Keyring, KWallet) is running"
    } else {
        return format!("{} failed: {}", STORE_NAME, short(&detail));
    };
    format!("{what}: {}", short(&detail))
}

/// At most 200 characters of an error's text.
fn short(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// An in-memory [`SecretStore`] for tests of code that needs one. [`MemoryStore::unavailable`]
/// simulates a machine without a keychain.
#[derive(Default)]
pub struct MemoryStore {
    key: Mutex<Option<SecretString>>,
    unavailable: Option<String>,
}

impl MemoryStore {
    /// A store that already holds `key`.
    pub fn with_key(key: &str) -> Self {
        MemoryStore { key: Mutex::new(Some(SecretString::from(key))), unavailable: None }
    }

    /// A store whose every call fails with [`Error::KeychainUnavailable`]`(reason)`.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        MemoryStore { key: Mutex::new(None), unavailable: Some(reason.into()) }
    }

    fn slot(&self) -> Result<std::sync::MutexGuard<'_, Option<SecretString>>> {
        if let Some(r) = &self.unavailable {
            return Err(Error::KeychainUnavailable(r.clone()));
        }
        // A poisoned lock only means another test thread panicked; the value is still usable.
        Ok(self.key.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").field("unavailable", &self.unavailable).finish_non_exhaustive()
    }
}

impl SecretStore for MemoryStore {
    fn get(&self) -> Result<Option<SecretString>> {
        Ok(self.slot()?.clone())
    }

    fn set(&self, key: &SecretString) -> Result<()> {
        *self.slot()? = Some(key.clone());
        Ok(())
    }

    fn delete(&self) -> Result<bool> {
        Ok(self.slot()?.take().is_some())
    }
}

/// Where the key in use comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum KeySource {
    /// `PIAPI_API_KEY`.
    Environment,
    /// The OS keychain.
    Keychain,
    /// No key anywhere.
    None,
}

/// What the UI shows about the key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct KeyStatus {
    /// Where the key in use comes from.
    pub source: KeySource,
    /// Whether the keychain answered (so "Save key" can work).
    pub keychain_available: bool,
    /// Why the keychain is not usable, when it is not.
    pub keychain_error: Option<String>,
}

/// The key to use and where it came from: `PIAPI_API_KEY` first (the keychain is then not asked,
/// so a keychain failure is not an error), else the keychain. `Ok(None)` if neither has a key.
///
/// Blocks on the keychain when the environment has no key: call from `spawn_blocking`.
pub fn resolve_api_key(
    store: &dyn SecretStore,
    env: &EnvOverrides,
) -> Result<Option<(SecretString, KeySource)>> {
    if let Some(k) = &env.api_key {
        return Ok(Some((k.clone(), KeySource::Environment)));
    }
    Ok(store.get()?.map(|k| (k, KeySource::Keychain)))
}

/// The key's status for the UI. Never fails and never includes the key. Always asks the
/// keychain (to report whether it works), so it blocks: call from `spawn_blocking`.
pub fn key_status(store: &dyn SecretStore, env: &EnvOverrides) -> KeyStatus {
    let (stored, keychain_available, keychain_error) = match store.get() {
        Ok(k) => (k.is_some(), true, None),
        Err(e) => (false, false, Some(e.to_string())),
    };
    let source = if env.api_key.is_some() {
        KeySource::Environment
    } else if stored {
        KeySource::Keychain
    } else {
        KeySource::None
    };
    KeyStatus { source, keychain_available, keychain_error }
}

/// Longest key accepted (PiAPI keys are 64 hex characters; this leaves room for other formats).
pub const MAX_KEY_CHARS: usize = 512;

/// Cleans up a key typed or pasted by the user (or read from stdin): surrounding whitespace and
/// newlines are trimmed. Rejects an empty key, one longer than [`MAX_KEY_CHARS`], and one with
/// whitespace or control characters inside, with [`Error::InvalidInput`] on field `key`. The
/// message never contains the key.
pub fn normalize_key(raw: &str) -> Result<SecretString> {
    let key = raw.trim();
    if key.is_empty() {
        return Err(Error::invalid_input(
            "key",
            "the API key is empty; paste the key from your PiAPI dashboard",
        ));
    }
    let chars = key.chars().count();
    if chars > MAX_KEY_CHARS {
        return Err(Error::invalid_input(
            "key",
            format!("the API key is {chars} characters long; at most {MAX_KEY_CHARS} are allowed"),
        ));
    }
    if let Some(pos) = key.chars().position(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid_input(
            "key",
            format!(
                "the API key contains a space, line break or control character (at position {}); paste only the key",
                pos + 1
            ),
        ));
    }
    Ok(SecretString::from(key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_reasons_are_short_and_name_the_secret_service() {
        let r = platform_reason(
            "D-Bus error: Unable to autolaunch a dbus-daemon without a $DISPLAY for X11 \
             (org.freedesktop.DBus.Error.NotSupported)",
        );
        assert!(r.contains("no D-Bus session bus"), "{r}");
        let r = platform_reason(
            "D-Bus error: The name org.freedesktop.secrets was not provided by any .service files \
             (org.freedesktop.DBus.Error.ServiceUnknown)",
        );
        assert!(r.contains("no Secret Service provider"), "{r}");
        let long = "x".repeat(1000);
        assert!(platform_reason(&long).chars().count() < 300);
    }
}
