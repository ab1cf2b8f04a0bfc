//! "Made from" links across `gallery rebuild`, on real PNG files and a real database: a rebuild
//! gives every image a new id, and each image's `source_image_id` (and each task's recorded
//! source) must follow its source to the new id, or be cleared when the source cannot be found —
//! never point at an unrelated image.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::png_bytes;
use fluxdesk_core::ErrorCode;
use fluxdesk_core::db::Db;
use fluxdesk_core::gallery::Gallery;
use fluxdesk_core::gallery_ops::rebuild_keeping_links;
use fluxdesk_core::inputs::TaskSources;
use fluxdesk_core::ledger::Ledger;
use fluxdesk_core::metadata::{ImageMeta, embed_png_metadata, read_file_metadata};
use fluxdesk_core::secrets::MemoryStore;
use fluxdesk_core::studio::{DemoChoice, Studio};
use piapi::{Model, Size, TaskRequest};
use rusqlite::OptionalExtension;

async fn open(root: &Path) -> Studio {
    Studio::open(common::studio_options(root, None, &[], Arc::new(MemoryStore::default()), DemoChoice::Off))
        .await
        .expect("studio opens")
}

/// Writes a real PNG at `rel` in the gallery whose metadata says it was made from gallery image
/// `source`, naming its id and its bytes' hash, as Fluxdesk writes its results.
fn write_image(gallery: &Gallery, rel: &str, seed: u32, source: Option<i64>) -> PathBuf {
    let hash = source.map(|id| gallery.get(id).expect("source record").content_hash);
    write_image_naming(gallery, rel, seed, source, hash)
}

/// Like [`write_image`] with the source named as given: `hash: None` is a file written before
/// files carried the source's hash (an id only).
fn write_image_naming(
    gallery: &Gallery,
    rel: &str,
    seed: u32,
    source: Option<i64>,
    hash: Option<String>,
) -> PathBuf {
    let meta = ImageMeta {
        prompt: format!("image {rel}"),
        model: Some(Model::Dev.id().to_owned()),
        task_type: Some(if source.is_some() { "img2img" } else { "txt2img" }.to_owned()),
        source_image_id: source.map(|id| id.to_string()),
        source_image_hash: hash,
        ..ImageMeta::default()
    };
    let bytes = embed_png_metadata(&png_bytes(16, 16, seed), &meta).expect("embed");
    let path = gallery.root().join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, bytes).expect("write");
    path
}

fn id_of(gallery: &Gallery, rel: &str) -> i64 {
    gallery
        .db()
        .with(|c| c.query_row("SELECT id FROM images WHERE rel_path = ?1", [rel], |r| r.get(0)).optional())
        .expect("query")
        .unwrap_or_else(|| panic!("{rel} is not indexed"))
}

fn source_of(gallery: &Gallery, rel: &str) -> Option<i64> {
    gallery.get(id_of(gallery, rel)).expect("record").source_image_id
}

fn max_id(gallery: &Gallery) -> i64 {
    gallery.db().with(|c| c.query_row("SELECT MAX(id) FROM images", [], |r| r.get(0))).expect("max")
}

/// A failed (so retryable) task whose input was taken from gallery image `source`.
fn task_from(ledger: &Ledger, source: i64) -> i64 {
    let sources = TaskSources { source_image_id: Some(source), ..TaskSources::default() };
    let req = TaskRequest::txt2img(Model::Dev, "a variation", Size::new(512, 512));
    let id =
        ledger.record_batch_with_sources(&[req], Some(&sources), Some("live:t"), None).expect("record")[0];
    ledger.mark_failed(id, ErrorCode::UploadFailed, "upload failed").expect("failed");
    id
}

fn task_source(ledger: &Ledger, id: i64) -> Option<i64> {
    ledger.get(id).expect("task").sources.source_image_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_follow_their_sources_to_the_new_ids_across_rebuilds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let studio = open(dir.path()).await;
    let g = studio.gallery();
    let ledger = studio.ledger().clone();

    write_image(&g, "src.png", 1, None);
    studio.reconcile().await.expect("reconcile");
    let src = id_of(&g, "src.png");
    // kid was made from src; a byte-identical copy of src lives elsewhere (it must not win).
    write_image(&g, "kid.png", 2, Some(src));
    std::fs::create_dir_all(g.root().join("copies")).expect("mkdir");
    std::fs::copy(g.root().join("src.png"), g.root().join("copies/src.png")).expect("copy");
    let doomed_path = write_image(&g, "doomed.png", 3, None);
    studio.reconcile().await.expect("reconcile");
    let kid = id_of(&g, "kid.png");
    let doomed = id_of(&g, "doomed.png");
    write_image(&g, "grandkid.png", 4, Some(kid));
    write_image(&g, "orphan.png", 5, Some(doomed));
    studio.reconcile().await.expect("reconcile");
    // orphan's source is deleted before the rebuild: its link cannot be recovered.
    std::fs::remove_file(&doomed_path).expect("rm");
    studio.reconcile().await.expect("reconcile");
    assert_eq!(source_of(&g, "orphan.png"), Some(doomed), "a dangling link before the rebuild");
    // Added by hand since the last reconcile: the index never saw them. One names its source's
    // bytes, which find it; the other (an older file) names only an id, which no index vouches for.
    write_image(&g, "stranger.png", 6, Some(kid));
    write_image_naming(&g, "legacy.png", 7, Some(kid), None);

    let retry_src = task_from(&ledger, src);
    let retry_kid = task_from(&ledger, kid);
    let retry_doomed = task_from(&ledger, doomed);
    let old_max = max_id(&g);

    let report = studio.rebuild().await.expect("rebuild");
    assert_eq!(report.added, 7, "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    let new_src = id_of(&g, "src.png");
    let new_kid = id_of(&g, "kid.png");
    assert!(new_src > old_max && new_kid > old_max, "the rebuild gave new ids");
    assert_eq!(source_of(&g, "kid.png"), Some(new_src), "follows src, not its copy");
    assert_eq!(source_of(&g, "grandkid.png"), Some(new_kid));
    assert_eq!(source_of(&g, "orphan.png"), None, "a lost source is cleared");
    assert_eq!(source_of(&g, "stranger.png"), Some(new_kid), "found by its source's bytes");
    assert_eq!(source_of(&g, "legacy.png"), None, "an id no index vouches for is cleared");
    assert_eq!(source_of(&g, "src.png"), None);
    assert_eq!(source_of(&g, "copies/src.png"), None);
    assert_eq!(task_source(&ledger, retry_src), Some(new_src), "a retry keeps its source");
    assert_eq!(task_source(&ledger, retry_kid), Some(new_kid));
    assert_eq!(task_source(&ledger, retry_doomed), None);
    // The files are never rewritten: they still name the ids of the first index.
    let file_meta = read_file_metadata(&g.root().join("kid.png")).expect("read").expect("meta");
    assert_eq!(file_meta.source_id(), Some(src));

    // A second rebuild goes by the index it replaces, not by the (stale) ids in the files.
    studio.rebuild().await.expect("rebuild again");
    let newest_src = id_of(&g, "src.png");
    let newest_kid = id_of(&g, "kid.png");
    assert!(newest_src > new_src);
    assert_eq!(source_of(&g, "kid.png"), Some(newest_src));
    assert_eq!(source_of(&g, "grandkid.png"), Some(newest_kid));
    assert_eq!(source_of(&g, "orphan.png"), None);
    assert_eq!(task_source(&ledger, retry_src), Some(newest_src));
    assert_eq!(task_source(&ledger, retry_kid), Some(newest_kid));
    studio.shutdown().await;
}

#[test]
fn a_source_edited_in_place_is_found_by_its_path_and_a_lost_index_clears_every_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("gallery");
    let db = Db::open(&dir.path().join("home").join("fluxdesk.db")).expect("db");
    let g = Gallery::new(db.clone(), root.clone(), dir.path().join("thumbs"));
    let ledger = Ledger::new(db);
    write_image(&g, "src.png", 1, None);
    g.reconcile().expect("reconcile");
    let src = id_of(&g, "src.png");
    write_image(&g, "kid.png", 2, Some(src));
    g.reconcile().expect("reconcile");

    // The source is edited in place (other bytes, same file) before the rebuild.
    write_image(&g, "src.png", 9, None);
    rebuild_keeping_links(&g, &ledger).expect("rebuild");
    assert_eq!(source_of(&g, "kid.png"), Some(id_of(&g, "src.png")));

    // The database is lost (`gallery rebuild --force` starts from an empty one): ids restart at
    // 1, so the ids in the files would name unrelated images. Files that name only an id lose
    // their link; kid.png names its source's bytes (as they were when it was saved: src.png has
    // been edited since), so it is cleared too, never pointed at whatever has id 1.
    let fresh = Db::open(&dir.path().join("other-home").join("fluxdesk.db")).expect("fresh db");
    let g2 = Gallery::new(fresh.clone(), root, dir.path().join("thumbs"));
    let ledger2 = Ledger::new(fresh);
    for seed in 10..14 {
        write_image_naming(&g2, &format!("more/{seed}.png"), seed, Some(1), None);
    }
    let report = rebuild_keeping_links(&g2, &ledger2).expect("rebuild into a fresh index");
    assert_eq!(report.added, 6, "{report:?}");
    let linked: i64 = g2
        .db()
        .with(|c| {
            c.query_row("SELECT COUNT(*) FROM images WHERE source_image_id IS NOT NULL", [], |r| r.get(0))
        })
        .expect("count");
    assert_eq!(linked, 0);
}

#[test]
fn a_lost_index_keeps_the_links_files_name_by_content_whatever_order_they_are_found_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("gallery");
    let db = Db::open(&dir.path().join("home").join("fluxdesk.db")).expect("db");
    let g = Gallery::new(db, root.clone(), dir.path().join("thumbs"));
    // "z-src" sorts after its results, so a fresh index meets the results first.
    write_image(&g, "z-src.png", 1, None);
    g.reconcile().expect("reconcile");
    let src = id_of(&g, "z-src.png");
    write_image(&g, "a-kid.png", 2, Some(src));
    g.reconcile().expect("reconcile");
    let kid = id_of(&g, "a-kid.png");
    write_image(&g, "0-grandkid.png", 3, Some(kid));

    let fresh = Db::open(&dir.path().join("other-home").join("fluxdesk.db")).expect("fresh db");
    let g2 = Gallery::new(fresh.clone(), root, dir.path().join("thumbs"));
    // Unrelated images take the low ids first, as after a lost database.
    write_image(&g2, "unrelated/1.png", 50, None);
    write_image(&g2, "unrelated/2.png", 51, None);
    g2.reconcile().expect("index the unrelated images");
    let report = rebuild_keeping_links(&g2, &Ledger::new(fresh)).expect("rebuild into a fresh index");
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(source_of(&g2, "a-kid.png"), Some(id_of(&g2, "z-src.png")));
    assert_eq!(source_of(&g2, "0-grandkid.png"), Some(id_of(&g2, "a-kid.png")));
    assert_eq!(source_of(&g2, "z-src.png"), None);
}

/// Overwrites the image at `rel` with other bytes of another size (so reconcile sees the change
/// whatever the filesystem's mtime resolution) whose metadata names `source` (its id, and its
/// bytes' hash when given).
fn edit_image(gallery: &Gallery, rel: &str, prompt: &str, source: Option<i64>, hash: Option<String>) {
    let meta = ImageMeta {
        prompt: prompt.to_owned(),
        model: Some(Model::Dev.id().to_owned()),
        task_type: Some("img2img".to_owned()),
        source_image_id: source.map(|id| id.to_string()),
        source_image_hash: hash,
        ..ImageMeta::default()
    };
    let bytes = embed_png_metadata(&png_bytes(24, 24, 77), &meta).expect("embed");
    std::fs::write(gallery.root().join(rel), bytes).expect("write");
}

#[test]
fn refreshing_an_edited_file_keeps_the_remapped_link_and_only_fills_a_missing_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(&dir.path().join("home").join("fluxdesk.db")).expect("db");
    let g = Gallery::new(db.clone(), dir.path().join("gallery"), dir.path().join("thumbs"));
    let ledger = Ledger::new(db);
    write_image(&g, "src.png", 1, None);
    write_image(&g, "plain.png", 3, None);
    g.reconcile().expect("reconcile");
    let old_src = id_of(&g, "src.png");
    write_image(&g, "kid.png", 2, Some(old_src));
    g.reconcile().expect("reconcile");

    rebuild_keeping_links(&g, &ledger).expect("rebuild");
    let new_src = id_of(&g, "src.png");
    assert_ne!(new_src, old_src);
    assert_eq!(source_of(&g, "kid.png"), Some(new_src));

    // kid.png is edited by a tool that keeps its metadata, which still names the first index's id.
    edit_image(&g, "kid.png", "kid, edited", Some(old_src), None);
    // plain.png had no link; its new metadata names src.png by its bytes.
    let src_hash = g.get(new_src).expect("src").content_hash;
    edit_image(&g, "plain.png", "plain, edited", Some(old_src), Some(src_hash));
    let report = g.reconcile().expect("reconcile after the edits");
    assert_eq!(report.updated, 2, "{report:?}");
    let kid = g.get(id_of(&g, "kid.png")).expect("kid");
    assert_eq!(kid.prompt, "kid, edited", "the row was refreshed from the file");
    assert_eq!(kid.source_image_id, Some(new_src), "the stale id in the file did not win");
    assert_eq!(source_of(&g, "plain.png"), Some(new_src), "a missing link is filled by content");
}

#[test]
fn an_edited_file_never_fills_a_cleared_link_from_a_stale_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(&dir.path().join("home").join("fluxdesk.db")).expect("db");
    let g = Gallery::new(db, dir.path().join("gallery"), dir.path().join("thumbs"));
    write_image(&g, "a.png", 1, None);
    write_image(&g, "b.png", 2, None);
    write_image(&g, "kid.png", 3, None);
    g.reconcile().expect("reconcile");
    let a = id_of(&g, "a.png");
    // kid.png's file now names image `a` by id only (another index's id, say): not a link.
    edit_image(&g, "kid.png", "kid, edited", Some(a), None);
    g.reconcile().expect("reconcile after the edit");
    assert_eq!(source_of(&g, "kid.png"), None, "an id alone never makes a link");
    // Named by the bytes of b.png, whatever id it names: linked to b.
    let b = id_of(&g, "b.png");
    let b_hash = g.get(b).expect("b").content_hash;
    let meta = ImageMeta {
        prompt: "kid, edited again".into(),
        source_image_id: Some(a.to_string()),
        source_image_hash: Some(b_hash),
        ..ImageMeta::default()
    };
    std::fs::write(
        g.root().join("kid.png"),
        embed_png_metadata(&png_bytes(30, 30, 78), &meta).expect("embed"),
    )
    .expect("write");
    g.reconcile().expect("reconcile after the second edit");
    assert_eq!(source_of(&g, "kid.png"), Some(b));
}
