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

/// PiAPI's own message in an error body (JSON `message`, `error.message`, …), or empty.
pub(crate) fn server_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body).ok().as_ref().map(error_text).unwrap_or_default()
}

/// The typed error for a non-2xx response.
pub(crate) fn error_for_status(http_status: u16, body: &[u8], subject: Subject<'_>) -> Error {
    error_for_code(http_status, server_message(body), subject, body)
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
        e @ Value::Object(_) => {
            text(e.get("message")).or_else(|| text(e.get("raw_message"))).and_then(|m| clean_message(&m))
        }
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
    candidates.into_iter().flatten().filter_map(|c| c.as_str()).find_map(clean_message).unwrap_or_default()
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
    if let Some(Value::Number(n)) = v
        && let Some(u) = n.as_u64()
    {
        return Some(u);
    }
    if let Some(Value::String(s)) = v
        && let Ok(u) = s.trim().parse::<u64>()
    {
        return Some(u);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    /// §1.3 completed kontext example (verbatim apart from elided strings).
    const KONTEXT_COMPLETED: &str = r#"{
      "code": 200,
      "message": "success",
      "data": {
        "task_id": "8718d5c1-aae9-4cd5-a243-84eeb1e01117",
        "model": "Qubico/flux1-dev-advanced",
        "task_type": "kontext",
        "status": "completed",
        "config": { "service_mode": "", "webhook_config": { "endpoint": "https://webhook.site/x", "secret": "" } },
        "input": { "height": 1024, "image": "https://x/input_example.png", "prompt": "p", "seed": -1, "steps": 10, "width": 1024 },
        "output": {
          "image_base64": "",
          "image_url": "https://img.theapi.app/temp/10f0a646-6155-4938-bf50-76934c953e9c.png"
        },
        "meta": {
          "created_at": "2025-06-30T07:11:30.719851187Z",
          "started_at": "2025-06-30T07:11:31.891665902Z",
          "ended_at":   "2025-06-30T07:12:03.388312371Z",
          "usage": { "type": "llm", "frozen": 0, "consume": 200000 },
          "is_using_private_pool": false
        },
        "detail": null,
        "logs": [],
        "error": { "code": 0, "raw_message": "", "message": "", "detail": null }
      }
    }"#;

    /// §1.3 freshly created img2img example.
    const IMG2IMG_PENDING: &str = r#"{"code":200,"data":{"task_id":"1631d053-2352-4add-95cc-360fc52d5f89","model":"Qubico/flux1-schnell",
 "task_type":"img2img","status":"pending",
 "config":{"webhook_config":{"endpoint":"https://webhook.site/xxxx","secret":""}},
 "input":{"prompt":"a bear","negative_prompt":"","image":"https://i.ibb.co/J7ZNgSG/01.jpg","width":0,"height":0,"steps":0},
 "output":null,
 "meta":{"created_at":"2024-09-25T07:40:08.333962391Z","started_at":"0001-01-01T00:00:00Z","ended_at":"0001-01-01T00:00:00Z",
         "usage":{"type":"quota","frozen":0,"consume":20000},"is_using_private_pool":false},
 "detail":null,"logs":[],"error":{"code":0,"raw_message":"","message":"","detail":null}},
 "message":"success"}"#;

    /// The legacy Flux get-task page: `"status": "success"`, output.image_url / image_base64.
    const LEGACY_SUCCESS: &str = r#"{"code":200,"message":"success","data":{
      "task_id":"b7b2c5a4-3b3c-4f0c-9b2f-7c1e0e2f1a11","model":"Qubico/flux1-dev","task_type":"txt2img",
      "status":"success","input":{},"output":{"image_url":"https://img.theapi.app/temp/legacy.png","image_base64":""},
      "meta":{},"detail":null,"logs":[],"error":{"code":0,"message":""}}}"#;

    fn task(body: &str) -> Task {
        parse_task_response(200, body.as_bytes()).expect("parses")
    }

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("test timestamp").with_timezone(&Utc)
    }

    #[test]
    fn completed_kontext_example() {
        let t = task(KONTEXT_COMPLETED);
        assert_eq!(t.task_id, "8718d5c1-aae9-4cd5-a243-84eeb1e01117");
        assert_eq!(t.model.as_deref(), Some("Qubico/flux1-dev-advanced"));
        assert_eq!(t.task_type.as_deref(), Some("kontext"));
        assert_eq!(t.status, TaskStatus::Completed);
        assert_eq!(t.raw_status, "completed");
        assert_eq!(t.image_urls, ["https://img.theapi.app/temp/10f0a646-6155-4938-bf50-76934c953e9c.png"]);
        assert_eq!(t.error_message, None);
        assert_eq!(t.consume, Some(200_000));
        assert_eq!(t.created_at, Some(ts("2025-06-30T07:11:30.719851187Z")));
        assert_eq!(t.started_at, Some(ts("2025-06-30T07:11:31.891665902Z")));
        assert_eq!(t.ended_at, Some(ts("2025-06-30T07:12:03.388312371Z")));
    }

    #[test]
    fn pending_img2img_example_with_null_output_and_zero_times() {
        let t = task(IMG2IMG_PENDING);
        assert_eq!(t.status, TaskStatus::Pending);
        assert!(t.image_urls.is_empty());
        assert_eq!(t.consume, Some(20_000));
        assert_eq!(t.created_at, Some(ts("2024-09-25T07:40:08.333962391Z")));
        assert_eq!(t.started_at, None, "Go zero time is None");
        assert_eq!(t.ended_at, None);
    }

    #[test]
    fn legacy_success_shape() {
        let t = task(LEGACY_SUCCESS);
        assert_eq!(t.status, TaskStatus::Completed);
        assert_eq!(t.raw_status, "success");
        assert_eq!(t.image_urls, ["https://img.theapi.app/temp/legacy.png"]);
        assert_eq!(t.created_at, None);
    }

    #[test]
    fn capitalized_and_odd_statuses() {
        for (raw, want) in [
            ("Completed", TaskStatus::Completed),
            ("Processing", TaskStatus::Processing),
            ("Pending", TaskStatus::Pending),
            ("Failed", TaskStatus::Failed),
            ("Staged", TaskStatus::Pending),
            ("processing\t", TaskStatus::Processing),
            ("  SUCCESS ", TaskStatus::Completed),
            ("retry", TaskStatus::Processing),
            ("starting", TaskStatus::Pending),
            ("in_progress", TaskStatus::Processing),
            ("canceled", TaskStatus::Cancelled),
            ("", TaskStatus::Pending),
        ] {
            let body = serde_json::json!({"code": 200, "data": {"task_id": "t1", "status": raw}}).to_string();
            let t = task(&body);
            assert_eq!(t.status, want, "{raw:?}");
            assert_eq!(t.raw_status, raw, "raw status is kept verbatim");
        }
        let t = task(r#"{"code":200,"data":{"task_id":"t1","status":null}}"#);
        assert_eq!(t.status, TaskStatus::Pending);
        let t = task(r#"{"code":200,"data":{"task_id":"t1"}}"#);
        assert_eq!(t.status, TaskStatus::Pending);
    }

    #[test]
    fn envelope_code_zero_and_string_codes_are_success() {
        for code in ["0", "200", "\"200\"", "\"0\""] {
            let body =
                format!(r#"{{"code":{code},"message":"ok","data":{{"task_id":"a","status":"pending"}}}}"#);
            assert_eq!(task(&body).task_id, "a", "code {code}");
        }
    }

    #[test]
    fn body_without_envelope_is_the_data_object() {
        let t = task(r#"{"task_id":"bare","status":"completed","output":{"image_url":"https://x/a.png"}}"#);
        assert_eq!(t.task_id, "bare");
        assert_eq!(t.image_urls, ["https://x/a.png"]);
    }

    #[test]
    fn output_empty_object_null_or_missing() {
        for output in [r#","output":{}"#, r#","output":null"#, ""] {
            let body = format!(r#"{{"code":200,"data":{{"task_id":"a","status":"processing"{output}}}}}"#);
            let t = task(&body);
            assert!(t.image_urls.is_empty(), "{output}");
            assert_eq!(t.status, TaskStatus::Processing);
        }
    }

    #[test]
    fn image_urls_arrays_both_fields_dedupe_and_order() {
        let t = task(
            r#"{"code":200,"data":{"task_id":"a","status":"completed","output":{
                "image_url":"https://x/1.png",
                "image_urls":["https://x/1.png","", "  ","https://x/2.png","https://x/3.png","https://x/2.png", null, 5]}}}"#,
        );
        assert_eq!(t.image_urls, ["https://x/1.png", "https://x/2.png", "https://x/3.png"]);
        let t = task(
            r#"{"code":200,"data":{"task_id":"a","status":"completed","output":{"image_url":"","image_urls":["https://x/b.png","https://x/a.png"]}}}"#,
        );
        assert_eq!(t.image_urls, ["https://x/b.png", "https://x/a.png"]);
    }

    #[test]
    fn images_array_and_temporary_urls_are_fallbacks_only() {
        let t = task(
            r#"{"data":{"task_id":"a","status":"completed","output":{"images":[{"url":"https://x/i1.png"},{"url":""},"https://x/i2.png"]}}}"#,
        );
        assert_eq!(t.image_urls, ["https://x/i1.png", "https://x/i2.png"]);
        let t = task(
            r#"{"data":{"task_id":"a","status":"completed","output":{"temporary_image_urls":["https://x/t1.png","https://x/t2.png"]}}}"#,
        );
        assert_eq!(t.image_urls, ["https://x/t1.png", "https://x/t2.png"]);
        let t = task(
            r#"{"data":{"task_id":"a","status":"completed","output":{"image_url":"https://x/grid.png","temporary_image_urls":["https://x/t1.png"]}}}"#,
        );
        assert_eq!(t.image_urls, ["https://x/grid.png"], "fallbacks ignored when image_url is set");
    }

    #[test]
    fn older_meta_with_completed_at_and_offsets() {
        let t = task(
            r#"{"code":200,"data":{"task_id":"a","status":"completed","output":{"image_url":"https://x/a.png"},
               "meta":{"account_id":1,"account_name":"n","created_at":"2024-08-20T10:00:00+08:00",
                       "started_at":"2024-08-20T10:00:01.5+08:00","completed_at":"2024-08-20T10:00:09.123456789+08:00"}}}"#,
        );
        assert_eq!(t.created_at, Some(ts("2024-08-20T02:00:00Z")));
        assert_eq!(t.started_at, Some(ts("2024-08-20T02:00:01.5Z")));
        assert_eq!(t.ended_at, Some(ts("2024-08-20T02:00:09.123456789Z")));
        // ended_at wins over completed_at; a Go-zero ended_at falls back to completed_at.
        let t = task(
            r#"{"data":{"task_id":"a","meta":{"ended_at":"0001-01-01T00:00:00Z","completed_at":"2024-01-01T00:00:00Z"}}}"#,
        );
        assert_eq!(t.ended_at, Some(ts("2024-01-01T00:00:00Z")));
    }

    #[test]
    fn bad_timestamps_are_none_not_errors() {
        let t = task(
            r#"{"data":{"task_id":"a","meta":{"created_at":"yesterday","started_at":17,"ended_at":{"x":1}}}}"#,
        );
        assert_eq!(t.created_at, None);
        assert_eq!(t.started_at, Some(ts("1970-01-01T00:00:17Z")));
        assert_eq!(t.ended_at, None);
    }

    #[test]
    fn error_message_then_raw_message_fallback() {
        let t = task(
            r#"{"code":200,"data":{"task_id":"a","status":"failed","error":{"code":1100,"raw_message":"nsfw detected","message":""}}}"#,
        );
        assert_eq!(t.status, TaskStatus::Failed);
        assert_eq!(t.error_message.as_deref(), Some("nsfw detected"));
        let t = task(
            r#"{"data":{"task_id":"a","status":"failed","error":{"raw_message":"raw","message":"friendly"}}}"#,
        );
        assert_eq!(t.error_message.as_deref(), Some("friendly"));
        let t = task(r#"{"data":{"task_id":"a","status":"failed","error":"plain text"}}"#);
        assert_eq!(t.error_message.as_deref(), Some("plain text"));
        let t = task(r#"{"data":{"task_id":"a","status":"failed","error":{"message":"  "}}}"#);
        assert_eq!(t.error_message, None);
    }

    #[test]
    fn usage_consume_int_float_string() {
        for (consume, want) in [
            ("20000", Some(20000)),
            ("20000.0", Some(20000)),
            ("\"20000\"", Some(20000)),
            ("\" 1.5e4 \"", Some(15000)),
            ("-5", None),
            ("null", None),
            ("\"lots\"", None),
        ] {
            let body = format!(r#"{{"data":{{"task_id":"a","meta":{{"usage":{{"consume":{consume}}}}}}}}}"#);
            assert_eq!(task(&body).consume, want, "{consume}");
        }
    }

    #[test]
    fn unknown_fields_and_numeric_task_id_are_tolerated() {
        let t = task(
            r#"{"code":200,"extra":[1,2],"data":{"task_id":12345,"status":"pending","new_field":{"deep":true},"logs":"x"}}"#,
        );
        assert_eq!(t.task_id, "12345");
    }

    #[test]
    fn non_2xx_statuses_map_to_typed_errors() {
        let cases: [(u16, &str, ErrorCode); 12] = [
            (400, r#"{"code":400,"message":"prompt is required","data":null}"#, ErrorCode::InvalidInput),
            (401, r#"{"code":401,"message":"invalid api key","data":null}"#, ErrorCode::Unauthorized),
            (403, "", ErrorCode::Unauthorized),
            (403, r#"{"message":"insufficient quota"}"#, ErrorCode::InsufficientCredits),
            (402, "", ErrorCode::InsufficientCredits),
            (
                400,
                r#"{"code":400,"message":"Your credit balance is too low"}"#,
                ErrorCode::InsufficientCredits,
            ),
            (404, r#"{"code":404,"message":"task not found","data":null}"#, ErrorCode::NotFound),
            (429, "", ErrorCode::RateLimited),
            (500, r#"{"code":500,"message":"internal","data":null}"#, ErrorCode::ServerError),
            (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", ErrorCode::ServerError),
            (503, "", ErrorCode::ServerError),
            (302, "", ErrorCode::Protocol),
        ];
        for (status, body, want) in cases {
            let e = parse_task_response(status, body.as_bytes()).expect_err("must fail");
            assert_eq!(e.code(), want, "{status} {body}: {e}");
        }
    }

    #[test]
    fn error_json_message_is_kept_and_html_is_not() {
        let e = parse_task_response(
            400,
            br#"{"code":400,"message":"width*height cannot exceed 1048576","data":null}"#,
        )
        .expect_err("400");
        match e {
            Error::InvalidInput { field, message } => {
                assert_eq!(field, "request");
                assert!(message.contains("width*height cannot exceed 1048576"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let e = parse_task_response(502, b"<html><body>Bad Gateway</body></html>").expect_err("502");
        assert!(matches!(&e, Error::ServerError { status: 502, message } if message.is_empty()), "{e:?}");
        assert_eq!(e.to_string(), "PiAPI had a server error (HTTP 502). Try again in a minute.");
    }

    #[test]
    fn envelope_error_codes_with_http_200() {
        let e =
            parse_task_response(200, br#"{"code":401,"message":"bad key","data":null}"#).expect_err("401");
        assert_eq!(e.code(), ErrorCode::Unauthorized);
        let e = parse_task_response(200, br#"{"code":500,"message":"boom","data":null}"#).expect_err("500");
        assert!(matches!(e, Error::ServerError { status: 500, .. }));
        let e =
            parse_task_response(200, br#"{"code":1100,"message":"weird","data":null}"#).expect_err("1100");
        assert_eq!(e.code(), ErrorCode::Protocol);
        assert!(e.to_string().contains("1100"), "{e}");
        let e =
            parse_task_response(200, br#"{"code":1300,"message":"insufficient credits"}"#).expect_err("1300");
        assert_eq!(e.code(), ErrorCode::InsufficientCredits);
        let e = parse_task_response(200, br#"{"code":404,"message":"nope","data":{"task_id":"abc"}}"#)
            .expect_err("404");
        assert!(matches!(e, Error::NotFound { ref task_id } if task_id == "abc"), "{e:?}");
    }

    #[test]
    fn garbage_is_protocol_with_the_raw_body_cut_to_4k() {
        let big = "x".repeat(10_000);
        for body in [
            big.as_str(),
            "",
            "   ",
            "<html>ok</html>",
            "[1,2,3]",
            "\"str\"",
            r#"{"code":200,"data":null}"#,
            "{\"code\":200,",
        ] {
            let e = parse_task_response(200, body.as_bytes()).expect_err("garbage");
            match e {
                Error::Protocol { body: kept, .. } => {
                    assert!(kept.len() <= MAX_KEPT_BODY);
                    assert!(body.starts_with(&kept));
                }
                other => panic!("{body:?}: {other:?}"),
            }
        }
        let bytes = [0xff_u8, 0xfe, 0x00, 0x80];
        assert_eq!(parse_task_response(200, &bytes).expect_err("binary").code(), ErrorCode::Protocol);
    }

    #[test]
    fn long_and_multiline_server_messages_are_cleaned() {
        let msg = format!("line1\nline2\t{}", "y".repeat(1000));
        let body = serde_json::json!({"code": 400, "message": msg}).to_string();
        let e = parse_task_response(400, body.as_bytes()).expect_err("400");
        let text = e.to_string();
        assert!(!text.contains('\n'));
        assert!(text.chars().count() < 500, "{}", text.len());
    }

    #[test]
    fn account_info_shapes() {
        let a = parse_account_info(
            200,
            br#"{"code":200,"message":"success","data":{"equivalent_in_usd":12.34,"id":"u1","name":"Ada","plan":"creator",
                "is_enable":true,"max_concurrent_task_count":5,"wallet":{"mj_remain":0,"point_remain":1000}}}"#,
        )
        .expect("account");
        assert_eq!(
            a,
            AccountInfo {
                balance_usd: Some(12.34),
                plan: Some("creator".into()),
                account_name: Some("Ada".into()),
                max_concurrent_tasks: Some(5)
            }
        );
        let a = parse_account_info(
            200,
            br#"{"data":{"equivalent_in_usd":"7.5","account_name":"Bob","max_concurrent_task_count":"3"}}"#,
        )
        .expect("strings");
        assert_eq!(a.balance_usd, Some(7.5));
        assert_eq!(a.account_name.as_deref(), Some("Bob"));
        assert_eq!(a.max_concurrent_tasks, Some(3));
        let a = parse_account_info(200, br#"{"code":0,"data":{"remaining_credits":42}}"#).expect("fallback");
        assert_eq!(a.balance_usd, Some(42.0));
        let a = parse_account_info(200, br#"{"account_name":"flat","remaining_credits":"1"}"#).expect("flat");
        assert_eq!(a.account_name.as_deref(), Some("flat"));
        let a = parse_account_info(200, br#"{"code":200,"data":{}}"#).expect("empty");
        assert_eq!(
            a,
            AccountInfo { balance_usd: None, plan: None, account_name: None, max_concurrent_tasks: None }
        );
        let e = parse_account_info(401, br#"{"code":401,"message":"invalid key"}"#).expect_err("401");
        assert_eq!(e.code(), ErrorCode::Unauthorized);
        let e = parse_account_info(404, b"").expect_err("404");
        assert_eq!(e.code(), ErrorCode::Config);
        assert_eq!(parse_account_info(200, b"nope").expect_err("garbage").code(), ErrorCode::Protocol);
    }

    #[test]
    fn ack_parsing() {
        assert!(
            parse_ack(200, br#"{"code":200,"message":"task x canceled"}"#, Subject::Task(Some("x"))).is_ok()
        );
        assert!(parse_ack(204, b"", Subject::Task(Some("x"))).is_ok());
        let e = parse_ack(200, br#"{"code":400,"message":"only pending"}"#, Subject::Task(Some("x")))
            .expect_err("400");
        assert_eq!(e.code(), ErrorCode::InvalidInput);
        let e = parse_ack(404, b"", Subject::Task(Some("x"))).expect_err("404");
        assert!(matches!(e, Error::NotFound { ref task_id } if task_id == "x"));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
            prop_oneof![
                Just("completed"),
                Just("Failed"),
                Just("processing\t"),
                Just("0001-01-01T00:00:00Z"),
                Just("2025-06-30T07:11:30.719851187+08:00"),
                Just("https://x/a.png"),
                Just("insufficient credits"),
            ]
            .prop_map(|s| Value::String(s.to_owned())),
        ];
        let keys = prop_oneof![
            Just("code".to_owned()),
            Just("message".to_owned()),
            Just("data".to_owned()),
            Just("task_id".to_owned()),
            Just("status".to_owned()),
            Just("output".to_owned()),
            Just("image_url".to_owned()),
            Just("image_urls".to_owned()),
            Just("images".to_owned()),
            Just("url".to_owned()),
            Just("temporary_image_urls".to_owned()),
            Just("meta".to_owned()),
            Just("usage".to_owned()),
            Just("consume".to_owned()),
            Just("created_at".to_owned()),
            Just("ended_at".to_owned()),
            Just("completed_at".to_owned()),
            Just("error".to_owned()),
            Just("raw_message".to_owned()),
            Just("equivalent_in_usd".to_owned()),
            Just("max_concurrent_task_count".to_owned()),
            Just("task_result".to_owned()),
            "[a-z_]{1,8}",
        ];
        leaf.prop_recursive(5, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(keys.clone(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn never_panics_on_arbitrary_bytes(status in any::<u16>(), body in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_task_response(status, &body);
            let _ = parse_account_info(status, &body);
            let _ = parse_ack(status, &body, Subject::Task(None));
        }

        #[test]
        fn never_panics_on_arbitrary_json(status in prop_oneof![Just(200u16), Just(400), Just(404), Just(429), Just(502), any::<u16>()], v in json_value()) {
            let body = serde_json::to_vec(&v).expect("serialise");
            let _ = parse_task_response(status, &body);
            let _ = parse_account_info(status, &body);
            let wrapped = serde_json::to_vec(&serde_json::json!({"code": 200, "data": v})).expect("serialise");
            if let Ok(t) = parse_task_response(status, &wrapped) {
                prop_assert!(t.image_urls.iter().all(|u| !u.trim().is_empty()));
                let unique: std::collections::HashSet<&String> = t.image_urls.iter().collect();
                prop_assert_eq!(unique.len(), t.image_urls.len());
            }
            let _ = parse_account_info(status, &wrapped);
        }
    }
}
