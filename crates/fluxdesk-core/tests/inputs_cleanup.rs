//! Cleaning `<data>/inputs` on real files and a real ledger: files a task can still send, resume
//! or retry are kept, unused old ones go, young ones stay, and nothing outside the folder (or
//! behind a symbolic link, or not named as Fluxdesk names inputs) is touched.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::png_bytes;
use fluxdesk_core::ErrorCode;
use fluxdesk_core::db::Db;
use fluxdesk_core::inputs::{self, INPUTS_GRACE, InputsCleanup, PreparedInput, TaskSources};
use fluxdesk_core::ledger::{Ledger, TaskState};
use fluxdesk_core::secrets::MemoryStore;
use fluxdesk_core::studio::{DemoChoice, Studio};
use piapi::{Model, Size, TaskRequest};

const HOUR: Duration = Duration::from_secs(3600);

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    inputs: PathBuf,
    ledger: Ledger,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let home = root.join("home");
        let inputs = inputs::inputs_dir(&home);
        std::fs::create_dir_all(&inputs).expect("inputs dir");
        let ledger = Ledger::new(Db::open(&home.join("fluxdesk.db")).expect("db"));
        Fixture { _dir: dir, root, inputs, ledger }
    }

    /// A prepared input with distinct bytes, written `age` ago.
    fn input(&self, seed: u32, age: Duration) -> PreparedInput {
        let p = inputs::store_png(&self.inputs, &png_bytes(8, 8, seed), 8, 8).expect("store");
        set_age(Path::new(&p.path), age);
        p
    }

    /// A task using `image` (and `control`), brought to `state`.
    fn task(&self, image: &PreparedInput, control: Option<&PreparedInput>, state: TaskState) -> i64 {
        let sources = TaskSources {
            image: Some(image.clone()),
            control_image: control.cloned(),
            source_image_id: None,
        };
        let req = TaskRequest::txt2img(Model::Schnell, "a red fox", Size::new(512, 512));
        let id = self
            .ledger
            .record_batch_with_sources(&[req], Some(&sources), Some("live:t"), None)
            .expect("record")[0];
        let l = &self.ledger;
        let submit = |n: i64| {
            assert!(l.begin_submit(n).expect("begin"));
            l.mark_submitted(n, &format!("task-{n}")).expect("submitted");
        };
        match state {
            TaskState::Queued => {}
            TaskState::Submitting => assert!(l.begin_submit(id).expect("begin")),
            TaskState::Submitted => submit(id),
            TaskState::Running => {
                submit(id);
                l.mark_running(id, None).expect("running");
            }
            TaskState::Downloading => {
                submit(id);
                l.mark_downloading(id, None).expect("downloading");
            }
            TaskState::Saved => {
                submit(id);
                l.mark_saved(id).expect("saved");
            }
            TaskState::Failed => l.mark_failed(id, ErrorCode::UploadFailed, "upload failed").expect("failed"),
            TaskState::Cancelled => l.mark_cancelled(id).expect("cancelled"),
            TaskState::Abandoned => {
                assert!(l.begin_submit(id).expect("begin"));
                l.mark_failed(id, ErrorCode::CreateUnknown, "unknown").expect("failed");
                l.mark_abandoned(id).expect("abandoned");
            }
        }
        assert_eq!(l.get(id).expect("task").state, state);
        id
    }

    fn clean(&self) -> InputsCleanup {
        inputs::clean_inputs(&self.inputs, &self.ledger, INPUTS_GRACE).expect("clean")
    }
}

/// How long a finished task keeps its inputs for a retry.
fn retry_window() -> chrono::Duration {
    chrono::Duration::from_std(inputs::RETRY_INPUTS_FOR).expect("window")
}

/// Backdates the end of task `id` to `at` (the ledger records the real time).
fn ended_at(ledger: &Ledger, id: i64, at: chrono::DateTime<chrono::Utc>) {
    ledger
        .db()
        .with(|c| {
            c.execute(
                "UPDATE tasks SET finished_at = ?2, updated_at = ?2 WHERE id = ?1",
                rusqlite::params![id, at.timestamp_millis()],
            )
        })
        .expect("backdate");
}

fn set_age(path: &Path, age: Duration) {
    let f = std::fs::OpenOptions::new().write(true).open(path).expect("open for mtime");
    f.set_modified(SystemTime::now() - age).expect("set mtime");
}

fn exists(p: &PreparedInput) -> bool {
    Path::new(&p.path).is_file()
}

#[test]
fn inputs_of_tasks_that_may_still_run_or_be_retried_are_kept_and_the_rest_goes() {
    let f = Fixture::new();
    let old = 2 * HOUR;
    // One old input per state that can still need it, plus a ControlNet image.
    let keep_states = [
        TaskState::Queued,
        TaskState::Submitting,
        TaskState::Submitted,
        TaskState::Running,
        TaskState::Downloading,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::Abandoned,
    ];
    let mut kept = Vec::new();
    for (i, state) in keep_states.into_iter().enumerate() {
        let p = f.input(100 + i as u32, old);
        f.task(&p, None, state);
        kept.push(p);
    }
    let control = f.input(200, old);
    let source = f.input(201, old);
    f.task(&source, Some(&control), TaskState::Queued);
    kept.extend([control, source]);
    // Shared by a saved task and a failed (retryable) one: kept.
    let shared = f.input(300, old);
    f.task(&shared, None, TaskState::Saved);
    f.task(&shared, None, TaskState::Failed);
    kept.push(shared);
    // Only saved tasks use it, or nothing does: removed.
    let saved_only = f.input(400, old);
    f.task(&saved_only, None, TaskState::Saved);
    let unused = f.input(401, old);
    // Young: an input prepared for a task not recorded yet (a paste, a plan in progress).
    let young = f.input(402, Duration::from_secs(10));
    // A crash's leftover temp file (old) goes; one being written now stays.
    let stale_tmp = f.inputs.join(".fluxdesk-tmp-abc123");
    let live_tmp = f.inputs.join(".fluxdesk-tmp-def456");
    std::fs::write(&stale_tmp, b"partial").expect("tmp");
    std::fs::write(&live_tmp, b"partial").expect("tmp");
    set_age(&stale_tmp, old);

    let r = f.clean();
    for p in &kept {
        assert!(exists(p), "{} is in use and must stay", p.path);
    }
    assert!(!exists(&saved_only), "an input only saved tasks used is removed");
    assert!(!exists(&unused), "an unused old input is removed");
    assert!(exists(&young), "a young input stays");
    assert!(!stale_tmp.exists() && live_tmp.exists());
    assert_eq!(r.removed, 3, "{r:?}");
    assert_eq!(r.removed_bytes, saved_only.bytes + unused.bytes + 7, "{r:?}");
    assert_eq!(r.in_use, kept.len() as u32, "{r:?}");
    assert_eq!((r.recent, r.foreign, r.failed), (2, 0, 0), "{r:?}");

    // Nothing left to do the second time.
    let again = f.clean();
    assert_eq!((again.removed, again.in_use, again.recent), (0, kept.len() as u32, 2), "{again:?}");
}

#[test]
fn a_failed_task_keeps_its_inputs_for_a_retry_for_a_month() {
    let f = Fixture::new();
    let days = |d: i64| chrono::Utc::now() - chrono::Duration::days(d);
    let ended = |id: i64, at: chrono::DateTime<chrono::Utc>| ended_at(&f.ledger, id, at);
    let window = retry_window().num_days();
    let recent = f.input(1, 2 * HOUR);
    let old = f.input(2, 2 * HOUR);
    let old_cancelled = f.input(3, 2 * HOUR);
    let old_queued = f.input(4, 2 * HOUR);
    let failed_recently = f.task(&recent, None, TaskState::Failed);
    ended(failed_recently, days(window - 1));
    let failed_long_ago = f.task(&old, None, TaskState::Failed);
    ended(failed_long_ago, days(window + 1));
    let cancelled_long_ago = f.task(&old_cancelled, None, TaskState::Cancelled);
    ended(cancelled_long_ago, days(window + 1));
    // A task that may still be sent keeps its input however old it is.
    let queued = f.task(&old_queued, None, TaskState::Queued);
    ended(queued, days(window + 100));

    let r = f.clean();
    assert_eq!((r.removed, r.in_use), (2, 2), "{r:?}");
    assert!(exists(&recent) && exists(&old_queued));
    assert!(!exists(&old) && !exists(&old_cancelled));
}

#[test]
fn a_task_finishing_releases_its_inputs_and_storing_an_input_again_makes_it_young() {
    let f = Fixture::new();
    let p = f.input(1, 2 * HOUR);
    let id = f.task(&p, None, TaskState::Queued);
    assert_eq!(f.clean().in_use, 1);
    assert!(exists(&p));

    // The task is sent and saved: nothing can use the file any more.
    assert!(f.ledger.begin_submit(id).expect("begin"));
    f.ledger.mark_submitted(id, "task-x").expect("submitted");
    f.ledger.mark_saved(id).expect("saved");

    // Before it is cleaned, the same image is prepared again for a new job (not recorded yet):
    // storing it again refreshes it, so the cleanup leaves it for that job.
    let again = inputs::store_png(&f.inputs, &png_bytes(8, 8, 1), 8, 8).expect("store again");
    assert_eq!(again, p);
    let r = f.clean();
    assert!(exists(&p));
    assert_eq!((r.removed, r.recent), (0, 1), "{r:?}");

    set_age(Path::new(&p.path), 2 * HOUR);
    assert_eq!(f.clean().removed, 1);
    assert!(!exists(&p));
}

#[test]
fn inputs_recorded_under_another_data_folder_or_in_a_newer_format_still_count() {
    let f = Fixture::new();
    let moved = f.input(1, 2 * HOUR);
    let newer = f.input(2, 2 * HOUR);
    // The data folder was moved since the task was recorded: its path names the old place.
    let mut elsewhere = moved.clone();
    elsewhere.path =
        f.root.join("old-home").join("inputs").join(format!("{}.png", moved.sha256)).display().to_string();
    f.task(&elsewhere, None, TaskState::Failed);
    // A newer Fluxdesk recorded inputs in a shape this one cannot read.
    let id = f.task(&f.input(3, Duration::ZERO), None, TaskState::Queued);
    let json = format!(r#"{{"inputs":[{{"file":"{}","role":"reference"}}]}}"#, newer.path);
    f.ledger
        .db()
        .with(|c| c.execute("UPDATE tasks SET sources_json = ?2 WHERE id = ?1", rusqlite::params![id, json]))
        .expect("update");
    assert!(f.ledger.get(id).expect("task").sources.is_empty(), "unreadable here");

    let r = f.clean();
    assert!(exists(&moved) && exists(&newer), "{r:?}");
    assert_eq!((r.removed, r.in_use), (0, 2), "{r:?}");
}

#[test]
fn nothing_outside_the_folder_or_behind_a_link_or_foreign_is_touched() {
    let f = Fixture::new();
    let old = 3 * HOUR;
    let hex = |c: char| c.to_string().repeat(64);
    // Next to the inputs folder, named like an input, old.
    let home = f.inputs.parent().expect("home").to_path_buf();
    let sibling = home.join(format!("{}.png", hex('a')));
    // Files in the inputs folder Fluxdesk never writes: another name, upper-case hex, a folder.
    let notes = f.inputs.join("notes.txt");
    let upper = f.inputs.join(format!("{}.png", hex('B')));
    let sub = f.inputs.join("keep");
    let nested = sub.join(format!("{}.png", hex('c')));
    std::fs::create_dir_all(&sub).expect("subdir");
    for p in [&sibling, &notes, &upper, &nested] {
        std::fs::write(p, b"user file").expect("write");
        set_age(p, old);
    }
    let unused = f.input(9, old);
    // notes.txt, the upper-case name and the folder; on Unix also the two links.
    let expected_foreign = if cfg!(unix) { 5 } else { 3 };

    #[cfg(unix)]
    let outside = {
        // Symbolic links inside the folder, to a file and to a folder outside it, named like
        // inputs: neither the links nor what they point at may go.
        let outside_dir = f.root.join("outside");
        std::fs::create_dir_all(&outside_dir).expect("outside");
        let target = outside_dir.join(format!("{}.png", hex('d')));
        let in_dir = outside_dir.join(format!("{}.png", hex('e')));
        for p in [&target, &in_dir] {
            std::fs::write(p, b"not ours").expect("write");
            set_age(p, old);
        }
        let file_link = f.inputs.join(format!("{}.png", hex('d')));
        let dir_link = f.inputs.join(format!("{}.png", hex('f')));
        std::os::unix::fs::symlink(&target, &file_link).expect("symlink");
        std::os::unix::fs::symlink(&outside_dir, &dir_link).expect("symlink");
        vec![target, in_dir, file_link, dir_link]
    };
    #[cfg(not(unix))]
    let outside: Vec<PathBuf> = Vec::new();

    let r = f.clean();
    assert!(!exists(&unused), "our own unused file goes");
    for p in [&sibling, &notes, &upper, &nested].into_iter().chain(&outside) {
        assert!(std::fs::symlink_metadata(p).is_ok(), "{} must stay", p.display());
    }
    assert_eq!((r.removed, r.foreign, r.failed), (1, expected_foreign, 0), "{r:?}");
}

#[cfg(unix)]
#[test]
fn an_inputs_folder_that_is_a_symbolic_link_is_left_alone() {
    let f = Fixture::new();
    let real = f.root.join("elsewhere");
    std::fs::create_dir_all(&real).expect("dir");
    let stray = real.join(format!("{}.png", "0".repeat(64)));
    std::fs::write(&stray, b"x").expect("write");
    set_age(&stray, 2 * HOUR);
    let link = f.root.join("linked-inputs");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");

    let r = inputs::clean_inputs(&link, &f.ledger, INPUTS_GRACE).expect("clean");
    assert_eq!(r, InputsCleanup::default());
    assert!(stray.exists());
    // A missing folder is nothing to do.
    let none = inputs::clean_inputs(&f.root.join("no-such-folder"), &f.ledger, INPUTS_GRACE).expect("clean");
    assert_eq!(none, InputsCleanup::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_studio_cleans_its_inputs_folder_against_its_ledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let studio = Studio::open(common::studio_options(
        dir.path(),
        None,
        &[],
        Arc::new(MemoryStore::default()),
        DemoChoice::Off,
    ))
    .await
    .expect("studio opens");
    let dir_in = studio.paths().inputs_dir();
    let used = inputs::store_png(&dir_in, &png_bytes(8, 8, 1), 8, 8).expect("store");
    let unused = inputs::store_png(&dir_in, &png_bytes(8, 8, 2), 8, 8).expect("store");
    for p in [&used, &unused] {
        set_age(Path::new(&p.path), 2 * HOUR);
    }
    let sources = TaskSources { image: Some(used.clone()), ..TaskSources::default() };
    let req = TaskRequest::txt2img(Model::Schnell, "a red fox", Size::new(512, 512));
    studio.ledger().record_batch_with_sources(&[req], Some(&sources), Some("live:t"), None).expect("record");

    // A task that failed longer ago than the retry window: its input goes, and a retry says so.
    let stale = inputs::store_png(&dir_in, &png_bytes(8, 8, 3), 8, 8).expect("store");
    set_age(Path::new(&stale.path), 2 * HOUR);
    let sources = TaskSources { image: Some(stale.clone()), ..TaskSources::default() };
    let req = TaskRequest::txt2img(Model::Schnell, "a grey wolf", Size::new(512, 512));
    let failed = studio
        .ledger()
        .record_batch_with_sources(&[req], Some(&sources), Some("live:t"), None)
        .expect("record")[0];
    studio.ledger().mark_failed(failed, ErrorCode::UploadFailed, "upload failed").expect("failed");
    ended_at(studio.ledger(), failed, chrono::Utc::now() - retry_window() - chrono::Duration::days(1));

    let r = studio.clean_inputs().await.expect("clean");
    assert_eq!((r.removed, r.in_use), (2, 1), "{r:?}");
    assert!(exists(&used) && !exists(&unused) && !exists(&stale));
    let err = studio.retry_job(failed).await.expect_err("its input is gone");
    assert_eq!(err.code(), ErrorCode::InvalidInput, "{err}");
    assert!(err.to_string().contains("start a new job with the image"), "{err}");
    studio.shutdown().await;
}
