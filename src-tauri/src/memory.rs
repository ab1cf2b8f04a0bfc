//! Giving freed heap memory back to the OS (Linux with glibc; a no-op elsewhere).
//!
//! Why: glibc keeps what a thread freed in that thread's arena instead of returning it, so a
//! process stays resident at its peak. The start-up reconcile of a 100,000-image gallery (the
//! index snapshot and the folder walk, ~45 MiB, freed when it ends) stayed resident for the life
//! of the app, and so did the garbage of large IPC answers (BENCHMARKS.md figure 6). WebKit's UI
//! process allocations share those arenas too.
//!
//! The database connections' page caches (~12 MB at most, filled by the start-up reconcile and
//! the gallery's reads, live for the app's life otherwise) are shrunk just before each trim, so
//! their pages go back too; the next reads refill them from the OS's file cache.
//!
//! Contract: [`spawn_trimmer`] calls `malloc_trim(0)` on the blocking pool [`FIRST_TRIM`] after
//! start and every [`TRIM_EVERY`] after that, each time once the page has sent no command and
//! asked for no thumbnail for [`QUIET_FOR`] (waiting at most [`QUIET_AT_MOST`]). A due trim is
//! skipped when the previous one released nothing and the page has done nothing since
//! ([`trim_due`]), so an app left alone stops trimming. It only gives back free pages; live
//! memory is untouched.
//!
//! Why so often: a trim locks each arena in turn, and the window's thread, which allocates for
//! every frame and every thumbnail it serves, waits for it; how long depends on how much garbage
//! there is to give back. Trimming once a minute, and only after 3 s of quiet, held the start-up
//! reconcile's and every search's and scroll's garbage through a whole session of use (a designer
//! is rarely quiet for 3 s): ~8–10 MiB of the app's memory while searching and scrolling
//! (BENCHMARKS.md figure 6b). Every 10 s there is little each time: trims in the bench's
//! searching and scrolling took 0.1–2.8 ms (median ~0.6 ms), including the page-cache shrink,
//! so they no longer need a long quiet; the bench's scroll, with trims landing in it at most 10 s
//! apart, had no frame over 56 ms. (When trims came once a minute, with far more to give back, one
//! in the middle of a scroll froze the window for a frame of 150–190 ms.) Commands and thumbnail
//! requests (`thumb:`) are the activity the app sees.
//!
//! JavaScriptCore in WebKit's web process (Linux): [`tune_web_process_gc`] turns its generational
//! collector off, so every collection is a full one. With it on, the page's removed DOM nodes
//! (every gallery tile scrolled past, every search's result tiles) lived on through their
//! promoted JS wrappers until a rare full collection; scrolling 10,000 thumbnails grew the web
//! process to ~290 MiB, against 200–260 MiB with full collections (peak app + WebKit PSS 446 →
//! 406 MiB, keystroke and frame times unchanged; BENCHMARKS.md figure 6b). The page's live heap
//! is a few tens of MiB, so a full collection stays short. `JSC_useGenerationalGC` set by the user
//! wins.
//!
//! This module and `webview` (`skip_unused_gl_probe`, `skip_app_process_egl`) hold the
//! workspace's only `unsafe` code.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// When freed memory is first handed back: once the first screen is up (the start-up reconcile
/// begins 3 s after start; what it leaves is given back by the trims after it).
pub const FIRST_TRIM: Duration = Duration::from_secs(6);

/// How often after that.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// How long the page must have been quiet (no command, no thumbnail request) before a due trim runs.
pub const QUIET_FOR: Duration = Duration::from_millis(300);

/// The longest a due trim waits for quiet.
pub const QUIET_AT_MOST: Duration = Duration::from_secs(10);

/// When the page last sent a command or asked for a thumbnail, in ms since [`clock`]'s start.
static LAST_ACTIVITY_MS: AtomicU64 = AtomicU64::new(0);

fn clock() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(clock().elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Records that the page is busy: every command (through `AppState::studio`) and every thumbnail
/// request (`thumb_protocol`) calls this.
pub fn note_activity() {
    LAST_ACTIVITY_MS.store(now_ms(), Ordering::Relaxed);
}

/// How long ago the page was last busy (since start when it has not been).
fn since_last_activity() -> Duration {
    Duration::from_millis(now_ms().saturating_sub(LAST_ACTIVITY_MS.load(Ordering::Relaxed)))
}

/// How much longer a due trim waits, given how long ago the page was last busy and how long the
/// trim has waited already; `None` means trim now.
pub fn wait_before_trim(since_last_activity: Duration, waited: Duration) -> Option<Duration> {
    if since_last_activity >= QUIET_FOR || waited >= QUIET_AT_MOST {
        return None;
    }
    Some((QUIET_FOR - since_last_activity).min(QUIET_AT_MOST - waited))
}

/// Whether a due trim runs: unless the last one released nothing and the page has done nothing
/// since (then there is nothing new to give back).
pub fn trim_due(last_released: bool, active_since: bool) -> bool {
    last_released || active_since
}

/// Starts the periodic trim on Tauri's async runtime (for the life of the app). `release` runs
/// first, on the same blocking thread: it frees caches (the database's page caches) so that the
/// trim can hand their pages back too.
pub fn spawn_trimmer(release: impl Fn() + Send + Sync + 'static) {
    let release = std::sync::Arc::new(release);
    clock();
    tauri::async_runtime::spawn(async move {
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + FIRST_TRIM, TRIM_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Whether the last trim gave anything back, and the activity it followed.
        let mut released = true;
        let mut activity_seen = u64::MAX;
        loop {
            every.tick().await;
            let activity = LAST_ACTIVITY_MS.load(Ordering::Relaxed);
            if !trim_due(released, activity != activity_seen) {
                continue;
            }
            let due = Instant::now();
            while let Some(wait) = wait_before_trim(since_last_activity(), due.elapsed()) {
                tokio::time::sleep(wait).await;
            }
            activity_seen = LAST_ACTIVITY_MS.load(Ordering::Relaxed);
            // The trim walks and locks every arena in turn: never on a runtime worker.
            let release = release.clone();
            let trimmed = tokio::task::spawn_blocking(move || {
                let started = Instant::now();
                release();
                let trimmed = trim();
                tracing::debug!(ms = started.elapsed().as_secs_f64() * 1e3, trimmed, "heap trimmed");
                trimmed
            })
            .await;
            match trimmed {
                Ok(t) => released = t,
                Err(_) => return,
            }
        }
    });
}

/// The JavaScriptCore option (read from the environment by WebKit's web process at start).
pub const JSC_GENERATIONAL_GC: &str = "JSC_useGenerationalGC";

/// Makes the web process's JavaScript collector collect fully every time (see the module docs),
/// unless [`JSC_GENERATIONAL_GC`] is already set. Call it first thing in the process, before any
/// thread exists: WebKit's processes inherit the environment when the window is built.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn tune_web_process_gc() {
    if std::env::var_os(JSC_GENERATIONAL_GC).is_some() {
        return;
    }
    // SAFETY: `set_var` is unsound only while another thread reads or writes the environment.
    // This runs at the very start of `run`, before logging, Tauri, GTK or any runtime has
    // started a thread.
    unsafe { std::env::set_var(JSC_GENERATIONAL_GC, "0") };
}

/// Nothing to tune: only WebKitGTK's web process reads JSC options from the environment.
#[cfg(not(target_os = "linux"))]
pub fn tune_web_process_gc() {}

/// Asks the allocator to return free pages to the OS; true when something was released.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn trim() -> bool {
    // SAFETY: `malloc_trim` is a glibc function with no preconditions on the caller; it only
    // releases memory that is already free, under glibc's own arena locks.
    unsafe { libc::malloc_trim(0) != 0 }
}

/// Asks the allocator to return free pages to the OS (nothing to do off glibc).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_due_trim_waits_for_the_page_to_be_quiet_but_not_for_ever() {
        let ms = Duration::from_millis;
        assert_eq!(wait_before_trim(QUIET_FOR * 10, ms(0)), None, "quiet long enough");
        assert_eq!(wait_before_trim(QUIET_FOR, ms(0)), None);
        assert_eq!(
            wait_before_trim(QUIET_FOR / 3, ms(0)),
            Some(QUIET_FOR - QUIET_FOR / 3),
            "waits out the rest of the quiet"
        );
        assert_eq!(wait_before_trim(Duration::ZERO, ms(0)), Some(QUIET_FOR));
        assert_eq!(wait_before_trim(Duration::ZERO, QUIET_AT_MOST), None, "a busy page still gets its trim");
        assert_eq!(wait_before_trim(Duration::ZERO, QUIET_AT_MOST - ms(100)), Some(ms(100)));
    }

    #[test]
    fn an_app_left_alone_stops_trimming_once_nothing_is_released() {
        assert!(trim_due(true, false), "the last trim released memory: there may be more");
        assert!(trim_due(false, true), "the page was busy since: new garbage");
        assert!(!trim_due(false, false), "nothing released and nothing done");
    }

    #[test]
    fn commands_and_thumbnails_are_the_activity_the_trimmer_sees() {
        note_activity();
        assert!(since_last_activity() < QUIET_FOR);
    }

    #[test]
    fn trimming_keeps_live_memory_intact() {
        let live: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 64 * 1024]).collect();
        let freed: Vec<Vec<u8>> = (0..256).map(|_| vec![7u8; 64 * 1024]).collect();
        drop(freed);
        let _ = trim();
        for (i, block) in live.iter().enumerate() {
            assert!(block.iter().all(|&b| usize::from(b) == i), "block {i} changed");
        }
    }
}
