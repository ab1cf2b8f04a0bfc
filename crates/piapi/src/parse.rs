//! Tolerant parsing of PiAPI responses into [`Task`] and [`AccountInfo`].
//!
//! PiAPI's responses vary between documentation pages, API generations and models (see
//! `shared/reference/piapi-api.md` §1.3–1.5, §4.1, §7). This module walks `serde_json::Value`s
//! instead of deserialising strict structs, so an unexpected field, type or spelling can never
//! fail a parse that still carries the information we need.
//!
//! Contract:
//! - never panics, whatever the bytes and HTTP status;
//! - non-2xx statuses map to typed errors (the JSON error `message` is kept when there is one;
//!   HTML or empty bodies give a status-only error);
//! - a 2xx body that is not understood is `Error::Protocol` with the raw body (at most 4 KiB);
//! - envelope `code` 200 or 0 (or no envelope at all) is success; a 4xx/5xx-like `code` is mapped
//!   as if it were the HTTP status.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::client::AccountInfo;
use crate::error::{Error, Result};
use crate::{Task, TaskStatus};

/// Raw bodies kept in `Error::Protocol` are cut to this many bytes.
pub(crate) const MAX_KEPT_BODY: usize = 4096;
/// PiAPI messages copied into errors are cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// What a request was about, so a 404 can be reported sensibly.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject<'a> {
    /// A task; `None` when the id is not known (the body is searched for one).
    Task(Option<&'a str>),
    /// `GET /account/info`.
    Account,
}

/// Parses a create-task or get-task response (`http_status` and raw body).
///
/// Errors: non-2xx statuses and 4xx/5xx-like envelope codes map to the matching [`Error`]
/// (401/403 `Unauthorized`, 402 or a credits message `InsufficientCredits`, 404 `NotFound`,
/// 429 `RateLimited`, 5xx `ServerError`, other 4xx `InvalidInput`); a body without a task is
/// `Protocol`.
pub fn parse_task_response(http_status: u16, body: &[u8]) -> Result<Task> {
    parse_task_for(http_status, body, Subject::Task(None))
}

/// Parses a `GET /account/info` response. Missing fields become `None`.
pub fn parse_account_info(http_status: u16, body: &[u8]) -> Result<AccountInfo> {
    let root = success_root(http_status, body, Subject::Account)?;
    let data = match root.get("data") {
        Some(d @ Value::Object(_)) => d,
        _ => &root,
    };
    if !data.is_object() {
        return Err(protocol("the account response is not a JSON object", body));
    }
    let balance_usd = number(data.get("equivalent_in_usd"))
        .or_else(|| number(data.get("remaining_credits")))
        .filter(|v| v.is_finite());
    let max_concurrent_tasks = number(data.get("max_concurrent_task_count"))
        .filter(|v| v.is_finite() && *v >= 0.0 && *v <= f64::from(u32::MAX))
        // Truncation is intended: the value is a finite, in-range count.
        .map(|v| v.round() as u32);
    Ok(AccountInfo {
        balance_usd,
        plan: text(data.get("plan")),
        account_name: text(data.get("name")).or_else(|| text(data.get("account_name"))),
        max_concurrent_tasks,
    })
}

/// [`parse_task_response`] with knowledge of the task id being asked about.
pub(crate) fn parse_task_for(http_status: u16, body: &[u8], subject: Subject<'_>) -> Result<Task> {
    let root = success_root(http_status, body, subject)?;
    let data = match root.get("data") {
        Some(d @ Value::Object(_)) => d,
        _ if root.get("task_id").is_some() => &root,
        _ => return Err(protocol("the response contains no task", body)),
    };
    Ok(task_from_data(data))
}

/// Checks a bodyless acknowledgement such as `{"code":200,"message":"task … canceled"}`.
pub(crate) fn parse_ack(http_status: u16, body: &[u8], subject: Subject<'_>) -> Result<()> {
    if !(200..300).contains(&http_status) {
        return Err(error_for_status(http_status, body, subject));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(root) => check_envelope(&root, body, subject),
        // An empty or non-JSON 2xx acknowledgement is still an acknowledgement.
        Err(_) => Ok(()),
    }
}

/// The typed error for a non-2xx response.
pub(crate) fn error_for_status(http_status: u16, body: &[u8], subject: Subject<'_>) -> Error {
    let message = serde_json::from_slice::<Value>(body).ok().as_ref().map(error_text).unwrap_or_default();
    error_for_code(http_status, message, subject, body)
}

/// Maps an HTTP status (or a 4xx/5xx-like envelope code) and PiAPI's message to an [`Error`].
fn error_for_code(status: u16, message: String, subject: Subject<'_>, body: &[u8]) -> Error {
    match subject {
        Subject::Account if status == 404 => Error::Config {
            message: "PiAPI has no /account/info endpoint at the configured base URL. Check the base URL in Settings (or PIAPI_BASE_URL).".to_owned(),
        },
        Subject::Account => map_status(status, message, None, body),
        Subject::Task(id) => {
            let id = id.map(str::to_owned).or_else(|| task_id_in(body)).unwrap_or_else(|| "(unknown)".to_owned());
            map_status(status, message, Some(&id), body)
        }
    }
}

/// `data.task_id` of a JSON body, if any.
fn task_id_in(body: &[u8]) -> Option<String> {
    let v = serde_json::from_slice::<Value>(body).ok()?;
    id_text(v.get("data").and_then(|d| d.get("task_id")))
}

fn map_status(status: u16, message: String, task_id: Option<&str>, body: &[u8]) -> Error {
    let credits = mentions_credits(&message);
    match status {
        401 => Error::Unauthorized { message },
        403 if credits => Error::InsufficientCredits { message },
        403 => Error::Unauthorized { message },
        402 => Error::InsufficientCredits { message },
        404 => match task_id {
            Some(id) => Error::NotFound { task_id: id.to_owned() },
            None => Error::Protocol { message: "PiAPI answered HTTP 404".to_owned(), body: keep_body(body) },
        },
        429 => Error::RateLimited { retry_after: None, message },
        408 | 500..=599 => Error::ServerError { status, message },
        400..=499 if credits => Error::InsufficientCredits { message },
        400..=499 => {
            let message = if message.is_empty() {
                format!("PiAPI rejected the request (HTTP {status}); check the prompt and settings")
            } else {
                format!("PiAPI rejected the request (HTTP {status}): {message}")
            };
            Error::invalid_input("request", message)
        }
        _ => Error::Protocol { message: format!("unexpected HTTP status {status}"), body: keep_body(body) },
    }
}

/// True when a message reads like an out-of-credits rejection.
pub(crate) fn mentions_credits(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("insufficient") || m.contains("credit") || m.contains("balance")
}

/// Parses a 2xx body to JSON and checks the envelope code; non-2xx statuses become errors.
fn success_root(http_status: u16, body: &[u8], subject: Subject<'_>) -> Result<Value> {
    if !(200..300).contains(&http_status) {
        return Err(error_for_status(http_status, body, subject));
    }
    let root: Value = serde_json::from_slice(body).map_err(|e| {
        let what = if body.iter().all(u8::is_ascii_whitespace) {
            "the response body is empty".to_owned()
        } else {
            format!("the response is not JSON: {e}")
        };
        protocol(&what, body)
    })?;
    if !root.is_object() {
        return Err(protocol("the response is not a JSON object", body));
    }
    check_envelope(&root, body, subject)?;
    Ok(root)
}

/// Envelope `code`: absent, 0 or 2xx-like is success; 4xx/5xx-like maps like an HTTP status.
fn check_envelope(root: &Value, body: &[u8], subject: Subject<'_>) -> Result<()> {
    let Some(code) = root.get("code").and_then(|c| number(Some(c))) else { return Ok(()) };
    if code == 0.0 || (200.0..300.0).contains(&code) {
        return Ok(());
    }
    let message = error_text(root);
    if (400.0..600.0).contains(&code) {
        // In range, so the conversion is exact.
        let status = code.trunc() as u16;
        return Err(error_for_code(status, message, subject, body));
    }
    if mentions_credits(&message) {
        return Err(Error::InsufficientCredits { message });
    }
    let shown = if message.is_empty() { String::new() } else { format!(": {message}") };
    Err(protocol(&format!("PiAPI answered with code {code}{shown}"), body))
}

/// Builds a [`Task`] from a `data` object, tolerating every documented variant.
fn task_from_data(data: &Value) -> Task {
    let raw_status = match data.get("status") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let meta = data.get("meta");
    let meta_field = |k: &str| meta.and_then(|m| m.get(k));
    Task {
        task_id: id_text(data.get("task_id")).unwrap_or_default(),
        model: text(data.get("model")),
        task_type: text(data.get("task_type")),
        status: TaskStatus::from_wire(&raw_status),
        raw_status,
        image_urls: image_urls(data),
        error_message: task_error(data.get("error")),
        consume: meta_field("usage").and_then(|u| u.get("consume")).and_then(|c| count(Some(c))),
        created_at: timestamp(meta_field("created_at")),
        started_at: timestamp(meta_field("started_at")),
        ended_at: timestamp(meta_field("ended_at")).or_else(|| timestamp(meta_field("completed_at"))),
    }
}

/// `output.image_url`, then `output.image_urls[]`; if both are empty, `output.images[].url` and
/// `output.temporary_image_urls[]`. Deduplicated, order kept, empty strings ignored.
fn image_urls(data: &Value) -> Vec<String> {
    let mut urls = Vec::new();
    let outputs = [
        data.get("output"),
        data.get("task_result"),
        data.get("task_result").and_then(|r| r.get("task_output")),
    ];
    for output in outputs.into_iter().flatten().filter(|o| o.is_object()) {
        push_url(&mut urls, output.get("image_url"));
        push_urls(&mut urls, output.get("image_urls"));
        if urls.is_empty() {
            if let Some(Value::Array(images)) = output.get("images") {
                for img in images {
                    match img {
                        Value::Object(_) => push_url(&mut urls, img.get("url")),
                        other => push_url(&mut urls, Some(other)),
                    }
                }
            }
            push_urls(&mut urls, output.get("temporary_image_urls"));
        }
        if !urls.is_empty() {
            break;
        }
    }
    urls
}

fn push_urls(urls: &mut Vec<String>, v: Option<&Value>) {
    match v {
        Some(Value::Array(items)) => items.iter().for_each(|i| push_url(urls, Some(i))),
        other => push_url(urls, other),
    }
}

fn push_url(urls: &mut Vec<String>, v: Option<&Value>) {
    if let Some(Value::String(s)) = v {
        let s = s.trim();
        if !s.is_empty() && !urls.iter().any(|u| u == s) {
            urls.push(s.to_owned());
        }
    }
}

/// `error.message`, then `error.raw_message`; a plain string `error` is used as is.
fn task_error(error: Option<&Value>) -> Option<String> {
    match error? {
        Value::String(s) => clean_message(s),
        e @ Value::Object(_) => text(e.get("message"))
            .or_else(|| text(e.get("raw_message")))
            .and_then(|m| clean_message(&m)),
        _ => None,
    }
}

/// The most useful message in an error body: `message`, `error.message`, `error` (string),
/// `detail`, `data.error.message`, `data.error.raw_message`.
fn error_text(v: &Value) -> String {
    let candidates = [
        v.get("message"),
        v.get("error").and_then(|e| e.get("message")),
        v.get("error").and_then(|e| e.get("raw_message")),
        v.get("error"),
        v.get("detail"),
        v.get("data").and_then(|d| d.get("error")).and_then(|e| e.get("message")),
        v.get("data").and_then(|d| d.get("error")).and_then(|e| e.get("raw_message")),
        v.get("data").and_then(|d| d.get("message")),
    ];
    candidates
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str())
        .find_map(clean_message)
        .unwrap_or_default()
}

/// Trims, flattens control characters and cuts a server message to a readable length.
pub(crate) fn clean_message(s: &str) -> Option<String> {
    let flat: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let t = flat.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("success") {
        return None;
    }
    let mut out: String = t.chars().take(MAX_MESSAGE_CHARS).collect();
    if t.chars().count() > MAX_MESSAGE_CHARS {
        out.push('…');
    }
    Some(out)
}

/// A non-empty, trimmed string field.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// A string or numeric id.
fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        other => text(Some(other)),
    }
}

/// A number given as a JSON number or a numeric string.
fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// A non-negative count given as an integer, a float or a string.
fn count(v: Option<&Value>) -> Option<u64> {
    if let Some(Value::Number(n)) = v {
        if let Some(u) = n.as_u64() {
            return Some(u);
        }
    }
    if let Some(Value::String(s)) = v {
        if let Ok(u) = s.trim().parse::<u64>() {
            return Some(u);
        }
    }
    // Saturating float-to-int conversion is intended for huge values.
    number(v).filter(|f| *f >= 0.0).map(|f| f.round() as u64)
}

/// An RFC 3339 timestamp (any offset, any precision) or Unix seconds; Go's zero time, empty
/// strings and unparseable values are `None`.
fn timestamp(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let t = match v? {
        Value::String(s) => {
            let s = s.trim();
            DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc)).ok().or_else(|| {
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok().map(|n| n.and_utc())
            })?
        }
        Value::Number(n) => {
            let secs = n.as_i64().filter(|s| *s > 0)?;
            Utc.timestamp_opt(secs, 0).single()?
        }
        _ => return None,
    };
    use chrono::Datelike;
    (t.year() > 1).then_some(t)
}

fn protocol(message: &str, body: &[u8]) -> Error {
    Error::Protocol { message: message.to_owned(), body: keep_body(body) }
}

/// The raw body for `Error::Protocol`, cut to 4 KiB (lossy UTF-8).
pub(crate) fn keep_body(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(MAX_KEPT_BODY)]).into_owned()
}
