//! `fluxdesk`: the command line over the same core as the desktop app, for scripting and tests.
//!
//! Exit codes: 0 when everything asked for succeeded; 1 when something failed (one line per
//! failure on stderr); 2 for usage errors. Machine-readable output (`--json`) goes to stdout as
//! one JSON object per line; progress goes to stderr, and only when stderr is a terminal.

mod output;
mod sim;

use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use fluxdesk_core::Error;
use fluxdesk_core::gallery::{GalleryQuery, SortOrder};
use fluxdesk_core::runner::JobOutcome;
use fluxdesk_core::secrets::{self, KeyringStore, SecretStore};
use fluxdesk_core::settings::EnvOverrides;
use fluxdesk_core::studio::{DemoChoice, MAX_CONCURRENCY_OVERRIDE, Studio, StudioOptions};
use fluxdesk_core::studio_tasks::DEFAULT_CONTROL_STRENGTH;
use fluxdesk_core::views::{
    BatchRequest, ControlChoice, GenerateRequest, LoraChoice, Margins, MaskInput, ResumeReport, SeedPlan,
    SourceImage,
};
use piapi::{ControlType, Model, Size, TaskType};

#[derive(Parser)]
#[command(
    name = "fluxdesk",
    version,
    about = "Generate images with Flux through PiAPI, and manage the Fluxdesk gallery."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate images from a prompt and save them to the gallery.
    Generate(GenerateArgs),
    /// Generate images for many prompts: FILE has one prompt per line (`-` reads stdin; blank
    /// lines and lines starting with # are ignored); the options apply to every prompt.
    Batch(BatchArgs),
    /// Show and control the queue shared with the app: list, cancel, pause, resume, reorder.
    Queue {
        /// Work with demo-mode jobs (the bundled simulator) instead of PiAPI's.
        #[arg(long, global = true)]
        demo: bool,
        #[command(subcommand)]
        action: Option<QueueAction>,
    },
    /// Spending today and this month, the account balance and the daily budget.
    Cost {
        /// Demo-mode figures (the bundled simulator's play money).
        #[arg(long)]
        demo: bool,
        #[arg(long)]
        json: bool,
    },
    /// Manage the PiAPI key in the OS keychain.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Show the account's balance and plan.
    Account {
        /// Ask the bundled simulator instead of PiAPI.
        #[arg(long)]
        demo: bool,
        #[arg(long)]
        json: bool,
    },
    /// Browse and maintain the gallery index.
    Gallery {
        #[command(subcommand)]
        action: GalleryAction,
    },
    /// Finish tasks an earlier run left unfinished (poll, download, save); never resubmits.
    Resume {
        /// Resume demo-mode tasks (against the bundled simulator).
        #[arg(long)]
        demo: bool,
        #[arg(long)]
        json: bool,
    },
    /// Run the PiAPI simulator on loopback (the demo backend), with optional fault injection.
    Sim(sim::SimArgs),
}

#[derive(Args)]
struct GenerateArgs {
    /// What to draw (for kontext: the edit instruction).
    prompt: String,
    #[command(flatten)]
    opts: ImageOpts,
    /// Lock the seed (image i uses SEED + i); random when omitted.
    #[arg(long)]
    seed: Option<i64>,
    #[command(flatten)]
    task: TaskOpts,
}

/// The Flux task type and its inputs (`generate` only).
#[derive(Args)]
struct TaskOpts {
    /// txt2img, img2img, txt2img-lora, img2img-lora, controlnet-lora, fill-inpaint, fill-outpaint,
    /// redux-variation, kontext, txt2img-sr or img2img-sr.
    #[arg(long = "task", default_value = "txt2img", value_name = "TYPE")]
    task_type: String,
    /// The source image file (PNG, JPEG, WebP, GIF).
    #[arg(long, value_name = "PATH", conflicts_with = "source_id")]
    image: Option<String>,
    /// The source image from the gallery, by id (see `fluxdesk gallery list`).
    #[arg(long, value_name = "ID")]
    source_id: Option<i64>,
    /// fill-inpaint: the mask (white = repaint; or opaque, when the mask has transparency).
    #[arg(long, value_name = "PATH")]
    mask: Option<String>,
    /// img2img / img2img-lora: how far to move from the source, above 0 and up to 1.
    #[arg(long)]
    denoise: Option<f32>,
    /// A LoRA style with an optional strength 0–2 (default 1), e.g. anime:0.8. Repeatable.
    #[arg(long = "lora", value_name = "NAME[:STRENGTH]")]
    loras: Vec<String>,
    /// controlnet-lora: the ControlNet type (depth, soft_edge, canny, openpose), the control image
    /// and an optional strength 0–1 (default 0.6), e.g. canny:edges.png:0.5.
    #[arg(long, value_name = "TYPE:PATH[:STRENGTH]")]
    control: Option<String>,
    /// fill-outpaint: pixels to add on the left, right, top and bottom, e.g. 256,256,0,0.
    #[arg(long, value_name = "L,R,T,B")]
    outpaint: Option<String>,
    /// txt2img-sr / img2img-sr: the upscale factor, 2 or 4.
    #[arg(long)]
    scale: Option<u32>,
}

#[derive(Args)]
struct BatchArgs {
    /// The prompt file, one prompt per line; `-` for stdin.
    file: String,
    #[command(flatten)]
    opts: ImageOpts,
    /// Lock the seeds: image i of each prompt uses SEED + i; random when omitted.
    #[arg(long, conflicts_with = "seed_sweep")]
    seed: Option<i64>,
    /// Seed sweep START[:STEP]: image i of each prompt uses START + i × STEP (STEP defaults to 1),
    /// so every prompt gets the same seeds.
    #[arg(long, value_name = "START[:STEP]")]
    seed_sweep: Option<String>,
}

/// Options shared by `generate` and `batch`.
#[derive(Args)]
struct ImageOpts {
    /// schnell, dev, dev-advanced, or a full id such as Qubico/flux1-dev. Default: schnell, or
    /// dev-advanced for task types only it takes.
    #[arg(long, short)]
    model: Option<String>,
    /// WIDTHxHEIGHT, at most 1,048,576 pixels (e.g. 1024x768 or 1024×768).
    #[arg(long, short, default_value = "1024x1024")]
    size: String,
    /// What to avoid.
    #[arg(long)]
    negative: Option<String>,
    #[arg(long)]
    steps: Option<u32>,
    /// Guidance scale, 1.5–5.
    #[arg(long)]
    guidance: Option<f32>,
    /// Number of images (per prompt for `batch`), 1–100; each is one PiAPI task.
    #[arg(long, short = 'n', default_value_t = 1)]
    count: u32,
    /// Tasks in flight at once for this run (default: the plan's limit from PiAPI, capped by the
    /// setting); never more than the plan allows.
    #[arg(long, short = 'j')]
    concurrency: Option<u32>,
    /// Use the bundled simulator: no key, no network, no cost.
    #[arg(long)]
    demo: bool,
    /// Print one JSON object per saved image on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum QueueAction {
    /// The unfinished jobs: those on their way, then the queued ones in the order they go out.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Cancel a job: a queued one is dropped; a sent one is cancelled on PiAPI if it is still
    /// pending, otherwise Fluxdesk stops waiting for it (PiAPI may still charge for it).
    Cancel { id: i64 },
    /// Pause the queue (here and in the app): nothing new is sent; running tasks finish.
    Pause {
        /// Why, shown in the app.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume the queue.
    Resume,
    /// Move a queued job before another queued job, or to the end.
    Move {
        id: i64,
        /// The queued job to move it in front of.
        #[arg(long, required_unless_present = "last", conflicts_with = "last")]
        before: Option<i64>,
        /// Move it to the end of the queue.
        #[arg(long)]
        last: bool,
    },
}

#[derive(Subcommand)]
enum KeyAction {
    /// Read the key from stdin and store it in the OS keychain.
    Set,
    /// Whether a key is set and where it comes from; never prints the key.
    Status,
    /// Remove the key from the OS keychain.
    Delete,
}

#[derive(Subcommand)]
enum GalleryAction {
    /// List images, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Search prompts (substring).
    Search {
        query: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Show one image's metadata.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Move an image to the OS trash and remove it from the index.
    Delete { id: i64 },
    /// Recreate the index from the image files alone.
    Rebuild {
        /// Move an unusable database aside first (it is kept, renamed).
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fluxdesk: could not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fluxdesk: {e} [{}]", output::code_name(e.code()));
            // A bad argument value (size, model, prompt…) is a usage error, like clap's own.
            if e.code() == fluxdesk_core::ErrorCode::InvalidInput {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn init_tracing() {
    // Quiet by default; FLUXDESK_LOG=debug for detail. Logs never contain the key.
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLUXDESK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

async fn open_studio(demo: DemoChoice) -> Result<Studio, Error> {
    Studio::open(StudioOptions {
        env: EnvOverrides::from_process_env(),
        secrets: Arc::new(KeyringStore::default_for_env()),
        demo,
        settings_backend: None,
        resume_on_open: false,
    })
    .await
}

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Generate(args) => generate(args).await,
        Command::Batch(args) => batch(args).await,
        Command::Queue { demo, action } => {
            queue(demo, action.unwrap_or(QueueAction::List { json: false })).await
        }
        Command::Cost { demo, json } => {
            let studio = open_studio(if demo { DemoChoice::Force } else { DemoChoice::Off }).await?;
            let summary = studio.cost_summary().await;
            studio.shutdown().await;
            output::cost(&summary?, json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Key { action } => key(action).await,
        Command::Account { demo, json } => {
            let studio = open_studio(if demo { DemoChoice::Force } else { DemoChoice::Off }).await?;
            let info = studio.account().await?;
            studio.shutdown().await;
            output::account(&info, json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Gallery { action } => gallery(action).await,
        Command::Resume { demo, json } => {
            let studio = open_studio(if demo { DemoChoice::Force } else { DemoChoice::Off }).await?;
            let progress = output::Progress::start(&studio, std::io::stderr().is_terminal());
            let report = studio.resume().await?;
            progress.stop();
            studio.shutdown().await;
            output::resume_report(&report, json);
            let ok = report.failed.is_empty()
                && report.uncertain.is_empty()
                && report.still_running.is_empty()
                && report.left_queued.is_empty();
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Sim(args) => sim::run(args).await,
    }
}

async fn generate(args: GenerateArgs) -> Result<ExitCode, Error> {
    let o = &args.opts;
    let t = &args.task;
    let task_type = TaskType::parse(&t.task_type)?;
    let model = match &o.model {
        Some(m) => Model::parse(m)?,
        None if Model::Schnell.supports(task_type) => Model::Schnell,
        None => Model::DevAdvanced,
    };
    let size: Size = o.size.parse()?;
    let source = match (&t.image, t.source_id) {
        (Some(p), _) => Some(SourceImage::file(absolute(p))),
        (None, Some(id)) => Some(SourceImage::gallery(id)),
        (None, None) => None,
    };
    let req = GenerateRequest {
        prompt: args.prompt,
        negative_prompt: o.negative.clone(),
        model,
        width: size.width,
        height: size.height,
        steps: o.steps,
        guidance: o.guidance,
        seed: args.seed,
        count: o.count,
        task_type,
        source,
        mask: t.mask.as_deref().map(|p| MaskInput { path: Some(absolute(p)), png_base64: None }),
        denoise: t.denoise,
        loras: t.loras.iter().map(|l| parse_lora(l)).collect::<Result<_, _>>()?,
        control: t.control.as_deref().map(parse_control).transpose()?,
        outpaint: t.outpaint.as_deref().map(parse_margins).transpose()?,
        scale: t.scale,
    };
    // Validate before touching the keychain, the database or the network.
    Studio::plan_requests(&req)?;
    run_and_report(o, |studio| async move { studio.generate_and_wait(req, true).await }).await
}

/// Opens the studio, runs the jobs (finishing what an earlier run left behind alongside), and
/// prints the outcome: the shared tail of `generate` and `batch`.
async fn run_and_report<F, Fut>(o: &ImageOpts, run: F) -> Result<ExitCode, Error>
where
    F: FnOnce(Studio) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<(i64, JobOutcome)>, Option<ResumeReport>), Error>>,
{
    check_concurrency(o.concurrency)?;
    let studio = open_studio(if o.demo { DemoChoice::Force } else { DemoChoice::Off }).await?;
    studio.set_concurrency_override(o.concurrency)?;
    let progress = output::Progress::start(&studio, std::io::stderr().is_terminal());
    let result = run(studio.clone()).await;
    progress.stop();
    let (outcomes, resumed) = result?;
    let code = report_outcomes(&studio, &outcomes, resumed, o.json)?;
    studio.shutdown().await;
    Ok(code)
}

async fn batch(args: BatchArgs) -> Result<ExitCode, Error> {
    let o = &args.opts;
    let model = Model::parse(o.model.as_deref().unwrap_or("schnell"))?;
    let size: Size = o.size.parse()?;
    let seeds = match (&args.seed_sweep, args.seed) {
        (Some(sweep), _) => parse_sweep(sweep)?,
        (None, Some(seed)) => SeedPlan::Locked { seed },
        (None, None) => SeedPlan::Random,
    };
    let req = BatchRequest {
        prompts: read_prompts(&args.file)?,
        negative_prompt: o.negative.clone(),
        model,
        width: size.width,
        height: size.height,
        steps: o.steps,
        guidance: o.guidance,
        seeds,
        count_per_prompt: o.count,
    };
    Studio::plan_batch(&req)?;
    run_and_report(o, |studio| async move { studio.generate_batch_and_wait(req, true).await }).await
}

/// A path made absolute against the current folder (the studio may resolve it later).
fn absolute(p: &str) -> String {
    std::path::absolute(p).map(|a| a.to_string_lossy().into_owned()).unwrap_or_else(|_| p.to_owned())
}

/// `NAME[:STRENGTH]` → a LoRA (strength 1 when omitted).
fn parse_lora(text: &str) -> Result<LoraChoice, Error> {
    let bad = || {
        Error::invalid_input(
            "lora",
            format!("\"{text}\" is not NAME[:STRENGTH]; use e.g. anime or anime:0.8 (strength 0–2)"),
        )
    };
    let (name, strength) = match text.trim().split_once(':') {
        Some((n, s)) => (n.trim(), s.trim().parse::<f32>().map_err(|_| bad())?),
        None => (text.trim(), 1.0),
    };
    if name.is_empty() {
        return Err(bad());
    }
    Ok(LoraChoice { name: name.to_owned(), strength })
}

/// `TYPE:PATH[:STRENGTH]` → a ControlNet choice (strength 0.6 when omitted). A path may itself
/// contain `:`; a last part that is a number is the strength.
fn parse_control(text: &str) -> Result<ControlChoice, Error> {
    let types = ControlType::ALL.map(ControlType::as_str).join(", ");
    let bad = |why: &str| {
        Error::invalid_input(
            "control",
            format!(
                "\"{text}\" is not TYPE:PATH[:STRENGTH] ({why}); use e.g. canny:edges.png:0.5 (types: {types})"
            ),
        )
    };
    let (kind, rest) = text.trim().split_once(':').ok_or_else(|| bad("no image path"))?;
    let control_type = ControlType::parse(kind).map_err(|_| bad(&format!("unknown type \"{kind}\"")))?;
    let (path, strength) = match rest.rsplit_once(':') {
        Some((p, s)) if s.trim().parse::<f32>().is_ok() => {
            (p, s.trim().parse::<f32>().map_err(|_| bad("bad strength"))?)
        }
        _ => (rest, DEFAULT_CONTROL_STRENGTH),
    };
    if path.trim().is_empty() {
        return Err(bad("no image path"));
    }
    Ok(ControlChoice { control_type, image: SourceImage::file(absolute(path.trim())), strength })
}

/// `L,R,T,B` → outpaint margins in pixels.
fn parse_margins(text: &str) -> Result<Margins, Error> {
    let bad = || {
        Error::invalid_input(
            "outpaint",
            format!("\"{text}\" is not L,R,T,B; give four whole pixel counts, e.g. 256,256,0,0"),
        )
    };
    let parts: Vec<u32> =
        text.split(',').map(|p| p.trim().parse::<u32>().map_err(|_| bad())).collect::<Result<_, _>>()?;
    match parts[..] {
        [left, right, top, bottom] => Ok(Margins { left, right, top, bottom }),
        _ => Err(bad()),
    }
}

fn check_concurrency(k: Option<u32>) -> Result<(), Error> {
    match k {
        Some(k) if !(1..=MAX_CONCURRENCY_OVERRIDE).contains(&k) => Err(Error::invalid_input(
            "concurrency",
            format!("{k} is out of range; use 1–{MAX_CONCURRENCY_OVERRIDE} tasks at once"),
        )),
        _ => Ok(()),
    }
}

/// `START[:STEP]` → a seed sweep.
fn parse_sweep(text: &str) -> Result<SeedPlan, Error> {
    let bad = || {
        Error::invalid_input(
            "seed-sweep",
            format!("\"{text}\" is not START[:STEP]; use e.g. 100 or 100:10 (non-negative numbers)"),
        )
    };
    let (start, step) = match text.trim().split_once(':') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (text.trim(), "1"),
    };
    let start: i64 = start.parse().map_err(|_| bad())?;
    let step: i64 = step.parse().map_err(|_| bad())?;
    if start < 0 || step < 0 {
        return Err(bad());
    }
    Ok(SeedPlan::Sweep { start, step })
}

/// One prompt per line of `file` (`-` = stdin); blank lines and `#` comments are skipped.
fn read_prompts(file: &str) -> Result<Vec<String>, Error> {
    let text = if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Error::invalid_input("file", format!("could not read prompts from stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| Error::invalid_input("file", format!("could not read {file}: {e}")))?
    };
    Ok(prompts_from_text(&text))
}

fn prompts_from_text(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
}

/// Prints saved images (stdout) and one line per job that did not save (stderr). Exit 0 when
/// every job saved.
fn report_outcomes(
    studio: &Studio,
    outcomes: &[(i64, JobOutcome)],
    resumed: Option<ResumeReport>,
    json: bool,
) -> Result<ExitCode, Error> {
    let mut failures = 0;
    let mut paused = 0;
    for (job_id, outcome) in outcomes {
        match outcome {
            JobOutcome::Saved(images) => {
                for rec in images {
                    output::saved_image(&studio.get_image(rec.id)?, json);
                }
            }
            JobOutcome::Failed(e) => {
                failures += 1;
                eprintln!("job {job_id}: {e} [{}]", output::code_name(e.code()));
            }
            JobOutcome::Cancelled => {
                failures += 1;
                match studio.job(*job_id).ok().and_then(|j| j.error) {
                    Some(err) => eprintln!("job {job_id}: cancelled: {}", err.message),
                    None => eprintln!("job {job_id}: cancelled"),
                }
            }
            JobOutcome::Busy => {
                failures += 1;
                eprintln!("job {job_id}: another Fluxdesk process is working on it");
            }
            JobOutcome::Paused { reason } => {
                failures += 1;
                paused += 1;
                eprintln!("job {job_id}: not sent, the queue is paused: {reason}");
            }
        }
    }
    if paused > 0 {
        eprintln!(
            "{paused} job(s) stay queued; run `fluxdesk queue resume`, then `fluxdesk resume` (or open the app) to send them."
        );
    }
    if let Some(r) = resumed.filter(|r| !r.saved.is_empty()) {
        eprintln!("also finished {} task(s) left from an earlier run", r.saved.len());
    }
    Ok(if failures == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn queue(demo: bool, action: QueueAction) -> Result<ExitCode, Error> {
    let studio = open_studio(if demo { DemoChoice::Force } else { DemoChoice::Off }).await?;
    let result = queue_action(&studio, action).await;
    studio.shutdown().await;
    result
}

async fn queue_action(studio: &Studio, action: QueueAction) -> Result<ExitCode, Error> {
    match action {
        QueueAction::List { json } => output::queue_list(&studio.queue_state(), &studio.queue_jobs()?, json),
        QueueAction::Cancel { id } => {
            let before = studio.job(id)?;
            if before.state.is_terminal() {
                eprintln!("Job {id} has already ended ({}); nothing to cancel.", before.state);
                return Ok(ExitCode::SUCCESS);
            }
            studio.cancel_job(id).await?;
            let after = studio.job(id)?;
            match after.error {
                Some(err) => eprintln!("Cancelled job {id}. {}", err.message),
                None if before.task_id.is_some() => {
                    eprintln!("Cancelled job {id} on PiAPI before it started; it is not charged.")
                }
                None => eprintln!("Cancelled job {id}; it was never sent."),
            }
        }
        QueueAction::Pause { reason } => {
            let state = studio.pause_queue(reason)?;
            eprintln!(
                "Queue paused: nothing new is sent (here or in the app); {} running task(s) finish.",
                state.running
            );
        }
        QueueAction::Resume => {
            let state = studio.resume_queue()?;
            eprintln!(
                "Queue resumed; {} job(s) queued. The app sends them, or run `fluxdesk resume` to send them from here.",
                state.queued
            );
        }
        QueueAction::Move { id, before, last: _ } => {
            studio.move_job(id, before)?;
            match before {
                Some(b) => eprintln!("Moved job {id} before job {b}."),
                None => eprintln!("Moved job {id} to the end of the queue."),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn key(action: KeyAction) -> Result<ExitCode, Error> {
    let store: Arc<dyn SecretStore> = Arc::new(KeyringStore::default_for_env());
    let env = EnvOverrides::from_process_env();
    match action {
        KeyAction::Set => {
            if std::io::stdin().is_terminal() {
                eprintln!("Paste your PiAPI key and press Enter (Ctrl+D to finish):");
            }
            let mut raw = String::new();
            std::io::stdin()
                .read_to_string(&mut raw)
                .map_err(|e| Error::io("could not read the key from stdin", "stdin", e))?;
            let key = secrets::normalize_key(&raw)?;
            let s = store.clone();
            tokio::task::spawn_blocking(move || s.set(&key))
                .await
                .map_err(|e| Error::Internal(e.to_string()))??;
            eprintln!("Key saved in the OS keychain.");
            if env.api_key.is_some() {
                eprintln!("Note: PIAPI_API_KEY is set in the environment and takes precedence.");
            }
            Ok(ExitCode::SUCCESS)
        }
        KeyAction::Status => {
            let s = store.clone();
            let status = tokio::task::spawn_blocking(move || secrets::key_status(s.as_ref(), &env))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?;
            output::key_status(&status);
            Ok(ExitCode::SUCCESS)
        }
        KeyAction::Delete => {
            let s = store.clone();
            let deleted = tokio::task::spawn_blocking(move || s.delete())
                .await
                .map_err(|e| Error::Internal(e.to_string()))??;
            eprintln!("{}", if deleted { "Key removed from the OS keychain." } else { "No key was stored." });
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn gallery(action: GalleryAction) -> Result<ExitCode, Error> {
    if let GalleryAction::Rebuild { force: true } = action {
        let env = EnvOverrides::from_process_env();
        let paths = fluxdesk_core::paths::Paths::resolve(&env, None)?;
        if let Err(e) = fluxdesk_core::db::Db::open(&paths.db_path()) {
            eprintln!("The database is unusable ({e}); moving it aside and rebuilding.");
            fluxdesk_core::db::Db::move_aside_and_recreate(&paths.db_path())?;
        }
    }
    let studio = open_studio(DemoChoice::Off).await?;
    let result = gallery_action(&studio, action).await;
    studio.shutdown().await;
    result
}

async fn gallery_action(studio: &Studio, action: GalleryAction) -> Result<ExitCode, Error> {
    match action {
        GalleryAction::List { limit, json } => {
            studio.reconcile().await?;
            let page = studio.list_images(&GalleryQuery {
                limit,
                sort: SortOrder::Newest,
                ..GalleryQuery::default()
            })?;
            output::image_list(&page.items, page.total, json);
        }
        GalleryAction::Search { query, limit, json } => {
            studio.reconcile().await?;
            let page =
                studio.list_images(&GalleryQuery { text: Some(query), limit, ..GalleryQuery::default() })?;
            output::image_list(&page.items, page.total, json);
        }
        GalleryAction::Show { id, json } => output::image_detail(&studio.get_image(id)?, json),
        GalleryAction::Delete { id } => {
            let img = studio.get_image(id)?;
            studio.delete_images(&[id]).await?;
            eprintln!("Moved {} to the trash.", img.path);
        }
        GalleryAction::Rebuild { .. } => {
            let r = studio.rebuild().await?;
            eprintln!("Rebuilt the index: {} image(s) indexed.", r.added + r.unchanged);
            for f in &r.failed {
                eprintln!("could not index: {f}");
            }
            if !r.failed.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_files_skip_blank_lines_and_comments() {
        let text = "# foxes\n a red fox \n\n\t\n#a comment\nblue whale\r\n";
        assert_eq!(prompts_from_text(text), vec!["a red fox".to_owned(), "blue whale".to_owned()]);
    }

    #[test]
    fn task_specs_parse_and_bad_ones_say_the_format() {
        assert_eq!(parse_lora("anime").expect("ok"), LoraChoice { name: "anime".into(), strength: 1.0 });
        assert_eq!(parse_lora(" art:0.5 ").expect("ok"), LoraChoice { name: "art".into(), strength: 0.5 });
        assert!(parse_lora(":1").is_err() && parse_lora("x:y").is_err());
        let c = parse_control("canny:/tmp/a:b.png:0.4").expect("ok");
        assert_eq!((c.control_type, c.strength), (ControlType::Canny, 0.4));
        assert_eq!(c.image.path.as_deref(), Some("/tmp/a:b.png"));
        assert_eq!(parse_control("depth:/tmp/d.png").expect("ok").strength, DEFAULT_CONTROL_STRENGTH);
        for bad in ["canny", "blur:/tmp/x.png", "canny:", "canny::0.5"] {
            let e = parse_control(bad).unwrap_err();
            assert!(e.to_string().contains("TYPE:PATH"), "{bad}: {e}");
        }
        assert_eq!(parse_margins("1, 2,3,4").expect("ok"), Margins { left: 1, right: 2, top: 3, bottom: 4 });
        assert!(parse_margins("1,2,3").is_err() && parse_margins("a,b,c,d").is_err());
    }

    #[test]
    fn seed_sweeps_parse() {
        assert_eq!(parse_sweep("100").expect("ok"), SeedPlan::Sweep { start: 100, step: 1 });
        assert_eq!(parse_sweep(" 7:3 ").expect("ok"), SeedPlan::Sweep { start: 7, step: 3 });
        for bad in ["", "x", "1:y", "-1", "5:-2", "1:2:3"] {
            assert!(parse_sweep(bad).is_err(), "{bad}");
        }
    }
}
