//! Fluxdesk's benchmarks: every figure measured side by side with its comparison in one run on
//! one machine, written to `target/bench-results.json` and rendered to `BENCHMARKS.md`.
//!
//! Why a crate of its own: speed is judged only here (tests never assert timings), and the bench
//! must drive the real parts — the PiAPI client against the loopback simulator, the job runner,
//! the SQLite gallery, the thumbnailer — through their public APIs, so it keeps measuring what
//! ships. `scripts/bench.sh` is the one command that installs what is missing, builds in release,
//! runs every section and renders the report.
//!
//! Figures: [`polling`] (1), [`pipeline`] (2), [`batch`] (3), [`gallery`] (4), [`thumbnails`] (5);
//! figure 6 (the desktop app) is measured by the script and merged by [`report`].

pub mod batch;
pub mod error;
pub mod gallery;
pub mod imagegen;
pub mod pipeline;
pub mod polling;
pub mod report;
pub mod results;
pub mod rig;
pub mod stats;
pub mod sysinfo;
pub mod thumbnails;
pub mod words;

pub use error::{BenchError, Result};
pub use results::{AppResult, Context, Mode, Plan, Results, Section};
