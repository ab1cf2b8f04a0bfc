//! `fluxdesk-bench`: runs the benchmark sections and renders BENCHMARKS.md.
//!
//! - `run [--quick] [--only a,b] [--data-dir D] [--results F]` measures and writes the results JSON.
//! - `render [--results F] [--app F] [--out BENCHMARKS.md]` renders the report (merging the app
//!   figure measured by `scripts/bench.sh --app`).
//! - `gallery-probe …` is internal: the fresh process in which figure 4 is measured.
//!
//! Exit status: 0 when every requested section produced its figure, 1 when one failed (the
//! results and the report still record the others), 2 for usage errors.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fluxdesk_bench::{AppResult, Context, Mode, Plan, Results, Section, gallery, report};

#[derive(Parser)]
#[command(name = "fluxdesk-bench", about = "Fluxdesk's benchmarks (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Measure and write the results JSON.
    Run {
        /// Fewer samples (about two minutes once the gallery library is cached).
        #[arg(long)]
        quick: bool,
        /// Only these sections (comma-separated): polling, pipeline, batch, gallery, thumbnails.
        #[arg(long, value_delimiter = ',')]
        only: Vec<Section>,
        /// Cached inputs and scratch folders.
        #[arg(long, default_value = "target/bench-data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "target/bench-results.json")]
        results: PathBuf,
        /// Before the sections, wait up to this many seconds in all for other processes to stop
        /// using the CPU (a busy machine skews every figure; the report shows how busy it was).
        #[arg(long, default_value_t = 0)]
        wait_quiet: u64,
        /// The command line to show in the report (scripts/bench.sh passes its own).
        #[arg(long)]
        command: Option<String>,
    },
    /// Render BENCHMARKS.md from the results JSON.
    Render {
        #[arg(long, default_value = "target/bench-results.json")]
        results: PathBuf,
        /// The app figure written by `scripts/bench.sh --app` (optional).
        #[arg(long)]
        app: Option<PathBuf>,
        #[arg(long, default_value = "BENCHMARKS.md")]
        out: PathBuf,
    },
    /// Internal: measure the gallery in this (fresh) process; prints one JSON line.
    #[command(hide = true)]
    GalleryProbe {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        long: usize,
        #[arg(long)]
        short: usize,
        #[arg(long)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Run { quick, only, data_dir, results, wait_quiet, command } => {
            let mode = if quick { Mode::Quick } else { Mode::Full };
            let sections = if only.is_empty() { Section::ALL.to_vec() } else { only };
            let ctx = Context {
                data_dir,
                probe_exe: std::env::current_exe().ok(),
                repo: PathBuf::from("."),
                command: command.unwrap_or_else(|| {
                    let args: Vec<String> = std::env::args().skip(1).collect();
                    format!("fluxdesk-bench {}", args.join(" "))
                }),
                quiet_wait: std::time::Duration::from_secs(wait_quiet),
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("fluxdesk-bench: could not start the async runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            let r = runtime.block_on(fluxdesk_bench::results::run(&Plan::new(mode), &sections, &ctx));
            if let Err(e) = r.save(&results) {
                eprintln!("fluxdesk-bench: {e} [{}]", e.code());
                return ExitCode::from(1);
            }
            eprintln!("results written to {}", results.display());
            if r.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Cmd::Render { results, app, out } => {
            let rendered = Results::load(&results).and_then(|mut r| {
                if let Some(path) = app {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| fluxdesk_bench::BenchError::io("reading the app results", &path, e))?;
                    r.app = Some(serde_json::from_str::<AppResult>(&text)?);
                }
                let md = report::render(&r);
                std::fs::write(&out, md)
                    .map_err(|e| fluxdesk_bench::BenchError::io("writing the report", &out, e))
            });
            match rendered {
                Ok(()) => {
                    eprintln!("wrote {}", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("fluxdesk-bench: {e} [{}]", e.code());
                    ExitCode::from(1)
                }
            }
        }
        Cmd::GalleryProbe { dir, long, short, seed } => match gallery::probe_main(&dir, long, short, seed) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gallery-probe: {e} [{}]", e.code());
                ExitCode::from(1)
            }
        },
    }
}
