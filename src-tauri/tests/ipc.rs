//! End-to-end IPC tests of the shell: real commands invoked through Tauri's IPC (mock runtime, no
//! display), against a real Studio opened on temp folders in demo mode (the bundled simulator on
//! loopback), with settings persisted through the real tauri-plugin-store.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use fluxdesk_app_lib::commands::jobs::watch_jobs;
use fluxdesk_app_lib::{specta_builder, startup};
use fluxdesk_core::secrets::MemoryStore;
use fluxdesk_core::settings::{EnvOverrides, SettingsFile};
use fluxdesk_core::studio::DemoChoice;
use fluxdesk_core::views::JobEvent;
use serde_json::{Value, json};
use tauri::Manager;
use tauri::ipc::{CallbackFn, Channel, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;

struct TestApp {
    app: tauri::App<MockRuntime>,
    webview: tauri::WebviewWindow<MockRuntime>,
}

impl TestApp {
    /// Builds the app like `run()` does (store plugin, the specta command list, the managed
    /// state from `open_studio`), with an in-memory keychain and the given folders.
    fn open(home: &Path, gallery: &Path) -> TestApp {
        let app = mock_builder()
            .plugin(tauri_plugin_store::Builder::new().build())
            .invoke_handler(specta_builder::<MockRuntime>().invoke_handler())
            .build(mock_context(noop_assets()))
            .expect("build the mock app");
        let env = EnvOverrides::from_pairs([
            ("FLUXDESK_HOME", home.to_str().unwrap()),
            ("FLUXDESK_GALLERY", gallery.to_str().unwrap()),
        ]);
        let opened = tauri::async_runtime::block_on(startup::open_studio(
            app.handle(),
            env,
            Arc::new(MemoryStore::default()),
            DemoChoice::Auto,
        ));
        let state = startup::app_state(app.handle(), opened);
        app.manage(state);
        let webview =
            tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().expect("mock window");
        TestApp { app, webview }
    }

    /// Invokes `cmd` through the IPC layer; `Err` is the serialised `IpcError`.
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.webview,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|body| body.deserialize::<Value>().expect("JSON response"))
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.invoke(cmd, args).unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }
}

#[test]
fn commands_work_end_to_end_in_demo_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, gallery) = (tmp.path().join("home"), tmp.path().join("gallery"));
    let t = TestApp::open(&home, &gallery);

    let info = t.ok("app_info", json!({}));
    assert_eq!(info["demo"], true, "{info}");
    assert_eq!(info["keyStatus"]["source"], "none");
    assert_eq!(info["galleryDir"], gallery.to_str().unwrap());

    // Settings: saved through the plugin store in the file and format the CLI reads.
    let view = t.ok("get_settings", json!({}));
    assert_eq!(view["dataDir"], home.to_str().unwrap());
    let mut settings = view["settings"].clone();
    settings["defaultWidth"] = json!(768);
    let saved = t.ok("update_settings", json!({ "settings": settings }));
    assert_eq!(saved["settings"]["defaultWidth"], 768);
    let file: Value = serde_json::from_slice(&std::fs::read(home.join("settings.json")).unwrap()).unwrap();
    assert_eq!(file["version"], 1);
    assert_eq!(file["settings"]["defaultWidth"], 768);
    assert_eq!(SettingsFile::new(home.join("settings.json")).load().unwrap().default_width, 768);

    // Invalid settings are refused with a code, and nothing is written.
    settings["pollMaxAttempts"] = json!(0);
    let err = t.invoke("update_settings", json!({ "settings": settings })).unwrap_err();
    assert_eq!(err["code"], "InvalidInput", "{err}");

    assert_eq!(t.ok("list_images", json!({ "query": {} }))["total"], 0);
    // The IPC argument is camelCase `onEvent`; a JS channel id deserialises into the Channel.
    assert_eq!(t.ok("watch_jobs", json!({ "onEvent": "__CHANNEL__:7" })), json!([]));

    // Events: the command's forwarder delivers the job's milestones to a channel.
    let (tx, rx) = mpsc::channel::<Value>();
    let channel = Channel::<JobEvent>::new(move |body| {
        let _ = tx.send(body.deserialize::<Value>().expect("event JSON"));
        Ok(())
    });
    let jobs = tauri::async_runtime::block_on(watch_jobs(t.app.state(), channel)).expect("watch_jobs");
    assert!(jobs.is_empty());

    let request = json!({ "request": {
        "prompt": "a lighthouse at dusk", "negativePrompt": null, "model": "Qubico/flux1-schnell",
        "width": 512, "height": 512, "steps": null, "guidance": null, "seed": 42, "count": 1
    }});
    let ids = t.ok("generate", request);
    let job_id = ids[0].as_i64().expect("job id");
    assert_eq!(ids.as_array().unwrap().len(), 1);

    let mut kinds = Vec::new();
    let image = loop {
        let event = rx.recv_timeout(Duration::from_secs(60)).expect("job events keep coming");
        assert_eq!(event["jobId"], job_id, "{event}");
        kinds.push(event["kind"].as_str().unwrap().to_owned());
        match event["kind"].as_str().unwrap() {
            "saved" => break event["image"].clone(),
            "failed" | "cancelled" => panic!("the demo job did not succeed: {event}"),
            _ => {}
        }
    };
    assert_eq!(kinds.first().map(String::as_str), Some("queued"), "{kinds:?}");

    // The image (and its thumbnail) are in folders the asset protocol may read.
    let scope = t.app.asset_protocol_scope();
    let path = image["path"].as_str().unwrap();
    assert!(Path::new(path).starts_with(&gallery), "{path}");
    assert!(Path::new(path).is_file());
    assert!(scope.is_allowed(path), "asset scope refuses {path}");
    if let Some(thumb) = image["thumbPath"].as_str() {
        assert!(scope.is_allowed(thumb), "asset scope refuses {thumb}");
    }

    let jobs = t.ok("list_jobs", json!({}));
    assert_eq!(jobs[0]["id"], job_id);
    assert_eq!(jobs[0]["state"], "saved");
    let id = image["id"].clone();
    assert_eq!(t.ok("get_image", json!({ "id": id }))["path"], path);
    t.ok("set_rating", json!({ "ids": [id], "rating": 4 }));
    t.ok("set_favourite", json!({ "ids": [id], "favourite": true }));
    let page = t.ok("list_images", json!({ "query": { "favouritesOnly": true } }));
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["rating"], 4);

    let missing = t.invoke("get_image", json!({ "id": 999_999 })).unwrap_err();
    assert_eq!(missing["code"], "Missing", "{missing}");
    assert_eq!(missing.as_object().unwrap().len(), 2, "IpcError is exactly {{code, message}}");

    let account = t.ok("account_info", json!({}));
    assert_eq!(account["demo"], true);

    tauri::async_runtime::block_on(
        t.app.state::<fluxdesk_app_lib::state::AppState>().opened().unwrap().shutdown(),
    );
}

#[test]
fn a_studio_that_cannot_open_still_answers_with_its_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, gallery) = (tmp.path().join("home"), tmp.path().join("gallery"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("fluxdesk.db"), b"this is not a database, it is a text file").unwrap();
    let t = TestApp::open(&home, &gallery);

    for cmd in ["app_info", "list_jobs", "get_settings"] {
        let err = t.invoke(cmd, json!({})).unwrap_err();
        assert_eq!(err["code"], "DatabaseUnusable", "{cmd}: {err}");
        assert!(err["message"].as_str().unwrap().contains("rebuild"), "{err}");
    }
}

#[test]
fn a_corrupt_settings_file_is_set_aside_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, gallery) = (tmp.path().join("home"), tmp.path().join("gallery"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("settings.json"), b"{ not json").unwrap();
    let t = TestApp::open(&home, &gallery);

    let view = t.ok("get_settings", json!({}));
    assert_eq!(view["settings"]["defaultWidth"], 1024, "defaults after a corrupt file");
    assert_eq!(std::fs::read(home.join("settings.json.corrupt")).unwrap(), b"{ not json");

    tauri::async_runtime::block_on(
        t.app.state::<fluxdesk_app_lib::state::AppState>().opened().unwrap().shutdown(),
    );
}
