//! HTTP surface of the simulator (axum handlers).
//!
//! Each handler locks the shared state once, does its bookkeeping (stats, fault counters, auth,
//! task lookup) in that critical section, and releases the lock before any `.await` (rendering,
//! persistence, the create delay). Order of checks on API routes: injected fault → auth →
//! validation → credits → concurrency. Faults therefore hit even unauthenticated requests, as a
//! gateway error would. The API key is never logged.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine as _;
use bytes::Bytes;
use rand::Rng as _;
use serde_json::{Value, json};
use tracing::debug;

use crate::config::Faults;
use crate::error::ApiError;
use crate::render::render_png;
use crate::request::{NewTask, parse_create};
use crate::state::{DownloadFault, Inner, Phase, Shared, Task, Upload};
use crate::wire::{self, ACCOUNT_ID, ACCOUNT_NAME};

/// Largest accepted upload after base64 decoding.
pub const MAX_UPLOAD_BYTES: usize = 16 * 1024 * 1024;
/// Largest accepted request body (a base64 upload of `MAX_UPLOAD_BYTES` plus JSON overhead).
pub const MAX_BODY_BYTES: usize = MAX_UPLOAD_BYTES * 4 / 3 + 64 * 1024;

type AppState = State<Arc<Shared>>;

/// All routes of the simulator.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/task", post(create_task))
        .route("/api/v1/task/{id}", get(get_task).delete(cancel_task))
        .route("/api/v1/task/{id}/cancel", post(cancel_task))
        .route("/account/info", get(account_info))
        .route("/api/ephemeral_resource", post(upload))
        .route("/files/uploads/{id}", get(get_upload))
        .route("/files/{task_id}/{file}", get(download))
        .route("/_sim/stats", get(sim_stats))
        .route("/_sim/faults", put(put_faults).get(get_faults))
        .route("/_sim/health", get(health))
        .fallback(not_found)
        // Room for base64 images in img2img/kontext inputs and uploads (axum's default is 2 MiB).
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn create_task(State(shared): AppState, headers: HeaderMap, body: Bytes) -> Response {
    let parsed = parse_create(&body);
    let outcome = {
        let mut inner = shared.lock();
        inner.stats.create_requests += 1;
        create_locked(&mut inner, &headers, parsed, &shared.base_url)
    };
    match outcome {
        Err(e) => {
            debug!(code = e.code(), "piapi-sim: create refused");
            e.into_response()
        }
        Ok((body, task_id, delay_ms)) => {
            debug!(%task_id, delay_ms, "piapi-sim: task created");
            shared.persist().await;
            if delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            json_response(StatusCode::OK, body)
        }
    }
}

/// The create decision under the lock: returns (response body, task id, delay before answering).
fn create_locked(
    inner: &mut Inner,
    headers: &HeaderMap,
    parsed: Result<NewTask, ApiError>,
    base_url: &str,
) -> Result<(Value, String, u64), ApiError> {
    if let Some(fault) = inner.take_api_fault() {
        return Err(fault);
    }
    inner.check_auth(headers)?;
    let new = parsed?;
    let consume = new.consume();
    if inner.config.faults.insufficient_credits {
        inner.stats.faults_injected += 1;
    }
    if inner.config.faults.insufficient_credits || inner.balance_units() < consume as i64 {
        return Err(ApiError::InsufficientCredits {
            balance_usd: inner.config.balance_usd,
            price_usd: consume as f64 / 1e7,
        });
    }
    let now = inner.now();
    let limit = inner.config.concurrency_limit;
    if inner.in_flight(now) >= limit {
        inner.stats.rejected_concurrency += 1;
        return Err(ApiError::ConcurrencyLimit {
            limit,
            retry_after_secs: inner.config.faults.effective_retry_after(),
        });
    }

    let seed = new.seed.unwrap_or_else(|| rand::rng().random_range(0..=i64::from(i32::MAX)));
    let mut input = new.input;
    input.insert("seed".into(), json!(seed));
    let faults = &inner.config.faults;
    let fails = faults.fail_prompt.as_deref().is_some_and(|p| !p.is_empty() && new.prompt.contains(p));
    let task = Task {
        id: uuid::Uuid::new_v4().to_string(),
        model: new.model.id().to_owned(),
        task_type: new.task_type,
        input: Value::Object(input),
        config: new.config,
        prompt: new.prompt,
        seed,
        width: new.width,
        height: new.height,
        batch_size: new.batch_size,
        created_at: now,
        pending_ms: inner.config.pending_ms,
        processing_ms: inner.config.processing_ms,
        fails,
        cancelled_at: None,
        consume,
    };
    let style = faults.style;
    let delay_ms = faults.create_delay_ms;
    let body = wire::envelope(style, wire::task_data(&task, now, base_url, style));
    let id = task.id.clone();
    inner.adjust_balance(-(consume as i64));
    inner.insert_task(task, now);
    Ok((body, id, delay_ms))
}

/// A 200 whose body is not JSON (claims to be, though), for `garbage_gets`.
fn garbage_response(id: &str) -> Response {
    let body = format!(
        "{{\"code\":200,\"data\":{{\"task_id\":\"{id}\",\"status\":\"proc\u{0}<!-- upstream reset -->"
    );
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

async fn get_task(State(shared): AppState, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let mut inner = shared.lock();
    inner.stats.gets += 1;
    if let Some(fault) = inner.take_api_fault() {
        debug!(code = fault.code(), "piapi-sim: get faulted");
        return fault.into_response();
    }
    if let Err(e) = inner.check_auth(&headers) {
        return e.into_response();
    }
    if inner.take_garbage_get() {
        debug!(task_id = %id, "piapi-sim: garbage get");
        return garbage_response(&id);
    }
    let now = inner.now();
    let style = inner.config.faults.style;
    match inner.tasks.get(&id) {
        Some(task) => {
            let data = wire::task_data(task, now, &shared.base_url, style);
            json_response(StatusCode::OK, wire::envelope(style, data))
        }
        None => ApiError::NotFound("task not found".into()).into_response(),
    }
}

async fn cancel_task(State(shared): AppState, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let outcome = {
        let mut inner = shared.lock();
        inner.stats.cancels += 1;
        cancel_locked(&mut inner, &headers, &id)
    };
    match outcome {
        Err(e) => {
            debug!(task_id = %id, code = e.code(), "piapi-sim: cancel refused");
            e.into_response()
        }
        Ok(code) => {
            debug!(task_id = %id, "piapi-sim: task cancelled");
            shared.persist().await;
            json_response(StatusCode::OK, json!({ "code": code, "message": format!("task {id} canceled") }))
        }
    }
}

fn cancel_locked(inner: &mut Inner, headers: &HeaderMap, id: &str) -> Result<u16, ApiError> {
    inner.check_auth(headers)?;
    let now = inner.now();
    let style = inner.config.faults.style;
    let task = inner.tasks.get_mut(id).ok_or_else(|| ApiError::NotFound("task not found".into()))?;
    let phase = task.phase(now);
    if phase != Phase::Pending {
        return Err(ApiError::BadRequest(format!(
            "task {id} cannot be canceled: only pending tasks can be canceled (status: {})",
            wire::status_str(crate::config::WireStyle::Standard, phase)
        )));
    }
    task.cancelled_at = Some(now);
    let refund = task.consume as i64;
    inner.adjust_balance(refund);
    Ok(wire::success_code(style))
}

async fn account_info(State(shared): AppState, headers: HeaderMap) -> Response {
    let mut inner = shared.lock();
    inner.stats.account_calls += 1;
    if let Some(fault) = inner.take_api_fault() {
        return fault.into_response();
    }
    if let Err(e) = inner.check_auth(&headers) {
        return e.into_response();
    }
    let style = inner.config.faults.style;
    let data = json!({
        "equivalent_in_usd": inner.balance_units() as f64 / 1e7,
        "id": ACCOUNT_ID,
        "name": ACCOUNT_NAME,
        "plan": "creator",
        "is_enable": true,
        "max_concurrent_task_count": inner.config.concurrency_limit,
    });
    json_response(StatusCode::OK, wire::envelope(style, data))
}

async fn download(State(shared): AppState, Path((task_id, file)): Path<(String, String)>) -> Response {
    let not_found = |msg: &str| ApiError::NotFound(msg.to_owned()).into_response();
    let Some(n) = file.strip_suffix(".png").and_then(|n| n.parse::<u32>().ok()) else {
        let mut inner = shared.lock();
        inner.stats.downloads += 1;
        return not_found("file not found");
    };
    let (task, cached, fault) = {
        let mut inner = shared.lock();
        inner.stats.downloads += 1;
        let now = inner.now();
        let Some(task) = inner.tasks.get(&task_id).cloned() else {
            return not_found("file not found");
        };
        if n >= task.batch_size {
            return not_found("file not found");
        }
        if task.phase(now) != Phase::Completed {
            return not_found("image not ready");
        }
        let fault = inner.take_download_fault();
        (task, inner.cached_render(&task_id, n), fault)
    };
    let png = match cached {
        Some(png) => png,
        None => {
            let (prompt, seed, w, h) =
                (task.prompt.clone(), task.seed.wrapping_add(i64::from(n)), task.width, task.height);
            let Ok(png) =
                tokio::task::spawn_blocking(move || Bytes::from(render_png(&prompt, seed, w, h))).await
            else {
                return ApiError::Internal.into_response();
            };
            shared.lock().cache_render(&task_id, n, png.clone());
            png
        }
    };
    debug!(%task_id, n, fault = ?fault, bytes = png.len(), "piapi-sim: download");
    match fault {
        None => png_response(png),
        Some(DownloadFault::Corrupt) => png_response(corrupt(&png)),
        Some(DownloadFault::Truncated) => truncated_response(png),
    }
}

fn png_response(png: Bytes) -> Response {
    let mut resp = (StatusCode::OK, png).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    resp
}

/// Same length, PNG signature kept (so sniffing passes), everything after it scrambled.
fn corrupt(png: &[u8]) -> Bytes {
    png.iter()
        .enumerate()
        .map(|(i, b)| if i < 8 { *b } else { b ^ 0x5A ^ (i as u8).wrapping_mul(31) })
        .collect::<Vec<u8>>()
        .into()
}

/// Announces the full Content-Length, sends half the bytes, then aborts the connection.
fn truncated_response(png: Bytes) -> Response {
    let full = png.len();
    let half = png.slice(..full / 2);
    let first = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(half) });
    let abort = futures_util::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err::<Bytes, _>(std::io::Error::other("simulated truncated download"))
    });
    let body = Body::from_stream(futures_util::StreamExt::chain(first, abort));
    let mut resp = Response::new(body);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(full));
    resp
}

async fn upload(State(shared): AppState, headers: HeaderMap, body: Bytes) -> Response {
    {
        let mut inner = shared.lock();
        inner.stats.uploads += 1;
        if let Err(e) = inner.check_auth(&headers) {
            return e.into_response();
        }
    }
    match decode_upload(&body) {
        Err(e) => e.into_response(),
        Ok((ext, content_type, bytes)) => {
            let id = format!("{}{ext}", uuid::Uuid::new_v4());
            let url = format!("{}/files/uploads/{id}", shared.base_url);
            debug!(%id, bytes = bytes.len(), "piapi-sim: upload stored");
            shared.lock().add_upload(id, Upload { content_type, bytes });
            json_response(
                StatusCode::OK,
                json!({ "code": 200, "message": "success", "data": { "url": url } }),
            )
        }
    }
}

/// Parses `{file_name, file_data}` (base64, optionally with a `data:...;base64,` prefix).
fn decode_upload(body: &[u8]) -> Result<(String, &'static str, Bytes), ApiError> {
    let bad = |m: &str| ApiError::BadRequest(m.to_owned());
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("invalid request body: not valid JSON"))?;
    let name = v.get("file_name").and_then(Value::as_str).filter(|s| !s.is_empty());
    let name = name.ok_or_else(|| bad("file_name is required"))?;
    let data = v.get("file_data").and_then(Value::as_str).ok_or_else(|| bad("file_data is required"))?;
    let data = data.split_once(";base64,").map_or(data, |(_, d)| d).trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(data))
        .map_err(|_| bad("file_data is not valid base64"))?;
    if bytes.is_empty() {
        return Err(bad("file_data is empty"));
    }
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(ApiError::PayloadTooLarge(format!("file is larger than {MAX_UPLOAD_BYTES} bytes")));
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric()));
    let content_type = match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        _ => "application/octet-stream",
    };
    Ok((ext.map(|e| format!(".{e}")).unwrap_or_default(), content_type, Bytes::from(bytes)))
}

async fn get_upload(State(shared): AppState, Path(id): Path<String>) -> Response {
    let Some(up) = shared.lock().upload(&id) else {
        return ApiError::NotFound("file not found".into()).into_response();
    };
    let mut resp = (StatusCode::OK, up.bytes).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(up.content_type));
    resp
}

async fn sim_stats(State(shared): AppState) -> Response {
    let stats = shared.lock().stats();
    json_response(StatusCode::OK, json!(stats))
}

async fn get_faults(State(shared): AppState) -> Response {
    let faults = shared.lock().config.faults.clone();
    json_response(StatusCode::OK, json!(faults))
}

async fn put_faults(State(shared): AppState, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(faults) => {
            debug!(?faults, "piapi-sim: fault plan replaced");
            shared.lock().config.faults = faults.clone();
            json_response(StatusCode::OK, json!(faults))
        }
        Err(e) => ApiError::BadRequest(format!("invalid fault plan: {e}")).into_response(),
    }
}

async fn health() -> Response {
    json_response(StatusCode::OK, json!({ "ok": true }))
}

async fn not_found() -> Response {
    ApiError::NotFound("not found".into()).into_response()
}
