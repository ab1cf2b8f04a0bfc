//! The gallery store on real SQLite files and real image files: idempotent inserts under
//! concurrency, keyset paging, every filter, trigram search, the trash, reconcile and rebuild.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};

use chrono::{DateTime, Utc};
use common::{a1111_png, at, jpeg_bytes, png_bytes};
use fluxdesk_core::db::Db;
use fluxdesk_core::gallery::{Aspect, Gallery, GalleryQuery, ImageRecord, NewImage, SortOrder};
use fluxdesk_core::metadata::{ImageMeta, embed_png_metadata};
use fluxdesk_core::{Error, files, thumbs};

struct Fixture {
    dir: tempfile::TempDir,
    gallery: Gallery,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tmp");
        let db = Db::open(&dir.path().join("fluxdesk.db")).expect("db");
        let gallery = Gallery::new(db, dir.path().join("Gallery"), dir.path().join("cache").join("thumbs"));
        std::fs::create_dir_all(gallery.root()).expect("mkdir gallery");
        Fixture { dir, gallery }
    }

    fn db_path(&self) -> PathBuf {
        self.dir.path().join("fluxdesk.db")
    }

    fn reopen(&self) -> Gallery {
        let db = Db::open(&self.db_path()).expect("db");
        Gallery::new(db, self.gallery.root().to_path_buf(), self.gallery.thumbs_dir().to_path_buf())
    }

    fn abs(&self, rel: &str) -> PathBuf {
        self.gallery.root().join(rel)
    }

    /// Saves an image the way the runner does: PNG with our metadata, crash-safe write, insert.
    fn save(&self, rel: &str, meta: &ImageMeta, seed: u32) -> i64 {
        let png = embed_png_metadata(&png_bytes(meta.width, meta.height, seed), meta).expect("embed");
        files::write_new_file(&self.abs(rel), &png).expect("write");
        let (id, inserted) = self
            .gallery
            .insert(&NewImage {
                rel_path: rel.into(),
                meta: meta.clone(),
                content_hash: files::content_hash(&png),
                file_size: png.len() as u64,
                ledger_id: None,
                created_at: meta.created_at.expect("fixture metadata has a date"),
            })
            .expect("insert");
        assert!(inserted);
        id
    }
}

fn meta(prompt: &str, task: &str, index: u32, created: DateTime<Utc>) -> ImageMeta {
    ImageMeta {
        prompt: prompt.into(),
        negative_prompt: Some("blurry, low quality".into()),
        model: Some("Qubico/flux1-dev".into()),
        task_type: Some("txt2img".into()),
        width: 48,
        height: 32,
        seed: Some(1_234_567 + i64::from(index)),
        steps: Some(28),
        guidance: Some(3.5),
        task_id: Some(task.into()),
        output_index: Some(index),
        cost_usd: Some(0.015),
        created_at: Some(created),
        source_image_id: None,
        source_image_hash: None,
        generator: Some("Fluxdesk test".into()),
        task_settings: None,
    }
}

/// A synthetic index row (no file), for paging and filters.
fn synthetic(i: u32, prompt: &str, created: DateTime<Utc>) -> NewImage {
    let (w, h) = match i % 3 {
        0 => (1024, 1024),
        1 => (1280, 768),
        _ => (768, 1280),
    };
    NewImage {
        rel_path: format!("2026/11/img-{i:05}.png"),
        meta: ImageMeta {
            prompt: prompt.into(),
            model: Some(if i.is_multiple_of(2) { "Qubico/flux1-schnell" } else { "Qubico/flux1-dev" }.into()),
            width: w,
            height: h,
            task_id: Some(format!("task-{i}")),
            output_index: Some(0),
            ..ImageMeta::default()
        },
        content_hash: format!("{i:064x}"),
        file_size: 1000 + u64::from(i),
        ledger_id: None,
        created_at: created,
    }
}

fn all_pages(g: &Gallery, mut q: GalleryQuery) -> Vec<ImageRecord> {
    let mut out = Vec::new();
    loop {
        let page = g.list(&q).expect("list");
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
}

fn ids(v: &[ImageRecord]) -> Vec<i64> {
    v.iter().map(|r| r.id).collect()
}

// ------------------------------------------------------------------------------------------------
// Insert idempotence
// ------------------------------------------------------------------------------------------------

#[test]
fn concurrent_inserts_from_two_connections_give_one_row_per_task_output() {
    let f = Fixture::new();
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|who| {
            let (path, root, barrier) = (f.db_path(), f.gallery.root().to_path_buf(), barrier.clone());
            std::thread::spawn(move || {
                let g = Gallery::new(Db::open(&path).expect("db"), root, PathBuf::from("unused"));
                barrier.wait();
                let mut inserted = 0;
                for task in 0..40u32 {
                    for index in 0..2u32 {
                        // Worst case: the two writers even picked different file names.
                        let mut img = synthetic(task, "a red fox", at(i64::from(task)));
                        img.rel_path = format!("{who}/task-{task}-{index}.png");
                        img.meta.output_index = Some(index);
                        let (id, fresh) = g.insert(&img).expect("insert");
                        assert!(id > 0);
                        inserted += u32::from(fresh);
                    }
                }
                inserted
            })
        })
        .collect();
    let inserted: u32 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    assert_eq!(inserted, 80, "exactly one insert per (task, index) reported as new");
    assert_eq!(f.gallery.count().expect("count"), 80);
    for task in 0..40u32 {
        for index in 0..2u32 {
            assert!(f.gallery.find_by_task(&format!("task-{task}"), index).expect("find").is_some());
        }
    }
}

#[test]
fn insert_is_idempotent_on_path_and_on_task_output() {
    let f = Fixture::new();
    let img = synthetic(1, "fox", at(0));
    let (id, fresh) = f.gallery.insert(&img).expect("insert");
    assert!(fresh);
    assert_eq!(f.gallery.insert(&img).expect("again"), (id, false));

    let mut other_path = img.clone();
    other_path.rel_path = "elsewhere.png".into();
    assert_eq!(f.gallery.insert(&other_path).expect("same task output"), (id, false));

    let mut no_task = synthetic(2, "fox", at(0));
    no_task.meta.task_id = None;
    no_task.rel_path = img.rel_path.clone();
    assert_eq!(f.gallery.insert(&no_task).expect("same path"), (id, false));

    // A task id without an index is index 0.
    let mut implicit = synthetic(3, "fox", at(0));
    implicit.meta.output_index = None;
    let (id3, _) = f.gallery.insert(&implicit).expect("insert");
    assert_eq!(f.gallery.get(id3).expect("get").output_index, Some(0));

    for bad in ["", "/abs.png", "a/../b.png", "a//b.png", "a\\b.png"] {
        let mut b = synthetic(9, "x", at(0));
        b.rel_path = bad.into();
        assert!(matches!(f.gallery.insert(&b), Err(Error::InvalidInput { .. })), "{bad:?}");
    }
    assert!(matches!(f.gallery.get(999_999), Err(Error::Missing { .. })));
}

// ------------------------------------------------------------------------------------------------
// Listing: keyset paging and filters
// ------------------------------------------------------------------------------------------------

const PROMPTS: [&str; 5] = [
    "a red fox in the snow",
    "Blue whale, ocean depth",
    "red panda portrait",
    "city at night",
    "foxglove meadow",
];

fn thousand(f: &Fixture) -> Vec<ImageRecord> {
    for i in 0..1000u32 {
        // 200 distinct timestamps: many ties, so the id tie-breaker matters.
        let img = synthetic(i, PROMPTS[i as usize % PROMPTS.len()], at(i64::from(i % 200) * 60));
        let (id, _) = f.gallery.insert(&img).expect("insert");
        if i % 6 != 0 {
            f.gallery.set_rating(&[id], (i % 6) as u8).expect("rate");
        }
        if i % 7 == 0 {
            f.gallery.set_favourite(&[id], true).expect("fav");
        }
    }
    let all = all_pages(&f.gallery, GalleryQuery { limit: 1000, ..GalleryQuery::default() });
    assert_eq!(all.len(), 1000);
    all
}

fn sorted(mut v: Vec<ImageRecord>, sort: SortOrder) -> Vec<i64> {
    match sort {
        SortOrder::Newest => v.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id))),
        SortOrder::Oldest => v.sort_by_key(|r| (r.created_at, r.id)),
        SortOrder::Rating => v.sort_by_key(|r| std::cmp::Reverse((r.rating, r.created_at, r.id))),
    }
    ids(&v)
}

#[test]
fn keyset_paging_over_a_thousand_rows_has_no_duplicates_or_gaps_in_every_order() {
    let f = Fixture::new();
    let all = thousand(&f);
    for sort in [SortOrder::Newest, SortOrder::Oldest, SortOrder::Rating] {
        let q = GalleryQuery { sort, limit: 97, ..GalleryQuery::default() };
        let first = f.gallery.list(&q).expect("first page");
        assert_eq!(first.total, Some(1000));
        assert_eq!(first.items.len(), 97);
        let got = ids(&all_pages(&f.gallery, q));
        assert_eq!(got.len(), 1000);
        assert_eq!(got.iter().collect::<HashSet<_>>().len(), 1000, "{sort:?}: no duplicates");
        assert_eq!(got, sorted(all.clone(), sort), "{sort:?}: exact order");
    }
}

#[test]
fn paging_stays_stable_when_new_images_arrive_and_ratings_change() {
    let f = Fixture::new();
    let all = thousand(&f);
    let expected = sorted(all.clone(), SortOrder::Newest);

    let mut q = GalleryQuery { limit: 100, ..GalleryQuery::default() };
    let mut got = Vec::new();
    for page_no in 0.. {
        let page = f.gallery.list(&q).expect("page");
        got.extend(ids(&page.items));
        if page_no == 1 {
            // Newer images arrive (as the runner saves them) …
            for i in 0..20u32 {
                f.gallery.insert(&synthetic(5000 + i, "brand new fox", at(1_000_000))).expect("insert");
            }
            // … and the user rates an image further down the list, and one already seen.
            f.gallery.set_rating(&[expected[650], expected[10]], 5).expect("rate");
            f.gallery.set_favourite(&[expected[700]], true).expect("fav");
        }
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(got, expected, "the pass that started before the changes sees exactly the original set");
    let fresh = f.gallery.list(&GalleryQuery { limit: 20, ..GalleryQuery::default() }).expect("list");
    assert!(fresh.items.iter().all(|r| r.prompt == "brand new fox"), "a new pass sees the new images first");
    assert_eq!(fresh.total, Some(1020));

    // Oldest first: new images simply appear at the end.
    let oldest = ids(&all_pages(
        &f.gallery,
        GalleryQuery { sort: SortOrder::Oldest, limit: 333, ..Default::default() },
    ));
    assert_eq!(oldest.len(), 1020);
    assert_eq!(oldest.iter().collect::<HashSet<_>>().len(), 1020);
}

#[test]
fn every_filter_and_their_combinations_match_a_plain_scan() {
    let f = Fixture::new();
    let all = thousand(&f);
    let t = |s: i64| Some(at(s * 60));
    type Pred = Box<dyn Fn(&ImageRecord) -> bool>;
    let cases: Vec<(GalleryQuery, Pred)> = vec![
        (
            GalleryQuery { model: Some("dev".into()), ..Default::default() },
            Box::new(|r| r.model.as_deref() == Some("Qubico/flux1-dev")),
        ),
        (
            GalleryQuery { model: Some("Qubico/flux1-schnell".into()), ..Default::default() },
            Box::new(|r| r.model.as_deref() == Some("Qubico/flux1-schnell")),
        ),
        (GalleryQuery { min_rating: Some(4), ..Default::default() }, Box::new(|r| r.rating >= 4)),
        (GalleryQuery { min_rating: Some(0), ..Default::default() }, Box::new(|_| true)),
        (GalleryQuery { favourites_only: true, ..Default::default() }, Box::new(|r| r.favourite)),
        (
            GalleryQuery { created_after: t(50), created_before: t(120), ..Default::default() },
            Box::new(move |r| r.created_at >= at(50 * 60) && r.created_at < at(120 * 60)),
        ),
        (
            GalleryQuery { aspect: Some(Aspect::Square), ..Default::default() },
            Box::new(|r| r.width == r.height),
        ),
        (
            GalleryQuery { aspect: Some(Aspect::Landscape), ..Default::default() },
            Box::new(|r| r.width > r.height),
        ),
        (
            GalleryQuery { aspect: Some(Aspect::Portrait), ..Default::default() },
            Box::new(|r| r.width < r.height),
        ),
        (
            GalleryQuery { width: Some(1280), height: Some(768), ..Default::default() },
            Box::new(|r| r.width == 1280),
        ),
        (
            GalleryQuery { text: Some("red".into()), ..Default::default() },
            Box::new(|r| r.prompt.to_lowercase().contains("red")),
        ),
        (
            GalleryQuery {
                text: Some("fox".into()),
                model: Some("schnell".into()),
                min_rating: Some(2),
                favourites_only: true,
                aspect: Some(Aspect::Landscape),
                created_after: t(10),
                sort: SortOrder::Rating,
                ..Default::default()
            },
            Box::new(move |r| {
                r.prompt.contains("fox")
                    && r.model.as_deref() == Some("Qubico/flux1-schnell")
                    && r.rating >= 2
                    && r.favourite
                    && r.width > r.height
                    && r.created_at >= at(10 * 60)
            }),
        ),
    ];
    for (q, pred) in cases {
        let expected: Vec<ImageRecord> = all.iter().filter(|r| pred(r)).cloned().collect();
        let got = all_pages(&f.gallery, GalleryQuery { limit: 37, ..q.clone() });
        assert_eq!(ids(&got), sorted(expected.clone(), q.sort), "{q:?}");
        let first = f.gallery.list(&GalleryQuery { limit: 37, ..q.clone() }).expect("list");
        assert_eq!(first.total, Some(expected.len() as u64), "total of {q:?}");
    }
}

#[test]
fn search_finds_substrings_short_terms_and_non_ascii_prompts() {
    let f = Fixture::new();
    let prompts = [
        "Red foxes in the snow",
        "a blue whale",
        "赤いキツネが雪の中で眠る",
        "Café au lait, crème brûlée",
        "100% pure_ness",
        "an ox cart",
        "Straße im Schnee",
    ];
    let mut by_prompt = std::collections::HashMap::new();
    for (i, p) in prompts.iter().enumerate() {
        let (id, _) = f.gallery.insert(&synthetic(i as u32, p, at(i as i64))).expect("insert");
        by_prompt.insert(*p, id);
    }
    let search = |text: &str| -> HashSet<i64> {
        let page =
            f.gallery.list(&GalleryQuery { text: Some(text.into()), ..Default::default() }).expect(text);
        assert_eq!(page.total, Some(page.items.len() as u64));
        page.items.iter().map(|r| r.id).collect()
    };
    let set = |ps: &[&str]| -> HashSet<i64> { ps.iter().map(|p| by_prompt[p]).collect() };

    assert_eq!(search("oxe"), set(&["Red foxes in the snow"]), "trigram substring");
    assert_eq!(search("FOXES"), set(&["Red foxes in the snow"]), "case-insensitive");
    assert_eq!(search("ox"), set(&["Red foxes in the snow", "an ox cart"]), "2-char fallback");
    assert_eq!(search("x"), set(&["Red foxes in the snow", "an ox cart"]), "1-char fallback");
    assert_eq!(search("snow red"), set(&["Red foxes in the snow"]), "terms in any order");
    assert_eq!(search("red whale"), set(&[]), "all terms must match");
    assert_eq!(search("ox snow"), set(&["Red foxes in the snow"]), "short and long terms combine");
    assert_eq!(search("キツネ"), set(&["赤いキツネが雪の中で眠る"]), "CJK substring");
    assert_eq!(search("雪"), set(&["赤いキツネが雪の中で眠る"]), "one CJK character");
    assert_eq!(search("brûlée"), set(&["Café au lait, crème brûlée"]), "accented");
    assert_eq!(search("aße"), set(&["Straße im Schnee"]));
    assert_eq!(search("0%"), set(&["100% pure_ness"]), "LIKE wildcards are literal");
    assert_eq!(search("e_"), set(&["100% pure_ness"]), "LIKE wildcards are literal");
    assert_eq!(search("100%"), set(&["100% pure_ness"]));
    assert_eq!(search("   "), by_prompt.values().copied().collect(), "blank text is no filter");
    // FTS syntax characters are searched literally, never an error.
    for odd in ["\"fox", "fox\"", "AND", "fox OR whale", "NEAR(fox", "col:umn", "*", "(", "^red"] {
        f.gallery.list(&GalleryQuery { text: Some(odd.into()), ..Default::default() }).expect(odd);
    }
    assert_eq!(search("fox OR whale"), set(&[]), "OR is a plain word, not an operator");
}

#[test]
fn rating_and_cursor_validation() {
    let f = Fixture::new();
    let (id, _) = f.gallery.insert(&synthetic(1, "fox", at(0))).expect("insert");
    for r in 0..=5u8 {
        f.gallery.set_rating(&[id], r).expect("valid rating");
        assert_eq!(f.gallery.get(id).expect("get").rating, r);
    }
    assert!(matches!(f.gallery.set_rating(&[id], 6), Err(Error::InvalidInput { .. })));
    assert_eq!(f.gallery.get(id).expect("get").rating, 5);
    f.gallery.set_rating(&[], 3).expect("no ids is fine");
    f.gallery.set_favourite(&[id, 424_242], true).expect("unknown ids are ignored");
    assert!(f.gallery.get(id).expect("get").favourite);
    assert!(matches!(
        f.gallery.list(&GalleryQuery { min_rating: Some(6), ..Default::default() }),
        Err(Error::InvalidInput { .. })
    ));

    for _ in 0..3 {
        f.gallery
            .insert(&synthetic(f.gallery.count().expect("n") as u32 + 10, "fox", at(5)))
            .expect("insert");
    }
    let page = f.gallery.list(&GalleryQuery { limit: 2, ..Default::default() }).expect("list");
    let cursor = page.next_cursor.expect("more pages");
    for bad in ["zz", "abc", "", "00", &"f".repeat(600)] {
        let q = GalleryQuery { cursor: Some(bad.to_string()), ..Default::default() };
        assert!(matches!(f.gallery.list(&q), Err(Error::InvalidInput { .. })), "{bad:?}");
    }
    let q = GalleryQuery { cursor: Some(cursor.clone()), sort: SortOrder::Rating, ..Default::default() };
    assert!(matches!(f.gallery.list(&q), Err(Error::InvalidInput { .. })), "a cursor of another sort order");
    let q = GalleryQuery { cursor: Some(cursor), limit: 2, ..Default::default() };
    assert_eq!(f.gallery.list(&q).expect("next page").items.len(), 2);

    let q = GalleryQuery { limit: 5000, ..Default::default() };
    assert_eq!(f.gallery.list(&q).expect("huge limit is capped").items.len(), 4);
    let json: GalleryQuery =
        serde_json::from_str(r#"{"text":"fox","favouritesOnly":true}"#).expect("camelCase");
    assert_eq!(json.limit, 200, "omitted fields take their defaults");
}

// ------------------------------------------------------------------------------------------------
// Delete → OS trash (in a child process with its own HOME, so the user's trash is never touched)
// ------------------------------------------------------------------------------------------------

const TRASH_ROOT: &str = "FLUXDESK_TEST_TRASH_ROOT";
const TRASH_MODE: &str = "FLUXDESK_TEST_TRASH_MODE";

#[test]
#[ignore = "helper: run as a child process by delete_moves_files_to_the_trash_and_removes_rows"]
fn child_trash_worker() {
    let (Some(root), Ok(mode)) = (std::env::var_os(TRASH_ROOT), std::env::var(TRASH_MODE)) else { return };
    let root = PathBuf::from(root);
    let db = Db::open(&root.join("fluxdesk.db")).expect("db");
    let g = Gallery::new(db, root.join("Gallery"), root.join("thumbs"));
    let save = |rel: &str, seed: u32| -> i64 {
        let png = png_bytes(16, 16, seed);
        files::write_new_file(&g.root().join(rel), &png).expect("write");
        let mut img = synthetic(seed, "to delete", at(0));
        img.rel_path = rel.into();
        img.content_hash = files::content_hash(&png);
        g.insert(&img).expect("insert").0
    };
    match mode.as_str() {
        "ok" => {
            let keep = save("2026/11/keep me.png", 1);
            let gone = save("2026/11/délète #1.png", 2);
            let already_gone = save("2026/11/removed by hand.png", 3);
            let thumb = thumbs::thumb_path(g.thumbs_dir(), &g.get(gone).expect("get").content_hash);
            files::write_new_file(&thumb, b"thumb").expect("thumb");
            std::fs::remove_file(g.root().join("2026/11/removed by hand.png")).expect("rm");

            g.delete(&[gone, already_gone, 999]).expect("delete");
            assert!(!g.root().join("2026/11/délète #1.png").exists(), "the file left the gallery");
            assert!(matches!(g.get(gone), Err(Error::Missing { .. })));
            assert!(matches!(g.get(already_gone), Err(Error::Missing { .. })), "a file already gone is fine");
            assert!(g.get(keep).is_ok() && g.root().join("2026/11/keep me.png").exists());
            assert!(!thumb.exists(), "the thumbnail goes too");
            let trashed = root.join("home/.local/share/Trash/files/délète #1.png");
            assert!(trashed.exists(), "the file is in this test's own trash: {}", trashed.display());
        }
        "fail" => {
            // XDG_DATA_HOME is a regular file here, so no trash folder can be created.
            let id = save("cannot trash.png", 4);
            let err = g.delete(&[id]).expect_err("trash failure is reported");
            assert!(matches!(err, Error::Io { .. }), "{err:?}");
            assert!(g.get(id).is_ok(), "the row is kept");
            assert!(g.root().join("cannot trash.png").exists(), "the file is kept");
        }
        other => panic!("unknown mode {other}"),
    }
    println!("CHILD-OK");
}

fn run_trash_child(mode: &str, root: &Path, data_home: &Path) {
    let out = Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "child_trash_worker", "--ignored", "--nocapture", "--test-threads=1"])
        .env(TRASH_ROOT, root)
        .env(TRASH_MODE, mode)
        .env("HOME", root.join("home"))
        .env("XDG_DATA_HOME", data_home)
        .output()
        .expect("spawn");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("CHILD-OK"), "child {mode} failed:\n{stdout}\n{stderr}");
}

#[test]
fn delete_moves_files_to_the_trash_and_removes_rows() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("home")).expect("home");
    run_trash_child("ok", dir.path(), &dir.path().join("home/.local/share"));

    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("home")).expect("home");
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"x").expect("blocker");
    run_trash_child("fail", dir.path(), &blocker);
}

// ------------------------------------------------------------------------------------------------
// Reconcile and rebuild
// ------------------------------------------------------------------------------------------------

#[test]
fn reconcile_indexes_dropped_files_removes_deleted_ones_and_keeps_ratings() {
    let f = Fixture::new();
    let ours = f.save(
        "2026/11/2026-11-21_143012_red-fox_3f9a.png",
        &meta("a red fox at dawn", "task-1", 0, at(0)),
        1,
    );
    f.gallery.set_rating(&[ours], 4).expect("rate");

    // Dropped in by hand: our metadata (copied from another Fluxdesk), A1111 only, a plain JPEG.
    let dropped_meta = meta("赤いキツネ, watercolor", "task-2", 1, at(100));
    let png = embed_png_metadata(&png_bytes(40, 30, 2), &dropped_meta).expect("embed");
    std::fs::create_dir_all(f.abs("imports")).expect("mkdir");
    std::fs::write(f.abs("imports/from-friend.png"), &png).expect("write");
    let params = "portrait of an old sailor, oil painting\nNegative prompt: cartoon\n\
                  Steps: 30, Sampler: Euler, CFG scale: 3.5, Seed: 987654321, Size: 20x24, Model: flux1-dev";
    std::fs::write(f.abs("imports/a1111.PNG"), a1111_png(20, 24, params)).expect("write");
    std::fs::write(f.abs("holiday.jpg"), jpeg_bytes(64, 48)).expect("write");
    // Ignored: hidden files and folders (our temp files are hidden), other file types.
    std::fs::write(f.abs("2026/11/.fluxdesk-tmp-abc.part"), b"partial").expect("write");
    std::fs::create_dir_all(f.abs(".thumbnails")).expect("mkdir");
    std::fs::write(f.abs(".thumbnails/x.png"), png_bytes(8, 8, 9)).expect("write");
    std::fs::write(f.abs("notes.txt"), b"hello").expect("write");
    // Reported: a file that claims to be an image but is not.
    std::fs::write(f.abs("broken.png"), b"\x89PNG\r\n\x1a\nthis is not really a png").expect("write");

    let report = f.gallery.reconcile().expect("reconcile");
    assert_eq!((report.added, report.removed, report.unchanged), (3, 0, 1), "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].contains("broken.png"));
    assert_eq!(f.gallery.count().expect("count"), 4);

    let by_path = |rel: &str| -> ImageRecord {
        let all = all_pages(&f.gallery, GalleryQuery { limit: 100, ..Default::default() });
        all.into_iter().find(|r| r.rel_path == rel).unwrap_or_else(|| panic!("{rel} not indexed"))
    };
    let friend = by_path("imports/from-friend.png");
    assert_eq!(friend.prompt, "赤いキツネ, watercolor");
    assert_eq!(
        (friend.task_id.as_deref(), friend.output_index, friend.seed),
        (Some("task-2"), Some(1), Some(1_234_568))
    );
    assert_eq!((friend.width, friend.height), (40, 30), "dimensions come from the file");
    assert_eq!(friend.created_at, at(100));
    assert_eq!(friend.content_hash, files::content_hash(&png));

    let a1111 = by_path("imports/a1111.PNG");
    assert_eq!(a1111.prompt, "portrait of an old sailor, oil painting");
    assert_eq!(a1111.negative_prompt.as_deref(), Some("cartoon"));
    assert_eq!((a1111.seed, a1111.steps, a1111.guidance), (Some(987_654_321), Some(30), Some(3.5)));
    assert_eq!(a1111.task_id, None);

    let jpeg = by_path("holiday.jpg");
    assert_eq!((jpeg.prompt.as_str(), jpeg.width, jpeg.height), ("", 64, 48));
    let mtime: DateTime<Utc> =
        std::fs::metadata(f.abs("holiday.jpg")).expect("stat").modified().expect("mtime").into();
    assert_eq!(jpeg.created_at.timestamp_millis(), mtime.timestamp_millis(), "no metadata: the file's mtime");
    assert_eq!(jpeg.file_size, std::fs::metadata(f.abs("holiday.jpg")).expect("stat").len());

    let found =
        f.gallery.list(&GalleryQuery { text: Some("sailor".into()), ..Default::default() }).expect("search");
    assert_eq!(ids(&found.items), vec![a1111.id], "dropped files are searchable");

    // Nothing changed: nothing re-read.
    let report = f.gallery.reconcile().expect("reconcile");
    assert_eq!((report.added, report.removed, report.unchanged, report.moved), (0, 0, 4, 0), "{report:?}");

    // Deleted by hand, moved by hand, copied by hand.
    std::fs::remove_file(f.abs("holiday.jpg")).expect("rm");
    std::fs::create_dir_all(f.abs("favourites")).expect("mkdir");
    std::fs::rename(f.abs("2026/11/2026-11-21_143012_red-fox_3f9a.png"), f.abs("favourites/fox.png"))
        .expect("mv");
    std::fs::copy(f.abs("imports/from-friend.png"), f.abs("imports/from-friend copy.png")).expect("cp");
    std::fs::remove_file(f.abs("broken.png")).expect("rm");

    let report = f.gallery.reconcile().expect("reconcile");
    assert_eq!((report.added, report.removed, report.moved), (1, 1, 1), "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(matches!(f.gallery.get(jpeg.id), Err(Error::Missing { .. })));
    let fox = f.gallery.get(ours).expect("the moved image keeps its row");
    assert_eq!((fox.rel_path.as_str(), fox.rating), ("favourites/fox.png", 4), "and its rating");
    let copy = by_path("imports/from-friend copy.png");
    assert_eq!(copy.prompt, friend.prompt);
    assert_eq!(copy.task_id, None, "one row per task output; the copy is indexed without the task identity");
    assert_eq!(f.gallery.find_by_task("task-2", 1).expect("find").map(|r| r.id), Some(friend.id));
    assert!(f.gallery.list(&GalleryQuery { text: Some("sailor".into()), ..Default::default() }).is_ok());

    // An edited file (same path, new bytes): refreshed in place, rating kept.
    f.gallery.set_rating(&[a1111.id], 2).expect("rate");
    let params2 =
        "portrait of a young sailor, ink\nSteps: 12, CFG scale: 2.5, Seed: 5, Size: 24x20, Model: flux1-dev";
    std::fs::write(f.abs("imports/a1111.PNG"), a1111_png(24, 20, params2)).expect("edit");
    let report = f.gallery.reconcile().expect("reconcile");
    assert_eq!(report.updated, 1, "{report:?}");
    let edited = f.gallery.get(a1111.id).expect("same row");
    assert_eq!(
        (edited.prompt.as_str(), edited.width, edited.rating),
        ("portrait of a young sailor, ink", 24, 2)
    );
    let found =
        f.gallery.list(&GalleryQuery { text: Some("young".into()), ..Default::default() }).expect("search");
    assert_eq!(ids(&found.items), vec![a1111.id], "the search index follows the edit");
}

#[test]
fn reconcile_never_empties_the_index_when_the_folder_is_empty_or_missing() {
    let f = Fixture::new();
    f.save("a.png", &meta("fox", "t-1", 0, at(0)), 1);
    f.save("b.png", &meta("whale", "t-2", 0, at(1)), 2);
    std::fs::remove_file(f.abs("a.png")).expect("rm");
    std::fs::remove_file(f.abs("b.png")).expect("rm");
    let report = f.gallery.reconcile().expect("reconcile");
    assert_eq!(report.removed, 0);
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(f.gallery.count().expect("count"), 2);

    std::fs::remove_dir_all(f.gallery.root()).expect("rm root");
    assert!(matches!(f.gallery.reconcile(), Err(Error::Missing { .. })));
    assert!(matches!(f.gallery.rebuild(), Err(Error::Missing { .. })));
    assert_eq!(f.gallery.count().expect("count"), 2, "an unmounted drive loses nothing");
}

fn saved_set(f: &Fixture) -> Vec<(i64, ImageMeta)> {
    let prompts = [
        "a red fox at dawn",
        "赤いキツネ",
        "Straße im Schnee, \"quoted\"",
        "line one\nline two",
        "fox, 100%",
    ];
    prompts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut m = meta(p, &format!("task-{}", i / 2), (i % 2) as u32, at(i as i64 * 3600));
            if i == 3 {
                m.negative_prompt = None;
                m.guidance = None;
                m.model = Some("Qubico/flux1-schnell".into());
            }
            let rel = format!("2026/11/img_{i}.png");
            (f.save(&rel, &m, i as u32 + 10), m)
        })
        .collect()
}

fn assert_restored(g: &Gallery, rel: &str, m: &ImageMeta) {
    let all = all_pages(g, GalleryQuery { limit: 100, ..Default::default() });
    let r = all.iter().find(|r| r.rel_path == rel).unwrap_or_else(|| panic!("{rel} missing"));
    assert_eq!(r.prompt, m.prompt);
    assert_eq!(r.negative_prompt, m.negative_prompt);
    assert_eq!(r.model, m.model);
    assert_eq!(r.task_type, m.task_type);
    assert_eq!((r.width, r.height), (m.width, m.height));
    assert_eq!((r.seed, r.steps, r.guidance), (m.seed, m.steps, m.guidance));
    assert_eq!((r.task_id.as_ref(), r.output_index), (m.task_id.as_ref(), m.output_index));
    assert_eq!(r.cost_usd, m.cost_usd);
    assert_eq!(Some(r.created_at), m.created_at);
}

#[test]
fn rebuild_after_deleting_the_database_restores_everything_the_files_carry() {
    let f = Fixture::new();
    let saved = saved_set(&f);
    let Fixture { dir, gallery } = f;
    let (root, thumbs_dir) = (gallery.root().to_path_buf(), gallery.thumbs_dir().to_path_buf());
    drop(gallery);
    for suffix in ["", "-wal", "-shm"] {
        let p = dir.path().join(format!("fluxdesk.db{suffix}"));
        if p.exists() {
            std::fs::remove_file(p).expect("rm db");
        }
    }

    let g = Gallery::new(Db::open(&dir.path().join("fluxdesk.db")).expect("fresh db"), root, thumbs_dir);
    assert_eq!(g.count().expect("count"), 0);
    let report = g.rebuild().expect("rebuild");
    assert_eq!((report.added, report.removed), (5, 0), "{report:?}");
    for (i, (_, m)) in saved.iter().enumerate() {
        assert_restored(&g, &format!("2026/11/img_{i}.png"), m);
    }
    let hits = g.list(&GalleryQuery { text: Some("キツネ".into()), ..Default::default() }).expect("search");
    assert_eq!(hits.items.len(), 1);
}

#[test]
fn rebuild_of_a_readable_index_keeps_ratings_and_favourites() {
    let f = Fixture::new();
    let saved = saved_set(&f);
    f.gallery.set_rating(&[saved[1].0], 5).expect("rate");
    f.gallery.set_favourite(&[saved[2].0], true).expect("fav");
    let report = f.gallery.rebuild().expect("rebuild");
    assert_eq!(report.added, 5);
    let all = all_pages(&f.gallery, GalleryQuery { sort: SortOrder::Rating, ..Default::default() });
    assert_eq!(all[0].prompt, "赤いキツネ");
    assert_eq!(all[0].rating, 5);
    assert_eq!(
        all.iter().filter(|r| r.favourite).map(|r| r.prompt.as_str()).collect::<Vec<_>>(),
        vec!["Straße im Schnee, \"quoted\""]
    );
}

#[test]
fn a_corrupt_database_is_reported_and_rebuild_is_the_way_out() {
    let f = Fixture::new();
    let saved = saved_set(&f);
    let Fixture { dir, gallery } = f;
    let (root, thumbs_dir) = (gallery.root().to_path_buf(), gallery.thumbs_dir().to_path_buf());
    drop(gallery);
    let db_path = dir.path().join("fluxdesk.db");
    std::fs::write(&db_path, b"this used to be a database; a disk error ate it").expect("corrupt");

    let err = Db::open(&db_path).expect_err("corrupt");
    assert!(matches!(err, Error::DatabaseCorrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("rebuild"), "the message names the way out: {err}");

    let g = Gallery::new(Db::move_aside_and_recreate(&db_path).expect("recreate"), root, thumbs_dir);
    assert_eq!(g.rebuild().expect("rebuild").added, 5);
    for (i, (_, m)) in saved.iter().enumerate() {
        assert_restored(&g, &format!("2026/11/img_{i}.png"), m);
    }
}

#[test]
fn missing_thumbnails_lists_images_without_a_thumbnail_newest_first() {
    let f = Fixture::new();
    let a = f.save("a.png", &meta("a", "t-a", 0, at(0)), 1);
    let b = f.save("b.png", &meta("b", "t-b", 0, at(10)), 2);
    let c = f.save("c.png", &meta("c", "t-c", 0, at(20)), 3);
    let rec_b = f.gallery.get(b).expect("get");
    thumbs::make_thumbnail_from_file(&f.gallery.abs_path(&rec_b), &f.gallery.thumb_path(&rec_b))
        .expect("thumb");

    let missing = f.gallery.missing_thumbnails(10).expect("missing");
    assert_eq!(missing.iter().map(|m| m.0).collect::<Vec<_>>(), vec![c, a]);
    let rec_c = f.gallery.get(c).expect("get");
    assert_eq!(missing[0].1, f.gallery.abs_path(&rec_c));
    assert_eq!(missing[0].2, f.gallery.thumb_path(&rec_c));
    assert_eq!(f.gallery.missing_thumbnails(1).expect("missing").len(), 1);
    assert_eq!(f.gallery.rel_path_of(&f.abs("x/y.png")).expect("rel"), "x/y.png");
    assert!(f.gallery.rel_path_of(Path::new("/elsewhere/y.png")).is_err());
}

// ------------------------------------------------------------------------------------------------
// Scale (not a pass/fail test: prints timings; run with `--ignored --nocapture`)
// ------------------------------------------------------------------------------------------------

#[test]
#[ignore = "benchmark: cargo test -p fluxdesk-core --release --test gallery -- --ignored --nocapture scale"]
fn scale_100k_images() {
    use std::time::Instant;
    let f = Fixture::new();
    let words = ["red", "fox", "whale", "city", "night", "forest", "portrait", "neon", "snow", "river"];
    let t0 = Instant::now();
    f.gallery
        .db()
        .with_tx(|tx| {
            let mut stmt = tx.prepare(
                "INSERT INTO images (rel_path, prompt, model, width, height, seed, task_id, output_index, \
                     created_at, rating, favourite, content_hash, file_size, indexed_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9, ?10, ?11, 1000, 0)",
            )?;
            // What `Gallery::insert` adds to the index of 1–2 character terms (see db.rs).
            let mut grams =
                tx.prepare("INSERT INTO images_grams(rowid, grams) VALUES (last_insert_rowid(), ?1)")?;
            let sep = '\u{1}';
            for i in 0..100_000i64 {
                let w = |k: i64| words[((i * 7 + k * 13) % 10) as usize];
                let prompt =
                    format!("a {} {} in the {} at {}, detailed, 8k, image {i}", w(1), w(2), w(3), w(4));
                let (width, height) = [(1024, 1024), (1280, 768), (768, 1280)][(i % 3) as usize];
                stmt.execute(rusqlite::params![
                    format!("2026/{:02}/img-{i}.png", i % 12 + 1),
                    prompt,
                    if i % 2 == 0 { "Qubico/flux1-schnell" } else { "Qubico/flux1-dev" },
                    width,
                    height,
                    i,
                    format!("task-{i}"),
                    1_700_000_000_000 + i * 60_000,
                    i % 6,
                    i64::from(i % 50 == 0),
                    format!("{i:064x}"),
                ])?;
                let spaced: String = prompt.chars().flat_map(|c| [c, sep]).collect();
                grams.execute([format!("{sep}{spaced}")])?;
            }
            Ok(())
        })
        .expect("bulk insert");
    println!("insert 100k: {:?}", t0.elapsed());
    f.gallery.db().with(|c| c.execute_batch("PRAGMA optimize")).expect("optimize");

    let time = |label: &str, q: GalleryQuery| {
        let t = Instant::now();
        let page = f.gallery.list(&q).expect(label);
        let first = t.elapsed();
        let t = Instant::now();
        let next = page
            .next_cursor
            .map(|c| f.gallery.list(&GalleryQuery { cursor: Some(c), ..q.clone() }).expect(label));
        println!(
            "{label:<34} first page {first:>10.2?}  next {:>10.2?}  items {:>3}  total {:?}",
            t.elapsed(),
            page.items.len(),
            page.total
        );
        drop(next);
    };
    time("newest", GalleryQuery::default());
    time("oldest", GalleryQuery { sort: SortOrder::Oldest, ..Default::default() });
    time("rating sort", GalleryQuery { sort: SortOrder::Rating, ..Default::default() });
    time("search 'fox' (trigram)", GalleryQuery { text: Some("fox".into()), ..Default::default() });
    time(
        "search 'image 4242' (trigram)",
        GalleryQuery { text: Some("image 4242".into()), ..Default::default() },
    );
    time("search 'ne' (LIKE)", GalleryQuery { text: Some("ne".into()), ..Default::default() });
    time("favourites", GalleryQuery { favourites_only: true, ..Default::default() });
    time("rating >= 5", GalleryQuery { min_rating: Some(5), ..Default::default() });
    time("model dev", GalleryQuery { model: Some("dev".into()), ..Default::default() });
    time("portrait", GalleryQuery { aspect: Some(Aspect::Portrait), ..Default::default() });
    time(
        "search+model+rating+landscape",
        GalleryQuery {
            text: Some("whale".into()),
            model: Some("schnell".into()),
            min_rating: Some(3),
            aspect: Some(Aspect::Landscape),
            ..Default::default()
        },
    );
    let t = Instant::now();
    drop(f.reopen());
    println!(
        "Db::open (quick_check) of {} MB: {:?}",
        std::fs::metadata(f.db_path()).map(|m| m.len() >> 20).unwrap_or(0),
        t.elapsed()
    );
}
