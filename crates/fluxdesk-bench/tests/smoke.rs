//! Keeps the bench from rotting: every section runs end to end at a trivially small size (real
//! simulator over loopback, real SQLite, real files, the real probe binary), the results survive
//! a JSON round trip and the report renders. No timing is asserted — only that the figures exist
//! and the invariants the report states hold (creates, the plan limit, counts).

use std::path::PathBuf;

use fluxdesk_bench::results::run;
use fluxdesk_bench::{Context, Mode, Plan, Results, Section, report};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_section_runs_at_a_trivial_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = Context {
        data_dir: dir.path().join("bench-data"),
        probe_exe: Some(PathBuf::from(env!("CARGO_BIN_EXE_fluxdesk-bench"))),
        repo: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        command: "cargo test -p fluxdesk-bench".into(),
        quiet_wait: std::time::Duration::ZERO,
    };
    let plan = Plan::new(Mode::Smoke);
    let r = run(&plan, &Section::ALL, &ctx).await;
    assert!(r.failures.is_empty(), "{:#?}", r.failures);

    let p = r.polling.as_ref().expect("polling");
    for run in [&p.fluxdesk, &p.fixed] {
        assert_eq!(run.latency_ms.n + run.timeouts, plan.polling.tasks);
        assert!(run.gets_per_task.min >= 1.0);
    }
    let pl = r.pipeline.as_ref().expect("pipeline");
    assert_eq!(pl.pipeline_ms.n, plan.pipeline.images);
    assert_eq!(pl.stages.len(), 6);
    let b = r.batch.as_ref().expect("batch");
    assert_eq!(b.saved, plan.batch.tasks);
    assert_eq!(b.sim_creates, plan.batch.tasks as u64);
    assert!(b.sim_max_in_flight <= plan.batch.limit, "plan limit exceeded: {}", b.sim_max_in_flight);
    let g = r.gallery.as_ref().expect("gallery");
    assert!(g.fresh_process && g.process_to_first_page_ms.is_some());
    assert_eq!(g.search_long_ms.n, plan.gallery.long_queries);
    assert_eq!(g.search_short_ms.n, plan.gallery.short_queries);
    assert!(g.memory.hwm_mib > 0.0);
    let th = r.thumbnails.as_ref().expect("thumbnails");
    assert!(th.fluxdesk.images_per_s > 0.0 && th.fluxdesk.out_kib_mean > 0.0);
    assert!(th.imagemagick.is_some() || th.imagemagick_skipped.is_some());

    // The second gallery run reuses the cached library.
    let again = run(&plan, &[Section::Gallery], &ctx).await;
    assert!(again.failures.is_empty(), "{:#?}", again.failures);
    assert!(!again.gallery.expect("gallery").seeded_this_run);

    let path = dir.path().join("results.json");
    r.save(&path).expect("save");
    let md = report::render(&r);
    // JSON gives every float back exactly (serde_json's `float_roundtrip`), so the report rendered
    // from the saved file is the one rendered from memory.
    assert_eq!(report::render(&Results::load(&path).expect("load")), md);
    for heading in [
        "## Summary",
        "## 1. Polling",
        "## 2. Pipeline",
        "## 3. Parallel",
        "## 4. Gallery",
        "## 5. Thumbnail",
    ] {
        assert!(md.contains(heading), "missing {heading}");
    }
    assert!(md.contains("not measured in this run"), "the app figure is skipped without --app");
}
