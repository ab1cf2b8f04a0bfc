//! Shared simulator state: tasks, counters, the live config/fault plan, caches and persistence.
//!
//! Everything lives in one `Inner` behind a std `Mutex` owned by `Shared`; handlers lock it for a
//! few microseconds and never across an `.await` (rendering and file writes happen outside it).
//! Task status is not stored: it is derived from the task's timestamps and the current time
//! (`Task::phase`), so there is no ticker, and a reloaded task keeps progressing by wall clock.
//! The clock is clamped to be monotonic (`Inner::now`) so "in flight" never goes backwards.
//!
//! Uploads live in memory (the newest `MAX_UPLOADS`, at most `MAX_UPLOAD_CACHE_BYTES`). With a
//! state file they are also written once, at upload time, as files in a sibling directory
//! (`<state file minus extension>.uploads/<id>`, newest `MAX_PERSISTED_UPLOADS` kept), so a
//! task restored after a restart can still render from its source. The create-body log behind
//! `GET /_sim/requests` is memory only (newest `MAX_REQUESTS`, at most `MAX_REQUEST_LOG_BYTES`).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::http::HeaderMap;
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{SimConfig, SimStats};
use crate::error::ApiError;

/// Oldest tasks are forgotten beyond this many (keeps a long demo session bounded).
pub const MAX_TASKS: usize = 10_000;
/// Rendered images kept in memory.
pub const RENDER_CACHE_LEN: usize = 64;
/// Uploads kept in memory.
pub const MAX_UPLOADS: usize = 64;
/// Total bytes of uploads kept in memory (the newest upload is always kept).
pub const MAX_UPLOAD_CACHE_BYTES: usize = 256 * 1024 * 1024;
/// Upload files kept next to the state file.
pub const MAX_PERSISTED_UPLOADS: usize = 256;
/// Create bodies kept for `GET /_sim/requests`.
pub const MAX_REQUESTS: usize = 200;
/// Total JSON size of the kept create bodies (the newest body is always kept).
pub const MAX_REQUEST_LOG_BYTES: usize = 64 * 1024 * 1024;

/// One task as created; its status is a function of time (see `phase`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub model: String,
    pub task_type: String,
    /// Echo of the request input with defaults filled.
    pub input: Value,
    pub config: Value,
    pub prompt: String,
    pub seed: i64,
    pub width: u32,
    pub height: u32,
    pub batch_size: u32,
    pub created_at: DateTime<Utc>,
    pub pending_ms: u64,
    pub processing_ms: u64,
    /// Ends `failed` instead of `completed` (fail_prompt matched, or an input image unusable).
    pub fails: bool,
    /// The failure's `error.message` when it is not the fail_prompt one (e.g. "failed to
    /// download image: ...").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_message: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Price in 1e-7 USD.
    pub consume: u64,
}

/// The lifecycle position of a task at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
}

fn millis(ms: u64) -> TimeDelta {
    TimeDelta::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX / 2))
}

impl Task {
    /// When processing starts (end of pending).
    pub fn started_at(&self) -> DateTime<Utc> {
        self.created_at + millis(self.pending_ms)
    }

    /// When processing ends (completed or failed).
    pub fn ended_at(&self) -> DateTime<Utc> {
        self.started_at() + millis(self.processing_ms)
    }

    /// Status at `now`.
    pub fn phase(&self, now: DateTime<Utc>) -> Phase {
        if self.cancelled_at.is_some() {
            Phase::Cancelled
        } else if now < self.started_at() {
            Phase::Pending
        } else if now < self.ended_at() {
            Phase::Processing
        } else if self.fails {
            Phase::Failed
        } else {
            Phase::Completed
        }
    }

    /// Pending or processing at `now` (counts toward concurrency).
    pub fn in_flight(&self, now: DateTime<Utc>) -> bool {
        matches!(self.phase(now), Phase::Pending | Phase::Processing)
    }
}

/// One uploaded image served under `/files/uploads/{id}` (known to decode).
#[derive(Debug, Clone)]
pub struct Upload {
    pub content_type: &'static str,
    pub bytes: Bytes,
    pub width: u32,
    pub height: u32,
}

/// Content type and file extension of an image, from its magic bytes.
pub fn sniff_image(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(("image/png", "png"))
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", "jpg"))
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(("image/webp", "webp"))
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(("image/gif", "gif"))
    } else {
        None
    }
}

/// Reads the dimensions from an image's header (no full decode).
pub fn image_dims(bytes: &[u8]) -> Option<(u32, u32)> {
    image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().ok()?.into_dimensions().ok()
}

/// What a download fault does to the image bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadFault {
    Truncated,
    Corrupt,
}

/// The mutable state. Lock through `Shared::lock`.
pub struct Inner {
    pub config: SimConfig,
    pub tasks: HashMap<String, Task>,
    /// Task ids in creation order (for eviction and persistence order).
    order: VecDeque<String>,
    /// Ids of tasks that may still be in flight (pruned lazily).
    active: Vec<String>,
    /// Counters; `in_flight` is filled in by `stats()`.
    pub stats: SimStats,
    last_now: DateTime<Utc>,
    renders: VecDeque<((String, u32), Bytes)>,
    uploads: VecDeque<(String, Upload)>,
    upload_bytes: usize,
    /// Uploads accepted since start.
    pub uploads_stored: u64,
    requests: VecDeque<(Value, usize)>,
    request_bytes: usize,
}

impl Inner {
    fn new(config: SimConfig, loaded: Vec<Task>) -> Self {
        let mut inner = Self {
            config,
            tasks: HashMap::new(),
            order: VecDeque::new(),
            active: Vec::new(),
            stats: SimStats::default(),
            last_now: Utc::now(),
            renders: VecDeque::new(),
            uploads: VecDeque::new(),
            upload_bytes: 0,
            uploads_stored: 0,
            requests: VecDeque::new(),
            request_bytes: 0,
        };
        for task in loaded {
            inner.order.push_back(task.id.clone());
            inner.active.push(task.id.clone());
            inner.tasks.insert(task.id.clone(), task);
        }
        inner
    }

    /// The current time, never earlier than any time handed out before.
    pub fn now(&mut self) -> DateTime<Utc> {
        let now = Utc::now().max(self.last_now);
        self.last_now = now;
        now
    }

    /// Number of tasks pending or processing at `now`.
    pub fn in_flight(&mut self, now: DateTime<Utc>) -> u32 {
        let tasks = &self.tasks;
        self.active.retain(|id| tasks.get(id).is_some_and(|t| t.in_flight(now)));
        u32::try_from(self.active.len()).unwrap_or(u32::MAX)
    }

    /// Counter snapshot with `in_flight` computed now.
    pub fn stats(&mut self) -> SimStats {
        let now = self.now();
        let in_flight = self.in_flight(now);
        SimStats { in_flight, ..self.stats.clone() }
    }

    /// Checks `x-api-key` (header names are case-insensitive). Never logs the key.
    pub fn check_auth(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let given = headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or("");
        if given.is_empty() {
            return Err(ApiError::Unauthorized);
        }
        match &self.config.api_key {
            Some(expected) if !constant_time_eq(expected.as_bytes(), given.as_bytes()) => {
                Err(ApiError::Unauthorized)
            }
            _ => Ok(()),
        }
    }

    /// Consumes one API-level fault (500, 502, 429) if the plan has any, in that order.
    pub fn take_api_fault(&mut self) -> Option<ApiError> {
        let f = &mut self.config.faults;
        let err = if f.server_errors > 0 {
            f.server_errors -= 1;
            ApiError::Internal
        } else if f.bad_gateway_html > 0 {
            f.bad_gateway_html -= 1;
            ApiError::BadGateway
        } else if f.rate_limits > 0 {
            f.rate_limits -= 1;
            ApiError::RateLimited { retry_after_secs: f.effective_retry_after() }
        } else {
            return None;
        };
        self.stats.faults_injected += 1;
        Some(err)
    }

    /// Consumes one `garbage_gets` fault.
    pub fn take_garbage_get(&mut self) -> bool {
        let f = &mut self.config.faults;
        if f.garbage_gets == 0 {
            return false;
        }
        f.garbage_gets -= 1;
        self.stats.faults_injected += 1;
        true
    }

    /// Consumes one `upload_failures` fault.
    pub fn take_upload_fault(&mut self) -> bool {
        let f = &mut self.config.faults;
        if f.upload_failures == 0 {
            return false;
        }
        f.upload_failures -= 1;
        self.stats.faults_injected += 1;
        true
    }

    /// Consumes one download fault (truncated first, then corrupt).
    pub fn take_download_fault(&mut self) -> Option<DownloadFault> {
        let f = &mut self.config.faults;
        let fault = if f.truncated_downloads > 0 {
            f.truncated_downloads -= 1;
            DownloadFault::Truncated
        } else if f.corrupt_downloads > 0 {
            f.corrupt_downloads -= 1;
            DownloadFault::Corrupt
        } else {
            return None;
        };
        self.stats.faults_injected += 1;
        Some(fault)
    }

    /// Balance in 1e-7 USD units.
    pub fn balance_units(&self) -> i64 {
        (self.config.balance_usd * 1e7).round() as i64
    }

    /// Adds `delta` (1e-7 USD units, may be negative) to the balance, keeping it on the 1e-7 grid.
    pub fn adjust_balance(&mut self, delta: i64) {
        self.config.balance_usd = (self.balance_units() + delta) as f64 / 1e7;
    }

    /// Stores a new task, evicting the oldest beyond `MAX_TASKS`, and updates `max_in_flight`.
    pub fn insert_task(&mut self, task: Task, now: DateTime<Utc>) {
        self.order.push_back(task.id.clone());
        self.active.push(task.id.clone());
        self.tasks.insert(task.id.clone(), task);
        while self.order.len() > MAX_TASKS {
            if let Some(old) = self.order.pop_front() {
                self.tasks.remove(&old);
            }
        }
        self.stats.creates += 1;
        let in_flight = self.in_flight(now);
        self.stats.max_in_flight = self.stats.max_in_flight.max(in_flight);
    }

    /// Tasks in creation order (for persistence).
    pub fn tasks_in_order(&self) -> Vec<Task> {
        self.order.iter().filter_map(|id| self.tasks.get(id).cloned()).collect()
    }

    pub fn cached_render(&self, task_id: &str, n: u32) -> Option<Bytes> {
        self.renders.iter().find(|((id, i), _)| id == task_id && *i == n).map(|(_, b)| b.clone())
    }

    pub fn cache_render(&mut self, task_id: &str, n: u32, png: Bytes) {
        if self.cached_render(task_id, n).is_some() {
            return;
        }
        self.renders.push_back(((task_id.to_owned(), n), png));
        while self.renders.len() > RENDER_CACHE_LEN {
            self.renders.pop_front();
        }
    }

    /// Keeps an upload in memory, evicting the oldest beyond the count and byte caps.
    pub fn add_upload(&mut self, id: String, upload: Upload) {
        if self.uploads.iter().any(|(u, _)| *u == id) {
            return;
        }
        self.upload_bytes += upload.bytes.len();
        self.uploads.push_back((id, upload));
        while self.uploads.len() > MAX_UPLOADS
            || (self.upload_bytes > MAX_UPLOAD_CACHE_BYTES && self.uploads.len() > 1)
        {
            if let Some((_, old)) = self.uploads.pop_front() {
                self.upload_bytes -= old.bytes.len();
            }
        }
    }

    /// An upload kept in memory.
    pub fn upload(&self, id: &str) -> Option<Upload> {
        self.uploads.iter().find(|(u, _)| u == id).map(|(_, up)| up.clone())
    }

    /// Records a create body (JSON, or the text as a JSON string when it is not JSON).
    pub fn record_request(&mut self, body: &[u8]) {
        let value = serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
        self.request_bytes += body.len();
        self.requests.push_back((value, body.len()));
        while self.requests.len() > MAX_REQUESTS
            || (self.request_bytes > MAX_REQUEST_LOG_BYTES && self.requests.len() > 1)
        {
            if let Some((_, len)) = self.requests.pop_front() {
                self.request_bytes -= len;
            }
        }
    }

    /// The recorded create bodies, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.iter().map(|(v, _)| v.clone()).collect()
    }

    /// Forgets the recorded create bodies.
    pub fn clear_requests(&mut self) {
        self.requests.clear();
        self.request_bytes = 0;
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// State shared by all handlers and the `SimHandle`.
pub struct Shared {
    inner: Mutex<Inner>,
    /// Serialises state-file writes so a newer snapshot is never overwritten by an older one.
    persist_lock: Mutex<()>,
    pub addr: SocketAddr,
    pub base_url: String,
}

impl Shared {
    pub fn new(config: SimConfig, loaded: Vec<Task>, addr: SocketAddr) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner::new(config, loaded)),
            persist_lock: Mutex::new(()),
            addr,
            base_url: format!("http://{addr}"),
        })
    }

    /// Locks the state. A poisoned lock is recovered: every mutation leaves `Inner` consistent.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An upload by id: from memory, else (with a state file) from the uploads directory, which
    /// puts it back in memory. Blocking (file I/O); call from a blocking context.
    pub fn upload_blocking(&self, id: &str) -> Option<Upload> {
        if !crate::source::valid_id(id) {
            return None;
        }
        let dir = {
            let inner = self.lock();
            if let Some(up) = inner.upload(id) {
                return Some(up);
            }
            uploads_dir(inner.config.state_file.as_deref()?)
        };
        let bytes = std::fs::read(dir.join(id)).ok()?;
        let (content_type, _) = sniff_image(&bytes)?;
        let (width, height) = image_dims(&bytes)?;
        let up = Upload { content_type, bytes: Bytes::from(bytes), width, height };
        self.lock().add_upload(id.to_owned(), up.clone());
        Some(up)
    }

    /// `upload_blocking` off the async threads.
    pub async fn upload(self: &Arc<Self>, id: &str) -> Option<Upload> {
        let (shared, id) = (Arc::clone(self), id.to_owned());
        tokio::task::spawn_blocking(move || shared.upload_blocking(&id)).await.ok().flatten()
    }

    /// Stores a new upload in memory and, with a state file, on disk (pruning old files).
    pub async fn store_upload(self: &Arc<Self>, id: String, upload: Upload) {
        let state_file = {
            let mut inner = self.lock();
            inner.uploads_stored += 1;
            inner.add_upload(id.clone(), upload.clone());
            inner.config.state_file.clone()
        };
        let Some(state_file) = state_file else { return };
        let res =
            tokio::task::spawn_blocking(move || write_upload(&uploads_dir(&state_file), &id, &upload.bytes))
                .await;
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "piapi-sim: could not persist an upload"),
            Err(e) => tracing::warn!(error = %e, "piapi-sim: upload writer panicked"),
        }
    }

    /// Writes the task list to the state file (if configured), off the async threads.
    pub async fn persist(self: &Arc<Self>) {
        if self.lock().config.state_file.is_none() {
            return;
        }
        let shared = Arc::clone(self);
        let res = tokio::task::spawn_blocking(move || {
            let _guard = shared.persist_lock.lock().unwrap_or_else(PoisonError::into_inner);
            let (path, tasks) = {
                let inner = shared.lock();
                (inner.config.state_file.clone(), inner.tasks_in_order())
            };
            match path {
                Some(path) => write_state(&path, tasks),
                None => Ok(()),
            }
        })
        .await;
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "piapi-sim: could not write the state file"),
            Err(e) => tracing::warn!(error = %e, "piapi-sim: state-file writer panicked"),
        }
    }
}

/// The directory holding persisted uploads for a state file: `dir/name.json` → `dir/name.uploads`.
pub fn uploads_dir(state_file: &Path) -> PathBuf {
    state_file.with_extension("uploads")
}

fn write_upload(dir: &Path, id: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{id}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(id))?;
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(crate::source::valid_id))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if files.len() > MAX_PERSISTED_UPLOADS {
        files.sort();
        for (_, path) in &files[..files.len() - MAX_PERSISTED_UPLOADS] {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    tasks: Vec<Task>,
}

fn write_state(path: &Path, tasks: Vec<Task>) -> std::io::Result<()> {
    let json = serde_json::to_vec(&StateFile { version: 1, tasks }).map_err(std::io::Error::other)?;
    let mut tmp = PathBuf::from(path);
    tmp.as_mut_os_string().push(".tmp");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}

/// Loads persisted tasks. A missing file is an empty list; an unreadable or corrupt file is logged
/// and ignored (it is rewritten at the next create), so demo mode always starts.
pub fn load_state(path: &Path) -> Vec<Task> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "piapi-sim: cannot read the state file");
            return Vec::new();
        }
    };
    match serde_json::from_slice::<StateFile>(&bytes) {
        Ok(state) => state.tasks,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "piapi-sim: ignoring a corrupt state file");
            Vec::new()
        }
    }
}
