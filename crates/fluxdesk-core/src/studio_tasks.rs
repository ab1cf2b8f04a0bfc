//! Image tasks on the [`Studio`] facade: the task catalog the UI builds its pickers from, source
//! images (info, staging pasted bytes, preparing inputs at plan time) and "Edit" from the gallery.
//!
//! Why a separate `impl Studio` block: the facade stays one object for the shell and the CLI, while
//! the input-image work lives next to [`crate::inputs`].
//!
//! Contract:
//! - [`Studio::task_catalog`] is derived from `piapi`'s one table (models, prices, rules), never
//!   duplicated here.
//! - [`Studio::prepare_inputs`] reads each input once, on the blocking pool, and writes the
//!   prepared PNGs under `<data>/inputs/`; bad inputs are [`Error::InvalidInput`] on `source`,
//!   `mask`, `control` or `outpaint` and nothing is recorded.
//! - The gallery stays untouched: inputs are copies, and a source image may be deleted later
//!   without breaking a queued job.

use std::path::{Path, PathBuf};

use piapi::{ControlType, LORA_TYPES, Model, Outpaint, Size, TaskType};

use crate::gallery::Gallery;
use crate::gallery_ops::settings_from_record;
use crate::inputs::{self, PrepareOptions, TaskSources};
use crate::studio::Studio;
use crate::views::{
    GenerateRequest, ModelPrice, SourceImage, SourceInfo, TaskCatalog, TaskInfo, TaskSettingsView,
};
use crate::{Error, Result};

/// The denoise an "Edit" starts with (PiAPI's documented default).
pub const DEFAULT_DENOISE: f32 = 0.7;
/// The upscale factor an "Edit" starts with.
pub const DEFAULT_SCALE: u32 = 2;
/// The ControlNet strength the CLI uses when none is given (PiAPI's examples use 0.45–0.7).
pub const DEFAULT_CONTROL_STRENGTH: f32 = 0.6;

impl Studio {
    /// Every task type with the models that take it, what it needs, its prices; the LoRA styles
    /// and ControlNet types. Static (from `piapi`'s table).
    pub fn task_catalog() -> TaskCatalog {
        let tasks = TaskType::ALL
            .into_iter()
            .map(|t| {
                let models = Model::supporting(t);
                let (min_loras, max_loras) = t.lora_range();
                TaskInfo {
                    task_type: t,
                    label: t.label().to_owned(),
                    needs_image: t.needs_image(),
                    min_loras,
                    max_loras,
                    needs_control: t.needs_control(),
                    takes_size: t.takes_size(),
                    takes_denoise: t.takes_denoise(),
                    takes_outpaint: t.takes_outpaint(),
                    takes_scale: t.takes_scale(),
                    batch_models: models.iter().copied().filter(|m| m.supports_batch_for(t)).collect(),
                    prices: models.iter().map(|m| ModelPrice { model: *m, usd: m.price_for(t) }).collect(),
                    models,
                }
            })
            .collect();
        TaskCatalog {
            tasks,
            lora_types: LORA_TYPES.iter().map(|s| (*s).to_owned()).collect(),
            control_types: ControlType::ALL.to_vec(),
        }
    }

    /// Where a source image is and its size, from the file header only (for the picker's
    /// preview). Errors say what to do: an unknown gallery id, a missing file, not an image.
    pub fn source_info(&self, source: &SourceImage) -> Result<SourceInfo> {
        let gallery = self.gallery();
        let (path, image_id) = resolve_source(&gallery, source, "source")?;
        let (width, height) = inputs::image_dimensions(&path, "source")?;
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Ok(SourceInfo { path: path.to_string_lossy().into_owned(), width, height, bytes, image_id })
    }

    /// Pasted or dropped image bytes (PNG, JPEG, WebP, GIF) kept as `<data>/inputs/<sha256>.png`;
    /// returns the file as a source. [`Error::InvalidInput`] when the bytes are not an image.
    pub async fn stage_source(&self, bytes: Vec<u8>) -> Result<SourceImage> {
        let dir = self.paths().inputs_dir();
        let staged = blocking(move || inputs::stage_bytes(&bytes, &dir)).await?;
        Ok(SourceImage::file(staged.path))
    }

    /// "Edit" from the gallery: a request of `task_type` whose source is image `id`, with its
    /// prompt, negative prompt, size and guidance kept; the model is the image's model when it
    /// takes `task_type`, else Flux Dev Advanced. Denoise and scale start at their defaults; LoRAs,
    /// ControlNet and outpaint margins start empty for the user to choose. One image, random seed.
    pub fn edit_settings(&self, id: i64, task_type: TaskType) -> Result<GenerateRequest> {
        let rec = self.gallery().get(id)?;
        let base = settings_from_record(&rec, self.settings_view().settings.default_model);
        let model = if base.model.supports(task_type) { base.model } else { Model::DevAdvanced };
        Ok(GenerateRequest {
            model,
            seed: None,
            count: 1,
            task_type,
            source: task_type.needs_image().then(|| SourceImage::gallery(id)),
            mask: None,
            denoise: task_type.takes_denoise().then_some(DEFAULT_DENOISE),
            loras: Vec::new(),
            control: None,
            outpaint: None,
            scale: task_type.takes_scale().then_some(DEFAULT_SCALE),
            ..base
        })
    }

    /// Reads and prepares the input images of `req` (source with its mask, control image) into
    /// `<data>/inputs/` (see [`crate::inputs`]). Call after [`Studio::plan_requests`] accepted
    /// `req`. A request without inputs gives empty sources.
    pub async fn prepare_inputs(&self, req: &GenerateRequest) -> Result<TaskSources> {
        if req.source.is_none() && req.control.is_none() {
            return Ok(TaskSources::default());
        }
        let gallery = self.gallery();
        let dir = self.paths().inputs_dir();
        let req = req.clone();
        blocking(move || prepare_sources(&gallery, &req, &dir)).await
    }
}

fn prepare_sources(gallery: &Gallery, req: &GenerateRequest, dir: &Path) -> Result<TaskSources> {
    let mut sources = TaskSources::default();
    if let Some(src) = &req.source {
        let (path, image_id) = resolve_source(gallery, src, "source")?;
        let bytes = inputs::read_input_file(&path, "source")?;
        let mask = match &req.mask {
            Some(m) if req.task_type == TaskType::FillInpaint => Some(inputs::load_mask(m)?),
            _ => None,
        };
        let outpaint = req.outpaint.filter(|_| req.task_type.takes_outpaint());
        let opts = PrepareOptions { field: "source", outpaint, mask };
        let prepared = inputs::prepare_input(&bytes, &source_name(&path, image_id), &opts, dir)?;
        if let Some(m) = outpaint {
            Outpaint::new(m.left, m.right, m.top, m.bottom)
                .validate(Size::new(prepared.width, prepared.height))?;
        }
        sources.image = Some(prepared);
        sources.source_image_id = image_id;
    }
    if let Some(c) = &req.control {
        let (path, image_id) = resolve_source(gallery, &c.image, "control")?;
        let bytes = inputs::read_input_file(&path, "control")?;
        let opts = PrepareOptions { field: "control", ..PrepareOptions::default() };
        sources.control_image =
            Some(inputs::prepare_input(&bytes, &source_name(&path, image_id), &opts, dir)?);
    }
    Ok(sources)
}

fn source_name(path: &Path, image_id: Option<i64>) -> String {
    match image_id {
        Some(id) => format!("gallery image {id}"),
        None => path.display().to_string(),
    }
}

/// The file of a source and its gallery id. An unknown gallery id is [`Error::InvalidInput`] on
/// `field` (the user picked something that is gone).
fn resolve_source(gallery: &Gallery, source: &SourceImage, field: &str) -> Result<(PathBuf, Option<i64>)> {
    match (source.image_id, source.path.as_deref().map(str::trim)) {
        (Some(id), None) => match gallery.get(id) {
            Ok(rec) => Ok((gallery.abs_path(&rec), Some(id))),
            Err(Error::Missing { .. }) => Err(Error::invalid_input(
                field,
                format!("image {id} is not in the gallery (was it deleted?); choose another image"),
            )),
            Err(e) => Err(e),
        },
        (None, Some(p)) if !p.is_empty() => Ok((PathBuf::from(p), None)),
        (Some(_), Some(_)) => {
            Err(Error::invalid_input(field, "give either a gallery image or a file, not both"))
        }
        _ => Err(Error::invalid_input(field, "no image was given; choose one from the gallery or a file")),
    }
}

/// The task settings a request sends, as recorded with its images (no files, no URLs).
pub fn task_settings_of(request: &piapi::TaskRequest) -> Option<TaskSettingsView> {
    let i = &request.input;
    let view = TaskSettingsView {
        denoise: i.denoise,
        loras: i
            .lora_settings
            .iter()
            .flatten()
            .map(|l| crate::views::LoraChoice {
                name: l.lora_type.clone(),
                strength: l.lora_strength.unwrap_or(1.0),
            })
            .collect(),
        control: i.control_net_settings.iter().flatten().next().map(|c| crate::views::ControlSummary {
            control_type: c.control_type,
            strength: c.control_strength.unwrap_or(1.0),
        }),
        outpaint: i.outpaint().map(|o| crate::views::Margins {
            left: o.left,
            right: o.right,
            top: o.top,
            bottom: o.bottom,
        }),
        scale: i.scale,
    };
    (!view.is_empty()).then_some(view)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("background task failed: {e}")))?
}
