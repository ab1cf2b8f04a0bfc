//! Secrets: the in-memory store, key precedence, key normalisation, and the REAL OS keychain.
//!
//! `keyring_store_against_the_real_secret_service` exercises the real Secret Service when one is
//! reachable (run under `dbus-run-session` with an unlocked gnome-keyring, see below) and
//! otherwise asserts the clear `KeychainUnavailable` error. Availability is detected by trying.
//!
//! ```text
//! dbus-run-session -- bash -c 'printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; \
//!   cargo test -p fluxdesk-core --test secrets'
//! ```

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::process::Command;

use fluxdesk_core::secrets::{
    KeySource, KeyStatus, KeyringStore, MemoryStore, SecretStore, key_status, normalize_key, resolve_api_key,
};
use fluxdesk_core::settings::EnvOverrides;
use fluxdesk_core::{Error, ErrorCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

fn exposed(k: &Option<(SecretString, KeySource)>) -> Option<(String, KeySource)> {
    k.as_ref().map(|(s, src)| (s.expose_secret().to_string(), *src))
}

/// A keychain service unique to this test run and test.
fn test_service(test: &str) -> String {
    format!("ai.fluxdesk.test.{}.{test}", std::process::id())
}

#[test]
fn memory_store_behaves_like_a_keychain() {
    let store = MemoryStore::default();
    assert!(store.get().unwrap().is_none());
    assert!(!store.delete().unwrap());
    store.set(&secret("k1")).unwrap();
    store.set(&secret("k2")).unwrap();
    assert_eq!(store.get().unwrap().unwrap().expose_secret(), "k2");
    assert!(store.delete().unwrap());
    assert!(store.get().unwrap().is_none());

    let down = MemoryStore::unavailable("no keychain in this test");
    let err = down.get().unwrap_err();
    assert_eq!(err.code(), ErrorCode::KeychainUnavailable);
    assert!(down.set(&secret("x")).is_err() && down.delete().is_err());
    assert!(!format!("{:?}", MemoryStore::with_key("hidden-key-value")).contains("hidden-key-value"));
}

#[test]
fn env_key_wins_and_a_broken_keychain_is_then_no_error() {
    let env = EnvOverrides::from_pairs([("PIAPI_API_KEY", "env-key")]);
    let none = EnvOverrides::default();
    let stored = MemoryStore::with_key("stored-key");

    assert_eq!(
        exposed(&resolve_api_key(&stored, &env).unwrap()),
        Some(("env-key".into(), KeySource::Environment))
    );
    assert_eq!(
        exposed(&resolve_api_key(&stored, &none).unwrap()),
        Some(("stored-key".into(), KeySource::Keychain))
    );
    assert_eq!(exposed(&resolve_api_key(&MemoryStore::default(), &none).unwrap()), None);

    let broken = MemoryStore::unavailable("no Secret Service");
    assert_eq!(
        exposed(&resolve_api_key(&broken, &env).unwrap()),
        Some(("env-key".into(), KeySource::Environment))
    );
    let err = resolve_api_key(&broken, &none).unwrap_err();
    assert_eq!(err.code(), ErrorCode::KeychainUnavailable);
}

#[test]
fn key_status_never_fails_and_never_includes_the_key() {
    let env = EnvOverrides::from_pairs([("PIAPI_API_KEY", "env-key-secret")]);
    let none = EnvOverrides::default();

    let s = key_status(&MemoryStore::with_key("stored-key-secret"), &none);
    assert_eq!(s, KeyStatus { source: KeySource::Keychain, keychain_available: true, keychain_error: None });
    let s = key_status(&MemoryStore::with_key("stored-key-secret"), &env);
    assert_eq!(s.source, KeySource::Environment);
    let s = key_status(&MemoryStore::default(), &none);
    assert_eq!(s.source, KeySource::None);

    let s = key_status(&MemoryStore::unavailable("bus is gone"), &env);
    assert_eq!(s.source, KeySource::Environment);
    assert!(!s.keychain_available);
    assert!(s.keychain_error.as_deref().unwrap().contains("bus is gone"));
    let s = key_status(&MemoryStore::unavailable("bus is gone"), &none);
    assert_eq!(s.source, KeySource::None);

    let v = serde_json::to_value(key_status(&MemoryStore::with_key("stored-key-secret"), &env)).unwrap();
    assert_eq!(v, json!({"source": "environment", "keychainAvailable": true, "keychainError": null}));
    assert!(!v.to_string().contains("secret"));
    assert_eq!(serde_json::to_value(KeySource::Keychain).unwrap(), json!("keychain"));
    assert_eq!(serde_json::to_value(KeySource::None).unwrap(), json!("none"));
}

#[test]
fn normalize_key_trims_and_rejects() {
    assert_eq!(normalize_key("  abc123\r\n").unwrap().expose_secret(), "abc123");
    assert_eq!(normalize_key("\tabc-DEF_42\n").unwrap().expose_secret(), "abc-DEF_42");
    let long_ok = "k".repeat(512);
    assert_eq!(normalize_key(&long_ok).unwrap().expose_secret(), long_ok);

    let secret_part = "topsecretvalue";
    for bad in [
        "",
        "   \n",
        &"k".repeat(513),
        &format!("{secret_part} more"),
        &format!("{secret_part}\u{7}x"),
        "a\nb",
    ] {
        match normalize_key(bad) {
            Err(e @ Error::InvalidInput { .. }) => {
                let Error::InvalidInput { field, message } = &e else { unreachable!() };
                assert_eq!(field, "key");
                assert!(!message.contains(secret_part), "the message must not echo the key: {message}");
                assert!(!message.is_empty());
            }
            other => panic!("{bad:?}: expected InvalidInput, got {other:?}"),
        }
    }
}

#[test]
fn keyring_store_names() {
    let s = KeyringStore::new("ai.fluxdesk.test.names");
    assert_eq!(s.service(), "ai.fluxdesk.test.names");
    // Default unless FLUXDESK_KEYRING_SERVICE is set in this process's environment.
    let d = KeyringStore::default_for_env();
    match std::env::var("FLUXDESK_KEYRING_SERVICE") {
        Ok(v) if !v.trim().is_empty() => assert_eq!(d.service(), v.trim()),
        _ => assert_eq!(d.service(), "ai.fluxdesk.app"),
    }
}

/// Asserts a keychain failure is the clear, coded error.
fn assert_unavailable(e: &Error) {
    assert_eq!(e.code(), ErrorCode::KeychainUnavailable, "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("Secret Service") || !cfg!(target_os = "linux"), "{msg}");
    assert!(msg.contains("PIAPI_API_KEY"), "the message says what to do: {msg}");
}

#[test]
fn keyring_store_against_the_real_secret_service() {
    let store = KeyringStore::new(test_service("real"));
    match store.get() {
        Err(e) => {
            // No usable keychain here: the error must be the clear one, and so must writes.
            assert_unavailable(&e);
            eprintln!("no Secret Service reachable; checked the KeychainUnavailable error: {e}");
            assert_unavailable(&store.set(&secret("never-stored")).unwrap_err());
            return;
        }
        Ok(existing) => assert!(existing.is_none(), "a fresh test service starts empty"),
    }
    eprintln!("Secret Service reachable: running the real round trip");
    let key = secret("fd-test-key-0123456789abcdef");
    store.set(&key).expect("set");
    // A new store instance (a new keyring Entry) sees it: it was really persisted.
    let again = KeyringStore::new(test_service("real"));
    assert_eq!(again.get().expect("get").expect("stored").expose_secret(), key.expose_secret());
    store.set(&secret("fd-test-key-replaced")).expect("replace");
    assert_eq!(again.get().unwrap().unwrap().expose_secret(), "fd-test-key-replaced");
    let status = key_status(&again, &EnvOverrides::default());
    assert_eq!(
        status,
        KeyStatus { source: KeySource::Keychain, keychain_available: true, keychain_error: None }
    );
    assert!(again.delete().expect("delete"));
    assert!(again.get().expect("get after delete").is_none());
    assert!(!store.delete().expect("second delete"), "nothing left to delete");
    // Another service is a different slot.
    assert!(KeyringStore::new(test_service("other")).get().unwrap().is_none());
}

const NO_BUS: &str = "unix:path=/nonexistent";

/// Linux only: elsewhere the keychain does not depend on D-Bus.
#[cfg(target_os = "linux")]
#[test]
fn keyring_without_a_session_bus_reports_unavailable() {
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        .args(["no_bus_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("DBUS_SESSION_BUS_ADDRESS", NO_BUS)
        .env_remove("DISPLAY")
        .output()
        .expect("spawn the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the helper must actually run:\n{stdout}\n{stderr}");
    assert!(stderr.contains("NO_BUS_CHECKED"), "{stderr}");
}

/// Runs in a child process with no reachable session bus (see the test above).
#[cfg(target_os = "linux")]
#[test]
#[ignore = "helper: run by keyring_without_a_session_bus_reports_unavailable in a child process"]
fn no_bus_child() {
    if std::env::var("DBUS_SESSION_BUS_ADDRESS").as_deref() != Ok(NO_BUS) {
        eprintln!("not started by the parent test; nothing to check");
        return;
    }
    let store = KeyringStore::new(test_service("nobus"));
    let err = store.get().unwrap_err();
    assert_unavailable(&err);
    if cfg!(target_os = "linux") {
        let Error::KeychainUnavailable(reason) = &err else { unreachable!() };
        assert!(reason.contains("Secret Service"), "the short reason names the Secret Service: {reason}");
    }
    assert_unavailable(&store.set(&secret("x")).unwrap_err());
    assert_unavailable(&store.delete().unwrap_err());
    let status = key_status(&store, &EnvOverrides::from_pairs([("PIAPI_API_KEY", "env")]));
    assert_eq!(status.source, KeySource::Environment);
    assert!(!status.keychain_available);
    eprintln!("NO_BUS_CHECKED: {err}");
}
