//! The facade end to end against the real simulator over loopback, with a real SQLite file and a
//! real gallery folder: events, demo/live switching, cancel, the concurrency bound, idempotent
//! completion across two studios (like the app and the CLI at once), and the budget cap.

mod common;

use std::sync::Arc;
use std::time::Duration;

use fluxdesk_core::ErrorCode;
use fluxdesk_core::ledger::TaskState;
use fluxdesk_core::secrets::{KeySource, MemoryStore, SecretStore};
use fluxdesk_core::studio::{DemoChoice, Studio};
use fluxdesk_core::views::{GenerateRequest, JobEvent};
use piapi::Model;
use piapi_sim::{SimConfig, SimHandle, Simulator};

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture { dir: tempfile::tempdir().expect("tempdir") }
    }

    async fn open(&self, sim: Option<&SimHandle>, store: Arc<dyn SecretStore>, demo: DemoChoice) -> Studio {
        let env = [("PIAPI_POLL_INTERVAL_MS", "150")];
        Studio::open(common::studio_options(self.dir.path(), sim, &env, store, demo))
            .await
            .expect("studio opens")
    }
}

fn request(prompt: &str, count: u32) -> GenerateRequest {
    GenerateRequest { count, ..GenerateRequest::txt2img(prompt, Model::Schnell, 512, 384) }
}

async fn sim(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg).await.expect("sim")
}

/// Waits until every job has a terminal event, collecting all events.
async fn collect_until_done(
    rx: &mut tokio::sync::broadcast::Receiver<JobEvent>,
    jobs: &[i64],
) -> Vec<JobEvent> {
    let mut events = Vec::new();
    let mut open: std::collections::HashSet<i64> = jobs.iter().copied().collect();
    let mut saved_per_job: std::collections::HashMap<i64, u32> = Default::default();
    tokio::time::timeout(Duration::from_secs(30), async {
        while !open.is_empty() {
            let ev = rx.recv().await.expect("event");
            match &ev {
                JobEvent::Saved { job_id, .. } => {
                    *saved_per_job.entry(*job_id).or_default() += 1;
                    open.remove(job_id);
                }
                JobEvent::Failed { job_id, .. } | JobEvent::Cancelled { job_id } => {
                    open.remove(job_id);
                }
                _ => {}
            }
            events.push(ev);
        }
    })
    .await
    .expect("jobs finish in time");
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_generate_emits_ordered_events_and_saves_with_thumbnail() {
    let s = sim(SimConfig { pending_ms: 100, processing_ms: 300, ..SimConfig::default() }).await;
    let fx = Fixture::new();
    let studio = fx.open(Some(&s), Arc::new(MemoryStore::with_key("sk-live-test")), DemoChoice::Auto).await;
    assert!(!studio.is_demo());
    let mut rx = studio.subscribe();
    let ids = studio.generate(request("a lighthouse in fog", 2)).await.expect("queued");
    assert_eq!(ids.len(), 2);
    let events = collect_until_done(&mut rx, &ids).await;

    for id in &ids {
        let kinds: Vec<&str> = events
            .iter()
            .filter(|e| e.job_id() == *id)
            .map(|e| match e {
                JobEvent::Queued { .. } => "queued",
                JobEvent::Submitted { .. } => "submitted",
                JobEvent::Pending { .. } => "pending",
                JobEvent::Processing { .. } => "processing",
                JobEvent::Downloading { .. } => "downloading",
                JobEvent::Saved { .. } => "saved",
                JobEvent::Failed { .. } => "failed",
                JobEvent::Cancelled { .. } => "cancelled",
                JobEvent::QueueChanged { .. } | JobEvent::BatchFinished { .. } => "queue",
            })
            .collect();
        assert_eq!(kinds.first(), Some(&"queued"), "{kinds:?}");
        assert_eq!(kinds.get(1), Some(&"submitted"), "{kinds:?}");
        assert_eq!(kinds.last(), Some(&"saved"), "{kinds:?}");
        assert!(kinds.contains(&"downloading"), "{kinds:?}");
    }
    let jobs = studio.jobs(10).expect("jobs");
    assert!(jobs.iter().all(|j| j.state == TaskState::Saved && j.images.len() == 1));
    let img = &jobs[0].images[0];
    assert_eq!((img.width, img.height), (512, 384));
    assert!(std::path::Path::new(&img.path).exists());
    let thumb = img.thumb_path.as_ref().expect("thumbnail made at save time");
    assert!(std::path::Path::new(thumb).exists());
    assert!(img.seed.is_some(), "a concrete seed is always recorded");
    assert_eq!(s.stats().creates, 2);
    let page = studio.list_images(&Default::default()).expect("list");
    assert_eq!(page.total, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_by_default_and_a_key_switches_to_live() {
    let s = sim(SimConfig::fast()).await;
    let fx = Fixture::new();
    let store: Arc<dyn SecretStore> = Arc::new(MemoryStore::default());
    let studio = fx.open(Some(&s), store.clone(), DemoChoice::Auto).await;
    assert!(studio.is_demo(), "no key → demo");
    assert_eq!(studio.key_status().await.source, KeySource::None);
    let account = studio.account().await.expect("demo account");
    assert!(account.demo);

    let status = studio.set_key("  sk-new-key\n").await.expect("stored");
    assert_eq!(status.source, KeySource::Keychain);
    assert!(!studio.is_demo(), "a key leaves demo mode");
    let mut rx = studio.subscribe();
    let ids = studio.generate(request("live now", 1)).await.expect("queued");
    collect_until_done(&mut rx, &ids).await;
    assert_eq!(s.stats().creates, 1, "went to the configured PiAPI (here the simulator)");

    let status = studio.delete_key().await.expect("deleted");
    assert_eq!(status.source, KeySource::None);
    assert!(studio.is_demo());
    assert!(store.get().expect("get").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_and_no_demo_is_a_clear_error_and_nothing_is_recorded() {
    let fx = Fixture::new();
    let studio = fx.open(None, Arc::new(MemoryStore::default()), DemoChoice::Off).await;
    let err = studio.generate(request("x", 1)).await.expect_err("no key");
    assert_eq!(err.code(), ErrorCode::NoApiKey);
    assert!(studio.jobs(10).expect("jobs").is_empty());

    let fx = Fixture::new();
    let studio =
        fx.open(None, Arc::new(MemoryStore::unavailable("no Secret Service")), DemoChoice::Off).await;
    let err = studio.generate(request("x", 1)).await.expect_err("no keychain");
    assert_eq!(err.code(), ErrorCode::KeychainUnavailable);
    assert!(studio.list_images(&Default::default()).is_ok(), "the gallery works without a keychain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded_and_queued_jobs_can_be_cancelled() {
    let s = sim(SimConfig { pending_ms: 50, processing_ms: 400, ..SimConfig::default() }).await;
    let fx = Fixture::new();
    let studio = fx.open(Some(&s), Arc::new(MemoryStore::with_key("k")), DemoChoice::Auto).await;
    let mut settings = studio.settings_view().settings;
    settings.max_concurrent = 2;
    studio.update_settings(settings).await.expect("settings");
    let mut rx = studio.subscribe();
    let ids = studio.generate(request("bounded", 6)).await.expect("queued");
    // The last job is still waiting for a slot: cancelling it sends nothing.
    studio.cancel_job(ids[5]).await.expect("cancel");
    let events = collect_until_done(&mut rx, &ids).await;
    assert!(events.iter().any(|e| matches!(e, JobEvent::Cancelled { job_id } if *job_id == ids[5])));
    let stats = s.stats();
    assert!(stats.max_in_flight <= 2, "never more than the limit in flight: {stats:?}");
    assert_eq!(stats.creates, 5);
    let job = studio.jobs(10).expect("jobs").into_iter().find(|j| j.id == ids[5]).expect("job");
    assert_eq!(job.state, TaskState::Cancelled);

    // Retry is an explicit new task.
    let retried = studio.retry_job(ids[5]).await.expect("retry");
    assert_ne!(retried, vec![ids[5]]);
    collect_until_done(&mut rx, &retried).await;
    assert_eq!(s.stats().creates, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_studios_finishing_the_same_tasks_save_each_image_once() {
    let s = sim(SimConfig { pending_ms: 50, processing_ms: 500, ..SimConfig::default() }).await;
    let fx = Fixture::new();
    let a = fx.open(Some(&s), Arc::new(MemoryStore::with_key("k")), DemoChoice::Auto).await;
    let ids = a.generate(request("shared", 3)).await.expect("queued");
    // A second process (the CLI while the app runs) resumes at the same time.
    let b = fx.open(Some(&s), Arc::new(MemoryStore::with_key("k")), DemoChoice::Auto).await;
    let report = b.resume().await.expect("resume");
    // Whatever b could not lease, a finishes; wait for a.
    let mut rx = a.subscribe();
    let pending: Vec<i64> =
        a.jobs(10).expect("jobs").into_iter().filter(|j| j.state != TaskState::Saved).map(|j| j.id).collect();
    if !pending.is_empty() {
        collect_until_done(&mut rx, &pending).await;
    }
    eprintln!("b resumed: {report:?}");
    assert_eq!(s.stats().creates, 3, "no task created twice");
    let page = a.list_images(&Default::default()).expect("list");
    assert_eq!(page.total, 3, "one gallery entry per image");
    assert!(
        ids.iter().all(|id| a
            .jobs(10)
            .expect("jobs")
            .iter()
            .any(|j| j.id == *id && j.state == TaskState::Saved))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_budget_stops_new_work_before_anything_is_sent() {
    let s = sim(SimConfig::fast()).await;
    let fx = Fixture::new();
    let studio = fx.open(Some(&s), Arc::new(MemoryStore::with_key("k")), DemoChoice::Auto).await;
    let mut settings = studio.settings_view().settings;
    settings.daily_budget_usd = Some(0.002); // one schnell image is $0.0015
    studio.update_settings(settings).await.expect("settings");
    let err = studio.generate(request("too many", 2)).await.expect_err("over budget");
    assert_eq!(err.code(), ErrorCode::BudgetReached);
    assert_eq!(s.stats().creates, 0);
    let mut rx = studio.subscribe();
    let ids = studio.generate(request("just one", 1)).await.expect("within budget");
    collect_until_done(&mut rx, &ids).await;
    assert_eq!(
        studio.generate(request("one more", 1)).await.expect_err("spent").code(),
        ErrorCode::BudgetReached
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_settings_are_rejected_with_the_field_named() {
    let fx = Fixture::new();
    let studio = fx.open(None, Arc::new(MemoryStore::default()), DemoChoice::Auto).await;
    let mut settings = studio.settings_view().settings;
    settings.base_url = "http://example.com".into();
    let err = studio.update_settings(settings).await.expect_err("plain http off loopback");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().to_lowercase().contains("base"), "{err}");
}
