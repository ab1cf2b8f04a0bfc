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
//! - A [`Db`] is one read-write connection behind a mutex (all writes, the migrations and the
//!   integrity checks) plus, for a database file, up to [`READERS`] read-only connections opened
//!   on demand; clones share them. [`Db::read`] runs on a free read-only connection, so a read
//!   (a gallery page, a count) never waits behind a write transaction, a long read or another
//!   process: in WAL mode it sees the last committed state. An in-memory database has the one
//!   connection only, and [`Db::read`] uses it. Calls block, so async callers run them in
//!   `spawn_blocking`. Two [`Db`]s opened on the same file behave like two processes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::{Error, Result};

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 4;

/// How long a statement waits for another connection's write lock before failing with "busy".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Read-only connections of a file database (opened when first needed): enough for a page query
/// to find one free while a count and a stale query still run (the machine may have 2 cores).
pub const READERS: usize = 3;

/// Page cache of each read-only connection (KiB). Small: a full-table count streams through any
/// cache, and the OS page cache holds the file anyway.
const READER_CACHE_KIB: i64 = 2_000;

/// Page cache of the read-write connection (KiB): writes touch a few B-tree and FTS pages each;
/// gallery reads go to the read-only connections. Every MB here is resident for the app's life.
const WRITER_CACHE_KIB: i64 = 6_000;

/// Migrations, in order: `MIGRATIONS[i]` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[MIGRATION_1, MIGRATION_2, MIGRATION_3, MIGRATION_4];

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

/// Version 4: `images_grams`, the index that serves 1–2 character search terms (the trigram
/// index cannot). It indexes each prompt as [`grams_text`] spells it, so every character and
/// every pair of adjacent characters is one trigram token, with positions left out
/// (`detail=none`: a few MB at 100,000 images). Contentless: rows are added by the code that
/// writes `images` (in `gallery.rs`, via [`set_grams`]; the migration fills it for existing
/// rows) and removed by the trigger below, so a row never outlives its image.
const MIGRATION_4: &str = r#"
CREATE VIRTUAL TABLE images_grams USING fts5(
    grams, content = '', contentless_delete = 1, detail = 'none', tokenize = 'trigram'
);
CREATE TRIGGER images_grams_delete AFTER DELETE ON images BEGIN
    DELETE FROM images_grams WHERE rowid = old.id;
END;
"#;

/// Separates the characters of [`grams_text`] (a character no prompt or search term keeps:
/// they have it replaced by U+0002).
const GRAM_SEP: char = '\u{1}';

/// What `images_grams` indexes for a prompt: its characters between separators
/// (`"\u{1}a\u{1}b\u{1}"`). The trigram tokenizer then makes a token of each character
/// (`"\u{1}a\u{1}"`) and of each adjacent pair (`"a\u{1}b"`), case-folded like the prompt index.
pub(crate) fn grams_text(prompt: &str) -> String {
    let mut out = String::with_capacity(prompt.len() * 2 + 1);
    out.push(GRAM_SEP);
    for c in prompt.chars() {
        out.push(if c == GRAM_SEP { '\u{2}' } else { c });
        out.push(GRAM_SEP);
    }
    out
}

/// The one `images_grams` token a 1–2 character search term matches (see [`grams_text`]); every
/// prompt containing the term has it (the reverse may not hold: the index folds case beyond
/// ASCII, `LIKE` does not, so the `LIKE` decides).
pub(crate) fn gram_token(term: &str) -> String {
    let chars: Vec<char> = term.chars().map(|c| if c == GRAM_SEP { '\u{2}' } else { c }).collect();
    match chars.as_slice() {
        [a] => format!("{GRAM_SEP}{a}{GRAM_SEP}"),
        [a, b] => format!("{a}{GRAM_SEP}{b}"),
        _ => grams_text(term),
    }
}

/// Indexes the prompt of image `id` in `images_grams` (replacing what it had). Every write of a
/// row or of its prompt calls this in the same transaction.
pub(crate) fn set_grams(c: &Connection, id: i64, prompt: &str, replace: bool) -> rusqlite::Result<()> {
    if replace {
        c.prepare_cached("DELETE FROM images_grams WHERE rowid = ?1")?.execute([id])?;
    }
    c.prepare_cached("INSERT INTO images_grams(rowid, grams) VALUES (?1, ?2)")?
        .execute(rusqlite::params![id, grams_text(prompt)])?;
    Ok(())
}

/// Fills `images_grams` for every image (migration 4).
fn fill_grams(c: &Connection) -> rusqlite::Result<()> {
    let mut rows = c.prepare("SELECT id, prompt FROM images")?;
    let mut rows = rows.query([])?;
    while let Some(r) = rows.next()? {
        set_grams(c, r.get(0)?, &r.get::<_, String>(1)?, false)?;
    }
    Ok(())
}

/// A shared handle to the database (one read-write connection and the read-only ones; clones
/// share them).
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    /// Declared before `conn`, so they close first and the read-write connection, closing last,
    /// checkpoints the WAL and removes it as usual.
    readers: Readers,
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
}

/// The read-only connections: slots opened on demand (none for an in-memory database).
struct Readers {
    slots: Vec<Mutex<Option<Connection>>>,
    /// Round-robin start for a wait when every slot is busy.
    next: AtomicUsize,
    /// Set when a read-only connection could not be opened: reads use the main connection.
    unavailable: AtomicBool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.inner.path).finish_non_exhaustive()
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
        self.inner.path.as_deref()
    }

    /// Runs `f` on the read-write connection (autocommit: each statement is its own transaction).
    /// Use this for single-statement writes and for reads that must see this connection's state;
    /// read-modify-write sequences belong in [`Db::with_tx`], and reads that must not wait behind
    /// writes (the gallery's pages and counts) in [`Db::read`].
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.lock();
        f(&conn).map_err(|e| classify(self.path(), e))
    }

    /// Runs `f` on a read-only connection: a free one, else (every one busy) the next in turn as
    /// soon as it is free. It never waits for the read-write connection, so a write transaction
    /// in progress (a job saving an image, a reconcile batch) or a slow read elsewhere does not
    /// delay it; it sees what was committed when its statement (or its transaction) began.
    /// Writing fails (`SQLITE_READONLY`). In-memory databases, and files for which a read-only
    /// connection cannot be opened, run `f` on the read-write connection instead.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let readers = &self.inner.readers;
        let Some(path) = self.path().filter(|_| !readers.slots.is_empty()) else {
            return self.with(f);
        };
        if readers.unavailable.load(Ordering::Relaxed) {
            return self.with(f);
        }
        let mut slot = readers.acquire();
        if slot.is_none() {
            match open_reader(path) {
                Ok(conn) => *slot = Some(conn),
                Err(e) => {
                    readers.unavailable.store(true, Ordering::Relaxed);
                    tracing::warn!(error = %e, "no read-only database connection; reading on the main one");
                    drop(slot);
                    return self.with(f);
                }
            }
        }
        let conn = slot.as_ref().expect("BUG: the read-only connection was opened above");
        f(conn).map_err(|e| classify(Some(path), e))
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

    /// Hands back what the connections' page caches hold (`PRAGMA shrink_memory`; up to
    /// [`WRITER_CACHE_KIB`] + [`READERS`] × [`READER_CACHE_KIB`] that would otherwise stay
    /// resident for the app's life), for an idle moment: the next reads fill them again from the
    /// OS's file cache. A connection in use at that moment is skipped, never waited for. Returns
    /// how many connections were shrunk.
    pub fn release_memory(&self) -> usize {
        let shrink = |c: &Connection| c.execute_batch("PRAGMA shrink_memory").is_ok();
        let mut shrunk = 0;
        if let Ok(conn) = self.inner.conn.try_lock() {
            shrunk += usize::from(shrink(&conn));
        }
        for slot in &self.inner.readers.slots {
            if let Ok(guard) = slot.try_lock()
                && let Some(conn) = guard.as_ref()
            {
                shrunk += usize::from(shrink(conn));
            }
        }
        shrunk
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no open transaction behind (`Transaction` rolls
        // back on drop), so the connection is still usable.
        self.inner.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
            let mode: String = retry_busy(|| {
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).map_err(c)
            })?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(mode, "SQLite refused WAL mode (network file system?); using {mode}");
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(c)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(c)?;
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB).map_err(c)?;
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(c)?;
        let slots = if path.is_some() { READERS } else { 0 };
        let readers = Readers {
            slots: (0..slots).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            unavailable: AtomicBool::new(false),
        };
        let inner = Inner { readers, conn: Mutex::new(conn), path: path.map(Path::to_path_buf) };
        let db = Db { inner: Arc::new(inner) };
        retry_busy(|| db.migrate())?;
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
                if i + 1 == 4 {
                    fill_grams(tx)?;
                }
                tracing::info!(version = i + 1, "database migrated");
            }
            if current != SCHEMA_VERSION {
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            }
            Ok(())
        })
    }
}

impl Readers {
    /// A free slot (the first free one, so few connections are opened), else waits for the next
    /// one in turn.
    fn acquire(&self) -> MutexGuard<'_, Option<Connection>> {
        for slot in &self.slots {
            match slot.try_lock() {
                Ok(guard) => return guard,
                Err(std::sync::TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        // A panic while holding a slot leaves no transaction open (`Transaction` rolls back on
        // drop), so the connection is still usable.
        self.slots[i].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A read-only connection to the (already opened and migrated) database file. Read-only
/// connections never write, checkpoint or delete anything.
fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let flags =
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
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
/// Runs `f` again while SQLite answers "busy" at once, for at most [`BUSY_TIMEOUT`]. Why: two
/// connections opening a new file at the same moment (the app and the CLI, say) both switch it to
/// WAL and start its migration, and SQLite answers the loser "database is locked" without waiting
/// out the busy timeout (a lock it would have to wait for could deadlock). Under load this made
/// one of the two opens fail; the retried one finds the file switched and migrated.
fn retry_busy<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(2);
    loop {
        match f() {
            Err(Error::Sqlite(e))
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

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
