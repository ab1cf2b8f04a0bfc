//! `fluxdesk sim`: the bundled PiAPI simulator as a standalone loopback server.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use fluxdesk_core::Error;
use piapi_sim::{Faults, SimConfig, WireStyle};

#[derive(Args)]
pub struct SimArgs {
    /// Port on 127.0.0.1 (0 = any free port; the chosen URL is printed).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Accept only this API key (default: any non-empty key).
    #[arg(long)]
    key: Option<String>,
    /// How long tasks stay pending.
    #[arg(long, default_value_t = 300)]
    pending_ms: u64,
    /// How long tasks then process.
    #[arg(long, default_value_t = 1200)]
    processing_ms: u64,
    /// The plan's concurrency limit.
    #[arg(long, default_value_t = 8)]
    concurrency: u32,
    /// Starting balance in USD.
    #[arg(long, default_value_t = 10.0)]
    balance: f64,
    /// Persist tasks here so a restarted simulator still knows them.
    #[arg(long)]
    state: Option<PathBuf>,
    /// The next N API requests answer HTTP 500.
    #[arg(long, default_value_t = 0)]
    server_errors: u32,
    /// The next N API requests answer 502 with an HTML page.
    #[arg(long, default_value_t = 0)]
    bad_gateway: u32,
    /// The next N API requests answer 429 with Retry-After.
    #[arg(long, default_value_t = 0)]
    rate_limits: u32,
    #[arg(long, default_value_t = 1)]
    retry_after: u32,
    /// The next N task polls answer 200 with a garbage body.
    #[arg(long, default_value_t = 0)]
    garbage: u32,
    /// The next N downloads are cut off halfway.
    #[arg(long, default_value_t = 0)]
    truncated_downloads: u32,
    /// The next N downloads are corrupt.
    #[arg(long, default_value_t = 0)]
    corrupt_downloads: u32,
    /// Tasks whose prompt contains this text fail.
    #[arg(long)]
    fail_prompt: Option<String>,
    /// Create requests wait this long after creating the task before answering.
    #[arg(long, default_value_t = 0)]
    create_delay_ms: u64,
    /// Which documented response spelling to use.
    #[arg(long, value_enum, default_value_t = Style::Standard)]
    style: Style,
    /// Refuse creates as if the account had no credits.
    #[arg(long)]
    insufficient_credits: bool,
    /// The next N input-image uploads answer HTTP 500.
    #[arg(long, default_value_t = 0)]
    upload_failures: u32,
}

#[derive(Clone, Copy, ValueEnum)]
enum Style {
    Standard,
    Capitalized,
    Legacy,
    UrlsOnly,
}

pub async fn run(a: SimArgs) -> Result<ExitCode, Error> {
    let style = match a.style {
        Style::Standard => WireStyle::Standard,
        Style::Capitalized => WireStyle::Capitalized,
        Style::Legacy => WireStyle::Legacy,
        Style::UrlsOnly => WireStyle::UrlsOnly,
    };
    let config = SimConfig {
        port: a.port,
        api_key: a.key,
        pending_ms: a.pending_ms,
        processing_ms: a.processing_ms,
        concurrency_limit: a.concurrency,
        balance_usd: a.balance,
        state_file: a.state,
        faults: Faults {
            server_errors: a.server_errors,
            bad_gateway_html: a.bad_gateway,
            rate_limits: a.rate_limits,
            retry_after_secs: a.retry_after,
            garbage_gets: a.garbage,
            truncated_downloads: a.truncated_downloads,
            corrupt_downloads: a.corrupt_downloads,
            fail_prompt: a.fail_prompt,
            create_delay_ms: a.create_delay_ms,
            style,
            insufficient_credits: a.insufficient_credits,
            upload_failures: a.upload_failures,
        },
    };
    let handle = piapi_sim::Simulator::start(config)
        .await
        .map_err(|e| Error::io("could not start the simulator (is the port free?)", "127.0.0.1", e))?;
    println!("PiAPI simulator listening on {}", handle.base_url());
    eprintln!(
        "Use: PIAPI_BASE_URL={} PIAPI_API_KEY=any-key fluxdesk generate \"a red fox\"",
        handle.base_url()
    );
    eprintln!("Stop with Ctrl+C.");
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
