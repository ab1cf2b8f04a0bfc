//! Everything the CLI prints: JSON lines on stdout, human text and progress on stderr.

use std::io::Write;

use fluxdesk_core::ErrorCode;
use fluxdesk_core::runner::usd;
use fluxdesk_core::secrets::{KeySource, KeyStatus};
use fluxdesk_core::studio::Studio;
use fluxdesk_core::views::{
    AccountView, CostSummary, ImageView, JobEvent, JobView, QueueState, ResumeReport,
};
use serde_json::json;

/// The machine code as text, e.g. `RateLimited`.
pub fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

fn image_json(img: &ImageView) -> serde_json::Value {
    json!({
        "id": img.id,
        "path": img.path,
        "task_id": img.task_id,
        "prompt": img.prompt,
        "negative_prompt": img.negative_prompt,
        "model": img.model,
        "width": img.width,
        "height": img.height,
        "seed": img.seed,
        "steps": img.steps,
        "guidance": img.guidance,
        "cost_usd": img.cost_usd,
        "created_at": img.created_at.to_rfc3339(),
        "rating": img.rating,
        "favourite": img.favourite,
        "thumb_path": img.thumb_path,
        "task_type": img.task_type,
        "source_image_id": img.source_image_id,
        "task": img.task,
    })
}

fn println_stdout(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

pub fn saved_image(img: &ImageView, as_json: bool) {
    if as_json {
        println_stdout(&image_json(img).to_string());
    } else {
        println_stdout(&img.path);
    }
}

pub fn image_list(items: &[ImageView], total: u64, as_json: bool) {
    if as_json {
        for img in items {
            println_stdout(&image_json(img).to_string());
        }
        return;
    }
    for img in items {
        let prompt: String = img.prompt.chars().take(60).collect();
        println_stdout(&format!(
            "{:>6}  {}  {:>4}×{:<4}  {}{}  {}",
            img.id,
            img.created_at.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M"),
            img.width,
            img.height,
            "★".repeat(usize::from(img.rating)),
            if img.favourite { " ♥" } else { "" },
            prompt
        ));
    }
    eprintln!("{} of {} image(s)", items.len(), total);
}

pub fn image_detail(img: &ImageView, as_json: bool) {
    if as_json {
        println_stdout(&image_json(img).to_string());
        return;
    }
    let opt = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    println_stdout(&format!("Image {}", img.id));
    println_stdout(&format!("  File      {}", img.path));
    println_stdout(&format!("  Prompt    {}", img.prompt));
    println_stdout(&format!("  Negative  {}", opt(img.negative_prompt.clone())));
    println_stdout(&format!("  Model     {}", opt(img.model.clone())));
    println_stdout(&format!("  Task      {}", opt(img.task_type.clone())));
    if let Some(src) = img.source_image_id {
        println_stdout(&format!("  Source    image {src}"));
    }
    if let Some(t) = &img.task {
        if let Some(d) = t.denoise {
            println_stdout(&format!("  Denoise   {d}"));
        }
        for l in &t.loras {
            println_stdout(&format!("  LoRA      {} ({})", l.name, l.strength));
        }
        if let Some(c) = &t.control {
            println_stdout(&format!("  Control   {} ({})", c.control_type.as_str(), c.strength));
        }
        if let Some(m) = &t.outpaint {
            println_stdout(&format!("  Outpaint  {},{},{},{}", m.left, m.right, m.top, m.bottom));
        }
        if let Some(s) = t.scale {
            println_stdout(&format!("  Scale     {s}×"));
        }
    }
    println_stdout(&format!("  Size      {}×{}", img.width, img.height));
    println_stdout(&format!("  Seed      {}", opt(img.seed.map(|s| s.to_string()))));
    println_stdout(&format!("  Steps     {}", opt(img.steps.map(|s| s.to_string()))));
    println_stdout(&format!("  Guidance  {}", opt(img.guidance.map(|s| s.to_string()))));
    println_stdout(&format!("  Cost      {}", opt(img.cost_usd.map(|c| format!("${c:.4}")))));
    println_stdout(&format!("  Task id   {}", opt(img.task_id.clone())));
    println_stdout(&format!("  Created   {}", img.created_at.with_timezone(&chrono::Local).to_rfc3339()));
    println_stdout(&format!("  Rating    {}{}", img.rating, if img.favourite { " (favourite)" } else { "" }));
}

pub fn account(info: &AccountView, as_json: bool) {
    if as_json {
        println_stdout(&serde_json::to_string(info).unwrap_or_default());
        return;
    }
    if info.demo {
        println_stdout("Demo mode (simulated account)");
    }
    match info.balance_usd {
        Some(b) => println_stdout(&format!("Balance  ${b:.2}")),
        None => println_stdout("Balance  unknown"),
    }
    println_stdout(&format!("Plan     {}", info.plan.as_deref().unwrap_or("unknown")));
    if let Some(n) = info.max_concurrent_tasks {
        println_stdout(&format!("Concurrent tasks  {n}"));
    }
}

pub fn key_status(s: &KeyStatus) {
    let line = match s.source {
        KeySource::Environment => {
            "A key is set by PIAPI_API_KEY in the environment (it overrides the keychain).".to_owned()
        }
        KeySource::Keychain => "A key is set in the OS keychain.".to_owned(),
        KeySource::None if s.keychain_available => {
            "No key is set. Run `fluxdesk key set` and paste your PiAPI key, or use --demo.".to_owned()
        }
        KeySource::None => format!(
            "No key is set, and the OS keychain is unavailable ({}). Set PIAPI_API_KEY, or use --demo.",
            s.keychain_error.as_deref().unwrap_or("unknown reason")
        ),
    };
    println_stdout(&line);
}

pub fn resume_report(r: &ResumeReport, as_json: bool) {
    if as_json {
        println_stdout(&serde_json::to_string(r).unwrap_or_default());
        return;
    }
    println_stdout(&format!("Finished {} task(s).", r.saved.len()));
    if !r.still_running.is_empty() {
        println_stdout(&format!(
            "{} task(s) are still running on PiAPI; run `fluxdesk resume` again later.",
            r.still_running.len()
        ));
    }
    if !r.uncertain.is_empty() {
        println_stdout(&format!(
            "{} task(s) were interrupted while being sent; it is unknown whether PiAPI created them, so they were not resent: {:?}",
            r.uncertain.len(),
            r.uncertain
        ));
    }
    if !r.failed.is_empty() {
        println_stdout(&format!("{} task(s) failed: {:?}", r.failed.len(), r.failed));
    }
    if !r.left_queued.is_empty() {
        println_stdout(&format!(
            "{} task(s) were left queued because the queue is paused; run `fluxdesk queue resume`, then `fluxdesk resume`.",
            r.left_queued.len()
        ));
    }
}

fn job_json(j: &JobView) -> serde_json::Value {
    json!({
        "id": j.id,
        "state": j.state,
        "prompt": j.prompt,
        "model": j.model.id(),
        "width": j.width,
        "height": j.height,
        "task_id": j.task_id,
        "cost_usd": j.cost_usd,
        "created_at": j.created_at.to_rfc3339(),
        "error": j.error.as_ref().map(|e| json!({ "code": code_name(e.code), "message": e.message })),
    })
}

/// `queue list`: with `--json`, one object with the queue state and its jobs (in order).
pub fn queue_list(state: &QueueState, jobs: &[JobView], as_json: bool) {
    if as_json {
        let v = json!({
            "paused": state.paused,
            "pause_reason": state.pause_reason,
            "queued": state.queued,
            "running": state.running,
            "limit": state.limit,
            "jobs": jobs.iter().map(job_json).collect::<Vec<_>>(),
        });
        println_stdout(&v.to_string());
        return;
    }
    if let Some(reason) = state.pause_reason.as_deref().filter(|_| state.paused) {
        println_stdout(&format!("Paused: {reason}"));
    }
    println_stdout(&format!(
        "{} running, {} queued, up to {} at once",
        state.running, state.queued, state.limit
    ));
    for j in jobs {
        let prompt: String = j.prompt.chars().take(60).collect();
        println_stdout(&format!(
            "{:>6}  {:<11}  {:<12}  {:>4}×{:<4}  {}",
            j.id,
            j.state.as_str(),
            j.model.short_name(),
            j.width,
            j.height,
            prompt
        ));
    }
}

/// `cost`: spending today and this month, balance and budget.
pub fn cost(c: &CostSummary, as_json: bool) {
    if as_json {
        println_stdout(&serde_json::to_string(c).unwrap_or_default());
        return;
    }
    if c.demo {
        println_stdout("Demo mode (simulated account; nothing is charged)");
    }
    println_stdout(&format!("Today       {}", usd(c.today_usd)));
    println_stdout(&format!("This month  {}", usd(c.month_usd)));
    match c.balance_usd {
        Some(b) => println_stdout(&format!("Balance     {}", usd(b))),
        None => println_stdout("Balance     unknown (PiAPI could not be reached)"),
    }
    match c.daily_budget_usd {
        Some(b) => println_stdout(&format!("Daily cap   {}", usd(b))),
        None => println_stdout("Daily cap   none"),
    }
}

/// Prints one progress line per job state change on stderr (terminals only).
pub struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(studio: &Studio, enabled: bool) -> Progress {
        if !enabled {
            return Progress { task: None };
        }
        let mut rx = studio.subscribe();
        let task = tokio::spawn(async move {
            while let Ok(ev) = rx.recv().await {
                let line = match &ev {
                    JobEvent::Queued { job_id, job } => {
                        format!("job {job_id}: queued ({})", job.model.short_name())
                    }
                    JobEvent::Submitted { job_id, task_id } => {
                        format!("job {job_id}: submitted as {task_id}")
                    }
                    JobEvent::Pending { job_id } => format!("job {job_id}: waiting for a worker"),
                    JobEvent::Processing { job_id, elapsed_ms, typical_ms } => {
                        format!(
                            "job {job_id}: generating ({:.0} s of ~{:.0} s)",
                            f64::from(*elapsed_ms) / 1e3,
                            f64::from(*typical_ms) / 1e3
                        )
                    }
                    JobEvent::Downloading { job_id, received, total } => match total {
                        Some(t) if t == received => {
                            format!("job {job_id}: downloaded {} KiB", received / 1024)
                        }
                        _ => continue,
                    },
                    JobEvent::Saved { job_id, image } => format!("job {job_id}: saved {}", image.path),
                    JobEvent::Failed { job_id, message, .. } => format!("job {job_id}: failed: {message}"),
                    JobEvent::Cancelled { job_id } => format!("job {job_id}: cancelled"),
                    JobEvent::QueueChanged { state } => match &state.pause_reason {
                        Some(reason) if state.paused => format!("queue paused: {reason}"),
                        _ => format!("queue: up to {} at once, {} queued", state.limit, state.queued),
                    },
                    JobEvent::BatchFinished { saved, failed, cancelled, .. } => {
                        format!("batch finished: {saved} saved, {failed} failed, {cancelled} cancelled")
                    }
                };
                eprintln!("{line}");
            }
        });
        Progress { task: Some(task) }
    }

    pub fn stop(self) {
        if let Some(t) = self.task {
            t.abort();
        }
    }
}
