//! Jobs: the live event stream, cancel, retry and the list.
//!
//! Contract of `watch_jobs`: it subscribes to the studio's broadcast *before* taking the job
//! snapshot it returns, so no event falls between the two; then a task forwards every event to
//! the channel until the channel is gone or the page subscribes again (a reload calls
//! `watch_jobs` anew and the previous forwarder stops). Rate limiting happens in the core; the
//! shell forwards as is. If the forwarder falls behind the broadcast buffer, the skipped events
//! are logged (the UI can call `list_jobs` to catch up) and forwarding continues.

use fluxdesk_core::views::{JobEvent, JobView};
use tauri::State;
use tauri::ipc::Channel;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::error::IpcError;
use crate::state::{AppState, blocking};

/// How many jobs `watch_jobs` and `list_jobs` return (newest first).
pub const JOB_LIST_LIMIT: u32 = 200;

#[tauri::command]
#[specta::specta]
pub async fn watch_jobs(
    state: State<'_, AppState>,
    on_event: Channel<JobEvent>,
) -> Result<Vec<JobView>, IpcError> {
    let studio = state.studio().await?;
    let events = studio.subscribe();
    let stop = state.replace_job_forwarder();
    tauri::async_runtime::spawn(forward(events, on_event, stop));
    blocking(studio, |s| s.jobs(JOB_LIST_LIMIT)).await
}

/// Forwards broadcast events to the channel until it fails, the broadcast closes or `stop`.
async fn forward(mut events: Receiver<JobEvent>, channel: Channel<JobEvent>, stop: CancellationToken) {
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => break,
            next = events.recv() => next,
        };
        match next {
            Ok(event) => {
                if let Err(e) = channel.send(event) {
                    tracing::debug!("job event channel closed ({e}); stopping the forwarder");
                    break;
                }
            }
            Err(RecvError::Lagged(skipped)) => {
                tracing::warn!(
                    skipped,
                    "job events were dropped for a slow listener; the UI can refresh with list_jobs"
                );
            }
            Err(RecvError::Closed) => break,
        }
    }
}

/// Cancels a queued or running job.
#[tauri::command]
#[specta::specta]
pub async fn cancel_job(state: State<'_, AppState>, job_id: i64) -> Result<(), IpcError> {
    Ok(state.studio().await?.cancel_job(job_id).await?)
}

/// Submits the job's request again as new task(s); returns the new job ids.
#[tauri::command]
#[specta::specta]
pub async fn retry_job(state: State<'_, AppState>, job_id: i64) -> Result<Vec<i64>, IpcError> {
    Ok(state.studio().await?.retry_job(job_id).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn list_jobs(state: State<'_, AppState>) -> Result<Vec<JobView>, IpcError> {
    blocking(state.studio().await?, |s| s.jobs(JOB_LIST_LIMIT)).await
}
