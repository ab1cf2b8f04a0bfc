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
use fluxdesk_core::studio::{DemoChoice, Studio, StudioOptions};
use fluxdesk_core::views::GenerateRequest;
use piapi::{Model, Size};

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
    /// What to draw.
    prompt: String,
    /// schnell, dev, dev-advanced, or a full id such as Qubico/flux1-dev.
    #[arg(long, short, default_value = "schnell")]
    model: String,
    /// WIDTHxHEIGHT, at most 1,048,576 pixels (e.g. 1024x768 or 1024×768).
    #[arg(long, short, default_value = "1024x1024")]
    size: String,
    /// What to avoid.
    #[arg(long)]
    negative: Option<String>,
    /// Lock the seed (image i uses SEED + i); random when omitted.
    #[arg(long)]
    seed: Option<i64>,
    #[arg(long)]
    steps: Option<u32>,
    /// Guidance scale, 1.5–5.
    #[arg(long)]
    guidance: Option<f32>,
    /// Number of images, 1–100 (each is one PiAPI task, run a few at a time).
    #[arg(long, short = 'n', default_value_t = 1)]
    count: u32,
    /// Use the bundled simulator: no key, no network, no cost.
    #[arg(long)]
    demo: bool,
    /// Print one JSON object per saved image on stdout.
    #[arg(long)]
    json: bool,
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
            let ok =
                report.failed.is_empty() && report.uncertain.is_empty() && report.still_running.is_empty();
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Sim(args) => sim::run(args).await,
    }
}

async fn generate(args: GenerateArgs) -> Result<ExitCode, Error> {
    let model = Model::parse(&args.model)?;
    let size: Size = args.size.parse()?;
    let req = GenerateRequest {
        prompt: args.prompt,
        negative_prompt: args.negative,
        model,
        width: size.width,
        height: size.height,
        steps: args.steps,
        guidance: args.guidance,
        seed: args.seed,
        count: args.count,
    };
    // Validate before touching the keychain, the database or the network.
    Studio::plan_requests(&req)?;
    let studio = open_studio(if args.demo { DemoChoice::Force } else { DemoChoice::Off }).await?;
    let progress = output::Progress::start(&studio, std::io::stderr().is_terminal());
    // Finish what an earlier run left behind, alongside the new work.
    let (outcomes, resumed) = studio.generate_and_wait(req, true).await?;
    progress.stop();

    let mut failures = 0;
    for (job_id, outcome) in &outcomes {
        match outcome {
            JobOutcome::Saved(images) => {
                for rec in images {
                    output::saved_image(&studio.get_image(rec.id)?, args.json);
                }
            }
            JobOutcome::Failed(e) => {
                failures += 1;
                eprintln!("job {job_id}: {e} [{}]", output::code_name(e.code()));
            }
            JobOutcome::Cancelled => {
                failures += 1;
                eprintln!("job {job_id}: cancelled");
            }
            JobOutcome::Busy => {
                failures += 1;
                eprintln!("job {job_id}: another Fluxdesk process is working on it");
            }
        }
    }
    if let Some(r) = resumed.filter(|r| !r.saved.is_empty()) {
        eprintln!("also finished {} task(s) left from an earlier run", r.saved.len());
    }
    studio.shutdown().await;
    Ok(if failures == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
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
