//! The batch queue end to end against the real simulator over loopback, with a real SQLite file
//! and a real gallery folder: the plan's concurrency limit (counted by the simulator), a storm of
//! 429s, cancel of queued, pending and running tasks, pause/resume across a restart, reordering,
//! the daily budget pausing the queue mid-batch, seed sweeps and cost totals.
//!
//! No wall-clock assertions: the batch's wall time against the ideal number of waves is measured
//! by the benchmark (crates/fluxdesk-bench), not here.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use fluxdesk_core::ErrorCode;
use fluxdesk_core::ledger::TaskState;
use fluxdesk_core::secrets::MemoryStore;
use fluxdesk_core::studio::{DemoChoice, Studio};
use fluxdesk_core::views::{BatchRequest, GenerateRequest, JobEvent, SeedPlan};
use piapi::Model;
use piapi_sim::{Faults, SimConfig, SimHandle, Simulator};
use tokio::sync::broadcast::Receiver;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture { dir: tempfile::tempdir().expect("tempdir") }
    }

    /// A live studio (a key is set) against `sim`, with `max_concurrent` and an optional budget.
    async fn open(&self, sim: &SimHandle, max_concurrent: u32, budget: Option<f64>) -> Studio {
        let env = [("PIAPI_POLL_INTERVAL_MS", "100"), ("PIAPI_POLL_MAX_ATTEMPTS", "200")];
        let store = Arc::new(MemoryStore::with_key("sk-queue-test"));
        let options = common::studio_options(self.dir.path(), Some(sim), &env, store, DemoChoice::Auto);
        let studio = Studio::open(options).await.expect("studio opens");
        let mut settings = studio.settings_view().settings;
        settings.max_concurrent = max_concurrent;
        settings.daily_budget_usd = budget;
        studio.update_settings(settings).await.expect("settings");
        assert!(!studio.is_demo());
        studio
    }
}

async fn sim(pending_ms: u64, processing_ms: u64, limit: u32) -> SimHandle {
    Simulator::start(SimConfig {
        pending_ms,
        processing_ms,
        concurrency_limit: limit,
        ..SimConfig::default()
    })
    .await
    .expect("sim")
}

fn request(prompt: &str, count: u32) -> GenerateRequest {
    GenerateRequest { count, ..GenerateRequest::txt2img(prompt, Model::Schnell, 256, 256) }
}

fn batch(prompts: &[&str], count_per_prompt: u32, seeds: SeedPlan) -> BatchRequest {
    BatchRequest {
        prompts: prompts.iter().map(|p| (*p).to_owned()).collect(),
        negative_prompt: None,
        model: Model::Schnell,
        width: 256,
        height: 256,
        steps: None,
        guidance: None,
        seeds,
        count_per_prompt,
    }
}

/// Collects events until `done` says so (or fails after `secs`).
async fn collect(
    rx: &mut Receiver<JobEvent>,
    secs: u64,
    done: impl FnMut(&[JobEvent]) -> bool,
) -> Vec<JobEvent> {
    collect_more(rx, secs, Vec::new(), done).await
}

/// Like [`collect`], continuing from `events` already received.
async fn collect_more(
    rx: &mut Receiver<JobEvent>,
    secs: u64,
    mut events: Vec<JobEvent>,
    mut done: impl FnMut(&[JobEvent]) -> bool,
) -> Vec<JobEvent> {
    tokio::time::timeout(Duration::from_secs(secs), async {
        while !done(&events) {
            match rx.recv().await {
                Ok(ev) => events.push(ev),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => panic!("lagged {n} events"),
                Err(e) => panic!("event channel: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; events so far: {events:#?}"));
    events
}

/// Every job in `ids` has a terminal event.
fn all_ended(ids: &[i64]) -> impl FnMut(&[JobEvent]) -> bool + '_ {
    move |events| {
        let ended: HashSet<i64> = events
            .iter()
            .filter_map(|e| match e {
                JobEvent::Saved { job_id, .. }
                | JobEvent::Failed { job_id, .. }
                | JobEvent::Cancelled { job_id } => Some(*job_id),
                _ => None,
            })
            .collect();
        ids.iter().all(|id| ended.contains(id))
    }
}

fn submitted_order(events: &[JobEvent]) -> Vec<i64> {
    events.iter().filter(|e| matches!(e, JobEvent::Submitted { .. })).map(JobEvent::job_id).collect()
}

fn finished_batch(events: &[JobEvent]) -> Option<(u32, u32, u32)> {
    events.iter().find_map(|e| match e {
        JobEvent::BatchFinished { saved, failed, cancelled, .. } => Some((*saved, *failed, *cancelled)),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_tasks_never_exceed_the_plan_limit_and_all_are_saved() {
    let s = sim(20, 300, 8).await;
    let fx = Fixture::new();
    // The setting allows 20; the plan (from /account/info) allows 8, and wins.
    let studio = fx.open(&s, 20, None).await;
    let mut rx = studio.subscribe();
    let prompts = ["fox", "whale", "owl", "crab", "moth", "newt", "wren", "hare"];
    let ids = studio
        .generate_batch(batch(&prompts, 8, SeedPlan::Sweep { start: 100, step: 10 }))
        .await
        .expect("queued");
    assert_eq!(ids.len(), 64);
    // Every task is in the ledger when generate_batch returns (some may already be done: the
    // dispatcher starts at once).
    assert_eq!(studio.jobs(1000).expect("jobs").len(), 64, "all recorded at once");
    let events = collect(&mut rx, 60, |ev| finished_batch(ev).is_some()).await;

    assert_eq!(finished_batch(&events), Some((64, 0, 0)));
    let stats = s.stats();
    assert!(stats.max_in_flight <= 8, "never more than the plan's 8 in flight: {stats:?}");
    assert_eq!(stats.rejected_concurrency, 0, "the limit was known before sending: {stats:?}");
    assert_eq!(stats.creates, 64, "one create per task");
    assert_eq!(studio.queue_state().limit, 8);
    assert_eq!((studio.queue_state().queued, studio.queue_state().running), (0, 0));
    let page = studio.list_images(&fluxdesk_core::gallery::GalleryQuery { limit: 100, ..Default::default() });
    let page = page.expect("list");
    assert_eq!(page.total, 64);
    // The sweep: every prompt got seeds 100, 110, …, 170.
    let mut seeds: HashMap<String, Vec<i64>> = HashMap::new();
    for img in &page.items {
        seeds.entry(img.prompt.clone()).or_default().push(img.seed.expect("seed"));
    }
    for p in prompts {
        let mut got = seeds.remove(p).expect("prompt saved");
        got.sort_unstable();
        assert_eq!(got, (0..8).map(|i| 100 + 10 * i).collect::<Vec<_>>(), "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_429s_still_completes_everything_with_one_create_per_task() {
    let s = sim(20, 200, 8).await;
    let fx = Fixture::new();
    let studio = fx.open(&s, 4, None).await;
    let mut rx = studio.subscribe();
    // The first wave of creates meets a storm of 429s: the client's own retries (4 per create,
    // honouring Retry-After) run out, so each task goes back to the queue and the limit drops.
    s.set_faults(Faults { rate_limits: 24, retry_after_secs: 1, ..Faults::default() });
    let ids = studio.generate(request("stormy sea", 16)).await.expect("queued");
    // Later, a second storm while tasks are being polled.
    let first = collect(&mut rx, 60, |ev| ev.iter().any(|e| matches!(e, JobEvent::Saved { .. }))).await;
    s.set_faults(Faults { rate_limits: 16, retry_after_secs: 1, ..Faults::default() });
    let events = collect_more(&mut rx, 90, first, all_ended(&ids)).await;

    let failed: Vec<&JobEvent> = events.iter().filter(|e| matches!(e, JobEvent::Failed { .. })).collect();
    assert!(failed.is_empty(), "nothing fails: {failed:#?}");
    assert!(studio.jobs(20).expect("jobs").iter().all(|j| j.state == TaskState::Saved));
    assert_eq!(studio.list_images(&Default::default()).expect("list").total, 16);
    let stats = s.stats();
    assert!(stats.faults_injected >= 40, "both storms happened: {stats:?}");
    assert!(stats.create_requests >= 16 + 20, "creates were refused: {stats:?}");
    assert_eq!(stats.creates, 16, "exactly one create per task: {stats:?}");
    // The limit went down after the refusals and came back with the successes.
    let limits: Vec<u32> = std::iter::once(4).chain(collect_limits(&events)).collect();
    assert!(limits.iter().any(|l| *l < 4), "the limit was lowered: {limits:?}");
    assert_eq!(studio.queue_state().limit, 4, "and recovered");
}

fn collect_limits(events: &[JobEvent]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            JobEvent::QueueChanged { state } => Some(state.limit),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_drops_queued_jobs_cancels_pending_ones_and_stops_waiting_for_running_ones() {
    // Long pending and processing phases, so each cancel lands where we want it.
    let s = sim(1500, 1500, 8).await;
    let fx = Fixture::new();
    let studio = fx.open(&s, 2, None).await;
    let mut rx = studio.subscribe();
    let ids = studio.generate(request("cancel me", 3)).await.expect("queued");
    let (pending, running, queued) = (ids[0], ids[1], ids[2]);

    // The third waits for a slot: cancelling it sends nothing.
    studio.cancel_job(queued).await.expect("cancel queued");
    assert_eq!(studio.job(queued).expect("job").state, TaskState::Cancelled);

    // The first, once PiAPI has it (pending): cancelled on PiAPI (DELETE), refunded.
    collect(&mut rx, 20, |ev| submitted_order(ev).contains(&pending)).await;
    studio.cancel_job(pending).await.expect("cancel pending");
    let events = collect(&mut rx, 20, all_ended(&[pending])).await;
    assert!(events.iter().any(|e| matches!(e, JobEvent::Cancelled { job_id } if *job_id == pending)));
    let job = studio.job(pending).expect("job");
    assert_eq!(job.state, TaskState::Cancelled);
    assert!(job.error.is_none(), "cancelled cleanly: {:?}", job.error);
    assert_eq!(s.stats().cancels, 1, "one DELETE");

    // The second, once it is processing: PiAPI refuses, so Fluxdesk stops waiting and says so.
    collect(&mut rx, 20, |ev| {
        ev.iter().any(|e| matches!(e, JobEvent::Processing { job_id, .. } if *job_id == running))
    })
    .await;
    studio.cancel_job(running).await.expect("cancel running");
    collect(&mut rx, 20, all_ended(&[running])).await;
    let job = studio.job(running).expect("job");
    assert_eq!(job.state, TaskState::Cancelled);
    let err = job.error.expect("says why");
    assert_eq!(err.code, ErrorCode::Cancelled);
    assert!(err.message.contains("may still charge"), "{}", err.message);
    let stats = s.stats();
    assert_eq!((stats.cancels, stats.creates), (2, 2), "{stats:?}");

    // Costs: the refunded task costs nothing, the running one its estimate, the queued one nothing.
    let cost = studio.cost_summary().await.expect("cost");
    assert!((cost.today_usd - Model::Schnell.price_per_image_usd()).abs() < 1e-9, "{cost:?}");
    assert!(cost.month_usd >= cost.today_usd);
    assert!(cost.balance_usd.is_some());
    assert!(!cost.demo);
    // Retry is an explicit new task.
    let retried = studio.retry_job(queued).await.expect("retry");
    assert_ne!(retried, vec![queued]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_queue_survives_a_restart_and_resumes_in_the_chosen_order() {
    let s = sim(20, 60, 8).await;
    let fx = Fixture::new();
    let ids = {
        let studio = fx.open(&s, 1, None).await;
        let mut rx = studio.subscribe();
        let state = studio.pause_queue(Some("lunch".into())).expect("pause");
        assert!(state.paused);
        let ids = studio.generate(request("ordered", 3)).await.expect("queued while paused");
        let events = collect(&mut rx, 5, |ev| {
            ev.iter().any(|e| matches!(e, JobEvent::QueueChanged { state } if state.paused))
                && ev.iter().filter(|e| matches!(e, JobEvent::Queued { .. })).count() == 3
        })
        .await;
        assert!(submitted_order(&events).is_empty());
        // Give the dispatcher a few looks at the queue: still nothing is sent.
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(s.stats().create_requests, 0, "a paused queue sends nothing");
        studio.shutdown().await;
        ids
    };

    // "Restart": a new studio on the same data folder finds the jobs, still queued and paused.
    let studio = fx.open(&s, 1, None).await;
    let state = studio.queue_state();
    assert!(state.paused);
    assert_eq!(state.pause_reason.as_deref(), Some("lunch"));
    assert_eq!(state.queued, 3);
    let report = studio.resume().await.expect("resume while paused");
    assert_eq!(report.left_queued.len(), 3, "{report:?}");
    assert_eq!(s.stats().create_requests, 0);

    // Reorder: the last first, then move the (new) second to the end.
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    studio.move_job(c, Some(a)).expect("move c before a");
    studio.move_job(a, None).expect("move a last");
    let order: Vec<i64> = studio.queue_jobs().expect("queue").iter().map(|j| j.id).collect();
    assert_eq!(order, vec![c, b, a]);
    let err = studio.move_job(a, Some(999_999)).expect_err("not queued");
    assert_eq!(err.code(), ErrorCode::Missing);

    let mut rx = studio.subscribe();
    let state = studio.resume_queue().expect("resume queue");
    assert!(!state.paused);
    let events = collect(&mut rx, 30, all_ended(&ids)).await;
    assert!(events.iter().all(|e| !matches!(e, JobEvent::Failed { .. } | JobEvent::Cancelled { .. })));
    assert_eq!(submitted_order(&events), vec![c, b, a], "sent in queue order, one at a time");
    assert!(events.iter().any(|e| matches!(e, JobEvent::QueueChanged { state } if !state.paused)));
    assert_eq!(s.stats().creates, 3);
    let err = studio.move_job(c, None).expect_err("already sent");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_budget_pauses_the_queue_mid_batch_and_says_why() {
    let s = sim(20, 60, 8).await;
    let fx = Fixture::new();
    // Three schnell images ($0.0015 each) fit in $0.005; a fourth does not.
    let studio = fx.open(&s, 1, Some(0.005)).await;
    let mut rx = studio.subscribe();
    studio.pause_queue(None).expect("pause");
    // Each request fits on its own (nothing is spent yet), so both are accepted.
    let first = studio.generate(request("budget a", 2)).await.expect("fits");
    let second = studio.generate(request("budget b", 2)).await.expect("fits too");
    let err = studio.generate(request("too big", 4)).await.expect_err("can never fit today");
    assert_eq!(err.code(), ErrorCode::BudgetReached);
    studio.resume_queue().expect("resume");

    let events = collect(&mut rx, 30, |ev| {
        all_ended(&[first[0], first[1], second[0]])(ev)
            && ev.iter().any(|e| matches!(e, JobEvent::QueueChanged { state } if state.paused && state.pause_reason.as_deref().is_some_and(|r| r.contains("budget"))))
    })
    .await;
    assert!(events.iter().all(|e| !matches!(e, JobEvent::Failed { .. })));
    let state = studio.queue_state();
    assert!(state.paused);
    let reason = state.pause_reason.expect("reason");
    assert!(reason.starts_with("Daily budget of $0.0050 reached"), "{reason}");
    assert_eq!(state.queued, 1);
    assert_eq!(studio.job(second[1]).expect("job").state, TaskState::Queued, "the fourth waits");
    assert_eq!(s.stats().creates, 3);

    // A higher cap and a resume send the rest.
    let mut settings = studio.settings_view().settings;
    settings.daily_budget_usd = Some(0.01);
    studio.update_settings(settings).await.expect("raise the cap");
    studio.resume_queue().expect("resume");
    collect(&mut rx, 30, all_ended(&[second[1]])).await;
    assert_eq!(studio.job(second[1]).expect("job").state, TaskState::Saved);
    assert_eq!(s.stats().creates, 4);
    let cost = studio.cost_summary().await.expect("cost");
    assert!((cost.today_usd - 4.0 * 0.0015).abs() < 1e-9, "{cost:?}");
    assert_eq!(cost.daily_budget_usd, Some(0.01));
}

#[test]
fn batches_are_validated_entirely_before_anything_is_recorded() {
    let plan = Studio::plan_batch(&batch(&["a", "b"], 3, SeedPlan::Sweep { start: 7, step: 5 })).expect("ok");
    let got: Vec<(String, Option<i64>)> =
        plan.iter().map(|r| (r.input.prompt.clone(), r.input.seed)).collect();
    let want: Vec<(String, Option<i64>)> =
        ["a", "b"].iter().flat_map(|p| [7, 12, 17].map(|s| ((*p).to_owned(), Some(s)))).collect();
    assert_eq!(got, want);
    let locked = Studio::plan_batch(&batch(&["a", "b"], 2, SeedPlan::Locked { seed: 3 })).expect("ok");
    assert_eq!(
        locked.iter().map(|r| r.input.seed).collect::<Vec<_>>(),
        vec![Some(3), Some(4), Some(3), Some(4)]
    );
    let random = Studio::plan_batch(&batch(&["a"], 4, SeedPlan::Random)).expect("ok");
    assert!(random.iter().all(|r| r.input.seed.is_some_and(|s| s >= 0)));

    let code = |b: BatchRequest| Studio::plan_batch(&b).expect_err("invalid").to_string();
    assert!(code(batch(&[], 1, SeedPlan::Random)).contains("prompts"));
    assert!(code(batch(&["ok", "  "], 1, SeedPlan::Random)).contains("prompt 2"));
    let many: Vec<String> = (0..11).map(|i| format!("p{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(code(batch(&many, 100, SeedPlan::Random)).contains("at most 1000"));
    assert!(code(batch(&["a"], 0, SeedPlan::Random)).contains("countPerPrompt"));
    assert!(code(batch(&["a"], 3, SeedPlan::Sweep { start: 5, step: -3 })).contains("seed"));
    assert!(code(batch(&["a"], 2, SeedPlan::Sweep { start: i64::MAX, step: 1 })).contains("seed"));
    let mut big = batch(&["a"], 1, SeedPlan::Random);
    big.width = 2048;
    big.height = 2048;
    assert!(code(big).contains("1,048,576"));
}
