//! The database and the task ledger on real SQLite files: migrations, unusable files (never
//! wiped), every state transition, leases raced by two connections, and two real processes
//! resuming the same tasks at once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use fluxdesk_core::db::{Db, SCHEMA_VERSION};
use fluxdesk_core::gallery::{Gallery, NewImage};
use fluxdesk_core::ledger::{Ledger, TaskState};
use fluxdesk_core::metadata::ImageMeta;
use fluxdesk_core::{Error, ErrorCode};
use piapi::{Model, Size, TaskRequest};

fn request(prompt: &str) -> TaskRequest {
    TaskRequest::txt2img(Model::Schnell, prompt, Size::new(1024, 1024))
}

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("data").join("fluxdesk.db");
    (dir, path)
}

fn user_version(path: &Path) -> i64 {
    let c = rusqlite::Connection::open(path).expect("open raw");
    c.pragma_query_value(None, "user_version", |r| r.get(0)).expect("user_version")
}

// ------------------------------------------------------------------------------------------------
// Db
// ------------------------------------------------------------------------------------------------

#[test]
fn fresh_file_is_migrated_in_wal_mode_and_reopens_with_its_data() {
    let (_dir, path) = temp_db();
    let id = {
        let db = Db::open(&path).expect("open");
        assert_eq!(db.path(), Some(path.as_path()));
        let mode: String =
            db.with(|c| c.pragma_query_value(None, "journal_mode", |r| r.get(0))).expect("mode");
        assert_eq!(mode, "wal");
        let fk: i64 = db.with(|c| c.pragma_query_value(None, "foreign_keys", |r| r.get(0))).expect("fk");
        assert_eq!(fk, 1);
        let timeout: i64 = db.with(|c| c.pragma_query_value(None, "busy_timeout", |r| r.get(0))).expect("bt");
        assert_eq!(timeout, 10_000);
        Ledger::new(db).record(&request("a red fox"), None, None).expect("record")
    };
    assert_eq!(user_version(&path), SCHEMA_VERSION);

    let db = Db::open(&path).expect("reopen");
    let t = Ledger::new(db).get(id).expect("get");
    assert_eq!(t.request.input.prompt, "a red fox");
    assert_eq!(user_version(&path), SCHEMA_VERSION);
}

#[test]
fn two_connections_opening_a_new_file_at_once_migrate_it_once() {
    let (_dir, path) = temp_db();
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (path, barrier) = (path.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                Db::open(&path).map(drop)
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread").expect("open");
    }
    assert_eq!(user_version(&path), SCHEMA_VERSION);
}

#[test]
fn newer_schema_is_a_clear_error_and_the_file_is_untouched() {
    let (_dir, path) = temp_db();
    drop(Db::open(&path).expect("create"));
    {
        let c = rusqlite::Connection::open(&path).expect("raw");
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 5).expect("bump");
        c.pragma_update(None, "journal_mode", "DELETE").expect("leave WAL so the file is self-contained");
    }
    let before = std::fs::read(&path).expect("read");

    let err = Db::open(&path).expect_err("must refuse a newer schema");
    match &err {
        Error::DatabaseTooNew { found, supported, path: p } => {
            assert_eq!(*found, SCHEMA_VERSION + 5);
            assert_eq!(*supported, SCHEMA_VERSION);
            assert_eq!(p, &path);
        }
        other => panic!("expected DatabaseTooNew, got {other:?}"),
    }
    assert_eq!(err.code(), ErrorCode::DatabaseUnusable);
    assert!(err.to_string().contains("gallery rebuild"), "the message names the way out: {err}");
    assert_eq!(std::fs::read(&path).expect("read"), before, "the newer database must not be modified");
}

#[test]
fn garbage_file_is_corrupt_and_left_untouched() {
    let (_dir, path) = temp_db();
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let garbage: Vec<u8> = (0..10_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&path, &garbage).expect("write");

    let err = Db::open(&path).expect_err("garbage is not a database");
    assert!(matches!(err, Error::DatabaseCorrupt { .. }), "got {err:?}");
    assert_eq!(err.code(), ErrorCode::DatabaseUnusable);
    assert_eq!(std::fs::read(&path).expect("read"), garbage, "never rewrite an unusable file");
}

#[test]
fn damaged_pages_fail_the_quick_check_and_the_file_is_untouched() {
    let (_dir, path) = temp_db();
    {
        let db = Db::open(&path).expect("create");
        let ledger = Ledger::new(db.clone());
        for i in 0..300 {
            ledger
                .record(&request(&format!("prompt number {i} with some padding text")), None, None)
                .expect("rec");
        }
        db.with(|c| c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;"))
            .expect("ckpt");
    }
    let mut bytes = std::fs::read(&path).expect("read");
    let page = 4096;
    assert!(bytes.len() > 4 * page, "the database has several pages");
    // Scribble over the middle of pages 2 and 3 (b-tree pages), keeping the header intact.
    for b in &mut bytes[page + 100..3 * page - 100] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).expect("write");

    let err = Db::open(&path).expect_err("damaged pages must be detected");
    assert!(matches!(err, Error::DatabaseCorrupt { .. }), "got {err:?}");
    assert_eq!(std::fs::read(&path).expect("read"), bytes);
}

#[test]
fn move_aside_and_recreate_keeps_the_broken_file() {
    let (dir, path) = temp_db();
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, b"definitely not sqlite, but the user's data").expect("write");
    std::fs::write(dir.path().join("data").join("fluxdesk.db-wal"), b"wal bytes").expect("write wal");
    assert!(Db::open(&path).is_err());

    let db = Db::move_aside_and_recreate(&path).expect("recreate");
    assert_eq!(Ledger::new(db).list_recent(10).expect("list").len(), 0);

    let names: Vec<String> = std::fs::read_dir(path.parent().expect("parent"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let aside = names
        .iter()
        .find(|n| n.starts_with("fluxdesk.db.broken-") && !n.ends_with("-wal"))
        .expect("moved db");
    let aside_path = path.with_file_name(aside);
    assert_eq!(std::fs::read(&aside_path).expect("read"), b"definitely not sqlite, but the user's data");
    let wal = names
        .iter()
        .find(|n| n.starts_with("fluxdesk.db.broken-") && n.ends_with("-wal"))
        .expect("moved wal");
    assert_eq!(std::fs::read(path.with_file_name(wal)).expect("read"), b"wal bytes");
    assert_eq!(user_version(&path), SCHEMA_VERSION);

    // A second move the same second gets its own name.
    drop(Db::move_aside_and_recreate(&path).expect("again"));
    let count = std::fs::read_dir(path.parent().expect("parent"))
        .expect("ls")
        .filter(|e| {
            let n = e.as_ref().expect("entry").file_name().to_string_lossy().into_owned();
            n.starts_with("fluxdesk.db.broken-") && !n.ends_with("-wal") && !n.ends_with("-shm")
        })
        .count();
    assert_eq!(count, 2);
}

// ------------------------------------------------------------------------------------------------
// Ledger transitions
// ------------------------------------------------------------------------------------------------

fn ledger() -> Ledger {
    Ledger::new(Db::open_in_memory().expect("db"))
}

#[test]
fn happy_path_records_everything_before_it_is_needed() {
    let l = ledger();
    let mut req = request("a red fox at dawn");
    req.input.seed = Some(42);
    req.input.negative_prompt = Some("blurry".into());
    let id = l.record(&req, Some("batch-1"), None).expect("record");

    let t = l.get(id).expect("get");
    assert_eq!(t.state, TaskState::Queued);
    assert_eq!(t.request, req, "the full request is stored before anything is sent");
    assert_eq!(t.batch_id.as_deref(), Some("batch-1"));
    assert!((t.estimated_cost_usd - 0.0015).abs() < 1e-12);
    assert!(t.task_id.is_none() && t.submitted_at.is_none());

    assert!(l.begin_submit(id).expect("begin"));
    assert_eq!(l.get(id).expect("get").state, TaskState::Submitting);
    l.mark_submitted(id, "task-abc").expect("submitted");
    let t = l.get(id).expect("get");
    assert_eq!((t.state, t.task_id.as_deref()), (TaskState::Submitted, Some("task-abc")));
    assert!(t.submitted_at.is_some());

    let started = Utc::now() - TimeDelta::seconds(3);
    l.mark_running(id, Some(started)).expect("running");
    l.mark_downloading(id, Some(15_000)).expect("downloading");
    l.mark_saved(id).expect("saved");
    let t = l.get(id).expect("get");
    assert_eq!(t.state, TaskState::Saved);
    assert_eq!(t.consume, Some(15_000));
    assert_eq!(t.started_at.map(|s| s.timestamp_millis()), Some(started.timestamp_millis()));
    assert!(t.finished_at.is_some());
    assert_eq!(l.find_by_task_id("task-abc").expect("find").map(|t| t.id), Some(id));
    assert_eq!(l.list_batch("batch-1").expect("batch").len(), 1);
}

#[test]
fn begin_submit_is_a_compare_and_set() {
    let l = ledger();
    let id = l.record(&request("x"), None, None).expect("record");
    assert!(l.begin_submit(id).expect("first"));
    assert!(!l.begin_submit(id).expect("second"), "a task is sent at most once");

    let cancelled = l.record(&request("y"), None, None).expect("record");
    l.mark_cancelled(cancelled).expect("cancel");
    assert!(!l.begin_submit(cancelled).expect("cancelled is not sent"));

    assert!(matches!(l.begin_submit(9999), Err(Error::Missing { .. })));
}

#[test]
fn illegal_transitions_are_refused_and_repeats_are_no_ops() {
    let l = ledger();
    let id = l.record(&request("x"), None, None).expect("record");
    // Not submitted yet: no task id, so it cannot be running, downloading or saved.
    for r in [l.mark_running(id, None), l.mark_downloading(id, None), l.mark_saved(id)] {
        let e = r.expect_err("illegal from queued");
        assert!(matches!(&e, Error::InvalidInput { field, .. } if field == "state"), "{e:?}");
    }
    assert!(l.mark_submitted(id, "t-1").is_err(), "mark_submitted needs begin_submit first");

    assert!(l.begin_submit(id).expect("begin"));
    assert!(l.mark_saved(id).is_err(), "submitting → saved is illegal");
    l.mark_submitted(id, "t-1").expect("submitted");
    l.mark_submitted(id, "t-1").expect("same task id again is a no-op");
    assert!(l.mark_submitted(id, "t-2").is_err(), "the task id is never replaced");

    l.mark_downloading(id, None).expect("downloading");
    l.mark_running(id, None).expect("a late 'running' after downloading is ignored");
    assert_eq!(l.get(id).expect("get").state, TaskState::Downloading);
    l.mark_saved(id).expect("saved");
    l.mark_saved(id).expect("saved twice is fine (two resumers)");

    // Saved is final.
    assert!(l.mark_failed(id, ErrorCode::Network, "late failure").is_err());
    assert!(l.mark_cancelled(id).is_err());
    assert!(l.mark_abandoned(id).is_err());
    l.mark_running(id, None).expect("late progress on a saved task is a no-op");
    l.mark_downloading(id, None).expect("late progress on a saved task is a no-op");
    assert!(l.reopen(id).is_err());
    assert_eq!(l.get(id).expect("get").state, TaskState::Saved);

    assert!(matches!(l.get(424242), Err(Error::Missing { .. })));
    assert!(matches!(l.mark_saved(424242), Err(Error::Missing { .. })));
}

#[test]
fn failures_cancellation_abandon_and_reopen() {
    let l = ledger();
    let a = l.record(&request("a"), None, None).expect("record");
    assert!(l.begin_submit(a).expect("begin"));
    l.mark_submitted(a, "task-a").expect("sub");
    l.mark_running(a, None).expect("run");
    l.mark_failed(a, ErrorCode::Timeout, "still running after 120 checks").expect("fail");
    let t = l.get(a).expect("get");
    assert_eq!((t.state, t.error_code), (TaskState::Failed, Some(ErrorCode::Timeout)));
    assert_eq!(t.error_message.as_deref(), Some("still running after 120 checks"));
    assert!(l.resumable().expect("res").is_empty());

    // Reopen: the task id is known, so it can be polled again without paying again.
    l.reopen(a).expect("reopen");
    let t = l.get(a).expect("get");
    assert_eq!(t.state, TaskState::Submitted);
    assert!(t.error_code.is_none() && t.finished_at.is_none());
    assert_eq!(l.resumable().expect("res").iter().map(|t| t.id).collect::<Vec<_>>(), vec![a]);

    // A task that never got a task id cannot be reopened.
    let b = l.record(&request("b"), None, None).expect("record");
    assert!(l.begin_submit(b).expect("begin"));
    l.mark_failed(b, ErrorCode::InsufficientCredits, "no credits").expect("fail");
    assert!(matches!(l.reopen(b), Err(Error::InvalidInput { .. })));
    l.mark_abandoned(b).expect("abandon a failed task");
    assert_eq!(l.get(b).expect("get").state, TaskState::Abandoned);

    let c = l.record(&request("c"), None, None).expect("record");
    l.mark_cancelled(c).expect("cancel queued");
    l.mark_cancelled(c).expect("cancel twice");
    assert!(l.mark_failed(c, ErrorCode::Network, "x").is_err(), "a cancelled task does not fail");
}

#[test]
fn a_late_create_reply_revives_an_uncertain_task_instead_of_losing_the_image() {
    let l = ledger();
    let id = l.record(&request("x"), None, None).expect("record");
    assert!(l.begin_submit(id).expect("begin"));
    // Another process decided the create is uncertain…
    l.mark_failed(id, ErrorCode::CreateUnknown, "the create may have reached PiAPI").expect("fail");
    // …then the reply arrives after all: the task is paid for, so it must be followed.
    l.mark_submitted(id, "task-late").expect("late submit");
    let t = l.get(id).expect("get");
    assert_eq!(
        (t.state, t.task_id.as_deref(), t.error_code),
        (TaskState::Submitted, Some("task-late"), None)
    );

    // A task cancelled while its create was in flight keeps its (paid) task id but stays cancelled.
    let c = l.record(&request("y"), None, None).expect("record");
    assert!(l.begin_submit(c).expect("begin"));
    l.mark_cancelled(c).expect("cancel");
    l.mark_submitted(c, "task-cancelled").expect("record the id");
    let t = l.get(c).expect("get");
    assert_eq!((t.state, t.task_id.as_deref()), (TaskState::Cancelled, Some("task-cancelled")));
}

#[test]
fn resumable_queued_and_uncertain_lists() {
    let l = ledger();
    let queued = l.record(&request("queued"), None, None).expect("r");
    let submitting = l.record(&request("submitting"), None, None).expect("r");
    let submitting_leased = l.record(&request("submitting, leased"), None, None).expect("r");
    let running = l.record(&request("running"), None, None).expect("r");
    let downloading = l.record(&request("downloading"), None, None).expect("r");
    let saved = l.record(&request("saved"), None, None).expect("r");
    let failed = l.record(&request("failed"), None, None).expect("r");

    for id in [submitting, submitting_leased, running, downloading, saved, failed] {
        assert!(l.begin_submit(id).expect("begin"));
    }
    for (id, tid) in [(running, "t-run"), (downloading, "t-dl"), (saved, "t-saved"), (failed, "t-failed")] {
        l.mark_submitted(id, tid).expect("sub");
    }
    l.mark_running(running, None).expect("run");
    l.mark_downloading(downloading, None).expect("dl");
    l.mark_saved(saved).expect("saved");
    l.mark_failed(failed, ErrorCode::TaskFailed, "nsfw").expect("failed");
    assert!(l.try_lease(submitting_leased, "live-process", Duration::from_secs(60)).expect("lease"));

    let ids = |v: Vec<fluxdesk_core::ledger::LedgerTask>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(l.queued().expect("queued")), vec![queued]);
    assert_eq!(ids(l.resumable().expect("resumable")), vec![running, downloading]);
    assert_eq!(ids(l.uncertain().expect("uncertain")), vec![submitting], "a live lease hides the task");

    let recent = ids(l.list_recent(3).expect("recent"));
    assert_eq!(recent, vec![failed, saved, downloading], "newest first, limited");
}

#[test]
fn spent_since_counts_everything_that_may_have_been_charged() {
    let l = ledger();
    let dev = TaskRequest::txt2img(Model::Dev, "x", Size::new(1024, 1024)); // $0.015
    let mut batch = request("y"); // schnell × 4 = $0.006
    batch.input.batch_size = Some(4);

    let sent = l.record(&dev, None, None).expect("r");
    assert!(l.begin_submit(sent).expect("b"));
    l.mark_submitted(sent, "t1").expect("s");
    let in_flight = l.record(&batch, None, None).expect("r");
    assert!(l.begin_submit(in_flight).expect("b"));
    let unknown = l.record(&dev, None, None).expect("r");
    assert!(l.begin_submit(unknown).expect("b"));
    l.mark_failed(unknown, ErrorCode::CreateUnknown, "?").expect("f");
    let rejected = l.record(&dev, None, None).expect("r");
    assert!(l.begin_submit(rejected).expect("b"));
    l.mark_failed(rejected, ErrorCode::InsufficientCredits, "no credits").expect("f");
    let _never_sent = l.record(&dev, None, None).expect("r");

    let spent = l.spent_since(Utc::now() - TimeDelta::hours(1)).expect("spent");
    assert!((spent - (0.015 + 0.006 + 0.015)).abs() < 1e-9, "spent {spent}");
    assert_eq!(l.spent_since(Utc::now() + TimeDelta::hours(1)).expect("spent"), 0.0);
}

#[test]
fn image_ids_link_by_ledger_id_and_by_task_id() {
    let db = Db::open_in_memory().expect("db");
    let l = Ledger::new(db.clone());
    let dir = tempfile::tempdir().expect("tmp");
    let g = Gallery::new(db, dir.path().join("gallery"), dir.path().join("thumbs"));
    let id = l.record(&request("fox"), None, None).expect("r");
    assert!(l.begin_submit(id).expect("b"));
    l.mark_submitted(id, "task-fox").expect("s");

    let image = |rel: &str, idx: u32, ledger_id: Option<i64>| NewImage {
        rel_path: rel.into(),
        meta: ImageMeta {
            prompt: "fox".into(),
            width: 64,
            height: 64,
            task_id: Some("task-fox".into()),
            output_index: Some(idx),
            ..ImageMeta::default()
        },
        content_hash: format!("hash-{idx}"),
        file_size: 1,
        ledger_id,
        created_at: Utc::now(),
    };
    let (a, _) = g.insert(&image("a.png", 0, Some(id))).expect("insert");
    let (b, _) = g.insert(&image("b.png", 1, None)).expect("insert");
    assert_eq!(l.get(id).expect("get").image_ids, vec![a, b]);
    assert_eq!(g.get(b).expect("get").ledger_id, Some(id), "ledger id derived from the task id");
}

// ------------------------------------------------------------------------------------------------
// Leases
// ------------------------------------------------------------------------------------------------

#[test]
fn two_connections_racing_for_a_lease_exactly_one_wins() {
    let (_dir, path) = temp_db();
    let setup = Ledger::new(Db::open(&path).expect("open"));
    let ids: Vec<i64> =
        (0..20).map(|i| setup.record(&request(&format!("t{i}")), None, None).expect("r")).collect();

    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = ["proc-a", "proc-b"]
        .into_iter()
        .map(|owner| {
            let (path, barrier, ids) = (path.clone(), barrier.clone(), ids.clone());
            std::thread::spawn(move || {
                // A separate Db = a separate connection, as another process would have.
                let l = Ledger::new(Db::open(&path).expect("open"));
                barrier.wait();
                ids.iter()
                    .filter(|&&id| l.try_lease(id, owner, Duration::from_secs(60)).expect("lease"))
                    .copied()
                    .collect::<Vec<i64>>()
            })
        })
        .collect();
    let won: Vec<Vec<i64>> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    let mut all: Vec<i64> = won.concat();
    all.sort_unstable();
    assert_eq!(all, ids, "every task leased by exactly one owner (a: {:?}, b: {:?})", won[0], won[1]);
}

#[test]
fn leases_renew_expire_and_release() {
    let l = ledger();
    let id = l.record(&request("x"), None, None).expect("r");
    assert!(l.try_lease(id, "a", Duration::from_secs(60)).expect("a takes it"));
    assert!(!l.try_lease(id, "b", Duration::from_secs(60)).expect("b is refused"));
    assert!(l.try_lease(id, "a", Duration::from_secs(60)).expect("a renews"));
    l.release(id, "b").expect("releasing someone else's lease is a no-op");
    assert!(!l.try_lease(id, "b", Duration::from_secs(60)).expect("still a's"));
    l.release(id, "a").expect("release");
    assert!(l.try_lease(id, "b", Duration::ZERO).expect("free again"));
    // b's zero-length lease has expired by the next millisecond.
    std::thread::sleep(Duration::from_millis(5));
    assert!(l.try_lease(id, "c", Duration::from_secs(60)).expect("expired lease can be taken"));
    assert!(matches!(l.try_lease(777, "a", Duration::from_secs(1)), Err(Error::Missing { .. })));
}

// ------------------------------------------------------------------------------------------------
// Two real processes resuming the same tasks at once
// ------------------------------------------------------------------------------------------------

const CHILD_DB: &str = "FLUXDESK_TEST_CHILD_DB";
const CHILD_GALLERY: &str = "FLUXDESK_TEST_CHILD_GALLERY";
const CHILD_OWNER: &str = "FLUXDESK_TEST_CHILD_OWNER";
const CHILD_LEASE: &str = "FLUXDESK_TEST_CHILD_LEASE";

/// Completes a resumable task the way the runner does: deterministic file name, crash-safe write,
/// idempotent index insert, then Saved.
fn complete(l: &Ledger, g: &Gallery, id: i64) {
    let t = l.get(id).expect("get");
    let task_id = t.task_id.expect("resumable tasks have a task id");
    for index in 0..t.request.image_count() {
        let rel = format!("2026/11/{task_id}_{index}.png");
        let bytes = format!("image bytes of {task_id}/{index}").into_bytes();
        fluxdesk_core::files::write_new_file(&g.root().join(&rel), &bytes).expect("write");
        g.insert(&NewImage {
            rel_path: rel,
            meta: ImageMeta {
                prompt: t.request.input.prompt.clone(),
                width: 1024,
                height: 1024,
                task_id: Some(task_id.clone()),
                output_index: Some(index),
                ..ImageMeta::default()
            },
            content_hash: fluxdesk_core::files::content_hash(&bytes),
            file_size: bytes.len() as u64,
            ledger_id: Some(id),
            created_at: Utc::now(),
        })
        .expect("insert");
    }
    l.mark_downloading(id, None).expect("downloading");
    l.mark_saved(id).expect("saved");
}

/// Run by `two_processes_resuming_at_once_*` in a child process; does nothing when run directly.
#[test]
#[ignore = "helper: run as a child process by the two-process tests"]
fn child_resume_worker() {
    let (Some(db), Some(gallery), Some(owner)) =
        (std::env::var_os(CHILD_DB), std::env::var_os(CHILD_GALLERY), std::env::var(CHILD_OWNER).ok())
    else {
        return;
    };
    let use_lease = std::env::var_os(CHILD_LEASE).is_some();
    let db = Db::open(Path::new(&db)).expect("open");
    let l = Ledger::new(db.clone());
    let g = Gallery::new(db, PathBuf::from(gallery), std::env::temp_dir().join("unused-thumbs"));
    for t in l.resumable().expect("resumable") {
        if use_lease {
            if !l.try_lease(t.id, &owner, Duration::from_secs(60)).expect("lease") {
                continue;
            }
            // Re-check under the lease: the other process may have finished it already.
            if l.get(t.id).expect("get").state == TaskState::Saved {
                l.release(t.id, &owner).expect("release");
                continue;
            }
            println!("WORKED {}", t.id);
        }
        complete(&l, &g, t.id);
        if use_lease {
            l.release(t.id, &owner).expect("release");
        }
    }
}

fn run_two_children(db: &Path, gallery: &Path, use_lease: bool) -> Vec<Vec<i64>> {
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = ["child-a", "child-b"]
        .into_iter()
        .map(|owner| {
            let mut cmd = Command::new(&exe);
            cmd.args(["--exact", "child_resume_worker", "--ignored", "--nocapture", "--test-threads=1"])
                .env(CHILD_DB, db)
                .env(CHILD_GALLERY, gallery)
                .env(CHILD_OWNER, owner)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            if use_lease {
                cmd.env(CHILD_LEASE, "1");
            }
            cmd.spawn().expect("spawn child")
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("child");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "child failed: {stdout}\n{stderr}");
            // libtest prints "test child_resume_worker ... " without a newline before the output.
            stdout
                .lines()
                .filter_map(|l| l.split("WORKED ").nth(1))
                .map(|n| n.trim().parse().expect("id"))
                .collect()
        })
        .collect()
}

fn seed_resumable(path: &Path, n: usize) -> (Ledger, Vec<i64>) {
    let l = Ledger::new(Db::open(path).expect("open"));
    let ids = (0..n)
        .map(|i| {
            let mut req = request(&format!("fox {i}"));
            req.input.batch_size = Some(if i % 3 == 0 { 2 } else { 1 });
            let id = l.record(&req, None, None).expect("r");
            assert!(l.begin_submit(id).expect("b"));
            l.mark_submitted(id, &format!("task-{i}")).expect("s");
            id
        })
        .collect();
    (l, ids)
}

#[test]
fn two_processes_resuming_at_once_without_leases_still_give_one_entry_per_image() {
    let dir = tempfile::tempdir().expect("tmp");
    let db_path = dir.path().join("fluxdesk.db");
    let gallery = dir.path().join("gallery");
    let (l, ids) = seed_resumable(&db_path, 30);

    run_two_children(&db_path, &gallery, false);

    let g = Gallery::new(l.db().clone(), gallery.clone(), dir.path().join("thumbs"));
    let expected_images: u64 = (0..30).map(|i| if i % 3 == 0 { 2 } else { 1 }).sum();
    assert_eq!(g.count().expect("count"), expected_images, "exactly one gallery entry per image");
    for id in ids {
        let t = l.get(id).expect("get");
        assert_eq!(t.state, TaskState::Saved);
        assert_eq!(t.image_ids.len() as u32, t.request.image_count());
    }
    assert!(l.resumable().expect("res").is_empty());
}

#[test]
fn two_processes_resuming_at_once_with_leases_never_work_the_same_task() {
    let dir = tempfile::tempdir().expect("tmp");
    let db_path = dir.path().join("fluxdesk.db");
    let gallery = dir.path().join("gallery");
    let (l, ids) = seed_resumable(&db_path, 30);

    let worked = run_two_children(&db_path, &gallery, true);
    let mut all = worked.concat();
    all.sort_unstable();
    assert_eq!(all, ids, "each task worked by exactly one process (a: {:?}, b: {:?})", worked[0], worked[1]);

    let g = Gallery::new(l.db().clone(), gallery, dir.path().join("thumbs"));
    assert_eq!(g.count().expect("count"), 40);
    assert!(ids.iter().all(|&id| l.get(id).expect("get").state == TaskState::Saved));
}

#[test]
fn task_state_names_round_trip() {
    for s in TaskState::ALL {
        assert_eq!(TaskState::parse(s.as_str()).expect("parse"), s);
        assert_eq!(serde_json::to_value(s).expect("json"), serde_json::Value::String(s.as_str().into()));
    }
    assert!(TaskState::parse("done").is_err());
    assert!(TaskState::Saved.is_terminal() && !TaskState::Downloading.is_terminal());
}
