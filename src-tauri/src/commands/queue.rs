//! Batches and the queue: many prompts × many images at once, pausing and resuming what is not
//! sent yet, reordering waiting jobs, and what it all costs.
//!
//! Contract: thin adapters over the studio. Progress of every job and the queue-wide events
//! (`queueChanged`, `batchFinished`) arrive on the `watch_jobs` channel; these commands only
//! start things and answer questions. Queue reads and writes touch SQLite, so they run on the
//! blocking pool.

use fluxdesk_core::views::{BatchRequest, CostSummary, QueueState};
use tauri::State;

use crate::error::IpcError;
use crate::state::{AppState, blocking};

/// Records one ledger job per image of the batch (all before anything is sent) and returns
/// their ids, prompt by prompt.
#[tauri::command]
#[specta::specta]
pub async fn generate_batch(state: State<'_, AppState>, request: BatchRequest) -> Result<Vec<i64>, IpcError> {
    Ok(state.studio().await?.generate_batch(request).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn queue_state(state: State<'_, AppState>) -> Result<QueueState, IpcError> {
    blocking(state.studio().await?, |s| Ok(s.queue_state())).await
}

/// Stops sending new tasks (tasks already sent finish). `reason` is shown to the user.
#[tauri::command]
#[specta::specta]
pub async fn pause_queue(state: State<'_, AppState>, reason: Option<String>) -> Result<QueueState, IpcError> {
    blocking(state.studio().await?, move |s| s.pause_queue(reason)).await
}

#[tauri::command]
#[specta::specta]
pub async fn resume_queue(state: State<'_, AppState>) -> Result<QueueState, IpcError> {
    blocking(state.studio().await?, |s| s.resume_queue()).await
}

/// Moves a queued job before the queued job `before`, or to the end of the queue when `None`.
#[tauri::command]
#[specta::specta]
pub async fn move_job(state: State<'_, AppState>, job_id: i64, before: Option<i64>) -> Result<(), IpcError> {
    blocking(state.studio().await?, move |s| s.move_job(job_id, before)).await
}

/// Spending today and this month, the balance and the daily budget.
#[tauri::command]
#[specta::specta]
pub async fn cost_summary(state: State<'_, AppState>) -> Result<CostSummary, IpcError> {
    Ok(state.studio().await?.cost_summary().await?)
}
