//! Search with 1–2 character terms on a real SQLite file: the one-pass table scan (first pages,
//! and later pages of results up to 2,000 matches) and the sort-index walk (later pages of larger
//! results) must page exactly like a plain scan in every order, with exact totals, alone and
//! combined with trigram terms and the other filters.

mod common;

use std::collections::HashSet;

use common::at;
use fluxdesk_core::db::Db;
use fluxdesk_core::gallery::{Gallery, GalleryQuery, ImageRecord, NewImage, SortOrder};
use fluxdesk_core::metadata::ImageMeta;

/// More rows than the dense threshold (2,000), so "a" (in every prompt) takes the walk on later pages.
const ROWS: u32 = 2_100;

fn prompt(i: u32) -> String {
    let animal = ["a fox", "a whale", "an ox", "a cat", "a heron", "a crab", "a moth"][i as usize % 7];
    let place = ["at dawn", "in the snow", "by the sea", "on a roof", "in neon rain"][i as usize % 5];
    // Every prompt says "detailed" (a trigram term with more than 2,000 matches); a rare pair of letters in a handful of prompts.
    let rare = if i % 450 == 7 { ", zq" } else { "" };
    format!("{animal} {place}, detailed{rare}")
}

fn library() -> (tempfile::TempDir, Gallery, Vec<ImageRecord>) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::open(&dir.path().join("fluxdesk.db")).expect("db");
    let g = Gallery::new(db, dir.path().join("Gallery"), dir.path().join("thumbs"));
    for i in 0..ROWS {
        let img = NewImage {
            rel_path: format!("2026/11/img-{i:05}.png"),
            meta: ImageMeta {
                prompt: prompt(i),
                model: Some(if i % 2 == 0 { "Qubico/flux1-schnell" } else { "Qubico/flux1-dev" }.into()),
                width: 1024,
                height: if i % 3 == 0 { 768 } else { 1024 },
                task_id: Some(format!("task-{i}")),
                output_index: Some(0),
                ..ImageMeta::default()
            },
            content_hash: format!("{i:064x}"),
            file_size: 1000,
            ledger_id: None,
            // 150 distinct timestamps: many ties, so the id tie-breaker matters.
            created_at: at(i64::from(i % 150) * 60),
        };
        let (id, inserted) = g.insert(&img).expect("insert");
        assert!(inserted);
        if i % 5 != 0 {
            g.set_rating(&[id], (i % 5) as u8 + 1).expect("rate");
        }
        if i % 9 == 0 {
            g.set_favourite(&[id], true).expect("fav");
        }
    }
    let mut all = Vec::new();
    let mut q = GalleryQuery { limit: 1000, ..GalleryQuery::default() };
    loop {
        let page = g.list(&q).expect("list all");
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(all.len(), ROWS as usize);
    (dir, g, all)
}

fn expected(all: &[ImageRecord], pred: impl Fn(&ImageRecord) -> bool, sort: SortOrder) -> Vec<i64> {
    let mut v: Vec<&ImageRecord> = all.iter().filter(|r| pred(r)).collect();
    match sort {
        SortOrder::Newest => v.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id))),
        SortOrder::Oldest => v.sort_by_key(|r| (r.created_at, r.id)),
        SortOrder::Rating => v.sort_by_key(|r| std::cmp::Reverse((r.rating, r.created_at, r.id))),
    }
    v.iter().map(|r| r.id).collect()
}

/// Every page of `q`; asserts each page carries the first page's total.
fn pages(g: &Gallery, mut q: GalleryQuery) -> (Vec<i64>, u64) {
    let first = g.list(&q).expect("first page");
    let total = first.total.expect("a page asked to count has a total");
    let mut ids: Vec<i64> = first.items.iter().map(|r| r.id).collect();
    let mut next = first.next_cursor;
    while let Some(c) = next {
        q.cursor = Some(c);
        let page = g.list(&q).expect("page");
        assert_eq!(page.total, Some(total), "{q:?}: later pages carry the total");
        ids.extend(page.items.iter().map(|r| r.id));
        next = page.next_cursor;
    }
    (ids, total)
}

#[test]
fn short_terms_page_exactly_like_a_plain_scan_with_exact_totals() {
    let (_dir, g, all) = library();
    let has = |r: &ImageRecord, t: &str| r.prompt.to_lowercase().contains(t);
    let text = |t: &str| Some(t.to_string());
    let cases: Vec<Case> = vec![
        (
            "dense 1 char",
            GalleryQuery { text: text("a"), ..Default::default() },
            Box::new(move |r| has(r, "a")),
        ),
        (
            "mid 2 chars",
            GalleryQuery { text: text("ox"), ..Default::default() },
            Box::new(move |r| has(r, "ox")),
        ),
        ("rare", GalleryQuery { text: text("zq"), ..Default::default() }, Box::new(move |r| has(r, "zq"))),
        ("no match", GalleryQuery { text: text("qq"), ..Default::default() }, Box::new(|_| false)),
        (
            "two short terms, upper case",
            GalleryQuery { text: text("OX sn"), ..Default::default() },
            Box::new(move |r| has(r, "ox") && has(r, "sn")),
        ),
        (
            "short + trigram term",
            GalleryQuery { text: text("a fox"), ..Default::default() },
            Box::new(move |r| has(r, "a") && has(r, "fox")),
        ),
        (
            "short + dense trigram term",
            GalleryQuery { text: text("ox detailed"), ..Default::default() },
            Box::new(move |r| has(r, "ox") && has(r, "detailed")),
        ),
        (
            "short + filters",
            GalleryQuery {
                text: text("e"),
                model: Some("dev".into()),
                min_rating: Some(3),
                created_after: Some(at(20 * 60)),
                created_before: Some(at(120 * 60)),
                ..Default::default()
            },
            Box::new(move |r| {
                has(r, "e")
                    && r.model.as_deref() == Some("Qubico/flux1-dev")
                    && r.rating >= 3
                    && r.created_at >= at(20 * 60)
                    && r.created_at < at(120 * 60)
            }),
        ),
        (
            "short + favourites + shape",
            GalleryQuery { text: text("a"), favourites_only: true, height: Some(768), ..Default::default() },
            Box::new(move |r| has(r, "a") && r.favourite && r.height == 768),
        ),
    ];
    for (name, q, pred) in &cases {
        for sort in [SortOrder::Newest, SortOrder::Oldest, SortOrder::Rating] {
            let want = expected(&all, pred, sort);
            let (got, total) = pages(&g, GalleryQuery { sort, limit: 97, ..q.clone() });
            assert_eq!(total, want.len() as u64, "{name} {sort:?}: exact total");
            assert_eq!(got.len(), want.len(), "{name} {sort:?}: count");
            assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len(), "{name} {sort:?}: no duplicates");
            assert_eq!(got, want, "{name} {sort:?}: exact order");
        }
    }
    // The rare term really is rare and the dense one dense (both plans ran).
    assert_eq!(pages(&g, GalleryQuery { text: text("zq"), ..Default::default() }).1, 5);
    assert_eq!(pages(&g, GalleryQuery { text: text("a"), ..Default::default() }).1, u64::from(ROWS));
}

#[test]
fn a_short_term_page_after_a_cursor_of_other_filters_still_counts_everything() {
    let (_dir, g, all) = library();
    // A cursor from the unfiltered list, reused with a search: the counts it carries do not
    // apply, so the total is counted afresh, and the page starts after the cursor's position.
    let first = g.list(&GalleryQuery { limit: 300, ..Default::default() }).expect("first");
    let cursor = first.next_cursor.expect("more pages");
    let last = first.items.last().expect("items");
    let page = g
        .list(&GalleryQuery {
            text: Some("ox".into()),
            cursor: Some(cursor),
            limit: 50,
            ..Default::default()
        })
        .expect("page");
    let want: Vec<i64> = expected(&all, |r| r.prompt.contains("ox"), SortOrder::Newest);
    assert_eq!(page.total, Some(want.len() as u64));
    let after: Vec<i64> = all
        .iter()
        .filter(|r| r.prompt.contains("ox") && (r.created_at, r.id) < (last.created_at, last.id))
        .map(|r| r.id)
        .collect();
    let after: HashSet<i64> = after.into_iter().collect();
    let start = want.iter().position(|id| after.contains(id)).expect("matches after the cursor");
    let got: Vec<i64> = page.items.iter().map(|r| r.id).collect();
    assert_eq!(got, want[start..start + 50].to_vec());
}

// ------------------------------------------------------------------------------------------------
// Pages without a count (`count: false`) and the separate count
// ------------------------------------------------------------------------------------------------

/// Queries covering every plan: 1-, 2- and 3+ character terms (dense, rare, absent), alone, mixed
/// and with filters.
type Case = (&'static str, GalleryQuery, Box<dyn Fn(&ImageRecord) -> bool>);

fn count_cases() -> Vec<Case> {
    let has = |r: &ImageRecord, t: &str| r.prompt.to_lowercase().contains(t);
    let text = |t: &str| Some(t.to_string());
    vec![
        ("no text", GalleryQuery::default(), Box::new(|_| true)),
        (
            "no text + filters",
            GalleryQuery { model: Some("dev".into()), min_rating: Some(3), ..Default::default() },
            Box::new(|r| r.model.as_deref() == Some("Qubico/flux1-dev") && r.rating >= 3),
        ),
        (
            "1 char dense",
            GalleryQuery { text: text("a"), ..Default::default() },
            Box::new(move |r| has(r, "a")),
        ),
        (
            "1 char rare",
            GalleryQuery { text: text("q"), ..Default::default() },
            Box::new(move |r| has(r, "q")),
        ),
        (
            "1 char + filters",
            GalleryQuery {
                text: text("e"),
                model: Some("schnell".into()),
                favourites_only: true,
                ..Default::default()
            },
            Box::new(move |r| {
                has(r, "e") && r.model.as_deref() == Some("Qubico/flux1-schnell") && r.favourite
            }),
        ),
        (
            "2 chars mid",
            GalleryQuery { text: text("ox"), ..Default::default() },
            Box::new(move |r| has(r, "ox")),
        ),
        (
            "2 chars rare",
            GalleryQuery { text: text("zq"), ..Default::default() },
            Box::new(move |r| has(r, "zq")),
        ),
        ("2 chars absent", GalleryQuery { text: text("qq"), ..Default::default() }, Box::new(|_| false)),
        (
            "2 chars + filters",
            GalleryQuery {
                text: text("in"),
                min_rating: Some(2),
                created_after: Some(at(30 * 60)),
                height: Some(1024),
                ..Default::default()
            },
            Box::new(move |r| {
                has(r, "in") && r.rating >= 2 && r.created_at >= at(30 * 60) && r.height == 1024
            }),
        ),
        (
            "3+ dense",
            GalleryQuery { text: text("detailed"), ..Default::default() },
            Box::new(move |r| has(r, "detailed")),
        ),
        (
            "3+ sparse",
            GalleryQuery { text: text("whale"), ..Default::default() },
            Box::new(move |r| has(r, "whale")),
        ),
        (
            "3+ dense + filters",
            GalleryQuery {
                text: text("detailed"),
                model: Some("dev".into()),
                min_rating: Some(4),
                ..Default::default()
            },
            Box::new(move |r| {
                has(r, "detailed") && r.model.as_deref() == Some("Qubico/flux1-dev") && r.rating >= 4
            }),
        ),
        (
            "3+ sparse + filters",
            GalleryQuery { text: text("heron snow"), favourites_only: true, ..Default::default() },
            Box::new(move |r| has(r, "heron") && has(r, "snow") && r.favourite),
        ),
        (
            "short + 3+ terms",
            GalleryQuery { text: text("ox neon"), ..Default::default() },
            Box::new(move |r| has(r, "ox") && has(r, "neon")),
        ),
        (
            "rare short + dense 3+ terms",
            GalleryQuery { text: text("zq detailed"), ..Default::default() },
            Box::new(move |r| has(r, "zq") && has(r, "detailed")),
        ),
    ]
}

#[test]
fn count_matches_equals_the_counted_page_and_a_plain_scan() {
    let (_dir, g, all) = library();
    for (name, q, pred) in count_cases() {
        let want = all.iter().filter(|r| pred(r)).count() as u64;
        for sort in [SortOrder::Newest, SortOrder::Rating] {
            let q = GalleryQuery { sort, limit: 48, ..q.clone() };
            let page = g.list(&q).expect(name);
            assert_eq!(page.total, Some(want), "{name} {sort:?}: a page asked to count has the exact total");
            assert_eq!(g.count_matches(&q).expect(name), want, "{name} {sort:?}: count_matches");
            // Cursor, limit and the count flag do not change what is counted.
            let odd = GalleryQuery { cursor: page.next_cursor.clone(), limit: 3, count: false, ..q.clone() };
            assert_eq!(
                g.count_matches(&odd).expect(name),
                want,
                "{name} {sort:?}: count_matches ignores paging"
            );
        }
    }
}

#[test]
fn first_pages_without_a_count_are_the_same_pages_and_never_a_wrong_total() {
    let (_dir, g, all) = library();
    for (name, q, pred) in count_cases() {
        for limit in [48, 200] {
            let counted = g.list(&GalleryQuery { limit, ..q.clone() }).expect(name);
            let page = g.list(&GalleryQuery { limit, count: false, ..q.clone() }).expect(name);
            let want = expected(&all, &pred, q.sort);
            assert_eq!(page.items, counted.items, "{name} limit {limit}: the same page");
            assert_eq!(
                page.items.iter().map(|r| r.id).collect::<Vec<_>>(),
                want.iter().copied().take(limit as usize).collect::<Vec<_>>(),
                "{name} limit {limit}: exact order"
            );
            assert_eq!(page.next_cursor.is_some(), want.len() > limit as usize, "{name}: more pages");
            if let Some(total) = page.total {
                assert_eq!(total, want.len() as u64, "{name} limit {limit}: a total given is exact");
            }
            if want.len() <= limit as usize {
                assert_eq!(page.total, Some(want.len() as u64), "{name}: every match on one page is a count");
            }
        }
    }
    let uncounted = |text: &str| {
        let q = GalleryQuery { text: Some(text.into()), limit: 48, count: false, ..Default::default() };
        g.list(&q).expect(text).total
    };
    // Free counts stay in the page; the expensive ones are left out.
    assert_eq!(uncounted("whale"), Some(300), "a trigram term in fewer than 2,000 prompts: its FTS count");
    assert_eq!(uncounted("detailed"), None, "a common trigram term: its whole posting list is not read");
    assert_eq!(uncounted("zq"), Some(5), "a rare short term: its few candidates counted");
    assert_eq!(uncounted("qq"), Some(0), "an absent short term");
    assert_eq!(uncounted("a"), None, "a common 1 character term: a pass over the table is not paid for");
    assert_eq!(uncounted("ed"), None, "a common 2 character term");
    assert_eq!(uncounted("ox"), Some(600), "a 2 character term in fewer than 2,000 prompts: counted");
    let no_text = GalleryQuery { model: Some("dev".into()), limit: 48, count: false, ..Default::default() };
    assert_eq!(g.list(&no_text).expect("no text").total, Some(u64::from(ROWS / 2)), "no text: counted");
    let dense_filtered = GalleryQuery {
        text: Some("detailed".into()),
        model: Some("dev".into()),
        limit: 48,
        count: false,
        ..Default::default()
    };
    assert_eq!(g.list(&dense_filtered).expect("dense").total, None, "a dense trigram term with a filter");
}

#[test]
fn cursors_page_exactly_without_counts_and_a_later_page_can_still_count() {
    let (_dir, g, all) = library();
    for (name, q, pred) in count_cases() {
        for sort in [SortOrder::Newest, SortOrder::Oldest, SortOrder::Rating] {
            let want = expected(&all, &pred, sort);
            // A small first page, then full pages, as the UI asks; no page counts.
            let mut q = GalleryQuery { sort, limit: 48, count: false, ..q.clone() };
            let mut got = Vec::new();
            loop {
                let page = g.list(&q).expect(name);
                if let Some(total) = page.total {
                    assert_eq!(total, want.len() as u64, "{name} {sort:?}: a total given is exact");
                }
                got.extend(page.items.iter().map(|r| r.id));
                match page.next_cursor {
                    Some(c) => q = GalleryQuery { cursor: Some(c), limit: 200, ..q },
                    None => break,
                }
            }
            assert_eq!(got, want, "{name} {sort:?}: no duplicates or gaps, exact order");
        }
    }
    // An uncounted first page of a common term; the next page asks for the count and gets it.
    let first = g
        .list(&GalleryQuery { text: Some("a".into()), limit: 48, count: false, ..Default::default() })
        .expect("first");
    assert_eq!(first.total, None);
    let second = g
        .list(&GalleryQuery { text: Some("a".into()), cursor: first.next_cursor, ..Default::default() })
        .expect("second");
    assert_eq!(second.total, Some(u64::from(ROWS)));
    let third = g
        .list(&GalleryQuery {
            text: Some("a".into()),
            cursor: second.next_cursor,
            count: false,
            ..Default::default()
        })
        .expect("third");
    assert_eq!(third.total, Some(u64::from(ROWS)), "once taken, the total is carried by the cursor");
}
