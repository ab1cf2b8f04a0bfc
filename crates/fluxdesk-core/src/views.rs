//! The data the desktop UI and the CLI see: requests, jobs, images, events, settings views.
//!
//! These types cross the IPC boundary (camelCase JSON; specta derives TypeScript for them), so they
//! never carry the API key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ledger::TaskState;
use crate::secrets::KeyStatus;
use crate::settings::{Override, Settings};
use piapi::{ErrorCode, Model};

/// What the user asked for in Compose (or on the command line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct GenerateRequest {
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub model: Model,
    pub width: u32,
    pub height: u32,
    pub steps: Option<u32>,
    pub guidance: Option<f32>,
    /// `None` = a random seed per image; `Some(s)` = locked: image i uses `s + i`.
    pub seed: Option<i64>,
    /// Number of images (1–100); each becomes one ledger task.
    pub count: u32,
}

/// How the seeds of a batch are chosen. Every image records the seed that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum SeedPlan {
    /// A new random seed per image.
    Random,
    /// Locked, as in Compose: image i of each prompt uses `seed + i`.
    Locked { seed: i64 },
    /// A sweep: image i of each prompt uses `start + i × step` (so every prompt gets the same
    /// seeds and the prompts can be compared).
    Sweep { start: i64, step: i64 },
}

/// Many images at once: every prompt × `count_per_prompt`, sharing the other options. Each image
/// is one ledger task (one paid PiAPI task); all are recorded at once, before anything is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct BatchRequest {
    /// One prompt per entry (blank entries are an error; the CLI drops blank and `#` lines).
    pub prompts: Vec<String>,
    pub negative_prompt: Option<String>,
    pub model: Model,
    pub width: u32,
    pub height: u32,
    pub steps: Option<u32>,
    pub guidance: Option<f32>,
    pub seeds: SeedPlan,
    /// Images per prompt, 1–100. At most 1000 images per batch in all.
    pub count_per_prompt: u32,
}

/// The batch queue at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct QueueState {
    /// Paused queues send nothing new; tasks already sent continue.
    pub paused: bool,
    /// Why it is paused, in words for the user (e.g. "Daily budget of $1.00 reached …").
    pub pause_reason: Option<String>,
    /// Tasks waiting to be sent.
    pub queued: u32,
    /// Tasks sent (or being sent) and not finished.
    pub running: u32,
    /// How many tasks may be in flight at once right now: the plan's limit (from PiAPI's account
    /// info, else the setting), lowered for a while after PiAPI refuses work with 429.
    pub limit: u32,
}

/// Spending at a glance. Costs are PiAPI's reported cost per task where known, else the estimate
/// from the price table; days and months are local time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct CostSummary {
    /// Demo mode: the figures are the simulator's play money.
    pub demo: bool,
    pub today_usd: f64,
    pub month_usd: f64,
    /// The account balance from PiAPI (refreshed after each batch), when it could be read.
    pub balance_usd: Option<f64>,
    pub daily_budget_usd: Option<f64>,
}

/// An error as the UI sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ErrorView {
    pub code: ErrorCode,
    pub message: String,
}

/// One gallery image, with absolute paths for the asset protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ImageView {
    pub id: i64,
    pub path: String,
    pub thumb_path: Option<String>,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub model: Option<String>,
    pub task_type: Option<String>,
    pub width: u32,
    pub height: u32,
    pub seed: Option<i64>,
    pub steps: Option<u32>,
    pub guidance: Option<f32>,
    pub task_id: Option<String>,
    pub cost_usd: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub favourite: bool,
    pub rating: u8,
}

/// One job (ledger task) in Activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub id: i64,
    pub prompt: String,
    pub model: Model,
    pub width: u32,
    pub height: u32,
    pub state: TaskState,
    pub task_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub cost_usd: f64,
    pub error: Option<ErrorView>,
    pub images: Vec<ImageView>,
    /// The model's typical duration, for estimated progress bars.
    pub typical_ms: u32,
}

/// Progress of one job. First and last events are always delivered; `processing` and
/// `downloading` are rate-limited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum JobEvent {
    Queued {
        job_id: i64,
        job: Box<JobView>,
    },
    Submitted {
        job_id: i64,
        task_id: String,
    },
    Pending {
        job_id: i64,
    },
    Processing {
        job_id: i64,
        elapsed_ms: u32,
        typical_ms: u32,
    },
    Downloading {
        job_id: i64,
        received: u32,
        total: Option<u32>,
    },
    Saved {
        job_id: i64,
        image: Box<ImageView>,
    },
    Failed {
        job_id: i64,
        code: ErrorCode,
        message: String,
    },
    Cancelled {
        job_id: i64,
    },
    /// The queue was paused or resumed, or its limit changed (e.g. the daily budget was reached,
    /// or PiAPI answered 429 and fewer tasks are sent at once for a while).
    QueueChanged {
        state: QueueState,
    },
    /// Every job of a batch has ended (saved, failed or cancelled).
    BatchFinished {
        batch_id: String,
        saved: u32,
        failed: u32,
        cancelled: u32,
    },
}

impl JobEvent {
    /// The job this event is about; `0` for queue-wide events ([`JobEvent::QueueChanged`],
    /// [`JobEvent::BatchFinished`]); ledger ids start at 1. See also [`JobEvent::job`].
    pub fn job_id(&self) -> i64 {
        self.job().unwrap_or(0)
    }

    /// The job this event is about, `None` for queue-wide events.
    pub fn job(&self) -> Option<i64> {
        Some(match self {
            JobEvent::Queued { job_id, .. }
            | JobEvent::Submitted { job_id, .. }
            | JobEvent::Pending { job_id }
            | JobEvent::Processing { job_id, .. }
            | JobEvent::Downloading { job_id, .. }
            | JobEvent::Saved { job_id, .. }
            | JobEvent::Failed { job_id, .. }
            | JobEvent::Cancelled { job_id } => *job_id,
            JobEvent::QueueChanged { .. } | JobEvent::BatchFinished { .. } => return None,
        })
    }

    /// Events that must never be dropped by rate limiting.
    pub fn is_milestone(&self) -> bool {
        !matches!(self, JobEvent::Processing { .. } | JobEvent::Downloading { .. })
    }
}

/// Balance and plan (or the simulator's, in demo mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub demo: bool,
    pub balance_usd: Option<f64>,
    pub plan: Option<String>,
    pub max_concurrent_tasks: Option<u32>,
}

/// Settings as the UI edits them, with what the environment overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    /// The saved settings (what the form edits).
    pub settings: Settings,
    /// Fields whose effective value comes from an environment variable.
    pub overridden_by: Vec<Override>,
    pub gallery_dir: String,
    pub data_dir: String,
    pub demo: bool,
}

/// What the UI needs at startup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub version: String,
    pub demo: bool,
    pub key_status: KeyStatus,
    pub gallery_dir: String,
}

/// What a resume pass did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ResumeReport {
    /// Jobs resumed and saved.
    pub saved: Vec<i64>,
    /// Jobs that ended failed (with their error).
    pub failed: Vec<i64>,
    /// Jobs whose create may or may not have reached PiAPI (never resent).
    pub uncertain: Vec<i64>,
    /// Jobs still running on PiAPI when polling gave up; a later resume picks them up.
    pub still_running: Vec<i64>,
    /// Queued jobs left unsent because the queue is paused (see `QueueState::pause_reason`).
    #[serde(default)]
    pub left_queued: Vec<i64>,
}
