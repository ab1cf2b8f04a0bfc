//! The output image of a task: its input images fetched from inside the simulator and transformed
//! per task type so the result visibly reflects them (WAVE3 B).
//!
//! Contract: `task_png(shared, task, n)` returns the PNG of image `n`, deterministic for the task
//! (prompt, seed + n, settings echoed in `input`, source bytes) and cached in the render cache.
//! `task.width`/`task.height` are the output size fixed at create (`TaskSpec::output_size`).
//! `probe` is the create-time check of an input reference: its pixel size, or why the task will
//! fail. Both are blocking (decoding, file reads): call them from `spawn_blocking`. Rendering
//! accepts its stored input URLs on any loopback port (see `source::Match`).
//!
//! Effects: txt2img = the demo render (unchanged bytes); txt2img-lora = render + LoRA label band
//! on top; img2img(-lora) = source tinted toward the prompt colour by 0.6 × denoise (+ band);
//! fill-inpaint = white pixels of the source replaced by art; fill-outpaint = art canvas with the
//! source at (left, top); redux-variation = source mirrored, tinted 25 %; kontext = source resized
//! to the output size, warm tint, instruction band at the bottom; controlnet-lora = Sobel edges of
//! the control image in the prompt colour (+ band); *-sr = render or source upscaled by
//! nearest-neighbour to the output size.

use bytes::Bytes;

use crate::edit::{self, Edge, Rgb};
use crate::render::{prompt_color, render_art, render_png, render_rgb};
use crate::request::{TaskKind, TaskSpec};
use crate::source::{ImageRef, Match, SourceError, classify};
use crate::state::{Phase, Shared, Task, image_dims, sniff_image};

/// How many task outputs may feed each other (A's output is B's input is C's input ...).
pub const MAX_CHAIN: u8 = 8;
/// Warm tint of kontext edits.
const WARM: [u8; 3] = [255, 160, 70];

/// The pixel size of an input reference, or why it cannot be used. Blocking.
pub fn probe(shared: &Shared, reference: &str) -> Result<(u32, u32), SourceError> {
    match classify(reference, &shared.base_url, Match::Exact)? {
        ImageRef::Upload(id) => shared
            .upload_blocking(&id)
            .map(|u| (u.width, u.height))
            .ok_or_else(|| SourceError::UnknownUpload(reference.to_owned())),
        ImageRef::TaskOutput { task_id, n } => {
            completed_task(shared, &task_id, n, reference).map(|t| (t.width.max(1), t.height.max(1)))
        }
        ImageRef::Inline(bytes) => {
            if sniff_image(&bytes).is_none() {
                return Err(SourceError::NotAnImage("unknown format".into()));
            }
            image_dims(&bytes).ok_or_else(|| SourceError::NotAnImage("unreadable header".into()))
        }
    }
}

fn completed_task(shared: &Shared, task_id: &str, n: u32, reference: &str) -> Result<Task, SourceError> {
    let mut inner = shared.lock();
    let now = inner.now();
    inner
        .tasks
        .get(task_id)
        .filter(|t| n < t.batch_size && t.phase(now) == Phase::Completed)
        .cloned()
        .ok_or_else(|| SourceError::NoTaskImage(reference.to_owned()))
}

/// PNG of image `n` of `task` (cached). Blocking.
pub fn task_png(shared: &Shared, task: &Task, n: u32) -> Result<Bytes, SourceError> {
    task_png_at(shared, task, n, 0)
}

fn task_png_at(shared: &Shared, task: &Task, n: u32, depth: u8) -> Result<Bytes, SourceError> {
    if let Some(png) = shared.lock().cached_render(&task.id, n) {
        return Ok(png);
    }
    let png = Bytes::from(compose(shared, task, n, depth)?);
    shared.lock().cache_render(&task.id, n, png.clone());
    Ok(png)
}

/// Fetches and decodes an input image.
fn load(shared: &Shared, reference: &str, depth: u8) -> Result<Rgb, SourceError> {
    let bytes = match classify(reference, &shared.base_url, Match::AnyLoopbackPort)? {
        ImageRef::Upload(id) => shared
            .upload_blocking(&id)
            .map(|u| u.bytes)
            .ok_or_else(|| SourceError::UnknownUpload(reference.to_owned()))?,
        ImageRef::TaskOutput { task_id, n } => {
            if depth >= MAX_CHAIN {
                return Err(SourceError::TooDeep(MAX_CHAIN));
            }
            let source = completed_task(shared, &task_id, n, reference)?;
            task_png_at(shared, &source, n, depth + 1)?
        }
        ImageRef::Inline(bytes) => Bytes::from(bytes),
    };
    Rgb::decode(&bytes).map_err(|e| SourceError::NotAnImage(e.to_string()))
}

fn lora_band(img: &mut Rgb, spec: &TaskSpec) {
    if let Some(lora) = spec.loras.first() {
        edit::band(img, Edge::Top, &format!("LoRA {} {:.2}", lora.lora_type, lora.strength));
    }
}

fn compose(shared: &Shared, task: &Task, n: u32, depth: u8) -> Result<Vec<u8>, SourceError> {
    let seed = task.seed.wrapping_add(i64::from(n));
    let (w, h) = (task.width.max(1), task.height.max(1));
    let prompt = task.prompt.as_str();
    let spec = TaskKind::from_wire(&task.task_type)
        .zip(task.input.as_object())
        .and_then(|(kind, input)| TaskSpec::from_input(kind, input).ok());
    // txt2img, and tasks from older state files whose settings no longer parse: the plain render.
    let Some(spec) = spec.filter(|s| s.kind != TaskKind::Txt2Img) else {
        return Ok(render_png(prompt, seed, w, h));
    };
    let source = |depth| match &spec.image {
        Some(reference) => load(shared, reference, depth),
        None => Ok(Rgb::from_raw(w, h, render_art(prompt, seed, w, h))),
    };
    let color = prompt_color(prompt);
    let img = match spec.kind {
        TaskKind::Txt2Img | TaskKind::Txt2ImgLora => {
            let mut img = Rgb::from_raw(w, h, render_rgb(prompt, seed, w, h));
            lora_band(&mut img, &spec);
            img
        }
        TaskKind::Img2Img | TaskKind::Img2ImgLora => {
            let mut img = edit::resize_nearest(&source(depth)?, w, h);
            edit::tint(&mut img, color, 0.6 * spec.denoise);
            lora_band(&mut img, &spec);
            img
        }
        TaskKind::FillInpaint => {
            let src = edit::resize_nearest(&source(depth)?, w, h);
            edit::inpaint(&src, &Rgb::from_raw(w, h, render_art(prompt, seed, w, h)))
        }
        TaskKind::FillOutpaint => {
            let m = spec.outpaint.unwrap_or_default();
            let canvas = Rgb::from_raw(w, h, render_art(prompt, seed, w, h));
            edit::outpaint(&source(depth)?, canvas, m.left, m.top)
        }
        TaskKind::ReduxVariation => {
            let mut img = edit::mirror(&edit::resize_nearest(&source(depth)?, w, h));
            edit::tint(&mut img, color, 0.25);
            img
        }
        TaskKind::Kontext => {
            let mut img = edit::resize_nearest(&source(depth)?, w, h);
            edit::tint(&mut img, WARM, 0.22);
            edit::band(&mut img, Edge::Bottom, prompt);
            img
        }
        TaskKind::ControlnetLora => {
            let control = match &spec.control {
                Some(c) => edit::resize_nearest(&load(shared, &c.image, depth)?, w, h),
                None => Rgb::from_raw(w, h, render_art(prompt, seed, w, h)),
            };
            let bright = color.map(|c| c.saturating_add((255 - c) / 3));
            let mut img = edit::edges(&control, bright, spec.control.as_ref().map_or(0.5, |c| c.strength));
            lora_band(&mut img, &spec);
            img
        }
        TaskKind::Txt2ImgSr => {
            let (bw, bh) = (spec.width.max(1), spec.height.max(1));
            edit::resize_nearest(&Rgb::from_raw(bw, bh, render_rgb(prompt, seed, bw, bh)), w, h)
        }
        TaskKind::Img2ImgSr => edit::resize_nearest(&source(depth)?, w, h),
    };
    Ok(img.encode())
}
