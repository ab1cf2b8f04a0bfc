//! Figure 1: how soon the client learns that a task finished, and how many GETs it spends, with
//! Fluxdesk's [`PollPolicy`] against the common fixed schedule ("every 3 s, 30 attempts").
//!
//! Method: one loopback simulator; a fixed-seed list of task durations (60 % Flux schnell around
//! 8 s, 40 % dev around 25 s, log-normal spread, plus 0.3–2 s pending), all times multiplied by
//! `time_scale` (0.1: a 25 s task takes 2.5 s) and so are both policies' waits (3 s → 300 ms).
//! Every task of a policy runs at once; each is created with its own timings and polled by the
//! real `piapi::Client::poll_until_done`. Latency = the instant `poll_until_done` returned minus
//! the task's `ended_at` as reported by the server (the simulator's clock is the same clock).
//! The two policies poll at the same time (creates interleaved), each over its own copy of every
//! planned task, so both see the same machine load.
//!
//! Fluxdesk polls as its job runner does: each task's policy expects the duration its
//! [`DurationBook`] predicts for the model, from a history of [`HISTORY`] earlier tasks per model
//! (drawn from the same distribution with another seed, as if they had run before the figure).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::Utc;
use fluxdesk_core::durations::{DurationBook, KEEP};
use piapi::{Client, ClientConfig, Model, PollEvent, PollPolicy, Size, TaskRequest, TaskType};
use piapi_sim::{SimConfig, SimHandle, Simulator};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::error::{BenchError, Result};
use crate::stats::{Summary, ratio};

/// What to run.
#[derive(Debug, Clone)]
pub struct PollingParams {
    /// Tasks per policy.
    pub tasks: usize,
    /// Multiplier applied to every server time and every poll wait.
    pub time_scale: f64,
    pub seed: u64,
}

impl PollingParams {
    pub fn full() -> Self {
        PollingParams { tasks: 400, time_scale: 0.1, seed: 42 }
    }
    pub fn quick() -> Self {
        PollingParams { tasks: 100, ..Self::full() }
    }
    pub fn smoke() -> Self {
        PollingParams { tasks: 6, time_scale: 0.004, seed: 42 }
    }
}

/// One policy's outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyRun {
    /// Human description of the schedule as run (scaled).
    pub schedule: String,
    /// Task ended on the server → client knows, in scaled milliseconds.
    pub latency_ms: Summary,
    /// The same for schnell tasks only (short) and dev tasks only (long).
    pub schnell_latency_ms: Summary,
    pub dev_latency_ms: Summary,
    /// Status GETs per task (successful polls).
    pub gets_per_task: Summary,
    /// Tasks that ran out of attempts (not in the latency figures).
    pub timeouts: usize,
}

/// Figure 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollingResult {
    pub tasks: usize,
    pub time_scale: f64,
    pub seed: u64,
    /// Server-side task durations (pending + processing), scaled ms.
    pub task_ms: Summary,
    pub schnell_share: f64,
    pub fluxdesk: PolicyRun,
    pub fixed: PolicyRun,
    /// `GET /api/v1/task/{id}` the simulator counted for both policies together.
    pub server_gets: u64,
    /// Fluxdesk ÷ fixed: mean latency, p95 latency, GETs per task.
    pub ratio_mean_latency: Option<f64>,
    pub ratio_p95_latency: Option<f64>,
    pub ratio_gets: Option<f64>,
}

/// Earlier tasks per model in the runner's duration history.
pub const HISTORY: usize = KEEP;

/// One planned task: model and scaled timings.
#[derive(Debug, Clone, Copy)]
struct Planned {
    model: Model,
    pending_ms: u64,
    processing_ms: u64,
}

/// Fluxdesk's default policy with its waits multiplied by `scale`.
pub fn fluxdesk_policy(scale: f64) -> PollPolicy {
    let p = PollPolicy::default();
    PollPolicy { interval_cap: p.interval_cap.mul_f64(scale), first_delay: p.first_delay.mul_f64(scale), ..p }
}

/// "Every 3 s, 30 attempts", with the wait multiplied by `scale`.
pub fn fixed_policy(scale: f64) -> PollPolicy {
    PollPolicy::fixed(Duration::from_secs(3).mul_f64(scale), 30)
}

fn describe(p: &PollPolicy, learned: bool) -> String {
    if learned {
        format!(
            "first check after {:.0} % of the learned duration ({:.0}th percentile of the last {HISTORY} of \
             the model), then {:.0} % of it (at most {} ms) ×{} up to {} ms, ±{:.0} % jitter, {} checks",
            piapi::LEAD_FRACTION * 100.0,
            fluxdesk_core::durations::PERCENTILE * 100.0,
            piapi::RAMP_FRACTION * 100.0,
            p.first_delay.as_millis(),
            p.multiplier,
            p.interval_cap.as_millis(),
            p.jitter * 100.0,
            p.max_attempts
        )
    } else if p.multiplier <= 1.0 && p.jitter == 0.0 {
        format!("every {} ms, {} checks", p.interval_cap.as_millis(), p.max_attempts)
    } else {
        format!(
            "first check at once, then {} ms ×{} up to {} ms, ±{:.0} % jitter, {} checks",
            p.first_delay.as_millis(),
            p.multiplier,
            p.interval_cap.as_millis(),
            p.jitter * 100.0,
            p.max_attempts
        )
    }
}

/// A standard normal sample (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn plan(p: &PollingParams) -> Vec<Planned> {
    plan_with(p.tasks, p.time_scale, p.seed, None)
}

/// The runner's duration history: [`HISTORY`] earlier tasks per model, another seed.
fn history(p: &PollingParams) -> DurationBook {
    let book = DurationBook::new();
    for model in [Model::Schnell, Model::Dev] {
        for t in plan_with(HISTORY, p.time_scale, p.seed.wrapping_add(1), Some(model)) {
            book.record(model, TaskType::Txt2Img, Duration::from_millis(t.pending_ms + t.processing_ms));
        }
    }
    book
}

fn plan_with(tasks: usize, time_scale: f64, seed: u64, only: Option<Model>) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..tasks)
        .map(|_| {
            let coin = rng.random_bool(0.6);
            let model = only.unwrap_or(if coin { Model::Schnell } else { Model::Dev });
            let typical = model.typical_duration().as_secs_f64() * 1000.0;
            let processing = (typical * (0.35 * normal(&mut rng)).exp()).clamp(0.4 * typical, 2.5 * typical);
            let pending: f64 = rng.random_range(300.0..2000.0);
            Planned {
                model,
                pending_ms: (pending * time_scale).round().max(1.0) as u64,
                processing_ms: (processing * time_scale).round().max(1.0) as u64,
            }
        })
        .collect()
}

/// One polled task: its model, latency (None: timed out) and GETs.
type Polled = (Model, Option<f64>, u32);

/// Runs figure 1. Both policies poll at the same time, each over its own copy of every planned
/// task, so they see the same machine and the same simulator load.
pub async fn run(p: &PollingParams) -> Result<PollingResult> {
    let planned = plan(p);
    let sim = Arc::new(
        Simulator::start(SimConfig {
            concurrency_limit: 1_000_000,
            balance_usd: 1e9,
            ..SimConfig::default()
        })
        .await
        .map_err(BenchError::SimStart)?,
    );
    let fixed_client = client(&sim, fixed_policy(p.time_scale))?;
    let flux_client = client(&sim, fluxdesk_policy(p.time_scale))?;
    // Warm-up: connections, the runtime, the simulator's first responses.
    let warm = &planned[..planned.len().min(2)];
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let book = Arc::new(history(p));
    for (c, b) in [(&fixed_client, None), (&flux_client, Some(&book))] {
        for h in spawn_all(&sim, c, warm, &lock, b) {
            h.await.map_err(|e| BenchError::InvalidRun(format!("a polling task panicked: {e}")))??;
        }
    }
    let gets_before = sim.stats().gets;
    // Interleaved creates: task i for the fixed policy, then task i for Fluxdesk, …
    let mut fixed_handles = Vec::with_capacity(planned.len());
    let mut flux_handles = Vec::with_capacity(planned.len());
    for t in &planned {
        fixed_handles.extend(spawn_all(&sim, &fixed_client, std::slice::from_ref(t), &lock, None));
        flux_handles.extend(spawn_all(&sim, &flux_client, std::slice::from_ref(t), &lock, Some(&book)));
    }
    let fixed = collect(describe(&fixed_client.config().poll, false), fixed_handles).await?;
    let fluxdesk = collect(describe(&flux_client.config().poll, true), flux_handles).await?;
    let server_gets = sim.stats().gets - gets_before;

    let task_ms: Vec<f64> = planned.iter().map(|t| (t.pending_ms + t.processing_ms) as f64).collect();
    let schnell = planned.iter().filter(|t| t.model == Model::Schnell).count();
    if let Ok(sim) = Arc::try_unwrap(sim) {
        sim.shutdown().await;
    }
    Ok(PollingResult {
        tasks: p.tasks,
        time_scale: p.time_scale,
        seed: p.seed,
        task_ms: Summary::of(&task_ms),
        schnell_share: schnell as f64 / planned.len().max(1) as f64,
        server_gets,
        ratio_mean_latency: ratio(fluxdesk.latency_ms.mean, fixed.latency_ms.mean),
        ratio_p95_latency: ratio(fluxdesk.latency_ms.p95, fixed.latency_ms.p95),
        ratio_gets: ratio(fluxdesk.gets_per_task.mean, fixed.gets_per_task.mean),
        fluxdesk,
        fixed,
    })
}

fn client(sim: &SimHandle, policy: PollPolicy) -> Result<Client> {
    let config = ClientConfig::new(&sim.base_url(), SecretString::from("bench-key".to_owned()))?
        .with_poll_policy(policy);
    Ok(Client::new(config)?)
}

/// Spawns one create-and-poll task per planned task. Creates are serialised through `lock` so
/// each task is created with its own timings (the simulator snapshots its timing config at create).
fn spawn_all(
    sim: &Arc<SimHandle>,
    client: &Client,
    planned: &[Planned],
    lock: &Arc<tokio::sync::Mutex<()>>,
    book: Option<&Arc<DurationBook>>,
) -> Vec<tokio::task::JoinHandle<Result<Polled>>> {
    planned
        .iter()
        .copied()
        .enumerate()
        .map(|(i, t)| {
            let (client, sim, lock) = (client.clone(), Arc::clone(sim), Arc::clone(lock));
            let policy = client
                .config()
                .poll
                .clone()
                .expecting(book.and_then(|b| b.expected(t.model, TaskType::Txt2Img)));
            tokio::spawn(async move {
                let req = TaskRequest::txt2img(t.model, format!("polling task {i}"), Size::new(1024, 1024));
                let created = {
                    let _guard = lock.lock().await;
                    sim.update(|c| {
                        c.pending_ms = t.pending_ms;
                        c.processing_ms = t.processing_ms;
                    });
                    client.create_task(&req).await?
                };
                let gets = AtomicU32::new(0);
                let mut on_event = |ev: PollEvent| {
                    if let PollEvent::Status { attempt, .. } = ev {
                        gets.store(attempt, Ordering::Relaxed);
                    }
                };
                let outcome = client
                    .poll_until_done_with(&created.task_id, &policy, &CancellationToken::new(), &mut on_event)
                    .await;
                let known = Utc::now();
                let gets = gets.load(Ordering::Relaxed);
                match outcome {
                    Ok(task) => {
                        let ended = task.ended_at.ok_or_else(|| {
                            BenchError::InvalidRun(format!("task {} has no ended_at", task.task_id))
                        })?;
                        let latency = (known - ended).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0;
                        Ok((t.model, Some(latency), gets))
                    }
                    Err(piapi::Error::Timeout { .. }) => Ok((t.model, None, gets)),
                    Err(e) => Err(e.into()),
                }
            })
        })
        .collect()
}

async fn collect(
    schedule: String,
    handles: Vec<tokio::task::JoinHandle<Result<Polled>>>,
) -> Result<PolicyRun> {
    let mut all = Vec::with_capacity(handles.len());
    let mut schnell = Vec::new();
    let mut dev = Vec::new();
    let mut gets = Vec::with_capacity(handles.len());
    let mut timeouts = 0;
    for h in handles {
        let (model, latency, n) =
            h.await.map_err(|e| BenchError::InvalidRun(format!("a polling task panicked: {e}")))??;
        match latency {
            Some(l) => {
                all.push(l);
                if model == Model::Schnell { schnell.push(l) } else { dev.push(l) }
            }
            None => timeouts += 1,
        }
        gets.push(f64::from(n));
    }
    Ok(PolicyRun {
        schedule,
        latency_ms: Summary::of(&all),
        schnell_latency_ms: Summary::of(&schnell),
        dev_latency_ms: Summary::of(&dev),
        gets_per_task: Summary::of(&gets),
        timeouts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_is_deterministic_and_scaled() {
        let p = PollingParams::full();
        let a = plan(&p);
        let b = plan(&p);
        assert_eq!(a.len(), 400);
        assert!(a.iter().zip(&b).all(|(x, y)| x.processing_ms == y.processing_ms));
        // Scaled: schnell ~0.8 s, dev ~2.5 s, never above 2.5× typical + pending.
        assert!(a.iter().all(|t| t.pending_ms + t.processing_ms <= 6_500));
        assert_eq!(fixed_policy(0.1).interval_cap, Duration::from_millis(300));
        assert_eq!(fluxdesk_policy(0.1).first_delay, Duration::from_millis(40));
    }
}
