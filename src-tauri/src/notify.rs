//! Desktop notifications when a batch finishes while the user is in another app.
//!
//! Why: a batch of dev/advanced images takes minutes; the user switches away and wants to know
//! when it is done. Started once in `setup` ([`spawn`]), a background task listens to the studio's
//! broadcast and, on [`JobEvent::BatchFinished`], shows "N images ready" (or "… finished with K
//! failed") through tauri-plugin-notification's Rust API — unless the main window has the focus,
//! where the UI already shows the result.
//!
//! Contract:
//! - Nothing is shown for a batch the user cancelled entirely (no image saved, none failed).
//! - The plugin reports success even when no notification daemon runs (it swallows D-Bus errors,
//!   see toolchain-2.md §4), so a failure here is only logged, never surfaced.
//! - The task ends when the studio's broadcast closes; a listener that falls behind skips the
//!   missed events (logged) and goes on.

use fluxdesk_core::studio::Studio;
use fluxdesk_core::views::JobEvent;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast::error::RecvError;

/// Starts the notifier on the async runtime. Call once, after the studio opened.
pub fn spawn<R: Runtime>(app: AppHandle<R>, studio: &Studio) {
    let mut events = studio.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(JobEvent::BatchFinished { batch_id, saved, failed, cancelled }) => {
                    let Some(body) = batch_message(saved, failed) else { continue };
                    if main_window_focused(&app) {
                        tracing::debug!(%batch_id, "batch finished while the window has the focus; no notification");
                        continue;
                    }
                    tracing::debug!(%batch_id, saved, failed, cancelled, "notifying: {body}");
                    if let Err(e) = app.notification().builder().title("Fluxdesk").body(body).show() {
                        tracing::warn!("the desktop notification could not be shown: {e}");
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(skipped)) => {
                    tracing::warn!(skipped, "the notifier fell behind the job events; some were skipped");
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

/// Whether the main window exists and has the keyboard focus.
fn main_window_focused<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.get_webview_window("main").and_then(|w| w.is_focused().ok()).unwrap_or(false)
}

/// The notification text for a finished batch, or `None` when there is nothing to tell
/// (everything was cancelled).
pub fn batch_message(saved: u32, failed: u32) -> Option<String> {
    let ready = match saved {
        1 => "1 image ready".to_owned(),
        n => format!("{n} images ready"),
    };
    match (saved, failed) {
        (0, 0) => None,
        (_, 0) => Some(ready),
        (0, k) => Some(format!("The batch finished with {k} failed")),
        (_, k) => Some(format!("{ready}; the batch finished with {k} failed")),
    }
}

#[cfg(test)]
mod tests {
    use super::batch_message;

    #[test]
    fn messages_say_what_is_ready_and_what_failed() {
        assert_eq!(batch_message(4, 0).as_deref(), Some("4 images ready"));
        assert_eq!(batch_message(1, 0).as_deref(), Some("1 image ready"));
        assert_eq!(batch_message(3, 1).as_deref(), Some("3 images ready; the batch finished with 1 failed"));
        assert_eq!(batch_message(0, 2).as_deref(), Some("The batch finished with 2 failed"));
        assert_eq!(batch_message(0, 0), None, "a fully cancelled batch is not announced");
    }
}
