//! The batch queue's shared state: the adaptive concurrency limiter, the jobs this process is to
//! send (in ledger order), the daily budget, and the last account info.
//!
//! Why: a cloud studio can run many tasks at once, but only within the PiAPI plan's concurrency
//! limit, and every task costs money. The runner's dispatcher (see `runner.rs`) sends queued jobs
//! one at a time as slots free up, in queue order, unless the queue is paused; this module holds
//! what it needs and outlives any one runner (the studio rebuilds its runner when the key or the
//! settings change, and the queue must carry on).
//!
//! Contract:
//! - [`Limiter`]: at most `limit()` permits are out at once. The cap is
//!   `min(plan limit when PiAPI reports one, override or setting)`; a refusal (429 / plan
//!   concurrency) halves the limit (at least 1) and holds every new permit back for the
//!   server's `Retry-After` (1 s when it gives none); each job that completes raises it by one
//!   again, up to the cap. Lowering the limit never takes permits back: running tasks finish.
//! - Jobs are *owned* by the process that recorded them (or adopted them on resume); a
//!   dispatcher only sends owned jobs of its own lane (`"live:"`/`"demo:"` batch prefix), so the
//!   CLI and the app never both send the same job (the ledger's `begin_submit` would stop the
//!   second anyway).
//! - The pause switch itself lives in the database (`Ledger::queue_control`), shared by every
//!   process; this module only caches the last value seen, to notice changes.

use std::collections::{HashMap, HashSet};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::ledger::{Ledger, QueueControl};
use crate::runner::JobOutcome;
use crate::views::QueueState;

/// The most jobs one batch may record.
pub const MAX_JOBS_PER_BATCH: u32 = 1000;
/// How long new work is held back after a refusal when PiAPI sends no `Retry-After`.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(1);
/// The longest hold honoured (PiAPI's `Retry-After` beyond this is cut).
pub const MAX_HOLD: Duration = Duration::from_secs(60);
/// How long the first dispatch waits for the plan's limit from `/account/info`.
pub const PLAN_WAIT: Duration = Duration::from_secs(2);

/// The adaptive concurrency limit (see the module contract).
pub struct Limiter {
    state: Mutex<LimState>,
    notify: Notify,
}

struct LimState {
    /// `settings.max_concurrent`.
    setting: u32,
    /// A per-run override (`fluxdesk generate --concurrency K`).
    override_limit: Option<u32>,
    /// The account's `max_concurrent_task_count`, when known.
    plan: Option<u32>,
    /// The limit in force now (≤ cap).
    current: u32,
    in_use: u32,
    hold_until: Option<Instant>,
}

impl LimState {
    fn cap(&self) -> u32 {
        let wanted = self.override_limit.unwrap_or(self.setting).max(1);
        self.plan.map_or(wanted, |p| wanted.min(p.max(1)))
    }
}

/// A slot in the limit; dropping it frees the slot.
pub struct Permit {
    limiter: Arc<Limiter>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        {
            let mut s = lock(&self.limiter.state);
            s.in_use = s.in_use.saturating_sub(1);
        }
        self.limiter.notify.notify_waiters();
    }
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Permit")
    }
}

impl Limiter {
    pub fn new(setting: u32) -> Arc<Limiter> {
        let setting = setting.max(1);
        Arc::new(Limiter {
            state: Mutex::new(LimState {
                setting,
                override_limit: None,
                plan: None,
                current: setting,
                in_use: 0,
                hold_until: None,
            }),
            notify: Notify::new(),
        })
    }

    /// The limit in force now.
    pub fn limit(&self) -> u32 {
        lock(&self.state).current
    }

    /// Permits out now.
    pub fn in_use(&self) -> u32 {
        lock(&self.state).in_use
    }

    /// The most the limit can be: `min(plan, override or setting)`.
    pub fn cap(&self) -> u32 {
        lock(&self.state).cap()
    }

    /// Waits for a slot (and for any hold after a refusal to pass).
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let mut notified = pin!(self.notify.notified());
            notified.as_mut().enable();
            let hold = {
                let mut s = lock(&self.state);
                let now = Instant::now();
                match s.hold_until {
                    Some(until) if until > now => Some(until - now),
                    _ => {
                        s.hold_until = None;
                        if s.in_use < s.current {
                            s.in_use += 1;
                            return Permit { limiter: Arc::clone(self) };
                        }
                        None
                    }
                }
            };
            match hold {
                Some(wait) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// PiAPI refused work (429 or the plan's concurrency): halve the limit (at least 1) and hold
    /// new permits back for `retry_after`. A refusal while already holding back only extends the
    /// hold (one decrease per episode). Returns whether the limit changed.
    pub fn on_refused(&self, retry_after: Option<Duration>) -> bool {
        let hold = retry_after.unwrap_or(DEFAULT_HOLD).clamp(Duration::from_millis(100), MAX_HOLD);
        let mut s = lock(&self.state);
        let now = Instant::now();
        let already = s.hold_until.is_some_and(|u| u > now);
        let until = now + hold;
        s.hold_until = Some(s.hold_until.map_or(until, |u| u.max(until)));
        if already {
            return false;
        }
        let before = s.current;
        s.current = (s.current / 2).max(1);
        before != s.current
    }

    /// A job completed: raise the limit by one, up to the cap. Returns whether it changed.
    pub fn on_success(&self) -> bool {
        let changed = {
            let mut s = lock(&self.state);
            let cap = s.cap();
            let before = s.current;
            s.current = (s.current + 1).min(cap);
            before != s.current
        };
        if changed {
            self.notify.notify_waiters();
        }
        changed
    }

    /// Sets the setting, the override and the plan limit (`None` leaves that one as it is; an
    /// override of `Some(None)` removes it). When the cap changes, the limit in force becomes the
    /// new cap. Returns whether the limit changed.
    pub fn configure(
        &self,
        setting: Option<u32>,
        override_limit: Option<Option<u32>>,
        plan: Option<u32>,
    ) -> bool {
        let changed = {
            let mut s = lock(&self.state);
            let old_cap = s.cap();
            if let Some(v) = setting {
                s.setting = v.max(1);
            }
            if let Some(o) = override_limit {
                s.override_limit = o.map(|v| v.max(1));
            }
            if let Some(p) = plan {
                s.plan = Some(p.max(1));
            }
            let before = s.current;
            let cap = s.cap();
            // A new cap replaces the limit; the same cap keeps any backoff in force.
            s.current = if cap == old_cap { s.current.min(cap) } else { cap };
            before != s.current
        };
        self.notify.notify_waiters();
        changed
    }
}

/// A job this process is to send.
struct Entry {
    /// The lane (batch prefix) of the runner that recorded or adopted it.
    lane: Option<String>,
    /// Whoever waits for its outcome (the CLI); `None` when nobody does (the app).
    waiter: Option<oneshot::Sender<JobOutcome>>,
    /// A dispatcher has taken it and is running it.
    claimed: bool,
}

#[derive(Default)]
struct QState {
    owned: HashMap<i64, Entry>,
    /// Claimed jobs not yet marked as sent: counted against the budget by their estimate.
    reserved: HashSet<i64>,
    /// The pause switch as this process last saw it.
    control: Option<QueueControl>,
    /// Batches already announced as finished (announce once per process).
    finished_batches: HashSet<String>,
    daily_budget_usd: Option<f64>,
    /// The last account info read, and when.
    account: Option<(piapi::AccountInfo, Instant)>,
    /// While set and in the future, the first dispatch waits for the plan's limit.
    plan_pending_until: Option<Instant>,
}

/// The queue state shared by the studio and its successive runners. Cheap to clone.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<QueueInner>,
}

struct QueueInner {
    limiter: Arc<Limiter>,
    state: Mutex<QState>,
    /// Wakes the dispatcher: new jobs, a cancel, a move, pause/resume, a requeue.
    wake: Notify,
    /// Bumped for each new runner; older dispatchers stop.
    generation: AtomicU64,
}

impl Queue {
    /// A queue whose limit starts at `concurrency` (the setting).
    pub fn new(concurrency: u32) -> Queue {
        Queue {
            inner: Arc::new(QueueInner {
                limiter: Limiter::new(concurrency),
                state: Mutex::new(QState::default()),
                wake: Notify::new(),
                generation: AtomicU64::new(0),
            }),
        }
    }

    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.inner.limiter
    }

    fn state(&self) -> MutexGuard<'_, QState> {
        lock(&self.inner.state)
    }

    /// Wakes the dispatcher at once (it also looks every few hundred milliseconds).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Waits for [`Queue::wake`] or `tick`, whichever comes first.
    pub async fn wait(&self, tick: Duration) {
        tokio::select! {
            () = self.inner.wake.notified() => {}
            () = tokio::time::sleep(tick) => {}
        }
    }

    pub(crate) fn next_generation(&self) -> u64 {
        self.inner.generation.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    pub fn set_daily_budget(&self, cap: Option<f64>) {
        self.state().daily_budget_usd = cap;
    }

    pub fn daily_budget(&self) -> Option<f64> {
        self.state().daily_budget_usd
    }

    /// Takes ownership of `ids` for `lane`. Returns a receiver per id for its outcome (drop it
    /// if nobody waits). Ids already owned keep their entry (and lane); the new receiver gets
    /// the outcome instead of an earlier one.
    pub(crate) fn adopt(&self, ids: &[i64], lane: Option<&str>) -> Vec<(i64, oneshot::Receiver<JobOutcome>)> {
        let mut out = Vec::with_capacity(ids.len());
        {
            let mut s = self.state();
            for id in ids {
                let (tx, rx) = oneshot::channel();
                let e = s.owned.entry(*id).or_insert_with(|| Entry {
                    lane: lane.map(str::to_owned),
                    waiter: None,
                    claimed: false,
                });
                e.waiter = Some(tx);
                out.push((*id, rx));
            }
        }
        self.wake();
        out
    }

    /// Whether this process owns job `id`.
    pub fn owns(&self, id: i64) -> bool {
        self.state().owned.contains_key(&id)
    }

    /// Owned, unclaimed jobs of `lane` that are not in `queued` (no longer queued in the ledger:
    /// cancelled or taken by another process, or sent by us and requeued meanwhile): removed
    /// from the queue, with their waiters, for the caller to settle.
    pub(crate) fn take_stale(
        &self,
        lane: Option<&str>,
        queued: &HashSet<i64>,
    ) -> Vec<(i64, Option<oneshot::Sender<JobOutcome>>)> {
        let mut s = self.state();
        let stale: Vec<i64> = s
            .owned
            .iter()
            .filter(|(id, e)| !e.claimed && e.lane.as_deref() == lane && !queued.contains(id))
            .map(|(id, _)| *id)
            .collect();
        stale.into_iter().filter_map(|id| s.owned.remove(&id).map(|e| (id, e.waiter))).collect()
    }

    /// Whether a dispatcher of `lane` may claim `id` now.
    pub(crate) fn claimable(&self, id: i64, lane: Option<&str>) -> bool {
        self.state().owned.get(&id).is_some_and(|e| !e.claimed && e.lane.as_deref() == lane)
    }

    /// Whether any unclaimed job of `lane` is owned.
    pub(crate) fn has_unclaimed(&self, lane: Option<&str>) -> bool {
        self.state().owned.values().any(|e| !e.claimed && e.lane.as_deref() == lane)
    }

    /// Marks `id` as being run and reserves its estimate against the budget. `false` when it is
    /// no longer claimable. Its waiter stays with it until [`Queue::forget`].
    pub(crate) fn claim(&self, id: i64) -> bool {
        let mut s = self.state();
        let Some(e) = s.owned.get_mut(&id).filter(|e| !e.claimed) else { return false };
        e.claimed = true;
        s.reserved.insert(id);
        true
    }

    /// The job was sent (or will not be): stop counting its reservation.
    pub(crate) fn unreserve(&self, id: i64) {
        self.state().reserved.remove(&id);
    }

    pub(crate) fn reserved(&self) -> Vec<i64> {
        self.state().reserved.iter().copied().collect()
    }

    /// A claimed job went back to the queue (PiAPI refused it with 429): unclaim it so it is
    /// sent again.
    pub(crate) fn unclaim(&self, id: i64) {
        {
            let mut s = self.state();
            s.reserved.remove(&id);
            if let Some(e) = s.owned.get_mut(&id) {
                e.claimed = false;
            }
        }
        self.wake();
    }

    /// Forgets job `id` (it ended, or was cancelled before it was sent). Returns its waiter.
    pub(crate) fn forget(&self, id: i64) -> Option<oneshot::Sender<JobOutcome>> {
        let mut s = self.state();
        s.reserved.remove(&id);
        s.owned.remove(&id).and_then(|e| e.waiter)
    }

    /// The queue is paused: answer everyone waiting for an unclaimed job of `lane` (the jobs stay
    /// queued and owned, and are sent after a resume).
    pub(crate) fn release_waiters(&self, lane: Option<&str>, reason: &str) {
        let mut s = self.state();
        for e in s.owned.values_mut().filter(|e| !e.claimed && e.lane.as_deref() == lane) {
            if let Some(w) = e.waiter.take() {
                let _ = w.send(JobOutcome::Paused { reason: reason.to_owned() });
            }
        }
    }

    /// Records the pause switch as seen now; returns whether it differs from the last one seen.
    pub(crate) fn observe_control(&self, control: &QueueControl) -> bool {
        let mut s = self.state();
        let changed = s.control.as_ref() != Some(control);
        s.control = Some(control.clone());
        changed
    }

    /// The queue as the UI sees it: the pause switch from the database (every process's view),
    /// the ledger's counts for `lane`, and this process's limit. Falls back to the last values
    /// seen if the database cannot be read.
    pub fn snapshot(&self, ledger: &Ledger, lane: Option<&str>) -> QueueState {
        let control = match ledger.queue_control() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("could not read the queue's pause switch: {e}");
                self.cached_control()
            }
        };
        let (queued, running) = ledger.queue_counts(lane).unwrap_or_else(|e| {
            tracing::warn!("could not count the queue: {e}");
            (0, 0)
        });
        QueueState {
            paused: control.paused,
            pause_reason: control.paused.then(|| pause_text(&control)),
            queued,
            running,
            limit: self.inner.limiter.limit(),
        }
    }

    /// The pause switch as last seen (not paused before anything was read).
    pub fn cached_control(&self) -> QueueControl {
        self.state().control.clone().unwrap_or_default()
    }

    /// Announces batch `batch_id` as finished once per process: `true` the first time.
    pub(crate) fn first_finish(&self, batch_id: &str) -> bool {
        self.state().finished_batches.insert(batch_id.to_owned())
    }

    pub fn set_account(&self, info: piapi::AccountInfo) {
        self.state().account = Some((info, Instant::now()));
    }

    /// The last account info read, and how long ago.
    pub fn account(&self) -> Option<(piapi::AccountInfo, Duration)> {
        self.state().account.as_ref().map(|(i, at)| (i.clone(), at.elapsed()))
    }

    /// The plan's limit is being fetched: the first dispatch waits for it up to [`PLAN_WAIT`].
    pub(crate) fn expect_plan(&self) {
        self.state().plan_pending_until = Some(Instant::now() + PLAN_WAIT);
    }

    /// The plan fetch ended (with or without a limit).
    pub(crate) fn plan_settled(&self) {
        self.state().plan_pending_until = None;
        self.wake();
    }

    /// Waits while the plan's limit is being fetched (at most until [`PLAN_WAIT`] has passed).
    pub(crate) async fn wait_for_plan(&self) {
        loop {
            let until = self.state().plan_pending_until;
            match until {
                Some(u) if u > Instant::now() => tokio::time::sleep(Duration::from_millis(25)).await,
                _ => return,
            }
        }
    }
}

/// What to tell the user about a pause.
pub fn pause_text(control: &QueueControl) -> String {
    control
        .reason
        .clone()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "The queue is paused.".to_owned())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update of these maps and counters is a single step, so a poisoned lock still holds
    // consistent data.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn permits_are_bounded_and_returned() {
        let l = Limiter::new(2);
        let a = l.acquire().await;
        let _b = l.acquire().await;
        assert_eq!(l.in_use(), 2);
        let third = tokio::time::timeout(Duration::from_millis(50), l.acquire()).await;
        assert!(third.is_err(), "a third permit waits");
        drop(a);
        let _c = tokio::time::timeout(Duration::from_secs(1), l.acquire()).await.expect("freed slot");
        assert_eq!(l.in_use(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_halve_once_per_hold_and_successes_recover() {
        let l = Limiter::new(8);
        assert!(l.on_refused(Some(Duration::from_millis(100))));
        assert_eq!(l.limit(), 4);
        assert!(!l.on_refused(Some(Duration::from_millis(100))), "same episode");
        assert_eq!(l.limit(), 4);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(l.on_refused(None));
        assert_eq!(l.limit(), 2);
        for _ in 0..10 {
            l.on_success();
        }
        assert_eq!(l.limit(), 8, "recovers up to the cap, no further");
    }

    #[test]
    fn the_plan_caps_the_setting_and_the_override() {
        let l = Limiter::new(20);
        l.configure(None, None, Some(8));
        assert_eq!((l.cap(), l.limit()), (8, 8));
        l.configure(None, Some(Some(3)), None);
        assert_eq!(l.limit(), 3);
        l.configure(None, Some(Some(50)), None);
        assert_eq!(l.limit(), 8, "never above the plan");
        l.configure(Some(4), Some(None), None);
        assert_eq!(l.limit(), 4);
        l.configure(Some(0), None, None);
        assert_eq!(l.limit(), 1, "at least one");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_delays_new_permits() {
        let l = Limiter::new(4);
        l.on_refused(Some(Duration::from_millis(200)));
        let early = tokio::time::timeout(Duration::from_millis(50), l.acquire()).await;
        assert!(early.is_err(), "held back");
        let _p = tokio::time::timeout(Duration::from_secs(2), l.acquire()).await.expect("after the hold");
    }
}
