//! The one SQLite database (task ledger + gallery index) and its versioned schema.
//!
//! Why: the app and the CLI share one file in FLUXDESK_HOME and may run at the same time, and a
//! crash at any instant must leave it consistent. So the database runs in WAL mode with a 10 s
//! busy timeout, every read-modify-write goes through [`Db::with_tx`] (`BEGIN IMMEDIATE`, which
//! takes the write lock up front and so never fails half-way with `SQLITE_BUSY`), and the schema is
//! versioned with `PRAGMA user_version` and migrated in one transaction.
//!
//! Contract:
//! - [`Db::open`] never deletes, truncates or rewrites a file it cannot use: a database from a newer
//!   Fluxdesk is [`Error::DatabaseTooNew`] (checked before anything is written, the journal mode
//!   included), and a file that is not a database, is malformed or fails `PRAGMA quick_check`
//!   (run at open for databases up to 16 MiB; larger ones are checked as pages are read) is
//!   [`Error::DatabaseCorrupt`]. The way out is [`Db::move_aside_and_recreate`] followed by a
//!   gallery rebuild (the images and their metadata live in the files).
//! - `synchronous=NORMAL`: in WAL mode every commit survives a crash or kill of the process; after a
//!   power loss the last commits may be rolled back, never corrupted.
//! - A [`Db`] is one connection behind a mutex; clones share it. Calls block, so async callers run
//!   them in `spawn_blocking`. Two [`Db`]s opened on the same file behave like two processes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::{Error, Result};

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 3;

/// How long a statement waits for another connection's write lock before failing with "busy".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Migrations, in order: `MIGRATIONS[i]` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[MIGRATION_1, MIGRATION_2, MIGRATION_3];

/// Version 1: the task ledger, the image index, its trigram FTS index and the triggers that keep
/// the FTS index in sync. Timestamps are INTEGER unix milliseconds (UTC).
const MIGRATION_1: &str = r#"
CREATE TABLE tasks (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id           TEXT,
    request_json       TEXT    NOT NULL,
    model              TEXT    NOT NULL,
    task_type          TEXT    NOT NULL,
    state              TEXT    NOT NULL CHECK (state IN ('queued', 'submitting', 'submitted', 'running',
                                   'downloading', 'saved', 'failed', 'abandoned', 'cancelled')),
    task_id            TEXT UNIQUE,
    error_code         TEXT,
    error_message      TEXT,
    estimated_cost_usd REAL    NOT NULL,
    consume            INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    attempted_at       INTEGER,
    submitted_at       INTEGER,
    started_at         INTEGER,
    finished_at        INTEGER,
    retry_of           INTEGER REFERENCES tasks(id) ON DELETE SET NULL,
    lease_owner        TEXT,
    lease_until        INTEGER
);
CREATE INDEX tasks_state ON tasks(state);
CREATE INDEX tasks_batch ON tasks(batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX tasks_attempted ON tasks(attempted_at) WHERE attempted_at IS NOT NULL;

CREATE TABLE images (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    rel_path       TEXT    NOT NULL UNIQUE,
    prompt         TEXT    NOT NULL DEFAULT '',
    negative_prompt TEXT,
    model          TEXT,
    task_type      TEXT,
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    seed           INTEGER,
    steps          INTEGER,
    guidance       REAL,
    task_id        TEXT,
    output_index   INTEGER,
    cost_usd       REAL,
    created_at     INTEGER NOT NULL,
    favourite      INTEGER NOT NULL DEFAULT 0 CHECK (favourite IN (0, 1)),
    rating         INTEGER NOT NULL DEFAULT 0 CHECK (rating BETWEEN 0 AND 5),
    content_hash   TEXT    NOT NULL,
    file_size      INTEGER NOT NULL,
    file_mtime     INTEGER,
    ledger_id      INTEGER REFERENCES tasks(id) ON DELETE SET NULL,
    indexed_at     INTEGER NOT NULL
);
-- Exactly one image per (PiAPI task, output index): completion is idempotent on task_id.
CREATE UNIQUE INDEX images_task_output ON images(task_id, output_index) WHERE task_id IS NOT NULL;
-- Keyset paging: each sort/filter path has an index whose order matches (rowid is implied).
-- images_created also covers every non-text filter column, so counts and filtered scans in date
-- order never touch the table.
CREATE INDEX images_created ON images(created_at, id, rating, favourite, width, height, model);
CREATE INDEX images_rating ON images(rating, created_at);
CREATE INDEX images_model ON images(model, created_at);
CREATE INDEX images_favourite ON images(created_at) WHERE favourite = 1;
CREATE INDEX images_hash ON images(content_hash);
CREATE INDEX images_ledger ON images(ledger_id) WHERE ledger_id IS NOT NULL;

-- Substring search over prompts: trigram tokenizer, external content kept in sync by triggers.
CREATE VIRTUAL TABLE images_fts USING fts5(
    prompt, negative_prompt, content = 'images', content_rowid = 'id', tokenize = 'trigram'
);
CREATE TRIGGER images_fts_insert AFTER INSERT ON images BEGIN
    INSERT INTO images_fts(rowid, prompt, negative_prompt) VALUES (new.id, new.prompt, new.negative_prompt);
END;
CREATE TRIGGER images_fts_delete AFTER DELETE ON images BEGIN
    INSERT INTO images_fts(images_fts, rowid, prompt, negative_prompt)
        VALUES ('delete', old.id, old.prompt, old.negative_prompt);
END;
CREATE TRIGGER images_fts_update AFTER UPDATE OF prompt, negative_prompt ON images BEGIN
    INSERT INTO images_fts(images_fts, rowid, prompt, negative_prompt)
        VALUES ('delete', old.id, old.prompt, old.negative_prompt);
    INSERT INTO images_fts(rowid, prompt, negative_prompt) VALUES (new.id, new.prompt, new.negative_prompt);
END;
"#;

/// Version 2: the batch queue. `tasks.position` orders queued tasks (new tasks go last; a move
/// permutes the positions of the queued tasks), and the one-row `queue_control` table holds the
/// queue's pause switch, shared by every process using the file (the app and the CLI).
const MIGRATION_2: &str = r#"
ALTER TABLE tasks ADD COLUMN position INTEGER;
UPDATE tasks SET position = id;
CREATE INDEX tasks_queue ON tasks(position, id) WHERE state = 'queued';
CREATE INDEX tasks_position ON tasks(position);

CREATE TABLE queue_control (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    paused     INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    reason     TEXT,
    kind       TEXT,
    updated_at INTEGER NOT NULL
);
INSERT INTO queue_control (id, paused, updated_at) VALUES (1, 0, 0);
"#;

/// Version 3: image-input tasks (img2img, inpaint, outpaint, ControlNet, …). `tasks.sources_json`
/// holds the prepared input files of a task (see [`crate::ledger::TaskSources`]; NULL = none);
/// `images.source_image_id` links a result to the gallery image it was made from, and
/// `images.task_json` holds the task's settings (denoise, LoRAs, ControlNet, outpaint margins,
/// scale; see [`crate::views::TaskSettingsView`]). No foreign key on `source_image_id`: the source
/// may be deleted while its results stay.
const MIGRATION_3: &str = r#"
ALTER TABLE tasks ADD COLUMN sources_json TEXT;
ALTER TABLE images ADD COLUMN source_image_id INTEGER;
ALTER TABLE images ADD COLUMN task_json TEXT;
CREATE INDEX images_source ON images(source_image_id) WHERE source_image_id IS NOT NULL;
"#;

/// A shared handle to the database (one connection; clones share it).
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: Option<Arc<PathBuf>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Db {
    /// Opens or creates the database at `path` (parent folders are created): WAL, busy timeout
    /// 10 s, foreign keys on, `synchronous=NORMAL`, then runs pending migrations.
    ///
    /// Errors: [`Error::DatabaseTooNew`] for a schema newer than [`SCHEMA_VERSION`];
    /// [`Error::DatabaseCorrupt`] for a file that is not a database, is malformed or fails
    /// `quick_check`. In both cases the file is left exactly as it was.
    pub fn open(path: &Path) -> Result<Db> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("creating the data folder", dir, e))?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let checked = preflight(path)?;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(Some(path), e))?;
        Self::init(conn, Some(path), checked)
    }

    /// A private in-memory database with the full schema (tests).
    pub fn open_in_memory() -> Result<Db> {
        let conn = Connection::open_in_memory()?;
        Self::init(conn, None, true)
    }

    /// The database file, `None` for an in-memory database.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref().map(PathBuf::as_path)
    }

    /// Runs `f` on the connection (autocommit: each statement is its own transaction). Use this for
    /// reads and single-statement writes; read-modify-write sequences belong in [`Db::with_tx`].
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.lock();
        f(&conn).map_err(|e| classify(self.path(), e))
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction (the write lock is taken at the start, waiting up
    /// to the busy timeout for other processes). Commits if `f` returns `Ok`, rolls back otherwise.
    pub fn with_tx<T>(&self, f: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let run = |conn: &mut Connection| -> Result<T> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run(&mut conn).map_err(|e| match e {
            Error::Sqlite(e) => classify(self.path(), e),
            other => other,
        })
    }

    /// The user's way out of an unusable database: moves `path` and its `-wal`/`-shm`/`-journal`
    /// companions aside (see [`Db::move_aside`]) and opens a fresh, empty database at `path`.
    /// Nothing is deleted. Used by `gallery rebuild --force`; follow it with a gallery rebuild.
    pub fn move_aside_and_recreate(path: &Path) -> Result<Db> {
        if let Some(aside) = Self::move_aside(path)? {
            tracing::warn!(from = %path.display(), to = %aside.display(), "moved the unusable database aside");
        }
        Self::open(path)
    }

    /// Renames `path` to `<name>.broken-<YYYYmmdd-HHMMSS>` (with `-2`, `-3`… if taken), and its
    /// `-wal`, `-shm` and `-journal` files to the same name plus their suffix, so the moved database
    /// still opens with its WAL. Returns the new path, or `None` if there was no file.
    pub fn move_aside(path: &Path) -> Result<Option<PathBuf>> {
        if !path.exists() {
            return Ok(None);
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "db".into());
        let stamp = Utc::now().format("%Y%m%d-%H%M%S");
        let mut aside = path.with_file_name(format!("{name}.broken-{stamp}"));
        let mut n = 2;
        while aside.exists() {
            aside = path.with_file_name(format!("{name}.broken-{stamp}-{n}"));
            n += 1;
        }
        std::fs::rename(path, &aside).map_err(|e| Error::io("moving the database aside", path, e))?;
        for suffix in ["-wal", "-shm", "-journal"] {
            let from = with_suffix(path, suffix);
            if from.exists() {
                let to = with_suffix(&aside, suffix);
                std::fs::rename(&from, &to).map_err(|e| Error::io("moving the database aside", &from, e))?;
            }
        }
        Ok(Some(aside))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no open transaction behind (`Transaction` rolls
        // back on drop), so the connection is still usable.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `checked`: [`preflight`] already ran the integrity check.
    fn init(conn: Connection, path: Option<&Path>, checked: bool) -> Result<Db> {
        let c = |e| classify(path, e);
        conn.busy_timeout(BUSY_TIMEOUT).map_err(c)?;
        // Checks before the first write: nothing may be written to a file we cannot use.
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(c)?;
        check_version(path, found)?;
        if path.is_some() {
            if !checked {
                let len = path.and_then(|p| std::fs::metadata(p).ok()).map_or(0, |m| m.len());
                integrity_probe(&conn, path, len)?;
            }
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).map_err(c)?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(mode, "SQLite refused WAL mode (network file system?); using {mode}");
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(c)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(c)?;
        conn.pragma_update(None, "cache_size", -16_000).map_err(c)?;
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(c)?;
        let db = Db { conn: Arc::new(Mutex::new(conn)), path: path.map(|p| Arc::new(p.to_path_buf())) };
        db.migrate()?;
        Ok(db)
    }

    /// Applies every migration above the stored version, in one `BEGIN IMMEDIATE` transaction (so
    /// two processes opening a new file at once migrate it exactly once).
    fn migrate(&self) -> Result<()> {
        let path = self.path().map(Path::to_path_buf);
        self.with_tx(|tx| {
            let current: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            check_version(path.as_deref(), current)?;
            let start =
                usize::try_from(current).map_err(|_| corrupt(path.as_deref(), "negative schema version"))?;
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
                tx.execute_batch(sql)?;
                tracing::info!(version = i + 1, "database migrated");
            }
            if current != SCHEMA_VERSION {
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            }
            Ok(())
        })
    }
}

/// The checks that must not touch an existing file, done before the read-write connection opens:
/// the header magic is read by hand (SQLite itself, given a non-database next to a `-wal` file,
/// deletes that `-wal` on close), then a read-only connection (which never checkpoints or deletes
/// anything) reads the schema version and runs `quick_check`. Returns whether the integrity check
/// ran; `false` for a new or empty file, or when a read-only connection cannot be opened (e.g. a
/// hot rollback journal), in which case the read-write connection repeats the checks.
fn preflight(path: &Path) -> Result<bool> {
    use std::io::Read;
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("opening the database", path, e)),
    };
    if len == 0 {
        return Ok(false);
    }
    let mut header = Vec::with_capacity(100);
    let file = std::fs::File::open(path).map_err(|e| Error::io("opening the database", path, e))?;
    file.take(100).read_to_end(&mut header).map_err(|e| Error::io("reading the database", path, e))?;
    if header.len() < 100 || !header.starts_with(b"SQLite format 3\0") {
        return Err(corrupt(Some(path), "the file is not an SQLite database (unrecognised header)"));
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let ro = match Connection::open_with_flags(path, flags) {
        Ok(c) => c,
        Err(e) => return preflight_fallback(path, e),
    };
    ro.busy_timeout(BUSY_TIMEOUT).map_err(|e| classify(Some(path), e))?;
    let found: i64 = match ro.pragma_query_value(None, "user_version", |r| r.get(0)) {
        Ok(v) => v,
        Err(e) => return preflight_fallback(path, e),
    };
    check_version(Some(path), found)?;
    integrity_probe(&ro, Some(path), len)?;
    Ok(true)
}

/// Above this size the full `quick_check` (which reads every page: ~0.4 s at 100,000 images) is
/// skipped at open, so the first gallery page stays fast; the schema is still read, and damage
/// found later surfaces as the same coded [`Error::DatabaseCorrupt`] when the page is touched.
const QUICK_CHECK_MAX_BYTES: u64 = 16 * 1024 * 1024;

fn integrity_probe(conn: &Connection, path: Option<&Path>, len: u64) -> Result<()> {
    if len <= QUICK_CHECK_MAX_BYTES {
        return quick_check(conn, path);
    }
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
        .map(|_| ())
        .map_err(|e| classify(path, e))
}

fn preflight_fallback(path: &Path, e: rusqlite::Error) -> Result<bool> {
    match classify(Some(path), e) {
        corrupt @ Error::DatabaseCorrupt { .. } => Err(corrupt),
        other => {
            tracing::debug!(error = %other, "read-only pre-check unavailable; checking on the main connection");
            Ok(false)
        }
    }
}

fn check_version(path: Option<&Path>, found: i64) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(Error::DatabaseTooNew {
            path: path.map(Path::to_path_buf).unwrap_or_default(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < 0 {
        return Err(corrupt(path, "negative schema version"));
    }
    Ok(())
}

/// `PRAGMA quick_check`: catches malformed pages and indexes before anything is written.
fn quick_check(conn: &Connection, path: Option<&Path>) -> Result<()> {
    let mut problems = Vec::new();
    let mut stmt = conn.prepare("PRAGMA quick_check(5)").map_err(|e| classify(path, e))?;
    let mut rows = stmt.query([]).map_err(|e| classify(path, e))?;
    while let Some(row) = rows.next().map_err(|e| classify(path, e))? {
        let line: String = row.get(0).map_err(|e| classify(path, e))?;
        if line != "ok" {
            problems.push(line);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(corrupt(path, &format!("integrity check failed: {}", problems.join("; "))))
    }
}

fn corrupt(path: Option<&Path>, message: &str) -> Error {
    Error::DatabaseCorrupt {
        path: path.map(Path::to_path_buf).unwrap_or_default(),
        message: message.to_string(),
    }
}

/// Maps "not a database" / "malformed" to [`Error::DatabaseCorrupt`], everything else to
/// [`Error::Sqlite`].
fn classify(path: Option<&Path>, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::NotADatabase | C::DatabaseCorrupt) => corrupt(path, &e.to_string()),
        _ => Error::Sqlite(e),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A timestamp as stored: unix milliseconds.
pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The current time as stored: unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    to_ms(Utc::now())
}

/// Reads a stored unix-millisecond timestamp.
pub(crate) fn from_ms(ms: i64, column: usize) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(ms).ok_or(rusqlite::Error::IntegralValueOutOfRange(column, ms))
}

/// Reads an optional stored unix-millisecond timestamp.
pub(crate) fn from_ms_opt(ms: Option<i64>, column: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    ms.map(|ms| from_ms(ms, column)).transpose()
}
