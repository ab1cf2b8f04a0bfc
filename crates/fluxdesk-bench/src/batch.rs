//! Figure 3: a parallel batch against a plan's concurrency limit.
//!
//! Method: 64 jobs recorded in the ledger, then all spawned at once on the real runner with
//! concurrency 8 (the studio's `max_concurrent`), against a simulator that enforces a plan limit
//! of 8 in-flight tasks (a create over the limit is refused with 429) and takes a fixed server
//! time per task. Wall time runs from the first spawn to the last job saved; the ideal is
//! ⌈64 / 8⌉ waves × the server time, i.e. a client with zero overhead and zero polling delay.
//! The simulator's counters show that the limit was never exceeded.

use std::path::Path;
use std::time::Instant;

use piapi::{Model, Size, TaskRequest};
use piapi_sim::SimConfig;
use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::polling::fluxdesk_policy;
use crate::rig::Rig;
use crate::stats::{ms, ratio};

#[derive(Debug, Clone)]
pub struct BatchParams {
    pub tasks: usize,
    pub limit: u32,
    /// Server time per task (pending + processing), ms.
    pub server_ms: u64,
    pub width: u32,
    pub height: u32,
    /// Scale applied to Fluxdesk's poll waits (the same as figure 1).
    pub time_scale: f64,
}

impl BatchParams {
    pub fn full() -> Self {
        BatchParams { tasks: 64, limit: 8, server_ms: 500, width: 1024, height: 1024, time_scale: 0.1 }
    }
    pub fn quick() -> Self {
        Self::full()
    }
    pub fn smoke() -> Self {
        BatchParams { tasks: 8, limit: 2, server_ms: 30, width: 64, height: 64, time_scale: 0.01 }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchResult {
    pub tasks: usize,
    pub limit: u32,
    pub server_ms: u64,
    pub pending_ms: u64,
    pub width: u32,
    pub height: u32,
    pub poll_schedule: String,
    pub wall_ms: f64,
    pub ideal_ms: f64,
    /// Wall ÷ ideal.
    pub ratio: Option<f64>,
    pub saved: usize,
    pub sim_creates: u64,
    pub sim_create_requests: u64,
    pub sim_rejected_concurrency: u64,
    pub sim_max_in_flight: u32,
    pub sim_gets: u64,
    pub sim_downloads: u64,
    /// CPU time the simulator spends rendering one of these images (measured afterwards on a
    /// few of them): work PiAPI's servers do in reality, done here on the same cores.
    pub sim_render_ms_mean: f64,
}

pub async fn run(p: &BatchParams, data_dir: &Path) -> Result<BatchResult> {
    let pending_ms = p.server_ms / 5;
    let sim_config = SimConfig {
        pending_ms,
        processing_ms: p.server_ms - pending_ms,
        concurrency_limit: p.limit,
        balance_usd: 1e6,
        ..SimConfig::default()
    };
    let policy = fluxdesk_policy(p.time_scale);
    let poll_schedule = format!(
        "{} ms ×{} up to {} ms, ±{:.0} % jitter; once the runner has seen {} tasks finish, the first \
         check waits {:.0} % of their {:.0}th-percentile duration",
        policy.first_delay.as_millis(),
        policy.multiplier,
        policy.interval_cap.as_millis(),
        policy.jitter * 100.0,
        fluxdesk_core::durations::MIN_SAMPLES,
        piapi::LEAD_FRACTION * 100.0,
        fluxdesk_core::durations::PERCENTILE * 100.0,
    );
    let rig = Rig::start(data_dir, sim_config, policy, p.limit as usize).await?;
    let mut ids = Vec::with_capacity(p.tasks);
    for i in 0..p.tasks {
        let mut req = TaskRequest::txt2img(
            Model::Schnell,
            format!("batch image {i}: a paper boat in the rain"),
            Size::new(p.width, p.height),
        );
        req.input.seed = Some(i as i64);
        ids.push(rig.ledger.record(&req, Some("bench:batch"), None)?);
    }
    let started = Instant::now();
    let handles: Vec<_> = ids.iter().map(|id| rig.runner.spawn(*id)).collect();
    let mut saved = 0;
    let mut failures = Vec::new();
    for h in handles {
        match h.await {
            Ok(o) if o.is_saved() => saved += 1,
            Ok(o) => failures.push(format!("{o:?}")),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let wall = started.elapsed();
    let stats = rig.sim.stats();
    rig.shutdown().await;
    if let Some(first) = failures.first() {
        return Err(BenchError::InvalidRun(format!(
            "{} of {} batch jobs failed: {first}",
            failures.len(),
            p.tasks
        )));
    }
    // What the simulator's rendering cost on these cores (not Fluxdesk's work).
    let sample = p.tasks.min(4);
    let (w, h) = (p.width, p.height);
    let sim_render_ms_mean = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        for i in 0..sample {
            let prompt = format!("batch image {i}: a paper boat in the rain");
            std::hint::black_box(piapi_sim::render_png(&prompt, i as i64, w, h));
        }
        ms(t.elapsed()) / sample.max(1) as f64
    })
    .await
    .map_err(|e| BenchError::InvalidRun(format!("render timing panicked: {e}")))?;
    let waves = p.tasks.div_ceil(p.limit.max(1) as usize);
    let ideal_ms = (waves as u64 * p.server_ms) as f64;
    let wall_ms = ms(wall);
    Ok(BatchResult {
        tasks: p.tasks,
        limit: p.limit,
        server_ms: p.server_ms,
        pending_ms,
        width: p.width,
        height: p.height,
        poll_schedule,
        wall_ms,
        ideal_ms,
        ratio: ratio(wall_ms, ideal_ms),
        saved,
        sim_creates: stats.creates,
        sim_create_requests: stats.create_requests,
        sim_rejected_concurrency: stats.rejected_concurrency,
        sim_max_in_flight: stats.max_in_flight,
        sim_gets: stats.gets,
        sim_downloads: stats.downloads,
        sim_render_ms_mean,
    })
}
