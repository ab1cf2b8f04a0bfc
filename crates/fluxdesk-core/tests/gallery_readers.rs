//! Gallery reads on a real SQLite file: pages and counts run on the database's read-only
//! connections, so they are answered while the read-write connection is inside a long write
//! transaction (and they see the last committed state); and the index of 1–2 character terms
//! (`images_grams`, schema version 4) is filled by the migration and kept in step by every write.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::at;
use fluxdesk_core::db::{Db, SCHEMA_VERSION};
use fluxdesk_core::gallery::{Gallery, GalleryQuery, ImageRecord, NewImage};
use fluxdesk_core::metadata::ImageMeta;

/// How long a test waits for a read that should not be blocked (only a deadlock guard: a
/// correct read answers in milliseconds).
const GUARD: Duration = Duration::from_secs(30);

fn image(i: u32, prompt: &str) -> NewImage {
    NewImage {
        rel_path: format!("2026/11/img-{i:05}.png"),
        meta: ImageMeta {
            prompt: prompt.into(),
            model: Some("Qubico/flux1-dev".into()),
            width: 1024,
            height: 1024,
            task_id: Some(format!("task-{i}")),
            output_index: Some(0),
            ..ImageMeta::default()
        },
        content_hash: format!("{i:064x}"),
        file_size: 1000,
        ledger_id: None,
        created_at: at(i64::from(i)),
    }
}

fn gallery(dir: &tempfile::TempDir) -> Gallery {
    let db = Db::open(&dir.path().join("fluxdesk.db")).expect("db");
    Gallery::new(db, dir.path().join("Gallery"), dir.path().join("thumbs"))
}

/// A gallery of `n` images whose prompts all mention "a red fox".
fn red_foxes(dir: &tempfile::TempDir, n: u32) -> Gallery {
    let g = gallery(dir);
    for i in 0..n {
        g.insert(&image(i, &format!("a red fox number {i}"))).expect("insert");
    }
    g
}

fn search(g: &Gallery, text: &str) -> Vec<i64> {
    let q = GalleryQuery { text: Some(text.into()), limit: 1000, ..Default::default() };
    g.list(&q).expect(text).items.iter().map(|r| r.id).collect()
}

/// What a 1–2 character term matches: a substring, ASCII letters in any case (SQL `LIKE`).
fn scan(g: &Gallery, text: &str) -> Vec<i64> {
    let all = g.list(&GalleryQuery { limit: 1000, ..Default::default() }).expect("all").items;
    let t = text.to_ascii_lowercase();
    all.iter().filter(|r: &&ImageRecord| r.prompt.to_ascii_lowercase().contains(&t)).map(|r| r.id).collect()
}

#[test]
fn pages_and_counts_are_served_while_a_write_transaction_is_open() {
    let dir = tempfile::tempdir().expect("tmp");
    let g = red_foxes(&dir, 300);

    // A writer holds the read-write connection (and the database's write lock) inside a
    // transaction that has inserted a row, until told to commit.
    let (inserted_tx, inserted) = mpsc::channel::<()>();
    let (commit_tx, commit) = mpsc::channel::<()>();
    let writer = {
        let g = g.clone();
        std::thread::spawn(move || {
            g.db()
                .with_tx(|tx| {
                    tx.execute(
                        "INSERT INTO images (rel_path, prompt, width, height, created_at, content_hash, file_size, \
                             indexed_at) VALUES ('late.png', 'a red fox, late', 8, 8, 1, 'h', 1, 0)",
                        [],
                    )?;
                    inserted_tx.send(()).expect("signal");
                    commit.recv_timeout(GUARD).expect("told to commit");
                    Ok(())
                })
                .expect("write transaction");
        })
    };
    inserted.recv_timeout(GUARD).expect("the writer started");

    // Meanwhile, on another thread (so a blocked read fails the test instead of hanging it):
    // every kind of page and count.
    let (answer_tx, answer) = mpsc::channel();
    let reader = {
        let g = g.clone();
        std::thread::spawn(move || {
            let queries = [
                GalleryQuery { count: false, limit: 48, ..Default::default() },
                GalleryQuery { text: Some("fox".into()), count: false, limit: 48, ..Default::default() },
                GalleryQuery { text: Some("d".into()), count: false, limit: 48, ..Default::default() },
                GalleryQuery { text: Some("9".into()), ..Default::default() },
                GalleryQuery { text: Some("re fox".into()), model: Some("dev".into()), ..Default::default() },
            ];
            let out: Vec<(Option<u64>, u64)> = queries
                .iter()
                .map(|q| {
                    let page = g.list(q).expect("page while writing");
                    (page.total, g.count_matches(q).expect("count while writing"))
                })
                .collect();
            answer_tx.send(out).expect("answer");
        })
    };
    let got = answer
        .recv_timeout(GUARD)
        .expect("pages and counts are answered while the write transaction is open");
    reader.join().expect("reader");
    // The uncommitted row is not seen.
    assert_eq!(got[0], (Some(300), 300));
    assert_eq!(got[1], (Some(300), 300));
    assert_eq!(got[2].1, 300, "every prompt has a 'd'");
    assert_eq!(got[3], (Some(57), 57), "numbers with a 9 in 0..300");
    assert_eq!(got[4], (Some(300), 300));

    commit_tx.send(()).expect("commit");
    writer.join().expect("writer");
    // Committed: the next read sees it.
    assert_eq!(
        g.count_matches(&GalleryQuery { text: Some("late".into()), ..Default::default() }).expect("count"),
        1
    );
    assert_eq!(g.list(&GalleryQuery::default()).expect("page").total, Some(301));
}

#[test]
fn an_in_memory_database_reads_on_its_one_connection() {
    let g = Gallery::new(Db::open_in_memory().expect("db"), "unused".into(), "unused".into());
    g.insert(&image(1, "a red fox")).expect("insert");
    let q = GalleryQuery { text: Some("ed".into()), count: false, ..Default::default() };
    assert_eq!(g.list(&q).expect("page").total, Some(1));
    assert_eq!(g.count_matches(&q).expect("count"), 1);
}

#[test]
fn the_short_term_index_follows_every_write() {
    let dir = tempfile::tempdir().expect("tmp");
    let g = gallery(&dir);
    let prompts = ["Red Fox at dawn", "a blue whale", "Café crème", "赤いキツネ", "100% pure_ness", "", "x"];
    let mut ids = Vec::new();
    for (i, p) in prompts.iter().enumerate() {
        ids.push(g.insert(&image(i as u32, p)).expect("insert").0);
    }
    let terms = ["re", "RE", "d", "x", "é", "É", "キ", "0%", "e_", "_", "%", "fo", "ox", "zz", "a", "\u{1}"];
    let check = |g: &Gallery, when: &str| {
        for t in terms {
            assert_eq!(search(g, t), scan(g, t), "{when}: {t:?} as a plain scan finds it");
            let q = GalleryQuery { text: Some(t.into()), ..Default::default() };
            assert_eq!(g.count_matches(&q).expect(t), scan(g, t).len() as u64, "{when}: count of {t:?}");
        }
    };
    check(&g, "after inserts");

    // Deleted rows leave the index (a file that is already gone is fine); restored rows return.
    let gone: Vec<ImageRecord> = [ids[0], ids[3]].iter().map(|&id| g.get(id).expect("get")).collect();
    g.delete(&[ids[0], ids[3]]).expect("delete");
    check(&g, "after a delete");
    assert!(search(&g, "ox").is_empty());
    g.restore_rows(&gone).expect("restore");
    check(&g, "after a restore");
    assert_eq!(search(&g, "ox"), vec![ids[0]]);

    // A rebuild of an empty folder drops every row and its index entries.
    std::fs::create_dir_all(g.root()).expect("root");
    g.rebuild().expect("rebuild");
    check(&g, "after a rebuild");
    assert!(search(&g, "a").is_empty());
}

#[test]
fn the_migration_fills_the_short_term_index_of_an_older_database() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("fluxdesk.db");
    {
        let g = gallery(&dir);
        for (i, p) in ["a red fox", "a blue whale", "an ox cart", "zq"].iter().enumerate() {
            g.insert(&image(i as u32, p)).expect("insert");
        }
    }
    // Back to schema version 3: as if these rows were written by the previous Fluxdesk.
    {
        let c = rusqlite::Connection::open(&path).expect("open");
        c.execute_batch(
            "DROP TRIGGER images_grams_delete; DROP TABLE images_grams; PRAGMA user_version = 3;",
        )
        .expect("downgrade");
    }
    let g = gallery(&dir);
    let c = rusqlite::Connection::open(&path).expect("open");
    let version: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0)).expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    for t in ["ox", "zq", "a", "q", "wh", "re"] {
        assert_eq!(search(&g, t), scan(&g, t), "{t:?}");
        assert!(!search(&g, t).is_empty(), "{t:?} is found");
    }
}

#[test]
fn releasing_memory_shrinks_the_idle_connections_skips_busy_ones_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let g = red_foxes(&dir, 300);
    // Two reads at once, so two read-only connections are open and their caches filled.
    let db = g.db().clone();
    let (inside, outside) = db.read(|_| Ok((search(&g, "fox"), db.release_memory()))).expect("nested read");
    assert_eq!(inside.len(), 300);
    // The read-write connection and the reader the nested search used; the outer one was busy.
    assert_eq!(outside, 2, "busy connections are skipped, never waited for");
    // Idle: every open connection is shrunk.
    assert_eq!(db.release_memory(), 3);
    // Inside a write call the read-write connection is busy: skipped, no deadlock.
    let during_write = db.with(|_| Ok(db.release_memory())).expect("write call");
    assert_eq!(during_write, 2);
    // Nothing is lost: the caches fill again from the file.
    assert_eq!(search(&g, "fox"), inside);
    assert_eq!(
        g.count_matches(&GalleryQuery { text: Some("fox".into()), ..Default::default() }).expect("count"),
        300
    );
}
