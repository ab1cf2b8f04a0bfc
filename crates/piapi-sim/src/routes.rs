//! HTTP surface of the simulator (axum handlers).
//!
//! Each handler locks the shared state once, does its bookkeeping (stats, fault counters, auth,
//! task lookup) in that critical section, and releases the lock before any `.await` (rendering,
//! persistence, the create delay). Order of checks on API routes: injected fault → auth →
//! validation → credits → concurrency. Faults therefore hit even unauthenticated requests, as a
//! gateway error would. The API key is never logged.
//!
//! Create also records the raw body (for `GET /_sim/requests`) and probes every input image
//! reference before taking the lock (`produce::probe`, which may read an upload from disk): an
//! unusable reference does not refuse the create, it makes the task end `failed` with
//! "failed to download image: ...". The probe also gives the source size, which fixes the output
//! size and the outpaint pixel budget (a 400 when exceeded).
//!
//! Uploads (`POST /api/ephemeral_resource`): fault (`upload_failures`, 500) → auth → body
//! `{"file_name", "file_data": plain base64}` → at most `MAX_UPLOAD_BYTES` decoded (413) → must
//! decode as PNG/JPEG/WebP/GIF (400) → stored; the reply is
//! `{"code":200,"message":"success","data":{"url":"<base>/files/uploads/<id>.<png|jpg|webp|gif>"}}`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::BytesRejection;
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
use crate::edit::Rgb;
use crate::error::ApiError;
use crate::produce;
use crate::request::{MAX_PIXELS, NewTask, TaskKind, parse_create};
use crate::source::SourceError;
use crate::state::{DownloadFault, Inner, Phase, Shared, Task, Upload, sniff_image};
use crate::wire::{self, ACCOUNT_ID, ACCOUNT_NAME};

/// Largest accepted upload after base64 decoding (the client's documented limit, 10 MiB).
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// Largest request body read (room for a base64 upload somewhat over `MAX_UPLOAD_BYTES`, so it
/// gets the JSON 413 from the upload handler, and for inline kontext images).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024 * 4 / 3 + 64 * 1024;

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
        .route("/_sim/requests", get(sim_requests))
        .fallback(not_found)
        // Room for base64 images in img2img/kontext inputs and uploads (axum's default is 2 MiB).
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// The create-time result of probing a task's input images.
#[derive(Debug, Default)]
struct Probed {
    /// `input.image`: its size, or why it cannot be used.
    image: Option<Result<(u32, u32), SourceError>>,
    /// The control image.
    control: Option<Result<(u32, u32), SourceError>>,
}

async fn probe_inputs(shared: &Arc<Shared>, new: &NewTask) -> Probed {
    let refs = (new.spec.image.clone(), new.spec.control.as_ref().map(|c| c.image.clone()));
    if refs == (None, None) {
        return Probed::default();
    }
    let shared = Arc::clone(shared);
    let probed = tokio::task::spawn_blocking(move || Probed {
        image: refs.0.map(|r| produce::probe(&shared, &r)),
        control: refs.1.map(|r| produce::probe(&shared, &r)),
    })
    .await;
    probed.unwrap_or_default()
}

async fn create_task(State(shared): AppState, headers: HeaderMap, body: Bytes) -> Response {
    {
        let mut inner = shared.lock();
        inner.stats.create_requests += 1;
        inner.record_request(&body);
    }
    let parsed = parse_create(&body);
    let probed = match &parsed {
        Ok(new) => probe_inputs(&shared, new).await,
        Err(_) => Probed::default(),
    };
    let outcome = {
        let mut inner = shared.lock();
        create_locked(&mut inner, &headers, parsed, probed, &shared.base_url)
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
    probed: Probed,
    base_url: &str,
) -> Result<(Value, String, u64), ApiError> {
    if let Some(fault) = inner.take_api_fault() {
        return Err(fault);
    }
    inner.check_auth(headers)?;
    let mut new = parsed?;
    let source = probed.image.as_ref().and_then(|r| r.as_ref().ok()).copied();
    let (width, height) = new.spec.output_size(source);
    if let (Some(m), Some((sw, sh))) = (new.spec.outpaint, source) {
        let added = u64::from(width) * u64::from(height) - u64::from(sw) * u64::from(sh);
        if added > MAX_PIXELS {
            return Err(ApiError::BadRequest(format!(
                "input.custom_settings: outpaint margins (left {}, right {}, top {}, bottom {}) add {added} pixels \
                 to a {sw}x{sh} image; at most {MAX_PIXELS} may be added",
                m.left, m.right, m.top, m.bottom
            )));
        }
    }
    let unusable =
        [("input.image", probed.image), ("input.control_net_settings[0].control_image", probed.control)]
            .into_iter()
            .find_map(|(field, r)| r.and_then(Result::err).map(|e| (field, e)));
    let fail_message = unusable.map(|(field, e)| {
        debug!(field, code = e.code(), "piapi-sim: task input cannot be fetched; the task will fail");
        format!("failed to download image: {field}: {e}")
    });
    if new.spec.kind == TaskKind::Kontext {
        new.input.insert("width".into(), json!(width));
        new.input.insert("height".into(), json!(height));
    }
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
    let flagged = faults.fail_prompt.as_deref().is_some_and(|p| !p.is_empty() && new.prompt.contains(p));
    let task = Task {
        id: uuid::Uuid::new_v4().to_string(),
        model: new.model.id().to_owned(),
        task_type: new.task_type,
        input: Value::Object(input),
        config: new.config,
        prompt: new.prompt,
        seed,
        width,
        height,
        batch_size: new.batch_size,
        created_at: now,
        pending_ms: inner.config.pending_ms,
        processing_ms: inner.config.processing_ms,
        fails: flagged || fail_message.is_some(),
        fail_message: if flagged { None } else { fail_message },
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
            let producer = Arc::clone(&shared);
            match tokio::task::spawn_blocking(move || produce::task_png(&producer, &task, n)).await {
                Ok(Ok(png)) => png,
                Ok(Err(e)) => {
                    debug!(%task_id, code = e.code(), "piapi-sim: source of a completed task is gone");
                    return ApiError::NotFound(format!("image not available: failed to download image: {e}"))
                        .into_response();
                }
                Err(_) => return ApiError::Internal.into_response(),
            }
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

async fn upload(
    State(shared): AppState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    {
        let mut inner = shared.lock();
        inner.stats.uploads += 1;
        if inner.take_upload_fault() {
            debug!("piapi-sim: upload faulted");
            return ApiError::Internal.into_response();
        }
        if let Err(e) = inner.check_auth(&headers) {
            return e.into_response();
        }
    }
    let Ok(body) = body else {
        return too_large().into_response();
    };
    let decoded = tokio::task::spawn_blocking(move || decode_upload(&body)).await;
    match decoded {
        Err(_) => ApiError::Internal.into_response(),
        Ok(Err(e)) => {
            debug!(code = e.code(), "piapi-sim: upload refused");
            e.into_response()
        }
        Ok(Ok((ext, upload))) => {
            let id = format!("{}.{ext}", uuid::Uuid::new_v4().simple());
            let url = format!("{}/files/uploads/{id}", shared.base_url);
            debug!(%id, bytes = upload.bytes.len(), width = upload.width, height = upload.height, "piapi-sim: upload stored");
            shared.store_upload(id, upload).await;
            json_response(
                StatusCode::OK,
                json!({ "code": 200, "message": "success", "data": { "url": url } }),
            )
        }
    }
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "file too large: the limit is {MAX_UPLOAD_BYTES} bytes ({} MiB) after base64 decoding",
        MAX_UPLOAD_BYTES / (1024 * 1024)
    ))
}

/// Parses `{file_name, file_data}` (plain base64, no `data:` prefix, as the contract says) and
/// checks the bytes are an image that decodes. Blocking (decodes the image).
fn decode_upload(body: &[u8]) -> Result<(&'static str, Upload), ApiError> {
    let bad = |m: &str| ApiError::BadRequest(m.to_owned());
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("invalid request body: not valid JSON"))?;
    let name = v.get("file_name").and_then(Value::as_str).filter(|s| !s.trim().is_empty());
    name.ok_or_else(|| bad("file_name is required (e.g. \"input.png\")"))?;
    let data = v.get("file_data").and_then(Value::as_str).ok_or_else(|| bad("file_data is required"))?;
    if data.starts_with("data:") {
        return Err(bad("file_data must be plain base64 without a data: URL prefix"));
    }
    let data = data.trim();
    let padding = data.bytes().rev().take_while(|&b| b == b'=').count();
    if (data.len() / 4 * 3).saturating_sub(padding) > MAX_UPLOAD_BYTES + 3 {
        return Err(too_large());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(data))
        .map_err(|_| bad("file_data is not valid base64"))?;
    if bytes.is_empty() {
        return Err(bad("file_data is empty"));
    }
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(too_large());
    }
    let (content_type, ext) = sniff_image(&bytes)
        .ok_or_else(|| bad("file_data is not an image: expected PNG, JPEG, WebP or GIF"))?;
    let img = Rgb::decode(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("file_data is not a readable image: {e}")))?;
    Ok((ext, Upload { content_type, bytes: Bytes::from(bytes), width: img.width, height: img.height }))
}

async fn get_upload(State(shared): AppState, Path(id): Path<String>) -> Response {
    let Some(up) = shared.upload(&id).await else {
        return ApiError::NotFound("file not found".into()).into_response();
    };
    let mut resp = (StatusCode::OK, up.bytes).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(up.content_type));
    resp
}

async fn sim_requests(State(shared): AppState) -> Response {
    let requests = shared.lock().requests();
    json_response(StatusCode::OK, Value::Array(requests))
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
