//! JSON shapes of task responses, one per `WireStyle`.
//!
//! `task_data` builds the full `data` object of create/get answers (contract §1.3) for a task at a
//! given instant; `envelope` wraps it. The styles cover the documented spelling variants (§1.4,
//! §1.5, §7) so the client's tolerant parser is tested against all of them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::config::WireStyle;
use crate::state::{Phase, Task};

/// Go's zero time, which PiAPI sends for timestamps not reached yet.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
/// `error.message` of a task failed through `Faults::fail_prompt`.
pub const FAIL_MESSAGE: &str = "Generation failed: content flagged by the simulator";
/// Account id reported by `/account/info` and legacy meta.
pub const ACCOUNT_ID: &str = "sim-00000000-0000-4000-8000-000000000000";
/// Account name reported by `/account/info`.
pub const ACCOUNT_NAME: &str = "Fluxdesk Demo";

/// RFC 3339 with nanoseconds and `Z`, as PiAPI sends.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn opt_timestamp(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| ZERO_TIME.to_owned(), timestamp)
}

/// The success envelope: code 200 (0 for `Legacy`), message "success".
pub fn envelope(style: WireStyle, data: Value) -> Value {
    json!({ "code": success_code(style), "message": "success", "data": data })
}

/// The body `code` of a successful answer in this style.
pub fn success_code(style: WireStyle) -> u16 {
    if style == WireStyle::Legacy { 0 } else { 200 }
}

/// The status string for a phase in this style.
pub fn status_str(style: WireStyle, phase: Phase) -> &'static str {
    match (style, phase) {
        (WireStyle::Capitalized, Phase::Pending) => "Pending",
        (WireStyle::Capitalized, Phase::Processing) => "Processing",
        (WireStyle::Capitalized, Phase::Completed) => "Completed",
        (WireStyle::Capitalized, Phase::Failed) => "Failed",
        (WireStyle::Capitalized, Phase::Cancelled) => "Cancelled",
        (WireStyle::Legacy, Phase::Pending) => "starting",
        (WireStyle::Legacy, Phase::Processing) => "processing\t",
        (WireStyle::Legacy, Phase::Completed) => "success",
        (_, Phase::Pending) => "pending",
        (_, Phase::Processing) => "processing",
        (_, Phase::Completed) => "completed",
        (_, Phase::Failed) => "failed",
        (_, Phase::Cancelled) => "cancelled",
    }
}

/// Public URLs of a task's images: `{base}/files/{task_id}/{n}.png`.
pub fn image_urls(task: &Task, base_url: &str) -> Vec<String> {
    (0..task.batch_size).map(|n| format!("{base_url}/files/{}/{n}.png", task.id)).collect()
}

fn output(task: &Task, phase: Phase, base_url: &str, style: WireStyle) -> Value {
    if phase != Phase::Completed {
        return match style {
            WireStyle::Standard | WireStyle::Capitalized => Value::Null,
            WireStyle::Legacy | WireStyle::UrlsOnly => json!({}),
        };
    }
    let urls = image_urls(task, base_url);
    match style {
        WireStyle::Standard | WireStyle::Capitalized if urls.len() == 1 => {
            json!({ "image_url": urls[0], "image_base64": "" })
        }
        WireStyle::Standard | WireStyle::Capitalized => json!({ "image_urls": urls, "image_base64": "" }),
        WireStyle::Legacy => json!({ "image_url": urls[0], "image_urls": urls, "image_base64": "" }),
        WireStyle::UrlsOnly => json!({ "image_urls": urls }),
    }
}

/// The `data` object of a task response at `now`.
pub fn task_data(task: &Task, now: DateTime<Utc>, base_url: &str, style: WireStyle) -> Value {
    let phase = task.phase(now);
    let started =
        matches!(phase, Phase::Processing | Phase::Completed | Phase::Failed).then(|| task.started_at());
    let ended = match phase {
        Phase::Completed | Phase::Failed => Some(task.ended_at()),
        Phase::Cancelled => task.cancelled_at,
        Phase::Pending | Phase::Processing => None,
    };
    let consume = if phase == Phase::Cancelled { 0 } else { task.consume };
    let usage = json!({ "type": "quota", "frozen": 0, "consume": consume });
    let meta = if style == WireStyle::Legacy {
        json!({
            "account_id": ACCOUNT_ID,
            "account_name": ACCOUNT_NAME,
            "created_at": timestamp(task.created_at),
            "started_at": opt_timestamp(started),
            "completed_at": opt_timestamp(ended),
            "usage": usage,
            "is_using_private_pool": false,
        })
    } else {
        json!({
            "created_at": timestamp(task.created_at),
            "started_at": opt_timestamp(started),
            "ended_at": opt_timestamp(ended),
            "usage": usage,
            "is_using_private_pool": false,
        })
    };
    let error = if phase == Phase::Failed {
        match &task.fail_message {
            Some(msg) => json!({ "code": 10000, "raw_message": msg, "message": msg, "detail": null }),
            None => json!({
                "code": 10000, "raw_message": "nsfw content detected (simulated)", "message": FAIL_MESSAGE, "detail": null
            }),
        }
    } else {
        json!({ "code": 0, "raw_message": "", "message": "", "detail": null })
    };
    json!({
        "task_id": task.id,
        "model": task.model,
        "task_type": task.task_type,
        "status": status_str(style, phase),
        "config": task.config,
        "input": task.input,
        "output": output(task, phase, base_url, style),
        "meta": meta,
        "detail": null,
        "logs": [],
        "error": error,
    })
}
