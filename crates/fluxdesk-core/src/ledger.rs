//! The crash-safe task ledger: every paid PiAPI task, from "about to be sent" to "image saved".
//!
//! Why: a designer pays for every task. A crash, sleep or network drop between "task created" and
//! "image saved" must neither lose the image nor pay twice. So a task is written with its full
//! request *before* it is sent ([`Ledger::record`]), PiAPI's `task_id` is written *before* polling
//! starts ([`Ledger::mark_submitted`]), and every start resumes what is unfinished.
//!
//! Lifecycle (`→` = allowed transition):
//! ```text
//! Queued → Submitting → Submitted → Running → Downloading → Saved
//!    └──────────┴───────────┴──────────┴───────────┴──→ Failed | Cancelled | Abandoned
//! Submitting → Queued only when PiAPI refused the create with 429 (nothing was created)
//! ```
//! Contract:
//! - Transitions are checked in one `BEGIN IMMEDIATE` transaction, so two processes cannot both
//!   take a task: [`Ledger::begin_submit`] is the one compare-and-set that allows a send.
//! - Repeating a transition is a no-op (`mark_saved` twice is fine); moving an active task
//!   backwards (e.g. `mark_running` on a downloading task, or on a task another process already
//!   saved) is a no-op; leaving a terminal state is an
//!   [`Error::InvalidInput`] on field `state`, except the recoveries documented on
//!   [`Ledger::mark_submitted`] and [`Ledger::reopen`]. `Saved` is never overwritten.
//! - A task left in `Submitting` by a dead process may or may not exist on PiAPI: it is reported
//!   by [`Ledger::uncertain`] and must never be resent silently.
//! - Queued tasks are ordered by `position` ([`Ledger::queued`], [`Ledger::move_queued`]); the
//!   queue's pause switch lives here too ([`Ledger::queue_control`]) so every process sees it.
//! - Costs ([`Ledger::cost_since`]) use PiAPI's reported `consume` where known, else the estimate.
//! - [`Ledger::try_lease`] gives one process at a time the right to work a task. The runner holds a
//!   lease from before `begin_submit` until the task ends, renewing it well before it expires.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde::{Deserialize, Serialize};

use piapi::{ErrorCode, TaskRequest};

use crate::db::{Db, from_ms, from_ms_opt, now_ms, to_ms};
use crate::inputs::TaskSources;
use crate::{Error, Result};

/// Where a ledger task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum TaskState {
    /// Recorded, not sent yet. Safe to send.
    Queued,
    /// The create request is (or was) in flight; PiAPI may or may not have the task.
    Submitting,
    /// PiAPI accepted it; `task_id` is known.
    Submitted,
    /// PiAPI reports it running.
    Running,
    /// PiAPI finished it; the image is being downloaded and saved.
    Downloading,
    /// Every image is in the gallery. Final.
    Saved,
    /// Ended with an error (`error_code`, `error_message`).
    Failed,
    /// Given up by the user (e.g. an uncertain or failed task they chose not to pursue).
    Abandoned,
    /// Cancelled by the user.
    Cancelled,
}

impl TaskState {
    pub const ALL: [TaskState; 9] = [
        TaskState::Queued,
        TaskState::Submitting,
        TaskState::Submitted,
        TaskState::Running,
        TaskState::Downloading,
        TaskState::Saved,
        TaskState::Failed,
        TaskState::Abandoned,
        TaskState::Cancelled,
    ];

    /// The stored (and serialised) name, e.g. `"submitting"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Submitting => "submitting",
            TaskState::Submitted => "submitted",
            TaskState::Running => "running",
            TaskState::Downloading => "downloading",
            TaskState::Saved => "saved",
            TaskState::Failed => "failed",
            TaskState::Abandoned => "abandoned",
            TaskState::Cancelled => "cancelled",
        }
    }

    /// Parses [`TaskState::as_str`] (case-insensitive).
    pub fn parse(s: &str) -> Result<TaskState> {
        let t = s.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|k| k.as_str() == t).ok_or_else(|| {
            Error::invalid_input(
                "state",
                format!("unknown task state \"{s}\"; use queued, submitting, submitted, running, downloading, saved, failed, abandoned or cancelled"),
            )
        })
    }

    /// Saved, Failed, Abandoned and Cancelled: nothing more happens to the task by itself.
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskState::Saved | TaskState::Failed | TaskState::Abandoned | TaskState::Cancelled)
    }

    /// Position along the happy path for the active states (terminal states: `None`).
    fn rank(self) -> Option<u8> {
        match self {
            TaskState::Queued => Some(0),
            TaskState::Submitting => Some(1),
            TaskState::Submitted => Some(2),
            TaskState::Running => Some(3),
            TaskState::Downloading => Some(4),
            _ => None,
        }
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct LedgerTask {
    pub id: i64,
    /// Tasks created by one Generate click share a batch id.
    pub batch_id: Option<String>,
    /// The full request as it was (or will be) sent.
    pub request: TaskRequest,
    pub state: TaskState,
    /// PiAPI's task id, once known.
    pub task_id: Option<String>,
    pub error_code: Option<ErrorCode>,
    pub error_message: Option<String>,
    pub estimated_cost_usd: f64,
    /// PiAPI's `meta.usage.consume`, when reported.
    pub consume: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the task id became known.
    pub submitted_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Gallery image ids of this task (by ledger id or by PiAPI task id), ascending.
    pub image_ids: Vec<i64>,
    /// The task this one retries, if any.
    pub retry_of: Option<i64>,
    /// The prepared input files (img2img, inpaint, ControlNet, …), uploaded right before the
    /// create; empty for text-to-image.
    #[serde(default)]
    pub sources: TaskSources,
}

/// The task ledger (cheap to clone; shares the [`Db`]).
#[derive(Clone, Debug)]
pub struct Ledger {
    db: Db,
}

const ACTIVE: [TaskState; 5] = [
    TaskState::Queued,
    TaskState::Submitting,
    TaskState::Submitted,
    TaskState::Running,
    TaskState::Downloading,
];

const SELECT: &str = "SELECT t.id, t.batch_id, t.request_json, t.state, t.task_id, t.error_code, t.error_message, \
     t.estimated_cost_usd, t.consume, t.created_at, t.updated_at, t.submitted_at, t.started_at, t.finished_at, \
     t.retry_of, \
     (SELECT group_concat(i.id) FROM images i WHERE i.ledger_id = t.id \
         OR (t.task_id IS NOT NULL AND i.task_id = t.task_id)) AS image_ids, \
     t.sources_json \
     FROM tasks t";

/// Filters by lane: the batch-id prefix of the backend that owns a task (`"live:"`, `"demo:"`);
/// a task without a batch id belongs to the `"live:"` lane; a `NULL` lane matches everything.
/// Bound as the first SQL parameter.
const LANE: &str = "(?1 IS NULL OR substr(COALESCE(t.batch_id, 'live:'), 1, length(?1)) = ?1)";

/// The queue's pause switch ([`Ledger::queue_control`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueControl {
    pub paused: bool,
    /// Why, in words for the user (e.g. the daily budget was reached).
    pub reason: Option<String>,
    /// Who paused it: `"user"` or `"budget"`.
    pub kind: Option<String>,
}

/// One queued task as a dispatcher sees it ([`Ledger::queue_order`]).
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedRow {
    pub id: i64,
    pub batch_id: Option<String>,
    pub estimated_cost_usd: f64,
}

/// How the tasks of one batch stand ([`Ledger::batch_summary`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Not yet in a terminal state.
    pub active: u32,
    pub saved: u32,
    /// Failed or abandoned.
    pub failed: u32,
    pub cancelled: u32,
}

/// What a guarded transition found.
enum Step {
    /// The row was in an allowed state: apply the update.
    Apply,
    /// Already there, or a backward move between active states: nothing to do.
    Noop,
}

impl Ledger {
    pub fn new(db: Db) -> Self {
        Ledger { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Records a task (state Queued, last in the queue) with its full request as JSON, before
    /// anything is sent.
    pub fn record(&self, req: &TaskRequest, batch_id: Option<&str>, retry_of: Option<i64>) -> Result<i64> {
        let json = encode_request(req)?;
        let now = now_ms();
        self.db.with(|c| insert_task(c, req, &json, None, batch_id, retry_of, now))
    }

    /// Records several tasks (state Queued, last in the queue, in this order) in one transaction:
    /// either all of them are in the ledger or none is. Returns their ids in order.
    pub fn record_batch(
        &self,
        reqs: &[TaskRequest],
        batch_id: Option<&str>,
        retry_of: Option<i64>,
    ) -> Result<Vec<i64>> {
        self.record_batch_with_sources(reqs, None, batch_id, retry_of)
    }

    /// [`Ledger::record_batch`] for tasks that share prepared input files (`sources`, stored in
    /// `sources_json`; `None` or empty = no inputs).
    pub fn record_batch_with_sources(
        &self,
        reqs: &[TaskRequest],
        sources: Option<&TaskSources>,
        batch_id: Option<&str>,
        retry_of: Option<i64>,
    ) -> Result<Vec<i64>> {
        let encoded = reqs.iter().map(encode_request).collect::<Result<Vec<_>>>()?;
        let sources_json = match sources.filter(|s| !s.is_empty()) {
            Some(s) => Some(
                serde_json::to_string(s)
                    .map_err(|e| Error::Internal(format!("encoding task sources: {e}")))?,
            ),
            None => None,
        };
        let now = now_ms();
        self.db.with_tx(|tx| {
            let mut ids = Vec::with_capacity(reqs.len());
            for (req, json) in reqs.iter().zip(&encoded) {
                ids.push(insert_task(tx, req, json, sources_json.as_deref(), batch_id, retry_of, now)?);
            }
            Ok(ids)
        })
    }

    /// Atomically Queued → Submitting. `false` if it was not Queued (someone else took it, or it
    /// was cancelled). [`Error::Missing`] if there is no such task.
    pub fn begin_submit(&self, id: i64) -> Result<bool> {
        let now = now_ms();
        self.db.with_tx(|tx| {
            let n = tx.execute(
                "UPDATE tasks SET state = 'submitting', attempted_at = ?2, updated_at = ?2 \
                 WHERE id = ?1 AND state = 'queued'",
                params![id, now],
            )?;
            if n == 0 {
                current_state(tx, id)?;
            }
            Ok(n == 1)
        })
    }

    /// Submitting → Submitted with PiAPI's `task_id` (written BEFORE polling starts).
    ///
    /// Recoveries, because a create reply can arrive after another process gave up on it: a
    /// Failed or Abandoned task without a task id becomes Submitted (its error cleared) since the
    /// image is paid for and will arrive; a Cancelled one records the task id and stays Cancelled.
    /// Repeating the call with the same task id is a no-op; a different one is an error.
    pub fn mark_submitted(&self, id: i64, task_id: &str) -> Result<()> {
        if task_id.trim().is_empty() {
            return Err(Error::invalid_input("task_id", "PiAPI's task id is empty"));
        }
        let now = now_ms();
        self.db.with_tx(|tx| {
            let (state, existing): (TaskState, Option<String>) = tx
                .query_row("SELECT state, task_id FROM tasks WHERE id = ?1", [id], |r| {
                    Ok((state_from_sql(r, 0)?, r.get(1)?))
                })
                .optional()?
                .ok_or_else(|| missing(id))?;
            match existing {
                Some(t) if t == task_id => return Ok(()),
                Some(t) => {
                    return Err(Error::invalid_input(
                        "task_id",
                        format!(
                            "task {id} already has PiAPI task id {t}; refusing to replace it with {task_id}"
                        ),
                    ));
                }
                None => {}
            }
            let revive = match state {
                TaskState::Submitting | TaskState::Failed | TaskState::Abandoned => true,
                TaskState::Cancelled => false,
                other => return Err(illegal(id, other, TaskState::Submitted)),
            };
            if revive {
                tx.execute(
                    "UPDATE tasks SET state = 'submitted', task_id = ?2, submitted_at = ?3, updated_at = ?3, \
                         attempted_at = COALESCE(attempted_at, ?3), error_code = NULL, error_message = NULL, \
                         finished_at = NULL \
                     WHERE id = ?1",
                    params![id, task_id, now],
                )?;
            } else {
                tx.execute(
                    "UPDATE tasks SET task_id = ?2, submitted_at = ?3, updated_at = ?3, \
                         attempted_at = COALESCE(attempted_at, ?3) WHERE id = ?1",
                    params![id, task_id, now],
                )?;
            }
            Ok(())
        })
    }

    /// Submitted → Running. `started_at` is PiAPI's `meta.started_at` (else now); an earlier value
    /// is kept.
    pub fn mark_running(&self, id: i64, started_at: Option<DateTime<Utc>>) -> Result<()> {
        let now = now_ms();
        let started = started_at.map(to_ms).unwrap_or(now);
        self.transition(id, TaskState::Running, &[TaskState::Submitted], |tx| {
            tx.execute(
                "UPDATE tasks SET state = 'running', started_at = COALESCE(started_at, ?2), updated_at = ?3 \
                 WHERE id = ?1",
                params![id, started, now],
            )
        })
    }

    /// Submitted/Running → Downloading, recording PiAPI's `consume` when given.
    pub fn mark_downloading(&self, id: i64, consume: Option<u64>) -> Result<()> {
        let now = now_ms();
        let consume = consume.map(|c| i64::try_from(c).unwrap_or(i64::MAX));
        self.transition(id, TaskState::Downloading, &[TaskState::Submitted, TaskState::Running], |tx| {
            tx.execute(
                "UPDATE tasks SET state = 'downloading', consume = COALESCE(?2, consume), \
                     started_at = COALESCE(started_at, ?3), updated_at = ?3 WHERE id = ?1",
                params![id, consume, now],
            )
        })
    }

    /// Submitted/Running/Downloading → Saved (final).
    pub fn mark_saved(&self, id: i64) -> Result<()> {
        let now = now_ms();
        let from = [TaskState::Submitted, TaskState::Running, TaskState::Downloading];
        self.transition(id, TaskState::Saved, &from, |tx| {
            tx.execute(
                "UPDATE tasks SET state = 'saved', finished_at = ?2, updated_at = ?2, \
                     error_code = NULL, error_message = NULL WHERE id = ?1",
                params![id, now],
            )
        })
    }

    /// Any active state → Failed with a code and message. Failing a Failed task again replaces the
    /// code and message. A Saved, Cancelled or Abandoned task cannot fail.
    pub fn mark_failed(&self, id: i64, code: ErrorCode, message: &str) -> Result<()> {
        let now = now_ms();
        let code = error_code_str(code);
        let mut from = ACTIVE.to_vec();
        from.push(TaskState::Failed);
        self.transition(id, TaskState::Failed, &from, |tx| {
            tx.execute(
                "UPDATE tasks SET state = 'failed', error_code = ?2, error_message = ?3, finished_at = ?4, \
                     updated_at = ?4 WHERE id = ?1",
                params![id, code, message, now],
            )
        })
    }

    /// Any active state → Cancelled.
    pub fn mark_cancelled(&self, id: i64) -> Result<()> {
        let now = now_ms();
        self.transition(id, TaskState::Cancelled, &ACTIVE, |tx| {
            tx.execute(
                "UPDATE tasks SET state = 'cancelled', finished_at = ?2, updated_at = ?2 WHERE id = ?1",
                params![id, now],
            )
        })
    }

    /// Any active state, or Failed → Abandoned (the user gave up on it).
    pub fn mark_abandoned(&self, id: i64) -> Result<()> {
        let now = now_ms();
        let mut from = ACTIVE.to_vec();
        from.push(TaskState::Failed);
        self.transition(id, TaskState::Abandoned, &from, |tx| {
            tx.execute(
                "UPDATE tasks SET state = 'abandoned', finished_at = ?2, updated_at = ?2 WHERE id = ?1",
                params![id, now],
            )
        })
    }

    /// Failed/Abandoned/Cancelled task **with a task id** → Submitted, so the next resume polls and
    /// downloads it again without paying again (e.g. after a timeout or a failed download).
    /// [`Error::InvalidInput`] if the task has no task id (it was never created on PiAPI, or that
    /// is unknown: retry it as a new task instead).
    pub fn reopen(&self, id: i64) -> Result<()> {
        let now = now_ms();
        self.db.with_tx(|tx| {
            let (state, task_id): (TaskState, Option<String>) = tx
                .query_row("SELECT state, task_id FROM tasks WHERE id = ?1", [id], |r| {
                    Ok((state_from_sql(r, 0)?, r.get(1)?))
                })
                .optional()?
                .ok_or_else(|| missing(id))?;
            if task_id.is_none() {
                return Err(Error::invalid_input(
                    "task_id",
                    format!(
                        "task {id} has no PiAPI task id, so there is nothing to resume; retry it instead"
                    ),
                ));
            }
            match state {
                TaskState::Failed | TaskState::Abandoned | TaskState::Cancelled => {
                    tx.execute(
                        "UPDATE tasks SET state = 'submitted', error_code = NULL, error_message = NULL, \
                             finished_at = NULL, updated_at = ?2 WHERE id = ?1",
                        params![id, now],
                    )?;
                    Ok(())
                }
                s if s.rank().is_some() => Ok(()),
                other => Err(illegal(id, other, TaskState::Submitted)),
            }
        })
    }

    /// One task. [`Error::Missing`] if absent.
    pub fn get(&self, id: i64) -> Result<LedgerTask> {
        self.db
            .with(|c| c.query_row(&format!("{SELECT} WHERE t.id = ?1"), [id], task_from_row).optional())?
            .ok_or_else(|| missing(id))
    }

    /// The task with PiAPI task id `task_id`, if recorded.
    pub fn find_by_task_id(&self, task_id: &str) -> Result<Option<LedgerTask>> {
        self.db.with(|c| {
            c.query_row(&format!("{SELECT} WHERE t.task_id = ?1"), [task_id], task_from_row).optional()
        })
    }

    /// The newest `limit` tasks, newest first, with their image ids.
    pub fn list_recent(&self, limit: u32) -> Result<Vec<LedgerTask>> {
        self.query(&format!("{SELECT} ORDER BY t.id DESC LIMIT ?1"), params![limit])
    }

    /// The tasks of one batch, oldest first.
    pub fn list_batch(&self, batch_id: &str) -> Result<Vec<LedgerTask>> {
        self.query(&format!("{SELECT} WHERE t.batch_id = ?1 ORDER BY t.id"), params![batch_id])
    }

    /// Tasks with a task id that have not reached a terminal state (Submitted/Running/Downloading),
    /// oldest first: resume these (after taking a lease).
    pub fn resumable(&self) -> Result<Vec<LedgerTask>> {
        self.query(
            &format!(
                "{SELECT} WHERE t.state IN ('submitted', 'running', 'downloading') AND t.task_id IS NOT NULL \
                 ORDER BY t.id"
            ),
            params![],
        )
    }

    /// Queued tasks never sent (safe to submit), in queue order (see [`Ledger::move_queued`]).
    pub fn queued(&self) -> Result<Vec<LedgerTask>> {
        self.query(&format!("{SELECT} WHERE t.state = 'queued' ORDER BY t.position, t.id"), params![])
    }

    /// Tasks stuck in Submitting and not leased by a live process: it is unknown whether PiAPI
    /// created them. The caller marks them Failed with [`ErrorCode::CreateUnknown`] (never
    /// resubmits). A process that is submitting holds a lease, so its task is not listed.
    pub fn uncertain(&self) -> Result<Vec<LedgerTask>> {
        self.query(
            &format!(
                "{SELECT} WHERE t.state = 'submitting' AND (t.lease_until IS NULL OR t.lease_until < ?1) \
                 ORDER BY t.id"
            ),
            params![now_ms()],
        )
    }

    /// Cross-process lease so two processes never work the same task at once: claims task `id` for
    /// `owner` (e.g. `"pid:1234:<random>"`) until now + `ttl`, if it is unleased, expired, or
    /// already `owner`'s (which renews it). Returns whether `owner` now holds it.
    /// [`Error::Missing`] if there is no such task.
    pub fn try_lease(&self, id: i64, owner: &str, ttl: Duration) -> Result<bool> {
        let now = now_ms();
        let until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        self.db.with_tx(|tx| {
            let n = tx.execute(
                "UPDATE tasks SET lease_owner = ?2, lease_until = ?3 \
                 WHERE id = ?1 AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until < ?4 \
                     OR lease_owner = ?2)",
                params![id, owner, until, now],
            )?;
            if n == 0 {
                current_state(tx, id)?;
            }
            Ok(n == 1)
        })
    }

    /// Gives up `owner`'s lease on `id` (no-op if `owner` does not hold it).
    pub fn release(&self, id: i64, owner: &str) -> Result<()> {
        self.db.with(|c| {
            c.execute(
                "UPDATE tasks SET lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND lease_owner = ?2",
                params![id, owner],
            )
            .map(drop)
        })
    }

    /// The estimated cost of every task sent since `since` that may have been charged: those with a
    /// task id, plus those whose create may have reached PiAPI (Submitting, or failed with
    /// [`ErrorCode::CreateUnknown`]). For daily budgets.
    pub fn spent_since(&self, since: DateTime<Utc>) -> Result<f64> {
        let create_unknown = error_code_str(ErrorCode::CreateUnknown);
        self.db.with(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(estimated_cost_usd), 0.0) FROM tasks \
                 WHERE attempted_at >= ?1 \
                   AND (task_id IS NOT NULL OR state = 'submitting' OR error_code = ?2)",
                params![to_ms(since), create_unknown],
                |r| r.get(0),
            )
        })
    }

    /// Submitting → Queued for a task whose create PiAPI refused with 429 (rate limit or plan
    /// concurrency): such a refusal surely created nothing, so the task may be sent again later.
    /// Only a task without a task id can go back; anything else is left as it is and `false` is
    /// returned. Its `attempted_at` is cleared, so it no longer counts as spent.
    pub fn requeue_refused(&self, id: i64) -> Result<bool> {
        let now = now_ms();
        self.db.with_tx(|tx| {
            let n = tx.execute(
                "UPDATE tasks SET state = 'queued', attempted_at = NULL, updated_at = ?2 \
                 WHERE id = ?1 AND state = 'submitting' AND task_id IS NULL",
                params![id, now],
            )?;
            if n == 0 {
                current_state(tx, id)?;
            }
            Ok(n == 1)
        })
    }

    /// Any active state → Cancelled, with a note for the user (kept as `error_message`, with
    /// `error_code` Cancelled) and, when PiAPI confirmed the cancellation (it refunds pending
    /// tasks), `consume = 0` so the task no longer counts as spent.
    pub fn mark_cancelled_with(&self, id: i64, note: Option<&str>, refunded: bool) -> Result<()> {
        let now = now_ms();
        let code = note.map(|_| error_code_str(ErrorCode::Cancelled));
        self.transition(id, TaskState::Cancelled, &ACTIVE, |tx| {
            tx.execute(
                "UPDATE tasks SET state = 'cancelled', finished_at = ?2, updated_at = ?2, \
                     error_code = COALESCE(?3, error_code), error_message = COALESCE(?4, error_message), \
                     consume = CASE WHEN ?5 THEN 0 ELSE consume END \
                 WHERE id = ?1",
                params![id, now, code, note, refunded],
            )
        })
    }

    /// The queue's pause switch, shared by every process using this database.
    pub fn queue_control(&self) -> Result<QueueControl> {
        self.db.with(|c| {
            c.query_row("SELECT paused, reason, kind FROM queue_control WHERE id = 1", [], |r| {
                Ok(QueueControl { paused: r.get::<_, i64>(0)? != 0, reason: r.get(1)?, kind: r.get(2)? })
            })
            .optional()
            .map(Option::unwrap_or_default)
        })
    }

    /// Sets the pause switch. Resuming clears the reason and kind.
    pub fn set_queue_control(&self, control: &QueueControl) -> Result<()> {
        let (reason, kind) =
            if control.paused { (control.reason.as_deref(), control.kind.as_deref()) } else { (None, None) };
        self.db.with(|c| {
            c.execute(
                "INSERT INTO queue_control (id, paused, reason, kind, updated_at) VALUES (1, ?1, ?2, ?3, ?4) \
                 ON CONFLICT(id) DO UPDATE SET paused = ?1, reason = ?2, kind = ?3, updated_at = ?4",
                params![control.paused, reason, kind, now_ms()],
            )
            .map(drop)
        })
    }

    /// The queued tasks of `lane` (see [`lane_matches`]) in queue order: id, batch and estimate
    /// only (what a dispatcher needs, without the image join of [`Ledger::queued`]).
    pub fn queue_order(&self, lane: Option<&str>) -> Result<Vec<QueuedRow>> {
        self.db.with(|c| {
            c.prepare_cached(&format!(
                "SELECT id, batch_id, estimated_cost_usd FROM tasks t WHERE t.state = 'queued' AND {LANE} \
                 ORDER BY t.position, t.id"
            ))?
            .query_map(params![lane], |r| {
                Ok(QueuedRow { id: r.get(0)?, batch_id: r.get(1)?, estimated_cost_usd: r.get(2)? })
            })?
            .collect()
        })
    }

    /// Moves queued task `id` just before queued task `before`, or to the end of the queue with
    /// `None`. The other queued tasks keep their order. [`Error::InvalidInput`] (field `job`)
    /// when either task is not queued (it was already sent, finished or cancelled).
    pub fn move_queued(&self, id: i64, before: Option<i64>) -> Result<()> {
        let now = now_ms();
        self.db.with_tx(|tx| {
            let rows: Vec<(i64, i64)> = tx
                .prepare_cached(
                    "SELECT id, COALESCE(position, id) FROM tasks WHERE state = 'queued' ORDER BY position, id",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let not_queued = |which: i64| -> Result<()> {
                let state = current_state(tx, which)?;
                Err(Error::invalid_input(
                    "job",
                    format!("job {which} is {state}; only queued jobs can be reordered"),
                ))
            };
            let Some(from) = rows.iter().position(|(rid, _)| *rid == id) else {
                return not_queued(id);
            };
            if let Some(b) = before
                && !rows.iter().any(|(rid, _)| *rid == b)
            {
                return not_queued(b);
            }
            if before == Some(id) {
                return Ok(());
            }
            let positions: Vec<i64> = rows.iter().map(|(_, p)| *p).collect();
            let mut order: Vec<i64> = rows.iter().map(|(rid, _)| *rid).collect();
            order.remove(from);
            let at = match before {
                Some(b) => order.iter().position(|rid| *rid == b).unwrap_or(order.len()),
                None => order.len(),
            };
            order.insert(at, id);
            // The same set of positions, handed out in the new order: tasks recorded later still
            // get a higher position and so still go last.
            let mut stmt = tx.prepare_cached("UPDATE tasks SET position = ?2, updated_at = ?3 WHERE id = ?1")?;
            for (rid, pos) in order.iter().zip(positions) {
                stmt.execute(params![rid, pos, now])?;
            }
            Ok(())
        })
    }

    /// What the tasks of `lane` sent since `since` cost: PiAPI's `consume` where it reported one
    /// (0 after a confirmed cancellation), else the estimate. Counts the same tasks as
    /// [`Ledger::spent_since`] (everything that may have been charged).
    pub fn cost_since(&self, since: DateTime<Utc>, lane: Option<&str>) -> Result<f64> {
        self.committed_cost_since(since, lane, &[])
    }

    /// [`Ledger::cost_since`] plus the estimates of `reserved` tasks that are still queued (a
    /// dispatcher's claimed-but-not-yet-sent tasks), read in one statement so a task that is sent
    /// in between is counted exactly once.
    pub fn committed_cost_since(
        &self,
        since: DateTime<Utc>,
        lane: Option<&str>,
        reserved: &[i64],
    ) -> Result<f64> {
        let create_unknown = error_code_str(ErrorCode::CreateUnknown);
        let reserved_list = reserved.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let sql = format!(
            "SELECT COALESCE(SUM(CASE \
                 WHEN t.state = 'queued' THEN t.estimated_cost_usd \
                 WHEN t.consume IS NOT NULL THEN t.consume * 1e-7 \
                 ELSE t.estimated_cost_usd END), 0.0) \
             FROM tasks t WHERE {LANE} AND ( \
                 (t.attempted_at >= ?2 AND (t.task_id IS NOT NULL OR t.state = 'submitting' OR t.error_code = ?3)) \
                 OR (t.state = 'queued' AND t.id IN ({reserved_list})))"
        );
        self.db.with(|c| c.query_row(&sql, params![lane, to_ms(since), create_unknown], |r| r.get(0)))
    }

    /// How many tasks of `lane` are queued, and how many are on their way (submitting, submitted,
    /// running or downloading).
    pub fn queue_counts(&self, lane: Option<&str>) -> Result<(u32, u32)> {
        self.db.with(|c| {
            c.query_row(
                &format!(
                    "SELECT COALESCE(SUM(t.state = 'queued'), 0), \
                         COALESCE(SUM(t.state IN ('submitting', 'submitted', 'running', 'downloading')), 0) \
                     FROM tasks t WHERE t.state IN ('queued', 'submitting', 'submitted', 'running', 'downloading') \
                         AND {LANE}"
                ),
                params![lane],
                |r| {
                    let n = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
                    Ok((n(r.get(0)?), n(r.get(1)?)))
                },
            )
        })
    }

    /// The unfinished tasks of `lane`: those on their way first (oldest first), then the queued
    /// ones in queue order.
    pub fn active_in_order(&self, lane: Option<&str>) -> Result<Vec<LedgerTask>> {
        self.query(
            &format!(
                "{SELECT} WHERE t.state IN ('queued', 'submitting', 'submitted', 'running', 'downloading') \
                     AND {LANE} \
                 ORDER BY t.state = 'queued', CASE WHEN t.state = 'queued' THEN t.position ELSE t.id END, t.id"
            ),
            params![lane],
        )
    }

    /// The recorded inputs (`sources_json`, as stored) of every task that may still need its
    /// prepared input files: every task that is not Saved, in any lane, except Failed, Cancelled
    /// and Abandoned ones that ended before `retry_since`. Queued and Submitting tasks upload
    /// them before the create; Submitted, Running and Downloading ones may still fail; Failed,
    /// Cancelled and Abandoned ones can be retried with the same inputs (`Studio::retry_job`),
    /// for a while. Saved is final for its inputs. The JSON is returned unparsed so that inputs
    /// recorded by a newer Fluxdesk, in a shape this one cannot read, still count (see
    /// [`crate::inputs::clean_inputs`]). Reads on a read-only connection.
    pub fn sources_in_use(&self, retry_since: DateTime<Utc>) -> Result<Vec<String>> {
        self.db.read(|c| {
            c.prepare_cached(
                "SELECT sources_json FROM tasks WHERE state <> 'saved' AND sources_json IS NOT NULL \
                 AND NOT (state IN ('failed', 'cancelled', 'abandoned') \
                          AND COALESCE(finished_at, updated_at) < ?1)",
            )?
            .query_map([to_ms(retry_since)], |r| r.get(0))?
            .collect()
        })
    }

    /// The gallery ids the tasks' inputs were taken from (`sources_json.sourceImageId`), each
    /// once, in any state.
    pub fn source_image_ids(&self) -> Result<Vec<i64>> {
        self.db.read(|c| {
            c.prepare_cached(
                "SELECT DISTINCT json_extract(sources_json, '$.sourceImageId') FROM tasks \
                 WHERE sources_json IS NOT NULL AND json_valid(sources_json) \
                     AND json_type(sources_json, '$.sourceImageId') = 'integer'",
            )?
            .query_map([], |r| r.get(0))?
            .collect()
        })
    }

    /// Rewrites the gallery id each task's inputs were taken from (`sources_json.sourceImageId`)
    /// after the gallery was re-indexed under new ids: `remap(old)` is the new id, or `None` when
    /// the image cannot be found any more (the link is then cleared, never left pointing at
    /// whatever image has that id now). The rest of `sources_json` is kept as written, including
    /// fields a newer Fluxdesk added. One transaction; returns how many tasks changed.
    pub fn remap_source_image_ids(&self, remap: impl Fn(i64) -> Option<i64>) -> Result<u64> {
        self.db.with_tx(|tx| {
            let rows: Vec<(i64, i64)> = tx
                .prepare_cached(
                    "SELECT id, json_extract(sources_json, '$.sourceImageId') FROM tasks \
                     WHERE sources_json IS NOT NULL AND json_valid(sources_json) \
                         AND json_type(sources_json, '$.sourceImageId') = 'integer'",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut stmt = tx.prepare_cached(
                "UPDATE tasks SET sources_json = json_set(sources_json, '$.sourceImageId', ?2) WHERE id = ?1",
            )?;
            let mut changed = 0;
            for (id, old) in rows {
                let new = remap(old);
                if new != Some(old) {
                    changed += stmt.execute(params![id, new])? as u64;
                }
            }
            Ok(changed)
        })
    }

    /// How the tasks of one batch stand.
    pub fn batch_summary(&self, batch_id: &str) -> Result<BatchSummary> {
        self.db.with(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(state IN ('queued', 'submitting', 'submitted', 'running', 'downloading')), 0), \
                     COALESCE(SUM(state = 'saved'), 0), \
                     COALESCE(SUM(state IN ('failed', 'abandoned')), 0), \
                     COALESCE(SUM(state = 'cancelled'), 0) \
                 FROM tasks WHERE batch_id = ?1",
                [batch_id],
                |r| {
                    let n = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
                    Ok(BatchSummary {
                        active: n(r.get(0)?),
                        saved: n(r.get(1)?),
                        failed: n(r.get(2)?),
                        cancelled: n(r.get(3)?),
                    })
                },
            )
        })
    }

    fn query(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<LedgerTask>> {
        self.db.with(|c| c.prepare_cached(sql)?.query_map(params, task_from_row)?.collect())
    }

    /// Checks the current state and applies `update` when it is in `from`; see the module contract.
    fn transition(
        &self,
        id: i64,
        to: TaskState,
        from: &[TaskState],
        update: impl FnOnce(&Transaction) -> rusqlite::Result<usize>,
    ) -> Result<()> {
        self.db.with_tx(|tx| {
            let state = current_state(tx, id)?;
            let step = if from.contains(&state) {
                Step::Apply
            } else if state == to || (state == TaskState::Saved && to.rank().is_some()) {
                // Repeats, and late progress reports for a task another process already saved.
                Step::Noop
            } else {
                match (state.rank(), to.rank()) {
                    (Some(cur), Some(target)) if target < cur => Step::Noop,
                    // Reaching a terminal state from a later active one (e.g. Running → Saved skips
                    // Downloading) is covered by `from`; anything else is illegal.
                    _ => return Err(illegal(id, state, to)),
                }
            };
            if let Step::Apply = step {
                update(tx)?;
            }
            Ok(())
        })
    }
}

fn encode_request(req: &TaskRequest) -> Result<String> {
    serde_json::to_string(req).map_err(|e| Error::Internal(format!("encoding a request: {e}")))
}

/// Inserts one queued task at the end of the queue (position = the highest so far + 1).
fn insert_task(
    c: &rusqlite::Connection,
    req: &TaskRequest,
    json: &str,
    sources_json: Option<&str>,
    batch_id: Option<&str>,
    retry_of: Option<i64>,
    now: i64,
) -> rusqlite::Result<i64> {
    c.prepare_cached(
        "INSERT INTO tasks (batch_id, request_json, model, task_type, state, estimated_cost_usd, \
             created_at, updated_at, retry_of, position, sources_json) \
         VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?6, ?7, \
             (SELECT COALESCE(MAX(position), 0) + 1 FROM tasks), ?8) RETURNING id",
    )?
    .query_row(
        params![
            batch_id,
            json,
            req.model.id(),
            req.task_type.as_str(),
            req.estimated_cost_usd(),
            now,
            retry_of,
            sources_json
        ],
        |r| r.get(0),
    )
}

fn current_state(tx: &Transaction, id: i64) -> Result<TaskState> {
    tx.query_row("SELECT state FROM tasks WHERE id = ?1", [id], |r| state_from_sql(r, 0))
        .optional()?
        .ok_or_else(|| missing(id))
}

fn missing(id: i64) -> Error {
    Error::missing(format!("Task {id}"))
}

fn illegal(id: i64, from: TaskState, to: TaskState) -> Error {
    Error::invalid_input("state", format!("task {id} is {from}; it cannot become {to}"))
}

/// The stored name of an error code: its serde name, e.g. `"CreateUnknown"`.
fn error_code_str(code: ErrorCode) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{code:?}"),
    }
}

fn error_code_from_str(s: &str) -> ErrorCode {
    serde_json::from_value(serde_json::Value::String(s.to_string())).unwrap_or(ErrorCode::Internal)
}

fn state_from_sql(r: &Row, idx: usize) -> rusqlite::Result<TaskState> {
    let s: String = r.get(idx)?;
    TaskState::parse(&s).map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

fn task_from_row(r: &Row) -> rusqlite::Result<LedgerTask> {
    let json: String = r.get(2)?;
    let request: TaskRequest = serde_json::from_str(&json)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, Type::Text, Box::new(e)))?;
    let error_code: Option<String> = r.get(5)?;
    let consume: Option<i64> = r.get(8)?;
    let image_ids: Option<String> = r.get(15)?;
    let mut image_ids: Vec<i64> =
        image_ids.as_deref().unwrap_or("").split(',').filter_map(|s| s.trim().parse().ok()).collect();
    image_ids.sort_unstable();
    image_ids.dedup();
    // Unreadable sources (a newer Fluxdesk's) count as none; the upload step then says so.
    let sources_json: Option<String> = r.get(16)?;
    let sources: TaskSources =
        sources_json.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default();
    Ok(LedgerTask {
        id: r.get(0)?,
        batch_id: r.get(1)?,
        request,
        state: state_from_sql(r, 3)?,
        task_id: r.get(4)?,
        error_code: error_code.as_deref().map(error_code_from_str),
        error_message: r.get(6)?,
        estimated_cost_usd: r.get(7)?,
        consume: consume.and_then(|c| u64::try_from(c).ok()),
        created_at: from_ms(r.get(9)?, 9)?,
        updated_at: from_ms(r.get(10)?, 10)?,
        submitted_at: from_ms_opt(r.get(11)?, 11)?,
        started_at: from_ms_opt(r.get(12)?, 12)?,
        finished_at: from_ms_opt(r.get(13)?, 13)?,
        retry_of: r.get(14)?,
        image_ids,
        sources,
    })
}
