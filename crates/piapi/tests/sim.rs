//! The client against the real PiAPI simulator over loopback (no mocks of our own code).
//!
//! Every test starts its own simulator with test timings (tens of milliseconds) and a fast poll
//! policy, so the suite is quick; nothing asserts wall-clock durations.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use piapi::{
    Client, ClientConfig, DownloadOptions, Error, ErrorCode, Model, PollEvent, PollPolicy, Size, Task,
    TaskRequest, TaskStatus,
};
use piapi_sim::{Faults, SimConfig, SimHandle, Simulator, WireStyle};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

const KEY: &str = "sk-sim-integration-0123456789";
/// Upper bound for any single test step; far above what the steps need.
const BOUND: Duration = Duration::from_secs(20);

fn fast_policy() -> PollPolicy {
    PollPolicy {
        max_attempts: 400,
        interval_cap: Duration::from_millis(25),
        first_delay: Duration::from_millis(5),
        multiplier: 1.5,
        jitter: 0.2,
        ..PollPolicy::default()
    }
}

async fn start(config: SimConfig) -> SimHandle {
    Simulator::start(SimConfig { api_key: Some(KEY.to_owned()), ..config }).await.expect("simulator starts")
}

fn client_with(sim: &SimHandle, key: &str, poll: PollPolicy, read_timeout: Duration) -> Client {
    let config = ClientConfig::new(&sim.base_url(), SecretString::from(key.to_owned()))
        .expect("loopback base URL is allowed")
        .with_poll_policy(poll)
        .with_timeouts(Duration::from_secs(2), read_timeout);
    Client::new(config).expect("client builds")
}

fn client(sim: &SimHandle) -> Client {
    client_with(sim, KEY, fast_policy(), Duration::from_secs(5))
}

fn small_request(prompt: &str) -> TaskRequest {
    TaskRequest::txt2img(Model::Schnell, prompt, Size::new(256, 192))
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.expect("test step finished within its bound")
}

/// Polls to the end and returns the result plus every event.
async fn poll(client: &Client, task_id: &str) -> (piapi::Result<Task>, Vec<PollEvent>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let cancel = CancellationToken::new();
    let result = bounded(client.poll_until_done(task_id, &cancel, &mut |e| {
        sink.lock().expect("events lock").push(e);
    }))
    .await;
    let events = events.lock().expect("events lock").clone();
    (result, events)
}

fn transient_count(events: &[PollEvent]) -> usize {
    events.iter().filter(|e| matches!(e, PollEvent::Transient { .. })).count()
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn completed_task(sim: &SimHandle, client: &Client) -> Task {
    let created = bounded(client.create_task(&small_request("a lighthouse at dusk"))).await.expect("create");
    let (result, _) = poll(client, &created.task_id).await;
    let task = result.expect("task completes");
    assert_eq!(sim.stats().creates, 1);
    task
}

#[tokio::test]
async fn full_flow_in_every_wire_style() {
    let sim = start(SimConfig::fast()).await;
    let client = client(&sim);
    let dir = tempfile::tempdir().expect("tempdir");
    for (n, style) in [WireStyle::Standard, WireStyle::Capitalized, WireStyle::Legacy, WireStyle::UrlsOnly]
        .into_iter()
        .enumerate()
    {
        sim.set_faults(Faults { style, ..Faults::default() });
        let created = bounded(client.create_task(&small_request("a red fox"))).await.expect("create");
        assert!(!created.task_id.is_empty());
        assert!(!created.status.is_terminal(), "{style:?}: {:?}", created.status);

        let (result, events) = poll(&client, &created.task_id).await;
        let task = result.unwrap_or_else(|e| panic!("{style:?}: {e}"));
        assert_eq!(task.status, TaskStatus::Completed, "{style:?}");
        assert_eq!(task.task_id, created.task_id);
        assert_eq!(task.image_urls.len(), 1, "{style:?}: {:?}", task.image_urls);
        assert!(task.created_at.is_some() && task.ended_at.is_some(), "{style:?}: {task:?}");
        assert!(task.consume.is_some_and(|c| c > 0), "{style:?}");
        assert_eq!(transient_count(&events), 0);
        let statuses: Vec<TaskStatus> = events
            .iter()
            .filter_map(|e| match e {
                PollEvent::Status { task, .. } => Some(task.status),
                PollEvent::Transient { .. } => None,
            })
            .collect();
        assert_eq!(statuses.last(), Some(&TaskStatus::Completed), "{style:?}");

        let dest = dir.path().join(format!("image-{n}.png"));
        let mut progress = Vec::new();
        let img = bounded(client.download_image(
            &task.image_urls[0],
            &dest,
            &DownloadOptions::default(),
            &CancellationToken::new(),
            &mut |got, total| progress.push((got, total)),
        ))
        .await
        .unwrap_or_else(|e| panic!("{style:?}: {e}"));
        assert_eq!((img.width, img.height, img.format.as_str()), (256, 192, "png"));
        assert_eq!(img.path, dest);
        assert_eq!(std::fs::metadata(&dest).expect("file written").len(), img.bytes);
        let last = progress.last().copied().expect("progress reported");
        assert_eq!(last, (img.bytes, Some(img.bytes)));
    }
    let names = dir_names(dir.path());
    assert_eq!(names, ["image-0.png", "image-1.png", "image-2.png", "image-3.png"], "no temp files left");
    assert_eq!(sim.stats().creates, 4);
}

#[tokio::test]
async fn batch_results_carry_every_url() {
    let sim = start(SimConfig::fast()).await;
    let client = client(&sim);
    let mut req = small_request("four cats");
    req.input.batch_size = Some(3);
    let created = bounded(client.create_task(&req)).await.expect("create");
    let task = poll(&client, &created.task_id).await.0.expect("completes");
    assert_eq!(task.image_urls.len(), 3);
    let fetched = bounded(client.fetch_image(
        &task.image_urls[2],
        &DownloadOptions::default(),
        &CancellationToken::new(),
        &mut |_, _| {},
    ))
    .await
    .expect("fetch");
    assert_eq!((fetched.width, fetched.height, fetched.format.as_str()), (256, 192, "png"));
}

#[tokio::test]
async fn server_errors_and_html_bad_gateways_during_polling_are_retried() {
    let sim = start(SimConfig::fast()).await;
    let client = client(&sim);
    let created = bounded(client.create_task(&small_request("storm"))).await.expect("create");
    sim.set_faults(Faults { server_errors: 3, bad_gateway_html: 2, ..Faults::default() });
    let (result, events) = poll(&client, &created.task_id).await;
    let task = result.expect("the task still completes");
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!(transient_count(&events), 5);
    let html_leaked =
        events.iter().any(|e| matches!(e, PollEvent::Transient { error, .. } if error.contains("<html")));
    assert!(!html_leaked, "HTML bodies are not shown to users");
}

#[tokio::test]
async fn garbage_get_bodies_are_retried() {
    let sim = start(SimConfig::fast()).await;
    let client = client(&sim);
    let created = bounded(client.create_task(&small_request("garbage"))).await.expect("create");
    sim.set_faults(Faults { garbage_gets: 3, ..Faults::default() });
    let (result, events) = poll(&client, &created.task_id).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(transient_count(&events), 3);
}

#[tokio::test]
async fn retry_after_is_honoured_while_polling() {
    let sim = start(SimConfig::fast()).await;
    let client = client(&sim);
    let created = bounded(client.create_task(&small_request("slow down"))).await.expect("create");
    sim.set_faults(Faults { rate_limits: 1, retry_after_secs: 1, ..Faults::default() });
    let (result, events) = poll(&client, &created.task_id).await;
    assert!(result.is_ok(), "{result:?}");
    let waits: Vec<Duration> = events
        .iter()
        .filter_map(|e| match e {
            PollEvent::Transient { retry_in, .. } => Some(*retry_in),
            PollEvent::Status { .. } => None,
        })
        .collect();
    assert_eq!(waits, [Duration::from_secs(1)], "the server's Retry-After replaces the poll interval");
}

#[tokio::test]
async fn rate_limited_create_is_retried_without_creating_twice() {
    let sim = start(SimConfig::fast()).await;
    let client = client(&sim);
    sim.set_faults(Faults { rate_limits: 1, retry_after_secs: 1, ..Faults::default() });
    let task = bounded(client.create_task(&small_request("patience"))).await.expect("create after a 429");
    assert!(!task.task_id.is_empty());
    let stats = sim.stats();
    assert_eq!(stats.creates, 1);
    assert_eq!(stats.create_requests, 2);
}

#[tokio::test]
async fn slow_create_beyond_the_read_timeout_is_unknown_and_never_resent() {
    let sim = start(SimConfig::fast()).await;
    let client = client_with(&sim, KEY, fast_policy(), Duration::from_millis(300));
    sim.set_faults(Faults { create_delay_ms: 1500, ..Faults::default() });
    let err = bounded(client.create_task(&small_request("did it happen?"))).await.expect_err("times out");
    assert_eq!(err.code(), ErrorCode::CreateUnknown, "{err}");
    assert!(err.to_string().contains("not resent"), "{err}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = sim.stats();
    assert_eq!(stats.creates, 1, "the task was created once");
    assert_eq!(stats.create_requests, 1, "and never resent");
}

#[tokio::test]
async fn server_error_on_create_is_unknown_and_never_resent() {
    let sim = start(SimConfig::fast()).await;
    let client = client(&sim);
    sim.set_faults(Faults { bad_gateway_html: 1, ..Faults::default() });
    let err = bounded(client.create_task(&small_request("gateway"))).await.expect_err("502");
    assert_eq!(err.code(), ErrorCode::CreateUnknown, "{err}");
    assert!(!err.to_string().contains("<html"), "{err}");
    assert_eq!(sim.stats().create_requests, 1);
}

#[tokio::test]
async fn refused_connection_is_a_network_error_after_safe_retries() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let config = ClientConfig::new(&format!("http://127.0.0.1:{port}"), SecretString::from(KEY.to_owned()))
        .expect("config")
        .with_poll_policy(fast_policy());
    let client = Client::new(config).expect("client");
    let err = bounded(client.create_task(&small_request("anyone there?"))).await.expect_err("refused");
    assert_eq!(err.code(), ErrorCode::Network, "{err}");
}

#[tokio::test]
async fn wrong_key_is_unauthorized_with_a_sentence_and_no_key() {
    let sim = start(SimConfig::fast()).await;
    let wrong = "sk-wrong-key-abcdef123456";
    let client = client_with(&sim, wrong, fast_policy(), Duration::from_secs(5));
    let err = bounded(client.create_task(&small_request("x"))).await.expect_err("401");
    assert_eq!(err.code(), ErrorCode::Unauthorized);
    let text = err.to_string();
    assert!(text.starts_with("PiAPI rejected the API key") && text.ends_with('.'), "{text}");
    assert!(!text.contains(wrong) && !format!("{err:?}").contains(wrong));
    let err = bounded(client.account_info()).await.expect_err("401");
    assert_eq!(err.code(), ErrorCode::Unauthorized);
    let err = bounded(client.get_task("8718d5c1-aae9-4cd5-a243-84eeb1e01117")).await.expect_err("401");
    assert_eq!(err.code(), ErrorCode::Unauthorized);
    assert_eq!(sim.stats().creates, 0);
}

#[tokio::test]
async fn failed_task_reports_the_servers_message() {
    let sim = start(SimConfig::fast()).await;
    let client = client(&sim);
    sim.set_faults(Faults { fail_prompt: Some("forbidden".into()), ..Faults::default() });
    let created = bounded(client.create_task(&small_request("something forbidden"))).await.expect("create");
    let (result, _) = poll(&client, &created.task_id).await;
    match result {
        Err(Error::TaskFailed { task_id, message }) => {
            assert_eq!(task_id, created.task_id);
            assert_eq!(message, piapi_sim::FAIL_MESSAGE);
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn insufficient_credits_on_create() {
    let sim = start(SimConfig::fast()).await;
    let client = client(&sim);
    sim.set_faults(Faults { insufficient_credits: true, ..Faults::default() });
    let err = bounded(client.create_task(&small_request("x"))).await.expect_err("402");
    assert_eq!(err.code(), ErrorCode::InsufficientCredits, "{err}");
    assert_eq!(sim.stats().creates, 0);
}

#[tokio::test]
async fn truncated_and_corrupt_downloads_are_retried_then_succeed() {
    let sim = start(SimConfig::fast()).await;
    let client = client(&sim);
    let task = completed_task(&sim, &client).await;
    sim.set_faults(Faults { truncated_downloads: 1, corrupt_downloads: 1, ..Faults::default() });
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("ok.png");
    let opts = DownloadOptions { max_attempts: 3, ..DownloadOptions::default() };
    let img = bounded(client.download_image(
        &task.image_urls[0],
        &dest,
        &opts,
        &CancellationToken::new(),
        &mut |_, _| {},
    ))
    .await
    .expect("third try succeeds");
    assert_eq!((img.width, img.height), (256, 192));
    assert_eq!(sim.stats().downloads, 3);
    assert_eq!(dir_names(dir.path()), ["ok.png"]);
    let decoded = image::open(&dest).expect("the file is a valid PNG");
    assert_eq!((decoded.width(), decoded.height()), (256, 192));
}

#[tokio::test]
async fn downloads_that_keep_failing_leave_no_file_behind() {
    let sim = start(SimConfig::fast()).await;
    let client = client(&sim);
    let task = completed_task(&sim, &client).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = DownloadOptions { max_attempts: 2, ..DownloadOptions::default() };
    let url = &task.image_urls[0];

    sim.set_faults(Faults { corrupt_downloads: 5, ..Faults::default() });
    let err = bounded(client.download_image(
        url,
        &dir.path().join("a.png"),
        &opts,
        &CancellationToken::new(),
        &mut |_, _| {},
    ))
    .await
    .expect_err("corrupt twice");
    assert_eq!(err.code(), ErrorCode::InvalidImage, "{err}");

    sim.set_faults(Faults { truncated_downloads: 5, ..Faults::default() });
    let err = bounded(client.download_image(
        url,
        &dir.path().join("b.png"),
        &opts,
        &CancellationToken::new(),
        &mut |_, _| {},
    ))
    .await
    .expect_err("truncated twice");
    assert_eq!(err.code(), ErrorCode::DownloadFailed, "{err}");

    assert_eq!(sim.stats().downloads, 4, "two tries each");
    assert!(dir_names(dir.path()).is_empty(), "no partial or temp files: {:?}", dir_names(dir.path()));
}

#[tokio::test]
async fn download_limits_and_existing_destinations() {
    let sim = start(SimConfig::fast()).await;
    let client = client(&sim);
    let task = completed_task(&sim, &client).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = &task.image_urls[0];

    let tiny = DownloadOptions { max_bytes: 100, max_attempts: 3 };
    let err = bounded(client.download_image(
        url,
        &dir.path().join("big.png"),
        &tiny,
        &CancellationToken::new(),
        &mut |_, _| {},
    ))
    .await
    .expect_err("over the limit");
    assert_eq!(err.code(), ErrorCode::DownloadFailed);
    assert_eq!(sim.stats().downloads, 1, "a size violation is not retried");

    let dest = dir.path().join("taken.png");
    std::fs::write(&dest, b"keep me").expect("write");
    let err = bounded(client.download_image(
        url,
        &dest,
        &DownloadOptions::default(),
        &CancellationToken::new(),
        &mut |_, _| {},
    ))
    .await
    .expect_err("exists");
    assert!(err.to_string().contains("destination exists"), "{err}");
    assert_eq!(std::fs::read(&dest).expect("read"), b"keep me");

    let gone = format!("{}/files/no-such-task/0.png", sim.base_url());
    let err = bounded(client.fetch_image(
        &gone,
        &DownloadOptions::default(),
        &CancellationToken::new(),
        &mut |_, _| {},
    ))
    .await
    .expect_err("404");
    assert_eq!(err.code(), ErrorCode::DownloadFailed);
    assert_eq!(dir_names(dir.path()), ["taken.png"]);
}

#[tokio::test]
async fn polling_gives_up_after_max_attempts() {
    let sim = start(SimConfig { pending_ms: 60_000, ..SimConfig::fast() }).await;
    let policy = PollPolicy { max_attempts: 3, ..fast_policy() };
    let client = client_with(&sim, KEY, policy, Duration::from_secs(5));
    let created = bounded(client.create_task(&small_request("never ends"))).await.expect("create");
    let (result, events) = poll(&client, &created.task_id).await;
    match result {
        Err(Error::Timeout { task_id, attempts }) => {
            assert_eq!(task_id, created.task_id);
            assert_eq!(attempts, 3);
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_eq!(events.len(), 3);
    assert_eq!(sim.stats().gets, 3);
}

#[tokio::test]
async fn cancellation_token_stops_polling_promptly() {
    let sim = start(SimConfig { pending_ms: 60_000, ..SimConfig::fast() }).await;
    // A long wait between checks: only cancellation can end this poll quickly.
    let policy = PollPolicy::fixed(Duration::from_secs(600), 10);
    let client = client_with(&sim, KEY, policy, Duration::from_secs(5));
    let created = bounded(client.create_task(&small_request("wait forever"))).await.expect("create");
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let result = bounded(client.poll_until_done(&created.task_id, &cancel, &mut |e| {
        if matches!(e, PollEvent::Status { .. }) {
            trigger.cancel();
        }
    }))
    .await;
    assert!(
        matches!(result, Err(Error::Cancelled { task_id: Some(ref id) }) if *id == created.task_id),
        "{result:?}"
    );
    assert_eq!(sim.stats().gets, 1);

    let already = CancellationToken::new();
    already.cancel();
    let result = bounded(client.poll_until_done(&created.task_id, &already, &mut |_| {})).await;
    assert_eq!(result.expect_err("cancelled").code(), ErrorCode::Cancelled);
    assert_eq!(sim.stats().gets, 1, "no request after cancellation");
}

#[tokio::test]
async fn account_info_is_parsed() {
    let sim = start(SimConfig { balance_usd: 12.5, concurrency_limit: 4, ..SimConfig::fast() }).await;
    let client = client(&sim);
    let info = bounded(client.account_info()).await.expect("account");
    assert_eq!(info.balance_usd, Some(12.5));
    assert_eq!(info.plan.as_deref(), Some("creator"));
    assert_eq!(info.account_name.as_deref(), Some("Fluxdesk Demo"));
    assert_eq!(info.max_concurrent_tasks, Some(4));

    sim.set_faults(Faults { server_errors: 1, ..Faults::default() });
    assert!(bounded(client.account_info()).await.is_ok(), "a transient failure is retried");
    assert_eq!(sim.stats().account_calls, 3);
}

#[tokio::test]
async fn cancel_a_pending_task_and_refuse_a_finished_one() {
    let sim = start(SimConfig { pending_ms: 60_000, ..SimConfig::fast() }).await;
    let client = client(&sim);
    let created = bounded(client.create_task(&small_request("changed my mind"))).await.expect("create");
    bounded(client.cancel_task(&created.task_id)).await.expect("pending tasks can be cancelled");
    assert_eq!(sim.stats().cancels, 1);
    let task = bounded(client.get_task(&created.task_id)).await.expect("get");
    assert_eq!(task.status, TaskStatus::Cancelled);
    let (result, _) = poll(&client, &created.task_id).await;
    assert_eq!(result.expect_err("cancelled").code(), ErrorCode::Cancelled);

    sim.update(|c| c.pending_ms = 10);
    let done = finish_new_task(&client).await;
    let err =
        bounded(client.cancel_task(&done.task_id)).await.expect_err("finished tasks cannot be cancelled");
    match err {
        Error::InvalidInput { field, message } => {
            assert_eq!(field, "task");
            assert!(
                message.contains("only pending tasks can be cancelled; it may still be charged"),
                "{message}"
            );
            assert!(message.contains("cannot be canceled"), "PiAPI's own words are kept: {message}");
            assert!(!message.contains("HTTP 400"), "{message}");
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

async fn finish_new_task(client: &Client) -> Task {
    let created = bounded(client.create_task(&small_request("done"))).await.expect("create");
    poll(client, &created.task_id).await.0.expect("completes")
}

#[tokio::test]
async fn unknown_tasks_and_bad_ids() {
    let sim = start(SimConfig::fast()).await;
    let client = client(&sim);
    let err = bounded(client.get_task("00000000-0000-4000-8000-000000000000")).await.expect_err("404");
    assert!(
        matches!(err, Error::NotFound { ref task_id } if task_id == "00000000-0000-4000-8000-000000000000")
    );
    let (result, _) = poll(&client, "00000000-0000-4000-8000-000000000000").await;
    assert_eq!(result.expect_err("404 is not retried").code(), ErrorCode::NotFound);
    assert_eq!(sim.stats().gets, 2);
    let err = bounded(client.get_task("../account/info")).await.expect_err("bad id");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    let err = bounded(client.cancel_task("00000000-0000-4000-8000-000000000000")).await.expect_err("404");
    assert_eq!(err.code(), ErrorCode::NotFound);
}

#[tokio::test]
async fn invalid_requests_are_rejected_before_sending() {
    let sim = start(SimConfig::fast()).await;
    let client = client(&sim);
    let err = bounded(client.create_task(&TaskRequest::txt2img(Model::Dev, "  ", Size::new(512, 512))))
        .await
        .expect_err("empty prompt");
    assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "prompt"));
    assert_eq!(sim.stats().create_requests, 0, "nothing was sent");
}
