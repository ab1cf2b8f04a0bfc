//! Configuration and fault plan of the simulator.
//!
//! `SimConfig` is the live configuration: the server keeps one copy behind its state mutex, so
//! `SimHandle::update` and `SimHandle::set_faults` take effect on the next request. Timings are
//! snapshotted per task when it is created (changing `pending_ms` does not re-time old tasks).
//! `Faults` is also the JSON body of `PUT /_sim/faults`, so it is (de)serializable and every field
//! has a default.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How the simulator is started and how it behaves. See the field docs for units.
#[derive(Clone)]
pub struct SimConfig {
    /// TCP port on 127.0.0.1; `0` picks an ephemeral port (read it back with `SimHandle::addr`).
    pub port: u16,
    /// `None`: any non-empty `x-api-key` is accepted. `Some(k)`: only `k`, anything else is 401.
    pub api_key: Option<String>,
    /// Milliseconds a task stays `pending` after it is created.
    pub pending_ms: u64,
    /// Milliseconds a task then stays `processing` before it is `completed` (or `failed`).
    pub processing_ms: u64,
    /// The plan's `max_concurrent_task_count`: reported by `/account/info` and enforced on create
    /// (pending + processing tasks; a create over the limit answers 429 and creates nothing).
    pub concurrency_limit: u32,
    /// Balance in USD; every create charges the price, a cancel refunds it.
    pub balance_usd: f64,
    /// The fault plan (counters are consumed in request arrival order).
    pub faults: Faults,
    /// If set, tasks are persisted here as JSON after every change and reloaded at start.
    pub state_file: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            port: 0,
            api_key: None,
            pending_ms: 300,
            processing_ms: 1200,
            concurrency_limit: 8,
            balance_usd: 10.0,
            faults: Faults::default(),
            state_file: None,
        }
    }
}

impl SimConfig {
    /// Timings for tests: 20 ms pending, 60 ms processing; everything else as `Default`.
    pub fn fast() -> Self {
        Self { pending_ms: 20, processing_ms: 60, ..Self::default() }
    }
}

// Manual Debug: the API key must never reach logs or Debug output.
impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("port", &self.port)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("pending_ms", &self.pending_ms)
            .field("processing_ms", &self.processing_ms)
            .field("concurrency_limit", &self.concurrency_limit)
            .field("balance_usd", &self.balance_usd)
            .field("faults", &self.faults)
            .field("state_file", &self.state_file)
            .finish()
    }
}

/// Injected failures. Counters apply to requests in arrival order and count down by one per
/// request they hit. "API requests" are create (`POST /api/v1/task`), get (`GET /api/v1/task/{id}`)
/// and account (`GET /account/info`); cancel, uploads (see `upload_failures`), image downloads and
/// `/_sim/*` are exempt.
/// When several API counters are non-zero, a request takes the first in field order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// The next N API requests answer 500 with a JSON error body.
    pub server_errors: u32,
    /// The next N API requests answer 502 with an HTML page (like Cloudflare).
    pub bad_gateway_html: u32,
    /// The next N API requests answer 429 with `Retry-After: retry_after_secs`.
    pub rate_limits: u32,
    /// Seconds for `Retry-After` (429s from `rate_limits` and from the concurrency limit); 0 means 1.
    pub retry_after_secs: u32,
    /// The next N `GET /api/v1/task/{id}` answer 200 with a body that is not JSON.
    pub garbage_gets: u32,
    /// The next N image downloads announce the full Content-Length but close after half the bytes.
    pub truncated_downloads: u32,
    /// The next N image downloads send the full length of bytes that do not decode as PNG.
    pub corrupt_downloads: u32,
    /// Tasks whose prompt contains this text end `failed`
    /// ("Generation failed: content flagged by the simulator"); matched when the task is created.
    pub fail_prompt: Option<String>,
    /// A create records (counts, charges) the task, then waits this long before answering.
    pub create_delay_ms: u64,
    /// Which documented spelling variants responses use.
    pub style: WireStyle,
    /// While true, every create answers 402 (insufficient credits), as when balance < price.
    pub insufficient_credits: bool,
    /// The next N uploads (`POST /api/ephemeral_resource`) answer 500 with a JSON error body and
    /// store nothing.
    pub upload_failures: u32,
}

impl Faults {
    /// The `Retry-After` value to send, in seconds (never 0).
    pub fn effective_retry_after(&self) -> u32 {
        self.retry_after_secs.max(1)
    }
}

/// Which of the documented response spellings the simulator emits (see piapi-api.md §1.3–1.5, §7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WireStyle {
    /// Lowercase statuses, envelope code 200, `output: null` while not done, `image_url` for one
    /// image and `image_urls` for a batch.
    #[default]
    Standard,
    /// As `Standard` but `Pending`/`Processing`/`Completed`/`Failed`/`Cancelled`.
    Capitalized,
    /// GoAPI legacy: `starting`, `"processing\t"`, `success`; envelope code 0; `output: {}` while
    /// not done; both `image_url` and `image_urls`; meta has `completed_at` instead of `ended_at`.
    Legacy,
    /// Only `image_urls` (an array, even for one image); `output: {}` while not done.
    UrlsOnly,
}

/// Request counters and concurrency figures. `in_flight` is computed at the time of the call;
/// `max_in_flight` is exact (in-flight only grows at a create, where it is measured).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimStats {
    /// Tasks actually created (refused or faulted creates are not counted).
    pub creates: u64,
    /// `GET /api/v1/task/{id}` requests (including faulted ones).
    pub gets: u64,
    /// `GET /files/{task}/{n}.png` requests (including faulted ones).
    pub downloads: u64,
    /// `GET /account/info` requests (including faulted ones).
    pub account_calls: u64,
    /// Cancel requests (`DELETE /api/v1/task/{id}` or `POST /api/v1/task/{id}/cancel`).
    pub cancels: u64,
    /// Tasks pending or processing right now.
    pub in_flight: u32,
    /// The most tasks ever pending or processing at once since start.
    pub max_in_flight: u32,
    /// Creates refused because `concurrency_limit` tasks were already in flight.
    pub rejected_concurrency: u64,
    /// Every `POST /api/v1/task` that arrived, whatever its outcome.
    pub create_requests: u64,
    /// Requests answered by an injected fault (500/502/429/garbage/truncated/corrupt/402 flag).
    pub faults_injected: u64,
    /// `POST /api/ephemeral_resource` requests, whatever their outcome (faulted, refused, stored).
    pub uploads: u64,
}
