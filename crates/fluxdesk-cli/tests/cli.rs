//! End-to-end tests of the `fluxdesk` binary against the real simulator over loopback, with a real
//! SQLite database and real files in temporary folders. These are the acceptance tests:
//! a killed batch resumes to exactly one image per task with no extra creates; a simulator that
//! goes away and comes back; two resumers at once; rebuild from files; unusable databases.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use piapi_sim::{Faults, SimConfig, SimHandle, Simulator};

struct Env {
    _dir: tempfile::TempDir,
    home: PathBuf,
    gallery: PathBuf,
    cache: PathBuf,
    /// HOME for the child, so "move to trash" uses a trash inside the temp dir.
    user_home: PathBuf,
    base_url: Option<String>,
    key: Option<String>,
    extra: Vec<(String, String)>,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let gallery = dir.path().join("My Gallery");
        let cache = dir.path().join("cache");
        let user_home = dir.path().join("user");
        Env { home, gallery, cache, user_home, _dir: dir, base_url: None, key: None, extra: Vec::new() }
    }

    fn against(mut self, sim: &SimHandle) -> Env {
        self.base_url = Some(sim.base_url());
        self.key = Some("test-key-123".into());
        self
    }

    fn with(mut self, k: &str, v: &str) -> Env {
        self.extra.push((k.into(), v.into()));
        self
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fluxdesk"));
        c.args(args)
            .env_remove("PIAPI_API_KEY")
            .env_remove("PIAPI_BASE_URL")
            .env_remove("PIAPI_POLL_MAX_ATTEMPTS")
            .env_remove("PIAPI_POLL_INTERVAL_MS")
            .env("FLUXDESK_HOME", &self.home)
            .env("FLUXDESK_GALLERY", &self.gallery)
            .env("FLUXDESK_CACHE", &self.cache)
            .env("HOME", &self.user_home)
            .env("XDG_DATA_HOME", self.user_home.join(".local/share"))
            // A keychain entry nobody else uses, so a developer's real key is never touched.
            .env("FLUXDESK_KEYRING_SERVICE", format!("ai.fluxdesk.clitest.{}", std::process::id()))
            .env("PIAPI_POLL_INTERVAL_MS", "200")
            .stdin(Stdio::null());
        if let Some(u) = &self.base_url {
            c.env("PIAPI_BASE_URL", u);
        }
        if let Some(k) = &self.key {
            c.env("PIAPI_API_KEY", k);
        }
        for (k, v) in &self.extra {
            c.env(k, v);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().expect("run fluxdesk");
        eprintln!(
            "$ fluxdesk {}\n-- status {:?}\n-- stdout\n{}\n-- stderr\n{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn fluxdesk")
    }

    /// Every file under the gallery folder.
    fn gallery_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.gallery, &mut out);
        out.sort();
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// Asserts the file is a complete PNG of the given size whose metadata carries the prompt.
fn assert_png(path: &Path, w: u32, h: u32, prompt: &str) {
    let bytes = std::fs::read(path).expect("read image");
    let img = image::load_from_memory(&bytes).expect("decodes");
    assert_eq!((img.width(), img.height()), (w, h), "{}", path.display());
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("parameters"), "A1111 parameters chunk in {}", path.display());
    assert!(text.contains(prompt), "prompt in metadata of {}", path.display());
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn start_sim(rt: &tokio::runtime::Runtime, cfg: SimConfig) -> SimHandle {
    rt.block_on(Simulator::start(cfg)).expect("simulator starts")
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn generate_against_the_simulator_saves_a_valid_png() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig::fast());
    let env = Env::new().against(&sim);
    let out = env.run(&["generate", "a red fox", "--size", "1024x768", "--json"]);
    assert!(out.status.success());
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    let img = &lines[0];
    for key in ["path", "task_id", "prompt", "model", "width", "height", "seed"] {
        assert!(!img[key].is_null(), "json has {key}: {img}");
    }
    assert_eq!(img["prompt"], "a red fox");
    assert_eq!(img["model"], "Qubico/flux1-schnell");
    let path = PathBuf::from(img["path"].as_str().expect("path"));
    assert!(path.starts_with(&env.gallery));
    let name = path.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(name.contains("red-fox") && name.ends_with(".png"), "readable name: {name}");
    assert_png(&path, 1024, 768, "a red fox");
    assert_eq!(sim.stats().creates, 1);
    // The key never lands in the image, the data folder or the output.
    let key = env.key.clone().expect("key");
    assert!(!stdout(&out).contains(&key) && !stderr(&out).contains(&key));
    let mut all = env.gallery_files();
    walk(&env.home, &mut all);
    walk(&env.cache, &mut all);
    for f in all {
        let bytes = std::fs::read(&f).expect("read");
        assert!(!String::from_utf8_lossy(&bytes).contains(&key), "key found in {}", f.display());
    }
}

#[test]
fn unicode_multiplication_sign_and_count_work() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig::fast());
    let env = Env::new().against(&sim);
    let out =
        env.run(&["generate", "tiny robots", "--size", "512×512", "--count", "3", "--seed", "42", "--json"]);
    assert!(out.status.success());
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3);
    let mut seeds: Vec<i64> = lines.iter().map(|l| l["seed"].as_i64().expect("seed")).collect();
    seeds.sort_unstable();
    assert_eq!(seeds, vec![42, 43, 44]);
    assert_eq!(sim.stats().creates, 3);
    assert_eq!(env.gallery_files().len(), 3);
}

#[test]
fn demo_mode_needs_no_key_and_no_network() {
    let env = Env::new();
    let out = env.run(&["generate", "--demo", "a red fox", "--json"]);
    assert!(out.status.success());
    let lines = json_lines(&out);
    let path = PathBuf::from(lines[0]["path"].as_str().expect("path"));
    assert_png(&path, 1024, 1024, "a red fox");
}

#[test]
fn bad_input_is_a_usage_error_that_names_the_field_and_sends_nothing() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig::fast());
    let env = Env::new().against(&sim);
    for (args, needle) in [
        (vec!["generate", "x", "--size", "2000x2000"], "1,048,576"),
        (vec!["generate", "x", "--size", "big"], "WIDTHxHEIGHT"),
        (vec!["generate", "   "], "prompt"),
        (vec!["generate", "x", "--guidance", "9"], "guidance"),
        (vec!["generate", "x", "--model", "flux-pro"], "model"),
        (vec!["generate", "x", "--model", "dev", "--count", "101"], "count"),
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?} → {}", stderr(&out));
    }
    let out = env.run(&["generate"]);
    assert_eq!(out.status.code(), Some(2), "missing prompt is a usage error");
    assert_eq!(sim.stats().creates, 0);
}

#[test]
fn no_key_without_demo_says_what_to_do() {
    let env = Env::new();
    let out = env.run(&["generate", "a red fox"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("PIAPI_API_KEY") || err.contains("keychain"), "{err}");
}

#[test]
fn a_wrong_key_is_reported_with_the_next_step() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig { api_key: Some("the-right-key".into()), ..SimConfig::fast() });
    let env = Env::new().against(&sim);
    let out = env.run(&["generate", "a red fox"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("[Unauthorized]"), "{}", stderr(&out));
    assert!(stderr(&out).contains("Settings"), "says where to fix it");
    assert_eq!(sim.stats().creates, 0);
}

#[test]
fn a_dead_network_is_reported_and_nothing_is_saved() {
    // A port nothing listens on: connection refused before anything was sent.
    let env = Env::new().with("PIAPI_BASE_URL", "http://127.0.0.1:9").with("PIAPI_API_KEY", "k");
    let out = env.run(&["generate", "a red fox"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("[Network]"), "{}", stderr(&out));
    assert!(env.gallery_files().is_empty());
}

#[test]
fn transient_faults_are_survived_and_failures_reported() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig { pending_ms: 300, processing_ms: 600, ..SimConfig::default() });
    let env = Env::new().against(&sim);
    // Once the task exists, everything after the create misbehaves: polls and downloads.
    let child = env.spawn(&["generate", "resilient fox", "--json"]);
    wait_until("task created", Duration::from_secs(20), || sim.stats().creates >= 1);
    sim.set_faults(Faults {
        server_errors: 2,
        bad_gateway_html: 1,
        garbage_gets: 2,
        truncated_downloads: 1,
        corrupt_downloads: 1,
        ..Faults::default()
    });
    let out = child.wait_with_output().expect("wait");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "faults after the create are retried");
    assert_eq!(json_lines(&out).len(), 1);
    let files = env.gallery_files();
    assert_eq!(files.len(), 1, "no partial or temp files: {files:?}");
    assert_eq!(sim.stats().creates, 1, "never two creates");

    // A 5xx on the create itself: PiAPI may or may not have made the task, so it is not resent.
    // (Each run first reads the plan's limit from /account/info, which tries at most 3 times;
    // with 4 faults the create gets a 500 whatever the interleaving.)
    sim.set_faults(Faults { server_errors: 4, ..Faults::default() });
    let out = env.run(&["generate", "unlucky fox"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("[CreateUnknown]"), "{}", stderr(&out));
    assert!(stderr(&out).contains("not resent"), "says it was not resent");
    // A 429 on the create surely created nothing: retried, one task. (Up to 3 of these go to
    // /account/info; the create retries 4 times, so it meets at least 2 and absorbs all 5.)
    sim.set_faults(Faults { rate_limits: 5, retry_after_secs: 1, ..Faults::default() });
    let before = sim.stats().create_requests;
    let out = env.run(&["generate", "patient fox"]);
    assert!(out.status.success(), "rate limits on create are retried");
    assert_eq!(sim.stats().creates, 2);
    assert!(sim.stats().create_requests >= before + 3, "the create met 429s: {:?}", sim.stats());

    sim.set_faults(Faults { fail_prompt: Some("FAILME".into()), ..Faults::default() });
    let out = env.run(&["generate", "please FAILME now"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("[TaskFailed]"), "{}", stderr(&out));
    assert!(stderr(&out).contains("content flagged"), "carries PiAPI's message");
}

#[test]
fn a_create_that_times_out_after_sending_is_never_resent() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig::fast());
    let env = Env::new().against(&sim).with("FLUXDESK_HTTP_TIMEOUT_MS", "400");
    sim.set_faults(Faults { create_delay_ms: 1500, ..Faults::default() });
    let out = env.run(&["generate", "slow fox"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("[CreateUnknown]"), "{}", stderr(&out));
    assert_eq!(sim.stats().creates, 1);
    sim.set_faults(Faults::default());
    let out = env.run(&["resume"]);
    assert_eq!(sim.stats().creates, 1, "resume never resends an uncertain create");
    assert!(stdout(&out).contains("Finished 0"), "{}", stdout(&out));
}

/// The kill test: kill -9 mid-batch, then `fluxdesk resume` finishes every image
/// exactly once, with exactly one create per task.
#[test]
fn kill_mid_batch_then_resume_gives_every_image_once() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig { pending_ms: 100, processing_ms: 1500, ..SimConfig::default() });
    let env = Env::new().against(&sim);
    let mut child = env.spawn(&["generate", "a batch of foxes", "--count", "10", "--size", "512x512"]);
    // The CLI runs 4 at a time: wait until the first wave is created (and its ids written),
    // then kill it hard while those tasks are processing and the rest are still queued.
    wait_until("first wave created", Duration::from_secs(20), || sim.stats().creates >= 4);
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert!(sim.stats().creates < 10, "killed mid-batch");

    let out = env.run(&["resume"]);
    assert!(out.status.success(), "resume finishes everything");
    let files = env.gallery_files();
    assert_eq!(files.len(), 10, "10 images, no duplicates, no partial files: {files:?}");
    assert_eq!(sim.stats().creates, 10, "10 creates: nothing paid twice");
    for f in &files {
        assert_png(f, 512, 512, "a batch of foxes");
    }
    let list = env.run(&["gallery", "list", "--json", "--limit", "100"]);
    assert_eq!(json_lines(&list).len(), 10);
    // A second resume has nothing to do.
    let again = env.run(&["resume"]);
    assert!(again.status.success());
    assert_eq!(env.gallery_files().len(), 10);
    assert_eq!(sim.stats().creates, 10);
}

#[test]
fn simulator_down_while_tasks_run_then_back_later() {
    let rt = rt();
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("sim-state.json");
    let cfg = SimConfig {
        pending_ms: 100,
        processing_ms: 800,
        state_file: Some(state.clone()),
        ..SimConfig::default()
    };
    let sim = start_sim(&rt, cfg.clone());
    let port = sim.addr().port();
    let env = Env::new().against(&sim).with("PIAPI_POLL_MAX_ATTEMPTS", "4");
    let mut child = env.spawn(&["generate", "offline foxes", "--count", "3", "--size", "512x512"]);
    wait_until("tasks created", Duration::from_secs(20), || sim.stats().creates >= 3);
    rt.block_on(sim.shutdown());
    let status = child.wait().expect("wait");
    assert!(!status.success(), "polling gives up while the server is gone");
    assert!(env.gallery_files().is_empty());

    let sim2 = start_sim(&rt, SimConfig { port, ..cfg });
    let out = env.run(&["resume"]);
    assert!(out.status.success());
    assert_eq!(env.gallery_files().len(), 3);
    assert_eq!(sim2.stats().creates, 0, "resume only polls and downloads");
}

#[test]
fn two_processes_resuming_at_once_save_each_image_once() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig { pending_ms: 100, processing_ms: 1200, ..SimConfig::default() });
    let env = Env::new().against(&sim);
    let mut child = env.spawn(&["generate", "twin foxes", "--count", "6", "--size", "512x512"]);
    wait_until("first wave created", Duration::from_secs(20), || sim.stats().creates >= 4);
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("kill");
    let _ = child.wait();

    let a = env.spawn(&["resume"]);
    let b = env.spawn(&["resume"]);
    let oa = a.wait_with_output().expect("a");
    let ob = b.wait_with_output().expect("b");
    eprintln!("A: {}\nB: {}", String::from_utf8_lossy(&oa.stdout), String::from_utf8_lossy(&ob.stdout));
    assert!(oa.status.success() && ob.status.success());
    assert_eq!(env.gallery_files().len(), 6);
    assert_eq!(sim.stats().creates, 6);
    let list = env.run(&["gallery", "list", "--json", "--limit", "100"]);
    assert_eq!(json_lines(&list).len(), 6);
}

#[test]
fn gallery_commands_and_rebuild_from_files() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig::fast());
    let env = Env::new().against(&sim);
    assert!(env.run(&["generate", "a red fox", "--seed", "1", "--size", "512x512"]).status.success());
    assert!(
        env.run(&["generate", "a blue whale", "--seed", "2", "--negative", "blurry", "--size", "512x512"])
            .status
            .success()
    );

    let found = json_lines(&env.run(&["gallery", "search", "whal", "--json"]));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["prompt"], "a blue whale");
    let id = found[0]["id"].as_i64().expect("id");
    let shown = json_lines(&env.run(&["gallery", "show", &id.to_string(), "--json"]));
    assert_eq!(shown[0]["negative_prompt"], "blurry");

    // Lose the database entirely: the files alone rebuild the index.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(env.home.join(format!("fluxdesk.db{suffix}")));
    }
    let out = env.run(&["gallery", "rebuild"]);
    assert!(out.status.success());
    let all = json_lines(&env.run(&["gallery", "list", "--json"]));
    assert_eq!(all.len(), 2);
    let whale = all.iter().find(|i| i["prompt"] == "a blue whale").expect("whale back");
    assert_eq!(whale["seed"], 2);
    assert_eq!(whale["negative_prompt"], "blurry");
    assert!(whale["task_id"].is_string());

    let out = env.run(&["gallery", "delete", &whale["id"].to_string()]);
    assert!(out.status.success());
    assert_eq!(env.gallery_files().len(), 1, "moved out of the gallery");
    let mut trashed = Vec::new();
    walk(&env.user_home.join(".local/share/Trash/files"), &mut trashed);
    assert_eq!(trashed.len(), 1, "into the OS trash (the XDG trash of this HOME)");
    assert_eq!(json_lines(&env.run(&["gallery", "list", "--json"])).len(), 1);
}

#[test]
fn an_unusable_database_is_reported_and_never_wiped() {
    let env = Env::new();
    std::fs::create_dir_all(&env.home).expect("home");
    let db = env.home.join("fluxdesk.db");
    std::fs::write(&db, b"this is not a database, but it is someone's file").expect("write");
    let out = env.run(&["gallery", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("rebuild"), "offers the way out: {}", stderr(&out));
    assert_eq!(std::fs::read(&db).expect("still there"), b"this is not a database, but it is someone's file");

    let out = env.run(&["gallery", "rebuild", "--force"]);
    assert!(out.status.success());
    let kept = std::fs::read_dir(&env.home)
        .expect("home")
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("fluxdesk.db.broken"));
    assert!(kept, "the unusable file is kept aside");
}

#[test]
fn account_shows_balance_and_plan() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig::fast());
    let env = Env::new().against(&sim);
    let out = env.run(&["account", "--json"]);
    assert!(out.status.success());
    let v = &json_lines(&out)[0];
    assert!(v["balanceUsd"].as_f64().expect("balance") > 0.0);
    assert_eq!(v["maxConcurrentTasks"], 8);
}

#[test]
fn key_status_never_prints_the_key() {
    let env = Env::new().with("PIAPI_API_KEY", "sk-super-secret-value");
    let out = env.run(&["key", "status"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("PIAPI_API_KEY"));
    assert!(
        !stdout(&out).contains("sk-super-secret-value") && !stderr(&out).contains("sk-super-secret-value")
    );
}

// ------------------------------------------------------------------------------------------------
// The batch queue: concurrency, batch files, seed sweeps, kill -9 mid-batch, queue commands.
// (Wall time against the ideal number of waves is measured by crates/fluxdesk-bench, not here.)
// ------------------------------------------------------------------------------------------------

impl Env {
    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        let out = child.wait_with_output().expect("wait");
        eprintln!(
            "$ fluxdesk {} < …\n-- status {:?}\n-- stdout\n{}\n-- stderr\n{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self._dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path.to_string_lossy().into_owned()
    }
}

#[test]
fn generate_count_with_concurrency_never_exceeds_it() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig { pending_ms: 20, processing_ms: 150, ..SimConfig::default() });
    let env = Env::new().against(&sim);
    let out = env.run(&[
        "generate",
        "many foxes",
        "--count",
        "12",
        "--concurrency",
        "3",
        "--size",
        "256x256",
        "--json",
    ]);
    assert!(out.status.success());
    assert_eq!(json_lines(&out).len(), 12);
    let stats = sim.stats();
    assert!(stats.max_in_flight <= 3, "{stats:?}");
    assert_eq!(stats.creates, 12);
    assert_eq!(stats.rejected_concurrency, 0);
    for bad in ["0", "101", "x"] {
        let out = env.run(&["generate", "x", "--concurrency", bad]);
        assert_eq!(out.status.code(), Some(2), "--concurrency {bad}");
    }
    assert_eq!(sim.stats().creates, 12);
}

#[test]
fn batch_file_skips_comments_and_blank_lines_and_sweeps_seeds() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig::fast());
    let env = Env::new().against(&sim);
    let file = env.write("prompts.txt", "# my prompts\n\na red fox\n   \n# not this one\n  a blue whale  \n");
    let out =
        env.run(&["batch", &file, "--count", "2", "--seed-sweep", "100:5", "--size", "256x256", "--json"]);
    assert!(out.status.success());
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4);
    let mut got: Vec<(String, i64)> = lines
        .iter()
        .map(|l| (l["prompt"].as_str().expect("prompt").to_owned(), l["seed"].as_i64().expect("seed")))
        .collect();
    got.sort();
    let want: Vec<(String, i64)> = vec![
        ("a blue whale".into(), 100),
        ("a blue whale".into(), 105),
        ("a red fox".into(), 100),
        ("a red fox".into(), 105),
    ];
    assert_eq!(got, want);
    assert_eq!(sim.stats().creates, 4);

    // `-` reads the prompts from stdin; --seed locks them (image i uses SEED + i).
    let out = env.run_with_stdin(
        &["batch", "-", "--seed", "7", "--size", "256x256", "--json"],
        "an owl\n#x\na moth\n",
    );
    assert!(out.status.success());
    let mut seeds: Vec<i64> = json_lines(&out).iter().map(|l| l["seed"].as_i64().expect("seed")).collect();
    seeds.sort_unstable();
    assert_eq!(seeds, vec![7, 7]);

    // Usage errors send nothing: no prompts, a missing file, a bad sweep, both seed options.
    let empty = env.write("empty.txt", "# nothing\n\n");
    for args in [
        vec!["batch", empty.as_str()],
        vec!["batch", "/nonexistent/prompts.txt"],
        vec!["batch", file.as_str(), "--seed-sweep", "x:1"],
        vec!["batch", file.as_str(), "--seed", "1", "--seed-sweep", "1"],
        vec!["batch", file.as_str(), "--count", "0"],
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    assert_eq!(sim.stats().creates, 6);
}

/// The kill test for batches: kill -9 during a 20-task batch, then `fluxdesk resume`
/// gives 20 images and exactly 20 creates.
#[test]
fn kill_during_a_20_task_batch_then_resume_gives_20_images_and_20_creates() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig { pending_ms: 100, processing_ms: 900, ..SimConfig::default() });
    let env = Env::new().against(&sim);
    let file = env.write("foxes.txt", "fox one\nfox two\nfox three\nfox four\n");
    let mut child = env.spawn(&["batch", &file, "--count", "5", "--concurrency", "5", "--size", "256x256"]);
    // All 20 are in the ledger before anything is sent; kill once the first wave of 5 is on
    // PiAPI (ids written), while they process and 15 are still queued.
    wait_until("first wave created", Duration::from_secs(20), || sim.stats().creates >= 5);
    std::thread::sleep(Duration::from_millis(200));
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert!(sim.stats().creates < 20, "killed mid-batch");

    let list = env.run(&["queue", "list", "--json"]);
    let q = &json_lines(&list)[0];
    assert_eq!(q["jobs"].as_array().expect("jobs").len(), 20, "nothing lost: {q}");

    let out = env.run(&["resume"]);
    assert!(out.status.success(), "resume finishes everything");
    let files = env.gallery_files();
    assert_eq!(files.len(), 20, "20 images, no duplicates, no partial files: {files:?}");
    assert_eq!(sim.stats().creates, 20, "20 creates: nothing paid twice");
    let list = env.run(&["queue", "list", "--json"]);
    assert_eq!(json_lines(&list)[0]["jobs"].as_array().expect("jobs").len(), 0);
}

#[test]
fn queue_commands_pause_list_move_cancel_resume_and_cost() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig::fast());
    let env = Env::new().against(&sim);
    assert!(env.run(&["queue", "pause", "--reason", "lunch"]).status.success());

    // A paused queue records the work and sends nothing; each job says why.
    let out = env.run(&["generate", "paused fox", "--count", "3", "--size", "256x256"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("queue is paused: lunch"), "{}", stderr(&out));
    assert_eq!(sim.stats().create_requests, 0);

    let ids = |o: &Output| -> Vec<i64> {
        json_lines(o)[0]["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .map(|j| j["id"].as_i64().expect("id"))
            .collect()
    };
    let list = env.run(&["queue", "list", "--json"]);
    let q = &json_lines(&list)[0];
    assert_eq!(q["paused"], true);
    assert_eq!(q["pause_reason"], "lunch");
    assert_eq!(q["queued"], 3);
    let (a, b, c) = match ids(&list)[..] {
        [a, b, c] => (a, b, c),
        ref other => panic!("three queued jobs: {other:?}"),
    };
    let human = env.run(&["queue"]);
    assert!(human.status.success() && stdout(&human).contains("Paused: lunch"), "{}", stdout(&human));

    assert!(env.run(&["queue", "move", &c.to_string(), "--before", &a.to_string()]).status.success());
    assert_eq!(ids(&env.run(&["queue", "list", "--json"])), vec![c, a, b]);
    assert!(env.run(&["queue", "move", &c.to_string(), "--last"]).status.success());
    assert_eq!(ids(&env.run(&["queue", "list", "--json"])), vec![a, b, c]);
    assert_eq!(env.run(&["queue", "move", &c.to_string()]).status.code(), Some(2), "--before or --last");

    let out = env.run(&["queue", "cancel", &b.to_string()]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("never sent"), "{}", stderr(&out));
    assert_eq!(ids(&env.run(&["queue", "list", "--json"])), vec![a, c]);

    // Still paused: `resume` leaves them queued and says so.
    let out = env.run(&["resume"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("left queued"), "{}", stdout(&out));
    assert_eq!(sim.stats().create_requests, 0);

    assert!(env.run(&["queue", "resume"]).status.success());
    let out = env.run(&["resume"]);
    assert!(out.status.success());
    assert_eq!(env.gallery_files().len(), 2);
    assert_eq!(sim.stats().creates, 2);

    let out = env.run(&["cost", "--json"]);
    assert!(out.status.success());
    let cost = &json_lines(&out)[0];
    assert!((cost["todayUsd"].as_f64().expect("today") - 0.003).abs() < 1e-9, "{cost}");
    assert!(cost["monthUsd"].as_f64().expect("month") >= 0.003);
    assert!(cost["balanceUsd"].as_f64().is_some());
    assert!(stdout(&env.run(&["cost"])).contains("Today"));
}

/// A colourful source PNG with no white pixels.
fn write_source(path: &Path, w: u32, h: u32) {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 200 / w) as u8 + 20, (y * 200 / h) as u8 + 20, 90])
    })
    .save(path)
    .expect("write source");
}

#[test]
fn img2img_from_a_file_uploads_it_and_records_the_task() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig::fast());
    let env = Env::new().against(&sim);
    std::fs::create_dir_all(&env.user_home).expect("dir");
    let src = env.user_home.join("photo.png");
    write_source(&src, 96, 64);
    let out = env.run(&[
        "generate",
        "a watercolour harbour",
        "--task",
        "img2img",
        "--image",
        src.to_str().expect("path"),
        "--denoise",
        "0.6",
        "--json",
    ]);
    assert!(out.status.success());
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["task_type"], "img2img");
    assert_eq!(lines[0]["model"], "Qubico/flux1-schnell");
    assert_eq!((lines[0]["width"].as_u64(), lines[0]["height"].as_u64()), (Some(96), Some(64)));
    let body = sim.requests().last().cloned().expect("a create");
    assert_eq!(body["task_type"], "img2img");
    let image = body["input"]["image"].as_str().expect("image url");
    assert!(image.starts_with(&format!("{}/files/uploads/", sim.base_url())), "{image}");
    assert_eq!(sim.upload_count(), 1);
    let path = PathBuf::from(lines[0]["path"].as_str().expect("path"));
    let text = String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned();
    assert!(text.contains("Denoising strength: 0.6"), "A1111 denoise in the file");
    assert!(!text.contains("/files/uploads/"), "no upload URL in the file");
}

#[test]
fn inpaint_with_a_mask_from_a_gallery_image() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig::fast());
    let env = Env::new().against(&sim);
    let out = env.run(&["generate", "a quiet street", "--size", "128x128", "--json"]);
    assert!(out.status.success());
    let base_id = json_lines(&out)[0]["id"].as_i64().expect("id");
    std::fs::create_dir_all(&env.user_home).expect("dir");
    let mask = env.user_home.join("mask.png");
    image::GrayImage::from_fn(64, 64, |x, _| image::Luma([if x >= 32 { 255 } else { 0 }]))
        .save(&mask)
        .expect("mask");
    let out = env.run(&[
        "generate",
        "a red door",
        "--task",
        "fill-inpaint",
        "--source-id",
        &base_id.to_string(),
        "--mask",
        mask.to_str().expect("path"),
        "--json",
    ]);
    assert!(out.status.success());
    let img = &json_lines(&out)[0];
    assert_eq!(img["task_type"], "fill-inpaint");
    assert_eq!(img["model"], "Qubico/flux1-dev-advanced", "dev-advanced is picked for inpaint");
    assert_eq!(img["source_image_id"].as_i64(), Some(base_id));
    let body = sim.requests().last().cloned().expect("a create");
    assert_eq!(body["task_type"], "fill-inpaint");
    assert!(body["input"].get("mask").is_none());
    let show = env.run(&["gallery", "show", &img["id"].to_string()]);
    assert!(show.status.success());
    assert!(stdout(&show).contains(&format!("Source    image {base_id}")), "{}", stdout(&show));
}

#[test]
fn bad_task_options_are_usage_errors_that_send_nothing() {
    let rt = rt();
    let sim = start_sim(&rt, SimConfig::fast());
    let env = Env::new().against(&sim);
    std::fs::create_dir_all(&env.user_home).expect("dir");
    let src = env.user_home.join("photo.png");
    write_source(&src, 64, 64);
    let src = src.to_str().expect("path");
    let missing = env.user_home.join("nope.png");
    for (args, needle) in [
        (
            vec!["generate", "x", "--task", "controlnet-lora", "--control", "blur:edges.png"],
            "TYPE:PATH[:STRENGTH]",
        ),
        (vec!["generate", "x", "--task", "controlnet-lora", "--control", "canny"], "TYPE:PATH[:STRENGTH]"),
        (
            vec!["generate", "x", "--task", "img2img", "--image", missing.to_str().expect("p")],
            "does not exist",
        ),
        (vec!["generate", "x", "--task", "img2img"], "needs a source image"),
        (
            vec!["generate", "x", "--task", "kontext", "--model", "schnell", "--image", src],
            "not available on schnell",
        ),
        (vec!["generate", "x", "--task", "img2img", "--image", src, "--mask", src], "mask"),
        (vec!["generate", "x", "--task", "fill-outpaint", "--image", src, "--outpaint", "1,2"], "L,R,T,B"),
        (vec!["generate", "x", "--task", "paint-by-numbers"], "task"),
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?} → {}", stderr(&out));
        assert!(stderr(&out).contains("[InvalidInput]"), "coded: {}", stderr(&out));
    }
    assert_eq!((sim.stats().creates, sim.upload_count()), (0, 0));
}
