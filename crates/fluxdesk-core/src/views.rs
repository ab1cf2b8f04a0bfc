//! The data the desktop UI and the CLI see: requests, jobs, images, events, settings views.
//!
//! These types cross the IPC boundary (camelCase JSON; specta derives TypeScript for them), so they
//! never carry the API key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ledger::TaskState;
use crate::secrets::KeyStatus;
use crate::settings::{Override, Settings};
use piapi::{ControlType, ErrorCode, Model, TaskType};

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
    /// The Flux task type. Requests saved before task types existed parse as `txt2img`.
    #[serde(default = "default_task_type")]
    pub task_type: TaskType,
    /// The input image (img2img, inpaint, outpaint, variation, Kontext, image upscale).
    #[serde(default)]
    pub source: Option<SourceImage>,
    /// Inpaint only: where to repaint (burned into the source as white pixels).
    #[serde(default)]
    pub mask: Option<MaskInput>,
    /// img2img / img2img-lora: how far to move away from the source (0 < d ≤ 1).
    #[serde(default)]
    pub denoise: Option<f32>,
    /// LoRA styles (`*-lora` task types).
    #[serde(default)]
    pub loras: Vec<LoraChoice>,
    /// ControlNet (controlnet-lora).
    #[serde(default)]
    pub control: Option<ControlChoice>,
    /// Outpaint margins in pixels (fill-outpaint).
    #[serde(default)]
    pub outpaint: Option<Margins>,
    /// Upscale factor, 2 or 4 (`*-sr`).
    #[serde(default)]
    pub scale: Option<u32>,
}

fn default_task_type() -> TaskType {
    TaskType::Txt2Img
}

impl GenerateRequest {
    /// A text-to-image request with the given prompt, model and size; one image, random seed,
    /// everything else unset.
    pub fn txt2img(prompt: impl Into<String>, model: Model, width: u32, height: u32) -> GenerateRequest {
        GenerateRequest {
            prompt: prompt.into(),
            negative_prompt: None,
            model,
            width,
            height,
            steps: None,
            guidance: None,
            seed: None,
            count: 1,
            task_type: TaskType::Txt2Img,
            source: None,
            mask: None,
            denoise: None,
            loras: Vec::new(),
            control: None,
            outpaint: None,
            scale: None,
        }
    }
}

/// An input image: a gallery image (`image_id`) or a file (`path`, absolute). Exactly one is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SourceImage {
    #[serde(default)]
    pub image_id: Option<i64>,
    #[serde(default)]
    pub path: Option<String>,
}

impl SourceImage {
    pub fn gallery(id: i64) -> SourceImage {
        SourceImage { image_id: Some(id), path: None }
    }
    pub fn file(path: impl Into<String>) -> SourceImage {
        SourceImage { image_id: None, path: Some(path.into()) }
    }
}

/// An inpaint mask: a file or PNG bytes (base64, no `data:` prefix). White (luma ≥ 128, or
/// alpha ≥ 128 when the PNG has alpha) marks what to repaint. Exactly one is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct MaskInput {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub png_base64: Option<String>,
}

/// One LoRA style and its strength (0–2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct LoraChoice {
    pub name: String,
    pub strength: f32,
}

/// ControlNet: the type, the control image and its strength (0–1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ControlChoice {
    pub control_type: ControlType,
    pub image: SourceImage,
    pub strength: f32,
}

/// Outpaint margins in pixels per side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Margins {
    pub left: u32,
    pub right: u32,
    pub top: u32,
    pub bottom: u32,
}

/// The ControlNet part of a finished task (the control image itself is not kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ControlSummary {
    pub control_type: ControlType,
    pub strength: f32,
}

/// The task-specific settings an image was made with (stored in the gallery and in the file's
/// metadata). Never holds the key or an upload URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase", default)]
pub struct TaskSettingsView {
    pub denoise: Option<f32>,
    pub loras: Vec<LoraChoice>,
    pub control: Option<ControlSummary>,
    pub outpaint: Option<Margins>,
    pub scale: Option<u32>,
}

impl TaskSettingsView {
    /// Nothing set (a plain txt2img).
    pub fn is_empty(&self) -> bool {
        self == &TaskSettingsView::default()
    }
}

/// An input image as the source picker shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SourceInfo {
    /// Absolute path (for the asset protocol).
    pub path: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// The gallery image, when the source is one.
    pub image_id: Option<i64>,
}

/// Every task type with what it takes, the LoRA styles and ControlNet types (the UI's pickers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct TaskCatalog {
    pub tasks: Vec<TaskInfo>,
    pub lora_types: Vec<String>,
    pub control_types: Vec<ControlType>,
}

/// One task type in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct TaskInfo {
    pub task_type: TaskType,
    pub label: String,
    /// Models that accept this task type.
    pub models: Vec<Model>,
    pub needs_image: bool,
    pub min_loras: u8,
    pub max_loras: u8,
    pub needs_control: bool,
    pub takes_size: bool,
    pub takes_denoise: bool,
    pub takes_outpaint: bool,
    pub takes_scale: bool,
    /// Models on which more than one image per task (batch) is allowed for this task type.
    pub batch_models: Vec<Model>,
    /// Price per image on each model of `models`.
    pub prices: Vec<ModelPrice>,
}

/// The price of one image of a task type on a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ModelPrice {
    pub model: Model,
    pub usd: f64,
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
    /// The gallery image this one was made from (img2img, inpaint, …), if any.
    pub source_image_id: Option<i64>,
    /// Task-specific settings (denoise, LoRAs, ControlNet, outpaint, scale); `None` for txt2img.
    pub task: Option<TaskSettingsView>,
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
