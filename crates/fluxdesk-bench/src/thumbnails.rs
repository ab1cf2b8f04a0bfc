//! Figure 5: thumbnail throughput on both cores, Fluxdesk against ImageMagick.
//!
//! Method: the same N photo-like 1024² PNGs (the simulator's artwork plus ±12 noise, zlib,
//! adaptive filter; cached under the bench data folder), read once beforehand so both sides start
//! from the page cache.
//! - Fluxdesk: `fluxdesk_core::thumbs::make_thumbnail_from_file` (decode, Lanczos3 to 512 px,
//!   WebP q80 method 2, atomic write with fsync) on 2 worker threads.
//! - ImageMagick: `xargs -0 -P2 -I{} convert {} -thumbnail 512x512 -quality 80
//!   -define webp:method=2 OUT/{}.webp` with `MAGICK_THREAD_LIMIT=1`: one process per file, two at
//!   a time, the same output format, quality and method. (It does not fsync.)
//! - Floor, for reference: [`crate::imagegen::floor_thumbnail`] in memory on 2 threads.
//!
//! The images are split into rounds of about 50; each round runs every contender on its share in
//! turn (alternating the order), and throughput is images ÷ summed wall time, so a machine whose
//! load drifts during the run penalises all contenders alike.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::imagegen::{floor_thumbnail, noisy_png};
use crate::stats::ratio;

#[derive(Debug, Clone)]
pub struct ThumbParams {
    pub images: usize,
    pub side: u32,
    pub noise: u8,
    pub workers: usize,
}

impl ThumbParams {
    pub fn full() -> Self {
        ThumbParams { images: 200, side: 1024, noise: 12, workers: 2 }
    }
    pub fn quick() -> Self {
        ThumbParams { images: 60, ..Self::full() }
    }
    pub fn smoke() -> Self {
        ThumbParams { images: 3, side: 96, noise: 12, workers: 2 }
    }
}

/// One contender's throughput.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub wall_ms: f64,
    pub images_per_s: f64,
    pub out_kib_mean: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThumbResult {
    pub images: usize,
    pub side: u32,
    pub workers: usize,
    pub src_kib_mean: f64,
    /// The images were split into this many rounds, each running every contender in turn.
    pub rounds: usize,
    pub fluxdesk: Throughput,
    pub imagemagick: Option<Throughput>,
    /// Why ImageMagick was not measured, when it was not.
    pub imagemagick_skipped: Option<String>,
    pub imagemagick_version: Option<String>,
    pub imagemagick_command: String,
    pub floor: Throughput,
    /// Fluxdesk ÷ ImageMagick, images per second.
    pub ratio: Option<f64>,
    /// Fluxdesk ÷ floor, images per second.
    pub ratio_to_floor: Option<f64>,
}

/// Generates (or reuses) the source images; returns their paths.
pub fn ensure_sources(data_dir: &Path, p: &ThumbParams) -> Result<Vec<PathBuf>> {
    let dir = data_dir.join(format!("thumb-src-{}-{}px-n{}-v1", p.images, p.side, p.noise));
    let paths: Vec<PathBuf> = (0..p.images).map(|i| dir.join(format!("img_{i:04}.png"))).collect();
    let marker = dir.join("complete");
    if marker.exists() && paths.iter().all(|p| p.exists()) {
        return Ok(paths);
    }
    std::fs::create_dir_all(&dir).map_err(|e| BenchError::io("creating the source folder", &dir, e))?;
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..p.workers.max(1))
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = paths.get(i) else { return Ok(()) };
                        let prompt = format!("thumbnail source {i}: a misty harbour at dawn, 35mm photo");
                        let png = noisy_png(&prompt, i as i64, p.side, p.side, p.noise)?;
                        std::fs::write(path, png)
                            .map_err(|e| BenchError::io("writing a source image", path, e))?;
                    }
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join().unwrap_or_else(|_| Err(BenchError::InvalidRun("a generator thread panicked".into())))
        })
    })?;
    std::fs::write(&marker, b"ok").map_err(|e| BenchError::io("writing the marker", &marker, e))?;
    Ok(paths)
}

/// The ImageMagick `convert` binary itself (not a wrapper script), preferring the Debian
/// package's real binary.
pub fn find_convert() -> Option<PathBuf> {
    let is_binary = |p: &Path| std::fs::read(p).ok().is_some_and(|b| b.len() > 4 && &b[..4] == b"\x7fELF");
    let mut candidates: Vec<PathBuf> =
        ["/usr/bin/convert-im6.q16", "/usr/bin/convert"].iter().map(PathBuf::from).collect();
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("convert")));
    }
    candidates.into_iter().find(|p| std::fs::canonicalize(p).is_ok_and(|c| is_binary(&c)))
}

pub fn run(p: &ThumbParams, data_dir: &Path) -> Result<ThumbResult> {
    let sources = ensure_sources(data_dir, p)?;
    let bytes: Vec<Vec<u8>> = sources
        .iter()
        .map(|s| std::fs::read(s).map_err(|e| BenchError::io("reading a source image", s, e)))
        .collect::<Result<_>>()?;
    let src_kib_mean = bytes.iter().map(Vec::len).sum::<usize>() as f64 / bytes.len().max(1) as f64 / 1024.0;
    let scratch = tempfile::Builder::new()
        .prefix("thumbs-")
        .tempdir_in(data_dir)
        .map_err(|e| BenchError::io("creating a scratch folder", data_dir, e))?;
    let out = scratch.path().join("fluxdesk");
    let im_out = scratch.path().join("imagemagick");
    for d in [&out, &im_out] {
        std::fs::create_dir_all(d).map_err(|e| BenchError::io("creating an output folder", d, e))?;
    }
    let convert = find_convert();
    let version = convert.as_ref().and_then(|bin| {
        Command::new(bin)
            .arg("-version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
    });
    let command = format!(
        "MAGICK_THREAD_LIMIT=1 xargs -0 -P{} -I{{}} convert {{}} -thumbnail 512x512 -quality 80 -define webp:method=2 OUT/{{}}.webp",
        p.workers
    );

    // The images are split into rounds; each round runs every contender on its share, in an
    // order that alternates, so slow drifts in the machine's load hit all of them alike.
    let mut fluxdesk = Totals::default();
    let mut imagemagick = Totals::default();
    let mut floor = Totals::default();
    let rounds = (sources.len() / 50).max(1);
    let indices: Vec<usize> = (0..sources.len()).collect();
    for (round, chunk) in indices.chunks(sources.len().div_ceil(rounds)).enumerate() {
        let mut order = [0, 1, 2];
        if round % 2 == 1 {
            order.reverse();
        }
        for contender in order {
            match contender {
                0 => fluxdesk.add(on_workers(p.workers, chunk, |i| {
                    let dest = out.join(format!("{i:04}.webp"));
                    Ok(fluxdesk_core::thumbs::make_thumbnail_from_file(&sources[i], &dest)?.bytes)
                })?),
                1 => {
                    if let Some(bin) = &convert {
                        let chunk_sources: Vec<PathBuf> = chunk.iter().map(|&i| sources[i].clone()).collect();
                        imagemagick.add(run_imagemagick(bin, &chunk_sources, &im_out, p.workers)?);
                    }
                }
                _ => floor.add(on_workers(p.workers, chunk, |i| Ok(floor_thumbnail(&bytes[i])? as u64))?),
            }
        }
    }
    let fluxdesk = fluxdesk.throughput();
    let floor = floor.throughput();
    let (imagemagick, skipped) = match convert {
        Some(_) => (Some(imagemagick.throughput()), None),
        None => {
            (None, Some("ImageMagick's convert was not found (scripts/bench.sh installs it)".to_string()))
        }
    };
    Ok(ThumbResult {
        images: p.images,
        side: p.side,
        workers: p.workers,
        src_kib_mean,
        rounds,
        ratio: imagemagick.as_ref().and_then(|im| ratio(fluxdesk.images_per_s, im.images_per_s)),
        ratio_to_floor: ratio(fluxdesk.images_per_s, floor.images_per_s),
        fluxdesk,
        imagemagick,
        imagemagick_skipped: skipped,
        imagemagick_version: version,
        imagemagick_command: command,
        floor,
    })
}

/// Wall time, images and output bytes summed over rounds.
#[derive(Default)]
struct Totals {
    wall_s: f64,
    images: usize,
    out_bytes: u64,
}

impl Totals {
    fn add(&mut self, (wall_s, images, out_bytes): (f64, usize, u64)) {
        self.wall_s += wall_s;
        self.images += images;
        self.out_bytes += out_bytes;
    }

    fn throughput(&self) -> Throughput {
        Throughput {
            wall_ms: self.wall_s * 1000.0,
            images_per_s: if self.wall_s > 0.0 { self.images as f64 / self.wall_s } else { 0.0 },
            out_kib_mean: self.out_bytes as f64 / self.images.max(1) as f64 / 1024.0,
        }
    }
}

/// Runs `job(i)` for every `i` in `items` on `workers` threads; `job` returns the output size in
/// bytes. Returns (wall seconds, images, output bytes).
fn on_workers(
    workers: usize,
    items: &[usize],
    job: impl Fn(usize) -> Result<u64> + Sync,
) -> Result<(f64, usize, u64)> {
    let next = AtomicUsize::new(0);
    let out_bytes = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.max(1))
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = items.get(k) else { return Ok(()) };
                        let b = job(i)?;
                        out_bytes.fetch_add(b as usize, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join().unwrap_or_else(|_| Err(BenchError::InvalidRun("a worker thread panicked".into())))
        })
    })?;
    Ok((started.elapsed().as_secs_f64(), items.len(), out_bytes.load(Ordering::Relaxed) as u64))
}

/// One `xargs -P` run of `convert` over `sources`. Returns (wall seconds, images, output bytes).
fn run_imagemagick(
    convert: &Path,
    sources: &[PathBuf],
    out: &Path,
    workers: usize,
) -> Result<(f64, usize, u64)> {
    let src_dir = sources
        .first()
        .and_then(|s| s.parent())
        .ok_or_else(|| BenchError::InvalidRun("no source images".into()))?;
    let mut list = Vec::new();
    for s in sources {
        let name = s
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| BenchError::InvalidRun("bad name".into()))?;
        list.extend_from_slice(name.as_bytes());
        list.push(0);
    }
    let started = Instant::now();
    let mut child = Command::new("xargs")
        .args(["-0", "-P", &workers.to_string(), "-I", "{}"])
        .arg(convert)
        .args(["{}", "-thumbnail", "512x512", "-quality", "80", "-define", "webp:method=2"])
        .arg(format!("{}/{{}}.webp", out.display()))
        .current_dir(src_dir)
        .env("MAGICK_THREAD_LIMIT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BenchError::tool("xargs", format!("could not start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&list).map_err(|e| BenchError::tool("xargs", format!("writing its input: {e}")))?;
    }
    let output = child.wait_with_output().map_err(|e| BenchError::tool("xargs", e.to_string()))?;
    let wall = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(BenchError::tool(
            "ImageMagick",
            format!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim()),
        ));
    }
    let mut total = 0u64;
    for s in sources {
        let name = s.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let dest = out.join(format!("{name}.webp"));
        total += std::fs::metadata(&dest)
            .map_err(|e| BenchError::tool("ImageMagick", format!("{} was not written: {e}", dest.display())))?
            .len();
    }
    Ok((wall, sources.len(), total))
}
