//! Settings: defaults, JSON shape, the settings file on disk (tolerance, corrupt files kept
//! aside, atomic saves), environment overrides and validation messages. Also path resolution.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use fluxdesk_core::paths::Paths;
use fluxdesk_core::settings::{EnvOverrides, Override, Settings, SettingsFile, Theme};
use fluxdesk_core::{Error, ErrorCode};
use secrecy::ExposeSecret;
use serde_json::json;

fn ls(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

fn invalid_field(s: &Settings) -> (String, String) {
    match s.validate() {
        Err(Error::InvalidInput { field, message }) => (field, message),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    let s = Settings::default();
    assert_eq!(s.base_url, "https://api.piapi.ai");
    assert_eq!(s.poll_max_attempts, 30);
    assert_eq!(s.poll_interval_ms, 3000);
    assert_eq!(s.gallery_dir, None);
    assert_eq!(s.theme, Theme::Dark);
    assert_eq!(s.default_model, piapi::Model::Schnell);
    assert_eq!((s.default_width, s.default_height), (1024, 1024));
    assert_eq!(s.daily_budget_usd, None);
    assert_eq!(s.max_concurrent, 4);
    s.validate().expect("defaults are valid");
    let p = s.poll_policy();
    assert_eq!(p.max_attempts, 30);
    assert_eq!(p.interval_cap, std::time::Duration::from_millis(3000));
}

#[test]
fn json_is_camel_case_and_round_trips() {
    let s = Settings {
        base_url: "http://127.0.0.1:8787".into(),
        poll_max_attempts: 5,
        poll_interval_ms: 250,
        gallery_dir: Some(PathBuf::from("/data/Pictures/Flux")),
        theme: Theme::Dark,
        default_model: piapi::Model::DevAdvanced,
        default_width: 1280,
        default_height: 816,
        daily_budget_usd: Some(2.5),
        max_concurrent: 2,
    };
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(
        v,
        json!({
            "baseUrl": "http://127.0.0.1:8787",
            "pollMaxAttempts": 5,
            "pollIntervalMs": 250,
            "galleryDir": "/data/Pictures/Flux",
            "theme": "dark",
            "defaultModel": "Qubico/flux1-dev-advanced",
            "defaultWidth": 1280,
            "defaultHeight": 816,
            "dailyBudgetUsd": 2.5,
            "maxConcurrent": 2
        })
    );
    assert_eq!(serde_json::from_value::<Settings>(v).unwrap(), s);
}

#[test]
fn unknown_fields_ignored_and_missing_fields_default() {
    let s: Settings = serde_json::from_value(json!({"theme": "light", "someFutureThing": [1, 2]})).unwrap();
    assert_eq!(s, Settings { theme: Theme::Light, ..Settings::default() });
    let s: Settings = serde_json::from_value(json!({})).unwrap();
    assert_eq!(s, Settings::default());
}

#[test]
fn settings_file_missing_gives_defaults_and_save_load_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let file = SettingsFile::new(dir.path().join("nested/settings.json"));
    assert_eq!(file.load().unwrap(), Settings::default());

    let s = Settings { theme: Theme::Dark, daily_budget_usd: Some(1.0), ..Settings::default() };
    file.save(&s).unwrap();
    assert_eq!(file.load().unwrap(), s);
    let on_disk: serde_json::Value = serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap();
    assert_eq!(on_disk["version"], 1);
    assert_eq!(on_disk["settings"]["theme"], "dark");
    assert_eq!(ls(&dir.path().join("nested")), vec!["settings.json"], "atomic save leaves no temp file");
}

#[test]
fn settings_file_tolerates_partial_and_odd_content_and_keeps_other_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    // Written by the desktop shell's plugin-store: other keys, no version, a missing field, an
    // unknown field and one unusable value.
    std::fs::write(
        &path,
        json!({
            "windowState": {"w": 800},
            "settings": {"theme": "dark", "pollMaxAttempts": "lots", "newThing": true, "maxConcurrent": 2}
        })
        .to_string(),
    )
    .unwrap();
    let file = SettingsFile::new(path.clone());
    let s = file.load().unwrap();
    assert_eq!(s, Settings { theme: Theme::Dark, max_concurrent: 2, ..Settings::default() });
    assert_eq!(ls(dir.path()), vec!["settings.json"], "a bad value is not a corrupt file");

    file.save(&s).unwrap();
    let on_disk: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(on_disk["windowState"], json!({"w": 800}), "other keys are kept");
    assert_eq!(on_disk["settings"]["pollMaxAttempts"], 30);

    // No "settings" key at all → defaults.
    std::fs::write(&path, r#"{"other": 1}"#).unwrap();
    assert_eq!(file.load().unwrap(), Settings::default());
}

#[test]
fn corrupt_settings_file_is_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    let file = SettingsFile::new(path.clone());

    std::fs::write(&path, b"{\"version\":1,\"settings\":{\"theme\":\"da").unwrap();
    assert_eq!(file.load().unwrap(), Settings::default());
    assert_eq!(ls(dir.path()), vec!["settings.json.corrupt"]);
    assert_eq!(
        std::fs::read(dir.path().join("settings.json.corrupt")).unwrap(),
        b"{\"version\":1,\"settings\":{\"theme\":\"da",
        "the corrupt content is preserved byte for byte"
    );

    // A second corrupt file does not overwrite the first one kept aside.
    std::fs::write(&path, b"[1,2,3]").unwrap();
    assert_eq!(file.load().unwrap(), Settings::default());
    assert_eq!(ls(dir.path()), vec!["settings.json.corrupt", "settings.json.corrupt.1"]);

    // Saving over a corrupt file also keeps it aside first.
    std::fs::write(&path, b"\0\0garbage").unwrap();
    file.save(&Settings::default()).unwrap();
    assert_eq!(
        ls(dir.path()),
        vec!["settings.json", "settings.json.corrupt", "settings.json.corrupt.1", "settings.json.corrupt.2"]
    );
    assert_eq!(file.load().unwrap(), Settings::default());
}

#[test]
fn save_refuses_invalid_settings() {
    let dir = tempfile::tempdir().unwrap();
    let file = SettingsFile::new(dir.path().join("settings.json"));
    let err = file.save(&Settings { poll_interval_ms: 1, ..Settings::default() }).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(!file.path().exists());
}

#[test]
fn the_api_key_is_never_in_settings_or_the_file() {
    const KEY: &str = "sk-settings-test-key-deadbeef";
    let env = EnvOverrides::from_pairs([("PIAPI_API_KEY", KEY), ("PIAPI_BASE_URL", "http://localhost:9")]);
    let (eff, _) = Settings::default().effective(&env);
    let dir = tempfile::tempdir().unwrap();
    let file = SettingsFile::new(dir.path().join("settings.json"));
    file.save(&eff).unwrap();
    let text = std::fs::read_to_string(file.path()).unwrap();
    assert!(!text.contains(KEY));
    assert!(!text.to_lowercase().contains("apikey") && !text.contains("api_key"));
    let dbg = format!("{env:?}");
    assert!(!dbg.contains(KEY), "{dbg}");
    assert!(dbg.contains("redacted"), "{dbg}");
}

#[test]
fn env_overrides_parse_like_the_documented_variables() {
    let env = EnvOverrides::from_pairs([
        ("PIAPI_API_KEY", "  key-123\n"),
        ("PIAPI_BASE_URL", " http://127.0.0.1:8787 "),
        ("PIAPI_POLL_MAX_ATTEMPTS", "12"),
        ("PIAPI_POLL_INTERVAL_MS", "not-a-number"),
        ("FLUXDESK_HOME", "/tmp/fd"),
        ("FLUXDESK_GALLERY", ""),
        ("UNRELATED", "x"),
    ]);
    assert_eq!(env.api_key.as_ref().map(|k| k.expose_secret().to_string()).as_deref(), Some("key-123"));
    assert_eq!(env.base_url.as_deref(), Some("http://127.0.0.1:8787"));
    assert_eq!(env.poll_max_attempts, Some(12));
    assert_eq!(env.poll_interval_ms, None, "unparsable numbers are ignored");
    assert_eq!(env.home.as_deref(), Some(Path::new("/tmp/fd")));
    assert_eq!(env.gallery, None, "empty means unset");
    assert_eq!(env.cache, None);

    let blank = EnvOverrides::from_pairs([("PIAPI_API_KEY", "   ")]);
    assert!(blank.api_key.is_none());
    // The real process environment is readable (whatever it holds).
    let _ = EnvOverrides::from_process_env();
}

#[test]
fn effective_settings_apply_env_and_list_overrides() {
    let saved =
        Settings { base_url: "https://proxy.example".into(), poll_max_attempts: 50, ..Settings::default() };
    let (eff, over) = saved.effective(&EnvOverrides::default());
    assert_eq!(eff, saved);
    assert!(over.is_empty());

    let env = EnvOverrides::from_pairs([
        ("PIAPI_BASE_URL", "http://127.0.0.1:8787"),
        ("PIAPI_POLL_INTERVAL_MS", "250"),
        ("FLUXDESK_GALLERY", "/data/gal"),
    ]);
    let (eff, over) = saved.effective(&env);
    assert_eq!(eff.base_url, "http://127.0.0.1:8787");
    assert_eq!(eff.poll_max_attempts, 50, "not overridden");
    assert_eq!(eff.poll_interval_ms, 250);
    assert_eq!(eff.gallery_dir.as_deref(), Some(Path::new("/data/gal")));
    assert_eq!(
        over,
        vec![
            Override { field: "baseUrl".into(), env: "PIAPI_BASE_URL".into() },
            Override { field: "pollIntervalMs".into(), env: "PIAPI_POLL_INTERVAL_MS".into() },
            Override { field: "galleryDir".into(), env: "FLUXDESK_GALLERY".into() },
        ]
    );
    assert_eq!(serde_json::to_value(&over[0]).unwrap(), json!({"field": "baseUrl", "env": "PIAPI_BASE_URL"}));
    let policy = eff.poll_policy();
    assert_eq!(policy.max_attempts, 50);
    assert_eq!(policy.interval_cap, std::time::Duration::from_millis(250));
}

#[test]
fn validation_names_the_field() {
    let d = Settings::default();
    let cases: Vec<(Settings, &str, &str)> = vec![
        (Settings { base_url: "not a url".into(), ..d.clone() }, "baseUrl", "not a valid URL"),
        (Settings { base_url: "http://api.piapi.ai".into(), ..d.clone() }, "baseUrl", "loopback"),
        (Settings { base_url: "ftp://127.0.0.1".into(), ..d.clone() }, "baseUrl", "https"),
        (Settings { base_url: "https://user:pw@api.piapi.ai".into(), ..d.clone() }, "baseUrl", "password"),
        (Settings { poll_max_attempts: 0, ..d.clone() }, "pollMaxAttempts", "1–1000"),
        (Settings { poll_max_attempts: 1001, ..d.clone() }, "pollMaxAttempts", "1–1000"),
        (Settings { poll_interval_ms: 99, ..d.clone() }, "pollIntervalMs", "100–60000"),
        (Settings { poll_interval_ms: 60_001, ..d.clone() }, "pollIntervalMs", "100–60000"),
        (Settings { default_width: 10, ..d.clone() }, "defaultWidth", "out of range"),
        (Settings { default_height: 4096, ..d.clone() }, "defaultHeight", "out of range"),
        (Settings { default_width: 2048, default_height: 2048, ..d.clone() }, "defaultSize", "1,048,576"),
        (Settings { daily_budget_usd: Some(-1.0), ..d.clone() }, "dailyBudgetUsd", "0 or more"),
        (Settings { daily_budget_usd: Some(f64::NAN), ..d.clone() }, "dailyBudgetUsd", "0 or more"),
        (Settings { max_concurrent: 0, ..d.clone() }, "maxConcurrent", "1–20"),
        (Settings { gallery_dir: Some("relative/dir".into()), ..d.clone() }, "galleryDir", "absolute"),
    ];
    for (s, field, needle) in cases {
        let (f, msg) = invalid_field(&s);
        assert_eq!(f, field, "{msg}");
        assert!(msg.contains(needle), "{field}: {msg}");
    }
    for ok in ["https://api.piapi.ai", "http://127.0.0.1:8787", "http://localhost:1/x", "http://[::1]:9"] {
        Settings { base_url: ok.into(), ..d.clone() }.validate().unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    Settings { daily_budget_usd: Some(0.0), ..d.clone() }.validate().unwrap();
}

#[test]
fn paths_resolve_from_env_and_are_created() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let gallery = tmp.path().join("My Pictures/Flüxdesk");
    let (h, g) = (home.to_str().unwrap(), gallery.to_str().unwrap());
    let env = EnvOverrides::from_pairs([("FLUXDESK_HOME", h), ("FLUXDESK_GALLERY", g)]);
    let p = Paths::resolve(&env, None).unwrap();
    assert_eq!((p.home.as_path(), p.gallery.as_path()), (home.as_path(), gallery.as_path()));
    assert_eq!(p.cache, home.join("cache"));
    p.ensure_dirs().unwrap();
    assert!(p.thumbs_dir().is_dir() && p.gallery.is_dir());

    // The user's gallery setting applies when FLUXDESK_GALLERY is not set.
    let env = EnvOverrides::from_pairs([("FLUXDESK_HOME", h)]);
    let p = Paths::resolve(&env, Some(Path::new("/srv/images"))).unwrap();
    assert_eq!(p.gallery, PathBuf::from("/srv/images"));
    let file = SettingsFile::new(p.settings_path());
    assert_eq!(file.load().unwrap(), Settings::default());
}
