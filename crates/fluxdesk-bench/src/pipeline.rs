//! Figure 2: Fluxdesk's overhead per 1-megapixel image after a task is done — download, verify,
//! embed metadata, write crash-safely, thumbnail, index — against the floor of decoding,
//! resizing and encoding the thumbnail of that image alone.
//!
//! Method: the real job runner (`fluxdesk_core::runner::Runner`) against the loopback simulator,
//! one job at a time. The clock starts at the runner's first `Downloading { received: 0 }` event
//! (the image's response headers have arrived, so the simulator's own rendering of the demo image,
//! which stands in for PiAPI's CDN, is not counted) and stops at its `Saved` event (file fsynced,
//! thumbnail written, index row and ledger state committed). The floor is
//! [`crate::imagegen::floor_thumbnail`] on the very bytes the simulator served, single-threaded,
//! in memory. A stage breakdown times the same public functions the runner calls, on the same
//! bytes, in a second scratch gallery.

use std::path::Path;
use std::time::Instant;

use chrono::Utc;
use fluxdesk_core::files;
use fluxdesk_core::gallery::{Gallery, NewImage};
use fluxdesk_core::metadata::{self, ImageMeta};
use fluxdesk_core::thumbs;
use fluxdesk_core::views::JobEvent;
use piapi::{DownloadOptions, Model, Size, TaskRequest};
use piapi_sim::SimConfig;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::error::{BenchError, Result};
use crate::polling::fluxdesk_policy;
use crate::rig::Rig;
use crate::stats::{Summary, ms, ratio};

#[derive(Debug, Clone)]
pub struct PipelineParams {
    pub images: usize,
    pub width: u32,
    pub height: u32,
}

impl PipelineParams {
    pub fn full() -> Self {
        PipelineParams { images: 30, width: 1024, height: 1024 }
    }
    pub fn quick() -> Self {
        PipelineParams { images: 10, ..Self::full() }
    }
    pub fn smoke() -> Self {
        PipelineParams { images: 2, width: 128, height: 128 }
    }
}

/// One timed stage of the breakdown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    pub ms: Summary,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineResult {
    pub images: usize,
    pub width: u32,
    pub height: u32,
    /// Size of the PNGs the simulator served.
    pub png_kib_mean: f64,
    /// Runner: image response headers → `Saved` event.
    pub pipeline_ms: Summary,
    /// Decode + resize + WebP encode in memory, one thread.
    pub floor_ms: Summary,
    pub stages: Vec<Stage>,
    /// Pipeline ÷ floor (means, medians).
    pub ratio_mean: Option<f64>,
    pub ratio_p50: Option<f64>,
}

pub async fn run(p: &PipelineParams, data_dir: &Path) -> Result<PipelineResult> {
    let sim_config = SimConfig { pending_ms: 5, processing_ms: 20, balance_usd: 1e6, ..SimConfig::default() };
    let rig = Rig::start(data_dir, sim_config, fluxdesk_policy(0.1), 1).await?;
    let second = tempfile::Builder::new()
        .prefix("pipeline-stages-")
        .tempdir_in(data_dir)
        .map_err(|e| BenchError::io("creating a scratch folder", data_dir, e))?;
    let db2 = fluxdesk_core::db::Db::open(&second.path().join("fluxdesk.db"))?;
    let gallery2 = Gallery::new(db2, second.path().join("gallery"), second.path().join("thumbs"));

    let mut pipeline = Vec::with_capacity(p.images);
    let mut stage_ms: Vec<Vec<f64>> = vec![Vec::new(); STAGES.len()];
    let mut floor = Vec::with_capacity(p.images);
    let mut png_bytes = Vec::with_capacity(p.images);
    // Image 0 is a warm-up (connections, SQLite statement cache, libwebp tables). Each image's
    // pipeline run is followed at once by its stage breakdown and floor, so slow drifts in the
    // machine's load hit both sides alike.
    for i in 0..=p.images {
        let mut req = TaskRequest::txt2img(
            Model::Schnell,
            format!("pipeline image {i}: a lighthouse on a cliff at dawn"),
            Size::new(p.width, p.height),
        );
        req.input.seed = Some(1000 + i as i64);
        let id = rig.ledger.record(&req, Some("bench:pipeline"), None)?;
        let outcome = rig.runner.run(id).await;
        if !outcome.is_saved() {
            return Err(BenchError::InvalidRun(format!("pipeline job {id} did not save: {outcome:?}")));
        }
        let elapsed = runner_time(&rig, id).await?;
        let (stages, floor_one, len) = stages_and_floor(&rig, &gallery2, id, i).await?;
        if i == 0 {
            continue;
        }
        pipeline.push(elapsed);
        for (k, v) in stages.into_iter().enumerate() {
            stage_ms[k].push(v);
        }
        floor.push(floor_one);
        png_bytes.push(len as f64);
    }
    drop(second);
    rig.shutdown().await;

    let pipeline_ms = Summary::of(&pipeline);
    let floor_ms = Summary::of(&floor);
    Ok(PipelineResult {
        images: p.images,
        width: p.width,
        height: p.height,
        png_kib_mean: Summary::of(&png_bytes).mean / 1024.0,
        ratio_mean: ratio(pipeline_ms.mean, floor_ms.mean),
        ratio_p50: ratio(pipeline_ms.p50, floor_ms.p50),
        pipeline_ms,
        floor_ms,
        stages: STAGES
            .iter()
            .zip(stage_ms)
            .map(|(n, v)| Stage { name: (*n).into(), ms: Summary::of(&v) })
            .collect(),
    })
}

const STAGES: [&str; 6] =
    ["fetch + verify (loopback)", "embed metadata", "write + fsync", "hash", "thumbnail", "index"];

/// `Downloading { received: 0 }` → `Saved` of job `id`, in ms, once both events have arrived.
async fn runner_time(rig: &Rig, id: i64) -> Result<f64> {
    for _ in 0..200 {
        let events = rig.events_of(id);
        let start = events.iter().find_map(|(t, e)| match e {
            JobEvent::Downloading { received: 0, .. } => Some(*t),
            _ => None,
        });
        let end = events.iter().find_map(|(t, e)| matches!(e, JobEvent::Saved { .. }).then_some(*t));
        if let (Some(s), Some(e)) = (start, end) {
            return Ok(ms(e.saturating_duration_since(s)));
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    Err(BenchError::InvalidRun(format!("job {id}: no Downloading/Saved events arrived")))
}

/// Times each stage the runner performs, on the bytes the simulator served for job `id` (its
/// render cache still holds them), in `gallery`; then the floor on the same bytes.
async fn stages_and_floor(rig: &Rig, gallery: &Gallery, id: i64, n: usize) -> Result<([f64; 6], f64, usize)> {
    let task = rig.ledger.get(id)?;
    let task_id =
        task.task_id.clone().ok_or_else(|| BenchError::InvalidRun(format!("job {id}: no task id")))?;
    let url = format!("{}/files/{task_id}/0.png", rig.sim.base_url());
    let t = Instant::now();
    let fetched = rig
        .client
        .fetch_image(&url, &DownloadOptions::default(), &CancellationToken::new(), &mut |_, _| {})
        .await?;
    let fetch = ms(t.elapsed());
    let len = fetched.bytes.len();
    // As the runner does: the download's verification keeps its decoded pixels for the thumbnail.
    let decoded = fetched.decoded;
    let bytes = fetched.bytes;
    let meta = ImageMeta {
        prompt: task.request.input.prompt.clone(),
        model: Some(task.request.model.id().to_owned()),
        task_type: Some("txt2img".into()),
        width: fetched.width,
        height: fetched.height,
        seed: task.request.input.seed,
        task_id: Some(task_id.clone()),
        output_index: Some(0),
        cost_usd: Some(task.estimated_cost_usd),
        created_at: Some(task.created_at),
        generator: Some("Fluxdesk bench".into()),
        ..ImageMeta::default()
    };
    let gallery = gallery.clone();
    let (stages, floor) = tokio::task::spawn_blocking(move || -> Result<([f64; 6], f64)> {
        let t = Instant::now();
        let with_meta = metadata::embed_png_metadata(&bytes, &meta)?;
        let embed = ms(t.elapsed());
        let rel = format!("bench/{n:04}.png");
        let t = Instant::now();
        files::write_new_file(&gallery.root().join(&rel), &with_meta)?;
        let write = ms(t.elapsed());
        let t = Instant::now();
        let hash = files::content_hash(&with_meta);
        let hash_ms = ms(t.elapsed());
        let t = Instant::now();
        thumbs::make_thumbnail_from_image(
            decoded.into_upright(),
            &thumbs::thumb_path(gallery.thumbs_dir(), &hash),
        )?;
        let thumb = ms(t.elapsed());
        let t = Instant::now();
        let (row, _) = gallery.insert(&NewImage {
            rel_path: rel,
            meta,
            content_hash: hash,
            file_size: with_meta.len() as u64,
            ledger_id: None,
            created_at: Utc::now(),
        })?;
        gallery.get(row)?;
        let index = ms(t.elapsed());
        let t = Instant::now();
        crate::imagegen::floor_thumbnail(&bytes)?;
        Ok(([fetch, embed, write, hash_ms, thumb, index], ms(t.elapsed())))
    })
    .await
    .map_err(|e| BenchError::InvalidRun(format!("stage timing panicked: {e}")))??;
    Ok((stages, floor, len))
}
