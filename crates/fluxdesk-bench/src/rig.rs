//! A real Fluxdesk job runner wired to a loopback simulator, as `Studio` wires it: one SQLite file
//! (ledger + gallery index), a gallery folder and a thumbnail folder in a scratch directory under
//! the bench data folder (same filesystem as a real library), and an event channel whose events
//! are time-stamped on arrival.
//!
//! Why not `Studio` itself: `Studio` takes its poll policy from the settings, whose first wait is
//! fixed at 400 ms; the figures run with every wait scaled down, so the bench builds the same
//! parts (`Runner::new(RunnerParts { .. })`, `Ledger::record`, `Runner::spawn`) itself. The
//! concurrency given here plays the role of the studio's `max_concurrent` setting.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fluxdesk_core::db::Db;
use fluxdesk_core::gallery::Gallery;
use fluxdesk_core::ledger::Ledger;
use fluxdesk_core::runner::{Runner, RunnerParts};
use fluxdesk_core::views::JobEvent;
use piapi::{Client, ClientConfig, PollPolicy};
use piapi_sim::{SimConfig, SimHandle, Simulator};
use secrecy::SecretString;
use tokio::sync::broadcast;

use crate::error::{BenchError, Result};

/// Events received so far, each with the instant it arrived.
pub type EventLog = Arc<Mutex<Vec<(Instant, JobEvent)>>>;

pub struct Rig {
    /// Scratch folder, deleted on drop.
    pub dir: tempfile::TempDir,
    pub sim: SimHandle,
    pub client: Client,
    pub db: Db,
    pub ledger: Ledger,
    pub gallery: Gallery,
    pub thumbs_dir: PathBuf,
    pub runner: Runner,
    pub events: EventLog,
    collector: tokio::task::JoinHandle<()>,
}

impl Rig {
    /// Starts the simulator with `sim_config`, opens a fresh database and gallery in a scratch
    /// folder under `data_dir`, and builds a runner with `policy` and `concurrency`.
    pub async fn start(
        data_dir: &Path,
        sim_config: SimConfig,
        policy: PollPolicy,
        concurrency: usize,
    ) -> Result<Rig> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| BenchError::io("creating the bench folder", data_dir, e))?;
        let dir = tempfile::Builder::new()
            .prefix("rig-")
            .tempdir_in(data_dir)
            .map_err(|e| BenchError::io("creating a scratch folder", data_dir, e))?;
        let sim = Simulator::start(sim_config).await.map_err(BenchError::SimStart)?;
        let client = Client::new(
            ClientConfig::new(&sim.base_url(), SecretString::from("bench-key".to_owned()))?
                .with_poll_policy(policy),
        )?;
        let db = Db::open(&dir.path().join("home").join("fluxdesk.db"))?;
        let ledger = Ledger::new(db.clone());
        let root = dir.path().join("gallery");
        let thumbs_dir = dir.path().join("cache").join("thumbs");
        for d in [&root, &thumbs_dir] {
            std::fs::create_dir_all(d).map_err(|e| BenchError::io("creating a scratch folder", d, e))?;
        }
        let gallery = Gallery::new(db.clone(), root, thumbs_dir.clone());
        let (tx, mut rx) = broadcast::channel::<JobEvent>(8192);
        let events: EventLog = Arc::default();
        let log = Arc::clone(&events);
        let collector = tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        let now = Instant::now();
                        log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((now, ev));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        let runner = Runner::new(RunnerParts {
            ledger: ledger.clone(),
            gallery: gallery.clone(),
            thumbs_dir: thumbs_dir.clone(),
            client: client.clone(),
            events: tx,
            concurrency,
            generator: format!("Fluxdesk bench {}", env!("CARGO_PKG_VERSION")),
        });
        Ok(Rig { dir, sim, client, db, ledger, gallery, thumbs_dir, runner, events, collector })
    }

    /// The events of `job_id` received so far.
    pub fn events_of(&self, job_id: i64) -> Vec<(Instant, JobEvent)> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, e)| e.job_id() == job_id)
            .cloned()
            .collect()
    }

    /// Stops the simulator and the event collector.
    pub async fn shutdown(self) {
        let Rig { sim, runner, collector, dir, .. } = self;
        drop(runner);
        sim.shutdown().await;
        collector.abort();
        drop(dir);
    }
}
