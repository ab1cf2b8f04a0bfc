//! The PiAPI HTTP client: one reused `reqwest::Client` (rustls) with connect and read timeouts,
//! the `x-api-key` header on API calls only, and a `Fluxdesk/<version>` User-Agent.
//!
//! Contract:
//! - `create_task` never resends a request that may have created a (paid) task: it retries only
//!   when nothing can have been created (the connection was never made, or PiAPI answered 429);
//!   a timeout, reset or 5xx after sending is `Error::CreateUnknown`.
//! - `poll_until_done` retries transient failures (5xx, 429, network, unreadable bodies) as
//!   attempts, honours `Retry-After`, stops at once on cancellation, and never fails a task because
//!   of a flaky GET.
//! - `upload_image` (see `upload.rs`) posts local input images to the configured upload URL.
//! - The API key never appears in `Debug` output, errors or logs, and is never sent to any origin
//!   other than the configured base URL and upload URL (cross-origin redirects of keyed requests
//!   are not followed).

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use reqwest::header::{HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;
use url::{Host, Url};

use crate::error::{Error, Result};
use crate::parse::{self, Subject};
use crate::poll::{PollEvent, PollPolicy};
use crate::request::TaskRequest;
use crate::upload::DEFAULT_UPLOAD_URL;
use crate::{Task, TaskStatus};

pub const DEFAULT_BASE_URL: &str = "https://api.piapi.ai";

/// Longest `Retry-After` we honour; longer values are cut to this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Retries of a create request that surely created nothing (connect failure or 429).
const CREATE_MAX_RETRIES: u32 = 4;
/// Total time a create may spend waiting between such retries.
const CREATE_WAIT_BUDGET: Duration = Duration::from_secs(60);
/// Tries of `GET /account/info` in all.
const ACCOUNT_ATTEMPTS: u32 = 3;
/// API response bodies larger than this are cut (they are small JSON documents).
const MAX_API_BODY: usize = 4 * 1024 * 1024;

/// Client configuration. `Debug` never shows the key.
#[derive(Clone)]
pub struct ClientConfig {
    /// `PIAPI_BASE_URL`; https, or plain http only for loopback hosts.
    pub base_url: Url,
    pub api_key: SecretString,
    pub connect_timeout: Duration,
    /// Per-request read timeout.
    pub read_timeout: Duration,
    pub poll: PollPolicy,
    /// Where input images are uploaded (`PIAPI_UPLOAD_URL`); https, or plain http only for
    /// loopback hosts. See [`ClientConfig::new`] for the default.
    pub upload_url: String,
}

impl ClientConfig {
    /// A configuration with the defaults: connect timeout 10 s, read timeout 30 s,
    /// [`PollPolicy::default`], and the upload URL [`DEFAULT_UPLOAD_URL`] when the base URL is
    /// PiAPI's default base, else `{base}/api/ephemeral_resource` (the simulator's, or a
    /// proxy's). Fails with `Error::Config` if the base URL is not allowed
    /// (see [`validate_base_url`](ClientConfig::validate_base_url)).
    pub fn new(base_url: &str, api_key: SecretString) -> Result<ClientConfig> {
        let base_url = Self::validate_base_url(base_url)?;
        let base = base_url.as_str().trim_end_matches('/');
        let upload_url = if base.eq_ignore_ascii_case(DEFAULT_BASE_URL) {
            DEFAULT_UPLOAD_URL.to_owned()
        } else {
            format!("{base}/api/ephemeral_resource")
        };
        Ok(ClientConfig {
            base_url,
            api_key,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            poll: PollPolicy::default(),
            upload_url,
        })
    }

    /// Checks a base URL: `https://` with any host, or plain `http://` only for loopback
    /// (`localhost`, `127.0.0.0/8`, `::1`). A trailing slash is fine; credentials, queries and
    /// fragments are not. Errors are `Error::Config` with a sentence saying what to do.
    pub fn validate_base_url(base_url: &str) -> Result<Url> {
        check_url(base_url, "PiAPI base URL", DEFAULT_BASE_URL)
    }

    /// Checks an upload URL by the same rules as [`validate_base_url`](Self::validate_base_url).
    pub fn validate_upload_url(upload_url: &str) -> Result<Url> {
        check_url(upload_url, "PiAPI upload URL", DEFAULT_UPLOAD_URL)
    }

    /// Replaces the upload URL (checked when the [`Client`] is built).
    pub fn with_upload_url(mut self, url: impl Into<String>) -> Self {
        self.upload_url = url.into();
        self
    }

    /// Replaces the polling policy.
    pub fn with_poll_policy(mut self, poll: PollPolicy) -> Self {
        self.poll = poll;
        self
    }

    /// Replaces the connect and per-request read timeouts.
    pub fn with_timeouts(mut self, connect: Duration, read: Duration) -> Self {
        self.connect_timeout = connect;
        self.read_timeout = read;
        self
    }
}

/// `https://` with any host, or `http://` for loopback only; no credentials, query or fragment.
fn check_url(raw: &str, what: &str, example: &str) -> Result<Url> {
    let config = |message: String| Error::Config { message };
    let trimmed = raw.trim();
    let url = Url::parse(trimmed).map_err(|e| {
        config(format!(
            "The {what} \"{trimmed}\" is not a valid URL ({e}). Use {example}, or leave it unset."
        ))
    })?;
    let Some(host) = url.host() else {
        return Err(config(format!(
            "The {what} \"{trimmed}\" has no host name. Use {example}, or leave it unset."
        )));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(config(format!(
            "Remove the user name and password from the {what}; the API key is sent in a header."
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config(format!(
            "Remove the \"?…\" or \"#…\" part from the {what} \"{trimmed}\"; use a plain address such as {example}."
        )));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&host) => Ok(url),
        "http" => Err(config(format!(
            "The {what} \"{trimmed}\" uses plain http, which is only allowed for a local simulator (localhost, 127.0.0.1 or ::1). Use https:// instead."
        ))),
        other => Err(config(format!(
            "The {what} must start with https:// (or http:// for a local simulator), not {other}://. Use {example}, or leave it unset."
        ))),
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url.as_str())
            .field("api_key", &"[redacted]")
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("poll", &self.poll)
            .field("upload_url", &self.upload_url)
            .finish()
    }
}

/// Balance and plan from `GET /account/info`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    pub balance_usd: Option<f64>,
    pub plan: Option<String>,
    pub account_name: Option<String>,
    pub max_concurrent_tasks: Option<u32>,
}

/// A cheap-to-clone PiAPI client (one shared connection pool).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    /// `base_url` without a trailing slash; endpoint paths are appended.
    base: String,
    /// The checked upload URL.
    upload: Url,
    key_header: HeaderValue,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

/// A response that arrived (any status).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: bytes::Bytes,
}

/// A request that got no (complete) response.
pub(crate) enum Transport {
    /// The connection was never established: the request was surely not sent.
    Connect(String),
    /// Anything after the connection was made (timeout, reset, broken body).
    Other(String),
}

impl Transport {
    pub(crate) fn message(self) -> String {
        match self {
            Transport::Connect(m) | Transport::Other(m) => m,
        }
    }
}

/// A failed read request and the server's `Retry-After`, if any.
struct Failure {
    error: Error,
    retry_after: Option<Duration>,
}

impl Client {
    /// Builds the client. Errors: `Error::Config` for a disallowed base or upload URL, an empty
    /// key, a key that cannot be sent as a header, or a TLS setup failure.
    pub fn new(config: ClientConfig) -> Result<Client> {
        let base_url = ClientConfig::validate_base_url(config.base_url.as_str())?;
        let upload = ClientConfig::validate_upload_url(&config.upload_url)?;
        let key = config.api_key.expose_secret().trim();
        if key.is_empty() {
            return Err(Error::Config {
                message: "No PiAPI API key is set. Add it in Settings (or set PIAPI_API_KEY) and try again."
                    .to_owned(),
            });
        }
        let mut key_header = HeaderValue::from_str(key).map_err(|_| Error::Config {
            message: "The PiAPI API key contains characters that cannot be sent (such as spaces or line breaks inside it). Paste the key again exactly as shown on piapi.ai.".to_owned(),
        })?;
        key_header.set_sensitive(true);

        // Requests to these origins carry the key.
        let keyed = [base_url.origin(), upload.origin()];
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            let first = attempt.previous().first().map(Url::origin);
            let keyed_start = first.as_ref().is_some_and(|o| keyed.contains(o));
            if attempt.previous().len() > 5 {
                attempt.error("too many redirects")
            } else if keyed_start && Some(attempt.url().origin()) != first {
                // Never carry the API key to another origin.
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .user_agent(concat!("Fluxdesk/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .redirect(redirects)
            .build()
            .map_err(|e| Error::Config {
                message: format!(
                    "The HTTP client could not be set up ({}). Reinstall Fluxdesk.",
                    describe(&e)
                ),
            })?;
        let base = base_url.as_str().trim_end_matches('/').to_owned();
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                config: ClientConfig { base_url, upload_url: upload.as_str().to_owned(), ..config },
                base,
                upload,
                key_header,
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The shared HTTP client (downloads use it without the API key).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The checked upload URL.
    pub(crate) fn upload_url(&self) -> &Url {
        &self.inner.upload
    }

    /// Creates a task (`POST /api/v1/task`) after validating the request locally.
    ///
    /// Never resends a request that may have created a task: only a connection failure before
    /// sending or a 429 is retried (at most 4 times, honouring `Retry-After`, else doubling from
    /// the poll policy's `first_delay`; 60 s of waiting in all).
    ///
    /// Errors: `InvalidInput` (local validation or HTTP 400), `Unauthorized` (401/403),
    /// `InsufficientCredits` (402 or a credits message), `RateLimited` (429 after the retries),
    /// `Network` (could not connect), `CreateUnknown` (timeout/reset after sending, 5xx, or an
    /// unreadable 2xx reply), `Protocol` (a reply without a task id).
    pub async fn create_task(&self, req: &TaskRequest) -> Result<Task> {
        req.validate()?;
        let body = req.to_body();
        let mut retries = 0;
        let mut waited = Duration::ZERO;
        loop {
            let (error, retry_after) = match self.call(Method::POST, "/api/v1/task", Some(&body)).await {
                Err(Transport::Connect(message)) => (Error::Network { message }, None),
                Err(Transport::Other(message)) => return Err(self.redact(Error::CreateUnknown { message })),
                Ok(reply) => match self.create_outcome(reply) {
                    Ok(task) => {
                        tracing::debug!(task_id = %task.task_id, "task created");
                        return Ok(task);
                    }
                    Err(f) if matches!(f.error, Error::RateLimited { .. }) => (f.error, f.retry_after),
                    Err(f) => return Err(self.redact(f.error)),
                },
            };
            // Without Retry-After, back off from the poll policy's first delay (400 ms by default).
            let base = self.inner.config.poll.first_delay.max(Duration::from_millis(1));
            let wait =
                retry_after.unwrap_or_else(|| base.saturating_mul(1 << retries.min(5))).min(MAX_RETRY_AFTER);
            if retries >= CREATE_MAX_RETRIES || waited + wait > CREATE_WAIT_BUDGET {
                return Err(self.redact(error));
            }
            tracing::debug!(retry = retries + 1, ?wait, error = %error, "create not accepted; nothing was created, retrying");
            tokio::time::sleep(wait).await;
            waited += wait;
            retries += 1;
        }
    }

    /// Classifies a create reply; only `RateLimited` failures may be retried by the caller.
    fn create_outcome(&self, reply: Reply) -> std::result::Result<Task, Failure> {
        let Reply { status, retry_after, body } = reply;
        let unknown =
            |message: String| Failure { error: Error::CreateUnknown { message }, retry_after: None };
        if status == 408 || status >= 500 {
            let detail = match parse::error_for_status(status, &body, Subject::Task(None)) {
                Error::ServerError { message, .. } => message,
                _ => String::new(),
            };
            return Err(unknown(with_detail(format!("PiAPI answered HTTP {status}"), &detail)));
        }
        match parse::parse_task_for(status, &body, Subject::Task(None)) {
            Ok(task) if task.task_id.trim().is_empty() => Err(Failure {
                error: Error::Protocol {
                    message: "PiAPI accepted the task but sent no task id".to_owned(),
                    body: parse::keep_body(&body),
                },
                retry_after: None,
            }),
            Ok(task) => Ok(task),
            Err(Error::RateLimited { message, .. }) => {
                Err(Failure { error: Error::RateLimited { retry_after, message }, retry_after })
            }
            // A 2xx we cannot read, or a 5xx-like envelope code: the task may exist.
            Err(Error::ServerError { status, message }) => {
                Err(unknown(with_detail(format!("PiAPI reported error {status}"), &message)))
            }
            Err(Error::Protocol { message, .. }) if (200..300).contains(&status) => {
                Err(unknown(format!("PiAPI's reply could not be read: {message}")))
            }
            Err(error) => Err(Failure { error, retry_after: None }),
        }
    }

    /// One `GET /api/v1/task/{id}`, no retries. Errors: `NotFound` (404), `Unauthorized`,
    /// `RateLimited`, `ServerError`, `Network`, `Protocol`, `InvalidInput` (a malformed id).
    pub async fn get_task(&self, task_id: &str) -> Result<Task> {
        check_task_id(task_id)?;
        self.fetch_task(task_id).await.map(|(task, _)| task).map_err(|f| f.error)
    }

    async fn fetch_task(&self, task_id: &str) -> std::result::Result<(Task, bytes::Bytes), Failure> {
        let reply = self.call(Method::GET, &format!("/api/v1/task/{task_id}"), None).await.map_err(|t| {
            Failure { error: self.redact(Error::Network { message: t.message() }), retry_after: None }
        })?;
        match parse::parse_task_for(reply.status, &reply.body, Subject::Task(Some(task_id))) {
            Ok(mut task) => {
                if task.task_id.trim().is_empty() {
                    task.task_id = task_id.to_owned();
                }
                Ok((task, reply.body))
            }
            Err(Error::RateLimited { message, .. }) => Err(Failure {
                error: Error::RateLimited { retry_after: reply.retry_after, message },
                retry_after: reply.retry_after,
            }),
            Err(error) => Err(Failure { error: self.redact(error), retry_after: reply.retry_after }),
        }
    }

    /// Cancels a pending task: `DELETE /api/v1/task/{id}`, falling back to
    /// `POST /api/v1/task/{id}/cancel` on 404/405. Errors: `InvalidInput` (field `task`) when
    /// PiAPI refuses (only pending tasks can be cancelled), `NotFound`, `Unauthorized`, `Network`.
    pub async fn cancel_task(&self, task_id: &str) -> Result<()> {
        check_task_id(task_id)?;
        let path = format!("/api/v1/task/{task_id}");
        let network = |t: Transport| Error::Network { message: t.message() };
        let mut reply = self.call(Method::DELETE, &path, None).await.map_err(network)?;
        if matches!(reply.status, 404 | 405) {
            tracing::debug!(
                task_id,
                status = reply.status,
                "DELETE cancel not available; trying POST …/cancel"
            );
            reply = self.call(Method::POST, &format!("{path}/cancel"), None).await.map_err(network)?;
        }
        let result = parse::parse_ack(reply.status, &reply.body, Subject::Task(Some(task_id)));
        result.map_err(|e| match e {
            Error::InvalidInput { .. } => {
                let said = self.redact_text(parse::server_message(&reply.body));
                let said = if said.is_empty() { String::new() } else { format!(" ({said})") };
                Error::invalid_input(
                    "task",
                    format!(
                        "PiAPI would not cancel task {task_id}{said}; only pending tasks can be cancelled; it may still be charged"
                    ),
                )
            }
            Error::RateLimited { message, .. } => Error::RateLimited { retry_after: reply.retry_after, message },
            other => self.redact(other),
        })
    }

    /// `GET /account/info`, retrying transient failures twice. Errors: `Unauthorized`,
    /// `Config` (no such endpoint at the base URL), or the last transient error.
    pub async fn account_info(&self) -> Result<AccountInfo> {
        let mut attempt = 1;
        loop {
            let failure = match self.call(Method::GET, "/account/info", None).await {
                Err(t) => Failure { error: Error::Network { message: t.message() }, retry_after: None },
                Ok(reply) => match parse::parse_account_info(reply.status, &reply.body) {
                    Ok(info) => return Ok(info),
                    Err(Error::RateLimited { message, .. }) => Failure {
                        error: Error::RateLimited { retry_after: reply.retry_after, message },
                        retry_after: reply.retry_after,
                    },
                    Err(error) => Failure { error, retry_after: reply.retry_after },
                },
            };
            if !failure.error.is_transient() || attempt >= ACCOUNT_ATTEMPTS {
                return Err(self.redact(failure.error));
            }
            let wait = failure
                .retry_after
                .unwrap_or_else(|| Duration::from_millis(300 << attempt))
                .min(Duration::from_secs(5));
            tracing::debug!(attempt, ?wait, error = %failure.error, "account info failed; retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Polls `GET /api/v1/task/{id}` until the task ends, following the configured
    /// [`PollPolicy`]. The first check is immediate.
    ///
    /// Emits `PollEvent::Status` after every successful GET and `PollEvent::Transient` before
    /// retrying a failed one. Returns the completed task (with at least one image URL).
    /// Errors: `TaskFailed` (PiAPI's message), `Cancelled` (the task was cancelled, or `cancel`
    /// fired), `Timeout` (attempts used up), `Unauthorized`, `NotFound`, `Protocol` (completed
    /// without an image URL). Transient failures (5xx, 429, network, garbage) only use attempts.
    pub async fn poll_until_done(
        &self,
        task_id: &str,
        cancel: &CancellationToken,
        on_event: &mut (dyn FnMut(PollEvent) + Send),
    ) -> Result<Task> {
        let policy = self.inner.config.poll.clone();
        self.poll_until_done_with(task_id, &policy, cancel, on_event).await
    }

    /// [`Client::poll_until_done`] with a policy for this one task (e.g. the configured policy
    /// [`PollPolicy::expecting`] a duration). With an expected duration the first check follows
    /// the policy's lead instead of coming at once.
    pub async fn poll_until_done_with(
        &self,
        task_id: &str,
        policy: &PollPolicy,
        cancel: &CancellationToken,
        on_event: &mut (dyn FnMut(PollEvent) + Send),
    ) -> Result<Task> {
        check_task_id(task_id)?;
        let cancelled = || Error::Cancelled { task_id: Some(task_id.to_owned()) };
        let attempts = policy.max_attempts.max(1);
        let mut rng = SmallRng::from_rng(&mut rand::rng());
        let lead = policy.lead();
        if !lead.is_zero() {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(cancelled()),
                () = tokio::time::sleep(lead) => {}
            }
        }
        for attempt in 1..=attempts {
            if cancel.is_cancelled() {
                return Err(cancelled());
            }
            let fetched = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(cancelled()),
                r = self.fetch_task(task_id) => r,
            };
            let wait = match fetched {
                Ok((task, body)) => {
                    tracing::debug!(task_id, attempt, status = ?task.status, raw = %task.raw_status, "polled");
                    on_event(PollEvent::Status { attempt, task: task.clone() });
                    match task.status {
                        TaskStatus::Completed if task.image_urls.is_empty() => {
                            return Err(Error::Protocol {
                                message: format!("task {task_id} completed without an image URL"),
                                body: parse::keep_body(&body),
                            });
                        }
                        TaskStatus::Completed => return Ok(task),
                        TaskStatus::Failed => {
                            return Err(Error::TaskFailed {
                                task_id: task_id.to_owned(),
                                message: task.error_message.unwrap_or_else(|| "no reason given".to_owned()),
                            });
                        }
                        TaskStatus::Cancelled => return Err(cancelled()),
                        TaskStatus::Pending | TaskStatus::Processing => policy.delay_for(attempt, &mut rng),
                    }
                }
                Err(Failure { error, retry_after }) if error.is_transient() => {
                    let wait = match retry_after {
                        Some(d) => d.min(MAX_RETRY_AFTER),
                        None => policy.delay_for(attempt, &mut rng),
                    };
                    tracing::debug!(task_id, attempt, error = %error, ?wait, "transient poll failure");
                    if attempt < attempts {
                        on_event(PollEvent::Transient { attempt, error: error.to_string(), retry_in: wait });
                    }
                    wait
                }
                Err(Failure { error, .. }) => return Err(error),
            };
            if attempt < attempts {
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => return Err(cancelled()),
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
        Err(Error::Timeout { task_id: task_id.to_owned(), attempts })
    }

    /// Sends one API request with the key and the per-request timeout and reads the whole body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> std::result::Result<Reply, Transport> {
        let url = format!("{}{}", self.inner.base, path);
        let body = json.map(|j| bytes::Bytes::from(j.to_string()));
        self.send(method, &url, path, body, self.inner.config.read_timeout).await
    }

    /// Sends one keyed request to `url` (a JSON `body`, if any) within `timeout` and reads the
    /// whole body. `path` is what the log shows.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        path: &str,
        body: Option<bytes::Bytes>,
        timeout: Duration,
    ) -> std::result::Result<Reply, Transport> {
        let started = Instant::now();
        let mut req = self
            .inner
            .http
            .request(method.clone(), url)
            .header("x-api-key", self.inner.key_header.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(timeout);
        if let Some(body) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        }
        let response = req.send().await.map_err(|e| {
            let message = self.redact_text(describe(&e));
            tracing::debug!(%method, path, error = %message, "request failed");
            if e.is_connect() { Transport::Connect(message) } else { Transport::Other(message) }
        })?;
        let status = response.status();
        let retry_after = if matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE)
        {
            response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, chrono::Utc::now()))
        } else {
            None
        };
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                Transport::Other(self.redact_text(format!("the response broke off: {}", describe(&e))))
            })?;
            let room = MAX_API_BODY.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if room <= chunk.len() {
                break;
            }
        }
        tracing::debug!(%method, path, status = status.as_u16(), ms = started.elapsed().as_millis() as u64, "PiAPI");
        Ok(Reply { status: status.as_u16(), retry_after, body: body.into() })
    }

    pub(crate) fn redact_text(&self, text: String) -> String {
        redact_key(text, self.inner.config.api_key.expose_secret())
    }

    /// Removes the API key from every message an error carries (PiAPI could echo it).
    pub(crate) fn redact(&self, error: Error) -> Error {
        let r = |s: String| self.redact_text(s);
        match error {
            Error::InvalidInput { field, message } => Error::InvalidInput { field, message: r(message) },
            Error::Unauthorized { message } => Error::Unauthorized { message: r(message) },
            Error::InsufficientCredits { message } => Error::InsufficientCredits { message: r(message) },
            Error::RateLimited { retry_after, message } => {
                Error::RateLimited { retry_after, message: r(message) }
            }
            Error::TaskFailed { task_id, message } => Error::TaskFailed { task_id, message: r(message) },
            Error::CreateUnknown { message } => Error::CreateUnknown { message: r(message) },
            Error::Network { message } => Error::Network { message: r(message) },
            Error::ServerError { status, message } => Error::ServerError { status, message: r(message) },
            Error::Protocol { message, body } => Error::Protocol { message: r(message), body: r(body) },
            Error::DownloadFailed { url, message } => Error::DownloadFailed { url, message: r(message) },
            Error::UploadFailed { message } => Error::UploadFailed { message: r(message) },
            Error::InvalidImage { message } => Error::InvalidImage { message: r(message) },
            Error::Config { message } => Error::Config { message: r(message) },
            other @ (Error::Cancelled { .. } | Error::Timeout { .. } | Error::NotFound { .. }) => other,
        }
    }
}

/// `head: detail`, or just `head` when there is no detail.
fn with_detail(head: String, detail: &str) -> String {
    if detail.trim().is_empty() { head } else { format!("{head}: {}", detail.trim()) }
}

/// Replaces occurrences of `key` (if it is long enough to be meaningful) with `[redacted]`.
fn redact_key(text: String, key: &str) -> String {
    let key = key.trim();
    if key.len() >= 4 && text.contains(key) { text.replace(key, "[redacted]") } else { text }
}

/// Task ids go into URL paths, so only the characters PiAPI uses are accepted.
fn check_task_id(task_id: &str) -> Result<()> {
    let ok = !task_id.is_empty()
        && task_id.len() <= 128
        && task_id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && task_id != "."
        && task_id != "..";
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(
            "task_id",
            "a task id is a PiAPI id such as 8718d5c1-aae9-4cd5-a243-84eeb1e01117 (letters, digits and dashes)",
        ))
    }
}

/// A short, key-free description of a transport error: what failed and the root cause.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response broke off"
    } else {
        "the request failed"
    };
    let mut causes: Vec<String> = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        let repeats_kind = e.is_timeout() && text.contains("timed out");
        if !text.is_empty() && !repeats_kind && !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        source = s.source();
    }
    let mut out = if causes.is_empty() { kind.to_owned() } else { format!("{kind}: {}", causes.join(": ")) };
    if out.chars().count() > 300 {
        out = out.chars().take(300).collect::<String>() + "…";
    }
    out
}

/// Parses `Retry-After` (delay seconds or an HTTP date), capped at [`MAX_RETRY_AFTER`].
pub(crate) fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    let wait = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = v.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64()))
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
        (at.with_timezone(&chrono::Utc) - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn key() -> SecretString {
        SecretString::from("sk-test-1234567890")
    }

    #[test]
    fn base_url_rules() {
        for ok in [
            "https://api.piapi.ai",
            "https://api.piapi.ai/",
            " https://api.goapi.ai ",
            "https://proxy.example.com:8443/piapi/",
            "http://127.0.0.1:8080",
            "http://127.1.2.3:9",
            "http://localhost:3000/",
            "http://LOCALHOST:3000",
            "http://[::1]:4000",
        ] {
            assert!(ClientConfig::validate_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.piapi.ai",
            "http://192.168.1.5:8080",
            "http://10.0.0.1",
            "http://[::2]:80",
            "http://localhost.evil.com",
            "ftp://api.piapi.ai",
            "file:///etc/passwd",
            "api.piapi.ai",
            "",
            "https://user:pw@api.piapi.ai",
            "https://api.piapi.ai/?x=1",
            "https://api.piapi.ai/#frag",
        ] {
            let e = ClientConfig::validate_base_url(bad).expect_err(bad);
            assert_eq!(e.code(), ErrorCode::Config, "{bad}");
            let msg = e.to_string();
            assert!(msg.ends_with('.') && msg.len() > 30, "{bad}: {msg}");
        }
        let e = ClientConfig::validate_base_url("http://api.piapi.ai").expect_err("http");
        assert!(e.to_string().contains("https://"), "{e}");
    }

    #[test]
    fn config_defaults_and_redacted_debug() {
        let c = ClientConfig::new("https://api.piapi.ai/", key()).expect("config");
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert_eq!(c.read_timeout, Duration::from_secs(30));
        assert_eq!(c.poll, PollPolicy::default());
        let debug = format!("{c:?}");
        assert!(!debug.contains("sk-test"), "{debug}");
        assert!(debug.contains("[redacted]"));
        let client = Client::new(c).expect("client");
        assert!(!format!("{client:?}").contains("sk-test"));
        assert_eq!(client.inner.base, "https://api.piapi.ai");
    }

    #[test]
    fn client_rejects_empty_or_unsendable_keys_without_echoing_them() {
        let e = Client::new(ClientConfig::new(DEFAULT_BASE_URL, SecretString::from("  ")).expect("cfg"))
            .expect_err("empty");
        assert_eq!(e.code(), ErrorCode::Config);
        let e = Client::new(
            ClientConfig::new(DEFAULT_BASE_URL, SecretString::from("sk-a\nb-secret")).expect("cfg"),
        )
        .expect_err("newline");
        assert_eq!(e.code(), ErrorCode::Config);
        assert!(!e.to_string().contains("b-secret"));
    }

    #[test]
    fn client_revalidates_a_hand_built_config() {
        let mut c = ClientConfig::new(DEFAULT_BASE_URL, key()).expect("config");
        c.base_url = Url::parse("http://example.com").expect("url");
        assert_eq!(Client::new(c).expect_err("plain http").code(), ErrorCode::Config);
    }

    #[test]
    fn upload_url_defaults_follow_the_base_url() {
        for base in ["https://api.piapi.ai", "https://api.piapi.ai/", " https://API.piapi.ai "] {
            let c = ClientConfig::new(base, key()).expect("config");
            assert_eq!(c.upload_url, DEFAULT_UPLOAD_URL, "{base}");
        }
        let c = ClientConfig::new("http://127.0.0.1:4010", key()).expect("config");
        assert_eq!(c.upload_url, "http://127.0.0.1:4010/api/ephemeral_resource");
        let c = ClientConfig::new("https://proxy.example.com:8443/piapi/", key()).expect("config");
        assert_eq!(c.upload_url, "https://proxy.example.com:8443/piapi/api/ephemeral_resource");
        let c = c.with_upload_url("https://files.example.com/up");
        assert_eq!(c.upload_url, "https://files.example.com/up");
        assert!(format!("{c:?}").contains("https://files.example.com/up"));
        let client = Client::new(c).expect("client");
        assert_eq!(client.upload_url().as_str(), "https://files.example.com/up");
    }

    #[test]
    fn client_rejects_a_bad_upload_url() {
        for bad in ["http://upload.example.com/x", "upload", "https://u:p@upload.example.com", "ftp://x/y"] {
            let c = ClientConfig::new(DEFAULT_BASE_URL, key()).expect("cfg").with_upload_url(bad);
            let e = Client::new(c).expect_err(bad);
            assert_eq!(e.code(), ErrorCode::Config, "{bad}");
            assert!(e.to_string().contains("upload URL"), "{bad}: {e}");
        }
        let ok =
            ClientConfig::new(DEFAULT_BASE_URL, key()).expect("cfg").with_upload_url("http://localhost:9/up");
        assert!(Client::new(ok).is_ok());
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .expect("now")
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("3600", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("1.5", now), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("Wed, 01 Jan 2025 00:00:10 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Wed, 01 Jan 2025 01:00:00 GMT", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Tue, 31 Dec 2024 23:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
    }

    #[test]
    fn key_is_redacted_from_error_messages() {
        let client = Client::new(ClientConfig::new(DEFAULT_BASE_URL, key()).expect("cfg")).expect("client");
        let e = client.redact(Error::Unauthorized { message: "key sk-test-1234567890 is invalid".into() });
        assert!(!e.to_string().contains("sk-test-1234567890"), "{e}");
        assert!(e.to_string().contains("[redacted]"));
        let e = client
            .redact(Error::Protocol { message: "m".into(), body: "{\"k\":\"sk-test-1234567890\"}".into() });
        assert!(matches!(e, Error::Protocol { ref body, .. } if !body.contains("sk-test")));
    }

    #[test]
    fn task_ids_are_checked_before_they_reach_a_path() {
        assert!(check_task_id("8718d5c1-aae9-4cd5-a243-84eeb1e01117").is_ok());
        assert!(check_task_id("sim_task.01").is_ok());
        for bad in ["", "a/b", "..", "x?y=1", "a b", "ä", &"x".repeat(200)] {
            let e = check_task_id(bad).expect_err(bad);
            assert!(matches!(e, Error::InvalidInput { ref field, .. } if field == "task_id"));
        }
    }
}
