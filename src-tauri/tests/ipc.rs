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
            .plugin(tauri_plugin_clipboard_manager::init())
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

    /// The error code of a command that must fail.
    fn code(&self, cmd: &str, args: Value) -> String {
        match self.invoke(cmd, args) {
            Ok(v) => panic!("{cmd} succeeded with {v}, expected an error"),
            Err(e) => e["code"].as_str().unwrap_or_else(|| panic!("{cmd}: no code in {e}")).to_owned(),
        }
    }

    /// Subscribes like the UI does (`watch_jobs` with a channel) and returns the event stream.
    fn watch(&self) -> Events {
        let (tx, rx) = mpsc::channel::<Value>();
        let channel = Channel::<JobEvent>::new(move |body| {
            let _ = tx.send(body.deserialize::<Value>().expect("event JSON"));
            Ok(())
        });
        tauri::async_runtime::block_on(watch_jobs(self.app.state(), channel)).expect("watch_jobs");
        Events { rx, seen: Vec::new() }
    }

    fn shutdown(&self) {
        tauri::async_runtime::block_on(
            self.app.state::<fluxdesk_app_lib::state::AppState>().opened().unwrap().shutdown(),
        );
    }
}

/// The job events a `watch_jobs` channel delivered.
struct Events {
    rx: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Events {
    fn next(&mut self) -> Value {
        let event = self.rx.recv_timeout(Duration::from_secs(60)).expect("job events keep coming");
        self.seen.push(event.clone());
        event
    }

    /// Waits until every job in `ids` is saved; returns their images in the order of `ids`.
    fn saved(&mut self, ids: &[i64]) -> Vec<Value> {
        let mut images = std::collections::HashMap::new();
        while images.len() < ids.len() {
            let event = self.next();
            let Some(job) = event["jobId"].as_i64() else { continue };
            if !ids.contains(&job) {
                continue;
            }
            match event["kind"].as_str().unwrap() {
                "saved" => {
                    images.insert(job, event["image"].clone());
                }
                "failed" | "cancelled" => panic!("a demo job did not succeed: {event}"),
                _ => {}
            }
        }
        ids.iter().map(|id| images.remove(id).unwrap()).collect()
    }

    /// Waits for the next `batchFinished` event (the one the desktop notification is made from).
    fn batch_finished(&mut self) -> Value {
        if let Some(done) = self.seen.iter().find(|e| e["kind"] == "batchFinished") {
            let done = done.clone();
            self.seen.retain(|e| e != &done);
            return done;
        }
        loop {
            let event = self.next();
            if event["kind"] == "batchFinished" {
                self.seen.retain(|e| e != &event);
                return event;
            }
        }
    }
}

/// Whether `needle` occurs in the bytes (exports keep the prompt in uncompressed PNG iTXt chunks
/// and in JPEG/WebP XMP, so a plain byte search finds it).
fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
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
        if event.get("jobId").is_none() {
            // Queue-wide events (queueChanged, batchFinished) are about no single job.
            continue;
        }
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

    // By ids (the page's store asking again): the ones still there, in the order asked.
    let some = t.ok("get_images", json!({ "ids": [999_999, id] }));
    assert_eq!(some.as_array().map(Vec::len), Some(1), "{some}");
    assert_eq!(some[0]["path"], path);

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
fn gallery_operations_drag_export_import_delete_undo_in_demo_mode() {
    let tmp = tempfile::tempdir().unwrap();
    // A space and a non-ASCII letter: what drag_items must encode for the Linux drag code.
    let (home, gallery) = (tmp.path().join("home"), tmp.path().join("My Gallery ü"));
    let t = TestApp::open(&home, &gallery);
    let mut events = t.watch();

    let request = json!({ "request": {
        "prompt": "a heron in the reeds", "negativePrompt": null, "model": "Qubico/flux1-schnell",
        "width": 512, "height": 512, "steps": null, "guidance": null, "seed": 7, "count": 1
    }});
    let ids: Vec<i64> = serde_json::from_value(t.ok("generate", request)).unwrap();
    let image = events.saved(&ids).remove(0);
    let done = events.batch_finished();
    assert_eq!((done["saved"].as_u64(), done["failed"].as_u64()), (Some(1), Some(0)), "{done}");
    let id = image["id"].as_i64().unwrap();
    let path = image["path"].as_str().unwrap().to_owned();
    assert!(path.contains("My Gallery ü"), "{path}");

    // Drag-out: items encoded per segment on Linux (plain elsewhere), icon = the raw thumbnail.
    let drag = t.ok("drag_items", json!({ "ids": [id] }));
    let item = drag["items"][0].as_str().unwrap();
    if cfg!(target_os = "linux") {
        assert!(item.contains("/My%20Gallery%20%C3%BC/"), "{item}");
        assert!(!item.contains(' ') && item.is_ascii(), "{item}");
        assert_eq!(item, fluxdesk_app_lib::commands::drag::encode_path(&path));
    } else {
        assert_eq!(item, path);
    }
    let thumb = image["thumbPath"].as_str().unwrap_or(&path);
    assert_eq!(drag["icon"], thumb, "the icon is the raw (unencoded) thumbnail path");
    assert!(Path::new(drag["icon"].as_str().unwrap()).is_file());
    assert_eq!(t.code("drag_items", json!({ "ids": [] })), "InvalidInput");
    assert_eq!(t.code("drag_items", json!({ "ids": [999_999] })), "Missing");

    // "Use settings": the image's request, seed locked, one image.
    let settings = t.ok("image_settings", json!({ "id": id }));
    assert_eq!(settings["prompt"], "a heron in the reeds");
    assert_eq!(settings["seed"], image["seed"]);
    assert_eq!(settings["count"], 1);

    // Export: valid files carrying the prompt, in a folder the test chose.
    let out = tmp.path().join("exports ü");
    std::fs::create_dir_all(&out).unwrap();
    let mut exported = Vec::new();
    for format in ["png", "jpeg", "webp"] {
        let report = t.ok(
            "export_images",
            json!({ "request": { "ids": [id], "destDir": out, "format": format, "quality": 80 } }),
        );
        assert_eq!(report["failed"], json!([]), "{report}");
        let file = report["written"][0].as_str().unwrap().to_owned();
        let bytes = std::fs::read(&file).unwrap();
        let magic_ok = match format {
            "png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "jpeg" => bytes.starts_with(&[0xff, 0xd8]) && bytes.ends_with(&[0xff, 0xd9]),
            _ => bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP",
        };
        assert!(magic_ok, "{file} is not a {format} file");
        assert!(contains(&bytes, "a heron in the reeds"), "{file} lacks the prompt in its metadata");
        exported.push(file);
    }
    // Only what was exported may be revealed (the file manager is not opened for anything else).
    assert_eq!(t.code("reveal_export", json!({ "path": "/etc/passwd" })), "InvalidInput");
    assert_eq!(t.code("reveal_export", json!({ "path": path })), "InvalidInput");

    // Import: the exported JPEG is a new image; importing it again is a duplicate.
    let imported = t.ok("import_paths", json!({ "paths": [exported[1]] }));
    assert_eq!(
        (imported["imported"].as_u64(), imported["skipped"].as_u64()),
        (Some(1), Some(0)),
        "{imported}"
    );
    let again = t.ok("import_paths", json!({ "paths": [exported[1]] }));
    assert_eq!((again["imported"].as_u64(), again["skipped"].as_u64()), (Some(0), Some(1)), "{again}");
    let new_id = imported["ids"][0].as_i64().unwrap();
    let copy = t.ok("get_image", json!({ "id": new_id }));
    let copy_path = copy["path"].as_str().unwrap();
    assert!(Path::new(copy_path).starts_with(&gallery), "imported into the gallery: {copy_path}");
    assert!(t.app.asset_protocol_scope().is_allowed(copy_path), "asset scope refuses {copy_path}");
    assert_eq!(t.ok("list_images", json!({ "query": {} }))["total"], 2);

    // Delete goes to the trash with a receipt; undo brings the file, rating and id back. (The file
    // goes to the trash of whoever runs the tests; the undo right after takes it out again.)
    t.ok("set_rating", json!({ "ids": [id], "rating": 5 }));
    let receipt = t.ok("delete_images", json!({ "ids": [id] }));
    assert_eq!(receipt["count"], 1, "{receipt}");
    assert!(!Path::new(&path).exists(), "the file left the gallery");
    assert_eq!(t.ok("list_images", json!({ "query": {} }))["total"], 1);
    assert_eq!(t.code("get_image", json!({ "id": id })), "Missing");
    assert_eq!(t.code("undo_delete", json!({ "token": "not-a-token" })), "Missing");
    assert_eq!(t.ok("undo_delete", json!({ "token": receipt["token"] })), 1);
    assert!(Path::new(&path).is_file(), "the file is back");
    let back = t.ok("get_image", json!({ "id": id }));
    assert_eq!(back["rating"], 5);
    assert_eq!(t.ok("list_images", json!({ "query": {} }))["total"], 2);

    // Clipboard: a missing image is refused; a real one is copied where a display exists.
    assert_eq!(t.code("copy_image", json!({ "id": 999_999 })), "Missing");
    match t.invoke("copy_image", json!({ "id": id })) {
        Ok(_) => {}
        // No X11/Wayland display (e.g. CI without Xvfb): the clipboard itself is unavailable.
        Err(e) => assert_eq!(e["code"], "Io", "{e}"),
    }

    // "Vary": new jobs with the image's settings and fresh seeds, one batch.
    let varied: Vec<i64> =
        serde_json::from_value(t.ok("vary_image", json!({ "id": id, "count": 2 }))).unwrap();
    assert_eq!(varied.len(), 2);
    let images = events.saved(&varied);
    assert!(images.iter().all(|i| i["prompt"] == "a heron in the reeds"));
    let done = events.batch_finished();
    assert_eq!(done["saved"], 2, "{done}");
    assert_eq!(t.code("vary_image", json!({ "id": id, "count": 0 })), "InvalidInput");

    t.shutdown();
}

#[test]
fn batches_queue_pause_resume_move_and_cost_in_demo_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, gallery) = (tmp.path().join("home"), tmp.path().join("gallery"));
    let t = TestApp::open(&home, &gallery);
    let mut events = t.watch();

    // Paused: a batch is recorded but nothing is sent.
    let paused = t.ok("pause_queue", json!({ "reason": "checking the budget" }));
    assert_eq!(paused["paused"], true, "{paused}");
    assert_eq!(paused["pauseReason"], "checking the budget");
    // The UI learns of it on the channel (other queueChanged events, e.g. the plan's limit
    // arriving at startup, may come first).
    let changed = loop {
        let e = events.next();
        if e["kind"] == "queueChanged" && e["state"]["paused"] == true {
            break e;
        }
    };
    assert_eq!(changed["state"]["pauseReason"], "checking the budget", "{changed}");

    let batch = json!({ "request": {
        "prompts": ["a fox in snow", "an owl at night"], "negativePrompt": null,
        "model": "Qubico/flux1-schnell", "width": 512, "height": 512, "steps": null, "guidance": null,
        "seeds": { "kind": "sweep", "start": 100, "step": 10 }, "countPerPrompt": 2
    }});
    let ids: Vec<i64> = serde_json::from_value(t.ok("generate_batch", batch)).unwrap();
    assert_eq!(ids.len(), 4);
    let state = t.ok("queue_state", json!({}));
    assert_eq!((state["paused"].as_bool(), state["queued"].as_u64()), (Some(true), Some(4)), "{state}");
    assert!(state["limit"].as_u64().unwrap() >= 1, "{state}");

    // Reorder while queued: the last job to the front, the first to the end.
    t.ok("move_job", json!({ "jobId": ids[3], "before": ids[0] }));
    t.ok("move_job", json!({ "jobId": ids[0], "before": null }));
    assert_eq!(t.code("move_job", json!({ "jobId": 999_999, "before": null })), "Missing");

    // Resumed: everything runs, seeds follow the sweep per prompt, and the batch is announced.
    let resumed = t.ok("resume_queue", json!({}));
    assert_eq!(resumed["paused"], false, "{resumed}");
    let images = events.saved(&ids);
    let seeds: Vec<(String, i64)> = images
        .iter()
        .map(|i| (i["prompt"].as_str().unwrap().to_owned(), i["seed"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        seeds,
        vec![
            ("a fox in snow".to_owned(), 100),
            ("a fox in snow".to_owned(), 110),
            ("an owl at night".to_owned(), 100),
            ("an owl at night".to_owned(), 110)
        ]
    );
    let done = events.batch_finished();
    assert_eq!((done["saved"].as_u64(), done["failed"].as_u64()), (Some(4), Some(0)), "{done}");
    assert!(!done["batchId"].as_str().unwrap().is_empty(), "{done}");
    // The notification text the shell would show if the window were in the background.
    assert_eq!(fluxdesk_app_lib::notify::batch_message(4, 0).as_deref(), Some("4 images ready"));

    let state = t.ok("queue_state", json!({}));
    assert_eq!((state["queued"].as_u64(), state["running"].as_u64()), (Some(0), Some(0)), "{state}");
    // Moving a job that is no longer queued is refused.
    assert_eq!(t.code("move_job", json!({ "jobId": ids[1], "before": null })), "InvalidInput");

    let cost = t.ok("cost_summary", json!({}));
    assert_eq!(cost["demo"], true, "{cost}");
    let today = cost["todayUsd"].as_f64().unwrap();
    assert!((today - 4.0 * 0.0015).abs() < 1e-9, "4 schnell images cost $0.006 today: {cost}");
    assert!(cost["monthUsd"].as_f64().unwrap() >= today, "{cost}");
    assert!(cost["balanceUsd"].as_f64().is_some(), "the simulator reports a balance: {cost}");

    t.shutdown();
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
