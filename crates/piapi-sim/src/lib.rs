//! A PiAPI-compatible Flux server on loopback (127.0.0.1 only).
//!
//! Two users: the desktop app's demo mode (started in-process, must start in milliseconds, so
//! nothing is pre-rendered) and every client/ledger test (fault injection and request counting).
//! It speaks raw JSON, written from the contract in `piapi-api.md` (§1, §2, §4), independently of
//! the `piapi` client crate, so the two cross-check each other.
//!
//! Endpoints: `POST /api/v1/task`, `GET|DELETE /api/v1/task/{id}`, `POST /api/v1/task/{id}/cancel`,
//! `GET /account/info`, `GET /files/{task_id}/{n}.png`, `POST /api/ephemeral_resource`,
//! `GET /files/uploads/{id}`, and the control endpoints `GET /_sim/stats`, `GET|PUT /_sim/faults`,
//! `GET /_sim/health`, `GET /_sim/requests` (create bodies received, oldest first).
//!
//! Every Flux task type is validated (`request.rs`) and rendered so the output visibly reflects
//! its input images (`produce.rs`, `edit.rs`); input images are only ever taken from the
//! simulator itself (`source.rs`), never fetched from the network.
//!
//! Task status is derived from wall-clock time since create (pending → processing →
//! completed/failed), so there are no background timers; the server task stops when the
//! `SimHandle` is shut down or dropped.

mod config;
mod edit;
mod error;
mod font;
mod produce;
mod render;
mod request;
mod routes;
mod source;
mod state;
mod wire;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{Faults, SimConfig, SimStats, WireStyle};
pub use error::ApiError;
pub use render::{SOFTWARE as PNG_SOFTWARE, render_png, render_rgb};
pub use request::{CONTROL_TYPES, LORA_TYPES, MAX_SR_SIDE, Model};
pub use routes::MAX_UPLOAD_BYTES;
pub use wire::{FAIL_MESSAGE, ZERO_TIME};

use state::Shared;

/// How long `SimHandle::shutdown` waits for open requests before aborting the server task.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running simulator. Dropping it stops the server (open requests finish first).
pub struct SimHandle {
    shared: Arc<Shared>,
    /// Dropping or sending stops the server gracefully.
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle").field("addr", &self.shared.addr).finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The bound address (always 127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:PORT`, the base URL to give the client (API, uploads and files).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Counters so far; `in_flight` is computed at the time of the call.
    pub fn stats(&self) -> SimStats {
        self.shared.lock().stats()
    }

    /// Replaces the fault plan (takes effect on the next request).
    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().config.faults = faults;
    }

    /// The fault plan as it is now (counters decrease as faults are served).
    pub fn faults(&self) -> Faults {
        self.shared.lock().config.faults.clone()
    }

    /// The create bodies received (`POST /api/v1/task`, whatever the outcome), oldest first, at
    /// most 200. A body that is not JSON appears as a JSON string.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.shared.lock().requests()
    }

    /// Forgets the recorded create bodies.
    pub fn clear_requests(&self) {
        self.shared.lock().clear_requests();
    }

    /// Uploads accepted (stored) since start; `stats().uploads` counts every upload request.
    pub fn upload_count(&self) -> u64 {
        self.shared.lock().uploads_stored
    }

    /// The current balance in USD.
    pub fn balance_usd(&self) -> f64 {
        self.shared.lock().balance_units() as f64 / 1e7
    }

    /// Changes the live configuration. Timings apply to tasks created afterwards; `port` is
    /// ignored after start; `state_file` applies to the next write.
    pub fn update(&self, f: impl FnOnce(&mut SimConfig)) {
        f(&mut self.shared.lock().config);
    }

    /// Stops accepting connections, lets open requests finish (at most 5 s, then aborts) and
    /// waits for the server task to end.
    pub async fn shutdown(mut self) {
        drop(self.stop.take());
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await.is_err()
        {
            tracing::warn!("piapi-sim: graceful shutdown timed out; aborting");
            server.abort();
        }
        tracing::debug!(addr = %self.shared.addr, "piapi-sim: stopped");
    }
}

/// Entry point: `Simulator::start(config)`.
pub struct Simulator;

impl Simulator {
    /// Binds 127.0.0.1:`config.port`, reloads `config.state_file` if set, and serves in a tokio
    /// task. Must be called within a tokio runtime. Errors are bind errors.
    pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).await?;
        let addr = listener.local_addr()?;
        let loaded = match config.state_file.clone() {
            Some(path) => tokio::task::spawn_blocking(move || state::load_state(&path))
                .await
                .map_err(std::io::Error::other)?,
            None => Vec::new(),
        };
        tracing::debug!(%addr, reloaded_tasks = loaded.len(), ?config, "piapi-sim: starting");
        let shared = Shared::new(config, loaded, addr);
        let app = routes::router(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // Resolves on send or when the handle (sender) is dropped.
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "piapi-sim: server error");
            }
        });
        Ok(SimHandle { shared, stop: Some(stop), server: Some(server) })
    }
}

/// For the CLI (`fluxdesk sim`): serve until ctrl-c / the future resolves.
pub async fn serve_until(
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_until_with(config, shutdown, |_| {}).await
}

/// Like `serve_until`, calling `on_ready` with the running handle first (e.g. to print the URL
/// when `port` is 0).
pub async fn serve_until_with(
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&SimHandle),
) -> std::io::Result<()> {
    let handle = Simulator::start(config).await?;
    tracing::info!(url = %handle.base_url(), "PiAPI simulator listening");
    on_ready(&handle);
    shutdown.await;
    handle.shutdown().await;
    Ok(())
}
