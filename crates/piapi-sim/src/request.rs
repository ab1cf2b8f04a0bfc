//! Validation of `POST /api/v1/task` bodies, the way PiAPI documents it (contract §1.2, §2).
//!
//! `parse_create` turns raw bytes into a `NewTask` or a 400 `ApiError` with a message that names
//! the offending field. It also fills the defaults PiAPI echoes back in `input` (width/height 1024
//! for sized tasks and 0 for source-sized ones, `scale` 2 on super-resolution, a concrete seed when
//! the request says -1 or nothing). Pricing lives here too: `Model::consume_per_image` is the price
//! in units of 1e-7 USD (the unit of `meta.usage.consume`).
//!
//! Per task type (`TaskKind`) the rules mirror the client contract (WAVE3 A): which tasks need an
//! `image`, LoRA and ControlNet counts, where `width`/`height`, `denoise`, `custom_settings`
//! (outpaint) and `scale` may appear, and their ranges. `TaskSpec::from_input` is the one parser
//! of those settings: create uses it to validate, and the renderer re-reads the stored echo with it.
//! Whether an image URL can be fetched is not decided here (that is `source.rs`, at create time).

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::error::ApiError;

/// Maximum `width * height` PiAPI accepts.
pub const MAX_PIXELS: u64 = 1_048_576;
/// Width/height used when the request leaves them unset (or 0).
pub const DEFAULT_SIDE: u32 = 1024;
/// Largest side of a super-resolution output.
pub const MAX_SR_SIDE: u32 = 2048;

/// The LoRAs PiAPI lists as available (contract §2.2), plus the one its examples use. Written out
/// here rather than taken from `piapi::LORA_TYPES`: the simulator plays PiAPI from the contract, so a
/// mistake in the client's list shows up as a failed request instead of being mirrored.
pub const LORA_TYPES: &[&str] = &[
    "anime",
    "art",
    "disney",
    "furry",
    "mjv6",
    "realism",
    "scenery",
    "collage-artstyle",
    "creepcute",
    "cyberpunk-anime-style",
    "deco-pulse",
    "deep-sea-particle-enhencer",
    "faetastic-details",
    "fractal-geometry",
    "galactixy-illustrations-style",
    "geometric-woman",
    "graphic-portrait",
    "mat-miller-art",
    "moebius-style",
    "ob3d-isometric-3d-room",
    "paper-quilling-and-layering-style",
    "remes-abstract-poster-style",
];

/// ControlNet types PiAPI documents.
pub const CONTROL_TYPES: &[&str] = &["depth", "soft_edge", "canny", "openpose"];

/// The Flux models PiAPI serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    Schnell,
    Dev,
    DevAdvanced,
}

impl Model {
    /// All models, in documentation order.
    pub const ALL: [Model; 3] = [Model::Schnell, Model::Dev, Model::DevAdvanced];

    /// The wire id, e.g. `Qubico/flux1-schnell`.
    pub fn id(self) -> &'static str {
        match self {
            Self::Schnell => "Qubico/flux1-schnell",
            Self::Dev => "Qubico/flux1-dev",
            Self::DevAdvanced => "Qubico/flux1-dev-advanced",
        }
    }

    /// Parses a wire id (exact match, as PiAPI does).
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.id() == id)
    }

    /// Price of one image in units of 1e-7 USD ($0.0015 / $0.015 / $0.02).
    pub fn consume_per_image(self) -> u64 {
        match self {
            Self::Schnell => 15_000,
            Self::Dev => 150_000,
            Self::DevAdvanced => 200_000,
        }
    }

    /// Task types the model accepts (contract §2.1).
    pub fn task_types(self) -> &'static [&'static str] {
        match self {
            Self::Schnell => &["txt2img", "img2img", "txt2img-sr", "img2img-sr"],
            Self::Dev => &["txt2img", "img2img"],
            Self::DevAdvanced => &[
                "txt2img",
                "img2img",
                "txt2img-lora",
                "img2img-lora",
                "controlnet-lora",
                "fill-inpaint",
                "fill-outpaint",
                "redux-variation",
                "kontext",
                "txt2img-sr",
                "img2img-sr",
            ],
        }
    }
}

/// The Flux task types, with the per-type rules of the contract (WAVE3 A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Txt2Img,
    Img2Img,
    Txt2ImgLora,
    Img2ImgLora,
    ControlnetLora,
    FillInpaint,
    FillOutpaint,
    ReduxVariation,
    Kontext,
    Txt2ImgSr,
    Img2ImgSr,
}

impl TaskKind {
    /// All task types, in documentation order.
    pub const ALL: [TaskKind; 11] = [
        Self::Txt2Img,
        Self::Img2Img,
        Self::Txt2ImgLora,
        Self::Img2ImgLora,
        Self::ControlnetLora,
        Self::FillInpaint,
        Self::FillOutpaint,
        Self::ReduxVariation,
        Self::Kontext,
        Self::Txt2ImgSr,
        Self::Img2ImgSr,
    ];

    /// The wire name, e.g. `fill-inpaint`.
    pub fn wire(self) -> &'static str {
        match self {
            Self::Txt2Img => "txt2img",
            Self::Img2Img => "img2img",
            Self::Txt2ImgLora => "txt2img-lora",
            Self::Img2ImgLora => "img2img-lora",
            Self::ControlnetLora => "controlnet-lora",
            Self::FillInpaint => "fill-inpaint",
            Self::FillOutpaint => "fill-outpaint",
            Self::ReduxVariation => "redux-variation",
            Self::Kontext => "kontext",
            Self::Txt2ImgSr => "txt2img-sr",
            Self::Img2ImgSr => "img2img-sr",
        }
    }

    /// Parses a wire name (exact match).
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.wire() == s)
    }

    /// Needs `input.image` (and must not have it otherwise).
    pub fn needs_image(self) -> bool {
        matches!(
            self,
            Self::Img2Img
                | Self::Img2ImgLora
                | Self::FillInpaint
                | Self::FillOutpaint
                | Self::ReduxVariation
                | Self::Kontext
                | Self::Img2ImgSr
        )
    }

    /// Allowed number of `lora_settings` entries.
    pub fn lora_range(self) -> (usize, usize) {
        match self {
            Self::Txt2ImgLora | Self::Img2ImgLora => (1, 1),
            Self::ControlnetLora => (0, 1),
            _ => (0, 0),
        }
    }

    /// Needs exactly one `control_net_settings` entry (and must not have any otherwise).
    pub fn needs_control(self) -> bool {
        self == Self::ControlnetLora
    }

    /// Accepts `width`/`height`.
    pub fn takes_size(self) -> bool {
        matches!(
            self,
            Self::Txt2Img | Self::Txt2ImgLora | Self::ControlnetLora | Self::Kontext | Self::Txt2ImgSr
        )
    }

    /// Accepts `denoise`.
    pub fn takes_denoise(self) -> bool {
        matches!(self, Self::Img2Img | Self::Img2ImgLora)
    }

    /// Needs the outpaint `custom_settings` (and must not have them otherwise).
    pub fn takes_outpaint(self) -> bool {
        self == Self::FillOutpaint
    }

    /// Accepts `scale`.
    pub fn takes_scale(self) -> bool {
        matches!(self, Self::Txt2ImgSr | Self::Img2ImgSr)
    }

    /// Accepts `batch_size` > 1 (on schnell only).
    pub fn takes_batch(self) -> bool {
        matches!(self, Self::Txt2Img | Self::Img2Img)
    }

    /// The image can also be inline base64 or a `data:` URL (kontext only).
    pub fn accepts_inline_image(self) -> bool {
        self == Self::Kontext
    }
}

/// One `lora_settings` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraSpec {
    pub lora_type: String,
    /// `lora_strength` (default 1).
    pub strength: f32,
}

/// The `control_net_settings` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlSpec {
    pub control_type: String,
    pub image: String,
    /// `control_strength` (default 0.5).
    pub strength: f32,
}

/// Outpaint margins in pixels (from `custom_settings`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Margins {
    pub left: u32,
    pub right: u32,
    pub top: u32,
    pub bottom: u32,
}

/// The task-type specific settings of a create body, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    pub kind: TaskKind,
    /// `input.image` as sent (URL, data: URL or base64).
    pub image: Option<String>,
    pub loras: Vec<LoraSpec>,
    pub control: Option<ControlSpec>,
    /// `denoise` (default 0.7 where it applies, else 0).
    pub denoise: f32,
    pub outpaint: Option<Margins>,
    /// Super-resolution factor (default 2 where it applies, else 1).
    pub scale: u32,
    /// Requested output width/height (0 = unset; only where `takes_size`).
    pub width: u32,
    pub height: u32,
}

/// Default `denoise` (PiAPI's documented default).
pub const DEFAULT_DENOISE: f32 = 0.7;
/// Default `control_strength`.
pub const DEFAULT_CONTROL_STRENGTH: f32 = 0.5;

fn present<'a>(input: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    input.get(key).filter(|v| !v.is_null())
}

fn number_in(v: &Value, field: &str, lo: f64, lo_inclusive: bool, hi: f64) -> Result<f32, ApiError> {
    match v.as_f64() {
        Some(x) if (x > lo || (lo_inclusive && x == lo)) && x <= hi => Ok(x as f32),
        _ => {
            let range = if lo_inclusive {
                format!("from {lo} to {hi}")
            } else {
                format!("greater than {lo} and at most {hi}")
            };
            Err(bad(format!("{field} must be a number {range} (got {v})")))
        }
    }
}

fn is_http_url(s: &str) -> bool {
    let rest = s.strip_prefix("http://").or_else(|| s.strip_prefix("https://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.chars().any(char::is_whitespace))
}

/// True for a `data:image/...;base64,` URL or a plain base64 string that decodes.
fn is_inline_image(s: &str) -> bool {
    let data = match s.strip_prefix("data:") {
        Some(rest) => match rest.split_once(";base64,") {
            Some((_, d)) => d,
            None => return false,
        },
        None => s,
    };
    data.len() >= 16 && base64::engine::general_purpose::STANDARD.decode(data.trim()).is_ok()
}

/// `input.image`-like field: an http(s) URL (or inline data where allowed).
fn image_field(v: &Value, field: &str, inline_ok: bool) -> Result<String, ApiError> {
    let Some(s) = v.as_str() else {
        return Err(bad(format!("{field} must be a string (an http(s) URL of the image)")));
    };
    let s = s.trim();
    if s.is_empty() {
        return Err(bad(format!("{field} is required and must not be empty")));
    }
    if is_http_url(s) || (inline_ok && is_inline_image(s)) {
        return Ok(s.to_owned());
    }
    if inline_ok {
        Err(bad(format!("{field} must be an http(s) URL, a data: URL or base64 image data")))
    } else {
        Err(bad(format!("{field} must be an http(s) URL (upload local files first)")))
    }
}

fn array_field<'a>(input: &'a Map<String, Value>, key: &str) -> Result<&'a [Value], ApiError> {
    match present(input, key) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(v) => Err(bad(format!("input.{key} must be an array (got {v})"))),
    }
}

fn parse_loras(kind: TaskKind, input: &Map<String, Value>) -> Result<Vec<LoraSpec>, ApiError> {
    let items = array_field(input, "lora_settings")?;
    let (lo, hi) = kind.lora_range();
    let task = kind.wire();
    if items.len() < lo || items.len() > hi {
        let msg = match (lo, hi) {
            (0, 0) => format!(
                "input.lora_settings is not used by {task} (use txt2img-lora, img2img-lora or controlnet-lora)"
            ),
            (l, h) if l == h => {
                format!("input.lora_settings: {task} takes exactly {l} LoRA (got {})", items.len())
            }
            (_, h) => format!("input.lora_settings: {task} takes at most {h} LoRA (got {})", items.len()),
        };
        return Err(bad(msg));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let field = format!("input.lora_settings[{i}]");
            let Value::Object(m) = item else {
                return Err(bad(format!("{field} must be an object with lora_type")));
            };
            let lora_type = match m.get("lora_type") {
                Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
                _ => return Err(bad(format!("{field}.lora_type is required"))),
            };
            if !LORA_TYPES.contains(&lora_type.as_str()) {
                return Err(bad(format!(
                    "{field}.lora_type '{lora_type}' is not an available LoRA: expected one of {}",
                    LORA_TYPES.join(", ")
                )));
            }
            let strength = match m.get("lora_strength").filter(|v| !v.is_null()) {
                None => 1.0,
                Some(v) => number_in(v, &format!("{field}.lora_strength"), 0.0, true, 2.0)?,
            };
            if let Some(v) = m.get("lora_image").filter(|v| !v.is_null())
                && !v.is_string()
            {
                return Err(bad(format!("{field}.lora_image must be a string")));
            }
            Ok(LoraSpec { lora_type, strength })
        })
        .collect()
}

fn parse_control(kind: TaskKind, input: &Map<String, Value>) -> Result<Option<ControlSpec>, ApiError> {
    let items = array_field(input, "control_net_settings")?;
    let task = kind.wire();
    if !kind.needs_control() {
        if items.is_empty() {
            return Ok(None);
        }
        return Err(bad(format!("input.control_net_settings is not used by {task} (use controlnet-lora)")));
    }
    if items.len() != 1 {
        return Err(bad(format!(
            "input.control_net_settings: {task} takes exactly 1 ControlNet (got {})",
            items.len()
        )));
    }
    let field = "input.control_net_settings[0]";
    let Value::Object(m) = &items[0] else {
        return Err(bad(format!("{field} must be an object with control_type and control_image")));
    };
    let control_type = match m.get("control_type") {
        Some(Value::String(s)) if CONTROL_TYPES.contains(&s.as_str()) => s.clone(),
        Some(v) if !v.is_null() => {
            return Err(bad(format!(
                "{field}.control_type {v} is not supported: expected one of {}",
                CONTROL_TYPES.join(", ")
            )));
        }
        _ => return Err(bad(format!("{field}.control_type is required"))),
    };
    let image = match m.get("control_image").filter(|v| !v.is_null()) {
        Some(v) => image_field(v, &format!("{field}.control_image"), false)?,
        None => return Err(bad(format!("{field}.control_image is required"))),
    };
    let strength = match m.get("control_strength").filter(|v| !v.is_null()) {
        None => DEFAULT_CONTROL_STRENGTH,
        Some(v) => number_in(v, &format!("{field}.control_strength"), 0.0, true, 1.0)?,
    };
    if let Some(v) = m.get("return_preprocessed_image").filter(|v| !v.is_null())
        && !v.is_boolean()
    {
        return Err(bad(format!("{field}.return_preprocessed_image must be true or false")));
    }
    Ok(Some(ControlSpec { control_type, image, strength }))
}

fn parse_outpaint(kind: TaskKind, input: &Map<String, Value>) -> Result<Option<Margins>, ApiError> {
    let items = array_field(input, "custom_settings")?;
    let task = kind.wire();
    if !kind.takes_outpaint() {
        if items.is_empty() {
            return Ok(None);
        }
        return Err(bad(format!("input.custom_settings is only used by fill-outpaint (not {task})")));
    }
    const SHAPE: &str = r#"[{"setting_type":"outpaint","outpaint_left":N,"outpaint_right":N,"outpaint_top":N,"outpaint_bottom":N}]"#;
    let mut outpaint =
        items.iter().filter(|s| s.get("setting_type").and_then(Value::as_str) == Some("outpaint"));
    let (Some(setting), None) = (outpaint.next(), outpaint.next()) else {
        return Err(bad(format!(
            "input.custom_settings: fill-outpaint needs exactly one outpaint setting: {SHAPE}"
        )));
    };
    let side = |key: &str| -> Result<u32, ApiError> {
        match setting.get(key).filter(|v| !v.is_null()) {
            None => Ok(0),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| u64::from(*n) <= MAX_PIXELS)
                .ok_or_else(|| {
                    bad(format!(
                        "input.custom_settings[0].{key} must be a non-negative integer of pixels (got {v})"
                    ))
                }),
        }
    };
    let m = Margins {
        left: side("outpaint_left")?,
        right: side("outpaint_right")?,
        top: side("outpaint_top")?,
        bottom: side("outpaint_bottom")?,
    };
    if m == Margins::default() {
        return Err(bad("input.custom_settings: at least one outpaint margin must be greater than 0"));
    }
    Ok(Some(m))
}

impl TaskSpec {
    /// Parses and validates the task-type specific fields of `input` (not `prompt`, `batch_size`,
    /// `seed`, `guidance_scale`: those are common and checked by `parse_create`).
    pub fn from_input(kind: TaskKind, input: &Map<String, Value>) -> Result<Self, ApiError> {
        let task = kind.wire();
        let image = match present(input, "image") {
            Some(v) if kind.needs_image() => {
                Some(image_field(v, "input.image", kind.accepts_inline_image())?)
            }
            Some(Value::String(s)) if s.is_empty() => None,
            Some(_) => {
                return Err(bad(format!(
                    "input.image is not used by {task} (use an image task such as img2img)"
                )));
            }
            None if kind.needs_image() => {
                return Err(bad(format!(
                    "input.image is required for {task} (an http(s) URL of the source image)"
                )));
            }
            None => None,
        };

        let width = opt_positive(input, "width")?;
        let height = opt_positive(input, "height")?;
        if !kind.takes_size() {
            for (key, v) in [("width", width), ("height", height)] {
                if v.is_some() {
                    return Err(bad(format!(
                        "input.{key} is not used by {task}: the output size follows the source image"
                    )));
                }
            }
        }
        let (w, h) = (width.unwrap_or(0), height.unwrap_or(0));
        let (cw, ch) = if kind == TaskKind::Kontext {
            (w, h)
        } else {
            (width.unwrap_or(DEFAULT_SIDE), height.unwrap_or(DEFAULT_SIDE))
        };
        if kind.takes_size() && u64::from(cw) * u64::from(ch) > MAX_PIXELS {
            return Err(bad(format!(
                "input.width * input.height must not exceed {MAX_PIXELS} (got {cw}x{ch})"
            )));
        }

        let denoise = match present(input, "denoise") {
            Some(_) if !kind.takes_denoise() => {
                return Err(bad(format!(
                    "input.denoise is not used by {task} (only img2img and img2img-lora)"
                )));
            }
            Some(v) => number_in(v, "input.denoise", 0.0, false, 1.0)?,
            None if kind.takes_denoise() => DEFAULT_DENOISE,
            None => 0.0,
        };

        let scale = match present(input, "scale") {
            Some(_) if !kind.takes_scale() => {
                return Err(bad(format!(
                    "input.scale is only used by txt2img-sr and img2img-sr (not {task})"
                )));
            }
            Some(v) => match v.as_u64() {
                Some(s @ (2 | 4)) => s as u32,
                _ => return Err(bad(format!("input.scale must be 2 or 4 (got {v})"))),
            },
            None if kind.takes_scale() => 2,
            None => 1,
        };

        Ok(Self {
            kind,
            image,
            loras: parse_loras(kind, input)?,
            control: parse_control(kind, input)?,
            denoise,
            outpaint: parse_outpaint(kind, input)?,
            scale,
            width: if kind.takes_size() { cw } else { 0 },
            height: if kind.takes_size() { ch } else { 0 },
        })
    }

    /// The output size given the source image's size (`None` when there is no usable source).
    pub fn output_size(&self, source: Option<(u32, u32)>) -> (u32, u32) {
        let src = source.unwrap_or((DEFAULT_SIDE, DEFAULT_SIDE));
        match self.kind {
            TaskKind::Txt2Img | TaskKind::Txt2ImgLora | TaskKind::ControlnetLora => (self.width, self.height),
            TaskKind::Img2Img | TaskKind::Img2ImgLora | TaskKind::FillInpaint | TaskKind::ReduxVariation => {
                src
            }
            TaskKind::Kontext if self.width > 0 && self.height > 0 => (self.width, self.height),
            TaskKind::Kontext => src,
            TaskKind::FillOutpaint => {
                let m = self.outpaint.unwrap_or_default();
                (
                    src.0.saturating_add(m.left).saturating_add(m.right),
                    src.1.saturating_add(m.top).saturating_add(m.bottom),
                )
            }
            TaskKind::Txt2ImgSr => upscaled((self.width, self.height), self.scale),
            TaskKind::Img2ImgSr => upscaled(src, self.scale),
        }
    }
}

/// `size` × `scale`, shrunk (keeping the aspect ratio) so no side exceeds `MAX_SR_SIDE`.
pub fn upscaled(size: (u32, u32), scale: u32) -> (u32, u32) {
    let (w, h) = (size.0.max(1), size.1.max(1));
    let f = f64::from(scale)
        .min(f64::from(MAX_SR_SIDE) / f64::from(w))
        .min(f64::from(MAX_SR_SIDE) / f64::from(h));
    let side = |s: u32| ((f64::from(s) * f).round() as u32).clamp(1, MAX_SR_SIDE);
    (side(w), side(h))
}

/// A validated create request.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub model: Model,
    pub task_type: String,
    pub prompt: String,
    pub batch_size: u32,
    /// `None` means "pick a random seed" (the request said -1 or nothing).
    pub seed: Option<i64>,
    /// The task-type specific settings.
    pub spec: TaskSpec,
    /// The request's `input`, with width/height/negative_prompt/scale defaults filled (seed is
    /// filled at create).
    pub input: Map<String, Value>,
    /// The request's `config`, or PiAPI's empty default.
    pub config: Value,
}

impl NewTask {
    /// Total price in units of 1e-7 USD.
    pub fn consume(&self) -> u64 {
        self.model.consume_per_image() * u64::from(self.batch_size)
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// Reads an optional positive integer field; `null`, absent and 0 give `None`.
fn opt_positive(input: &Map<String, Value>, key: &str) -> Result<Option<u32>, ApiError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(0) => Ok(None),
            Some(n) => {
                u32::try_from(n).map(Some).map_err(|_| bad(format!("input.{key} is too large (got {n})")))
            }
            None => Err(bad(format!("input.{key} must be a positive integer (got {v})"))),
        },
    }
}

/// Validates a create body. Errors are 400s with a message naming the field.
pub fn parse_create(body: &[u8]) -> Result<NewTask, ApiError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("invalid request body: not valid JSON ({e})")))?;
    let Value::Object(root) = root else {
        return Err(bad("invalid request body: expected a JSON object"));
    };

    let model_id = match root.get("model") {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        _ => return Err(bad("model is required")),
    };
    let model = Model::from_id(model_id).ok_or_else(|| {
        bad(format!("invalid model '{model_id}': expected one of {}", Model::ALL.map(Model::id).join(", ")))
    })?;

    let task_type = match root.get("task_type") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(bad("task_type is required")),
    };
    let kind = TaskKind::from_wire(&task_type).filter(|_| model.task_types().contains(&task_type.as_str()));
    let Some(kind) = kind else {
        return Err(bad(format!(
            "task_type '{task_type}' is not supported by {}: expected one of {}",
            model.id(),
            model.task_types().join(", ")
        )));
    };

    let mut input = match root.get("input") {
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(bad("input must be an object")),
        None => return Err(bad("input is required")),
    };

    let prompt = match input.get("prompt") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(bad("input.prompt is required and must not be empty"));
        }
        Some(_) => return Err(bad("input.prompt must be a string")),
    };
    if let Some(v) = present(&input, "negative_prompt")
        && !v.is_string()
    {
        return Err(bad("input.negative_prompt must be a string"));
    }

    let spec = TaskSpec::from_input(kind, &input)?;

    let batch_size = match input.get("batch_size") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64() {
            Some(0) => 1,
            Some(n @ 1..=4) => n as u32,
            _ => return Err(bad(format!("input.batch_size must be an integer from 1 to 4 (got {v})"))),
        },
    };
    if batch_size > 1 && model != Model::Schnell {
        return Err(bad(format!(
            "input.batch_size > 1 is only supported by {} (got {batch_size} for {})",
            Model::Schnell.id(),
            model.id()
        )));
    }
    if batch_size > 1 && !kind.takes_batch() {
        return Err(bad(format!(
            "input.batch_size > 1 is only supported by txt2img and img2img (got {batch_size} for {task_type})"
        )));
    }

    if let Some(g) = input.get("guidance_scale").filter(|v| !v.is_null()) {
        match g.as_f64() {
            Some(x) if (1.5..=5.0).contains(&x) => {}
            _ => return Err(bad(format!("input.guidance_scale must be a number from 1.5 to 5 (got {g})"))),
        }
    }

    if let Some(v) = present(&input, "steps") {
        let max = if kind == TaskKind::Kontext { 40 } else { 50 };
        match v.as_u64() {
            Some(n) if n <= max => {}
            _ => return Err(bad(format!("input.steps must be an integer from 1 to {max} (got {v})"))),
        }
    }

    let seed = match input.get("seed") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(-1) => None,
            Some(s) => Some(s),
            None => return Err(bad(format!("input.seed must be an integer (got {v})"))),
        },
    };

    // The echo: sized tasks show the size used, source-sized ones 0 (as PiAPI's img2img example).
    input.insert("width".into(), json!(spec.width));
    input.insert("height".into(), json!(spec.height));
    input.entry("negative_prompt").or_insert_with(|| json!(""));
    if model == Model::Schnell || input.contains_key("batch_size") {
        input.insert("batch_size".into(), json!(batch_size));
    }
    if kind.takes_scale() {
        input.insert("scale".into(), json!(spec.scale));
    }

    let config = match root.get("config") {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => json!({ "service_mode": "", "webhook_config": { "endpoint": "", "secret": "" } }),
    };

    Ok(NewTask { model, task_type, prompt, batch_size, seed, spec, input, config })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<NewTask, ApiError> {
        parse_create(v.to_string().as_bytes())
    }

    #[test]
    fn defaults_are_filled() {
        let t =
            parse(json!({"model":"Qubico/flux1-schnell","task_type":"txt2img","input":{"prompt":"a cat"}}))
                .expect("valid");
        assert_eq!((t.spec.width, t.spec.height, t.batch_size, t.seed), (1024, 1024, 1, None));
        assert_eq!(t.consume(), 15_000);
        assert_eq!(t.input["width"], 1024);
    }

    #[test]
    fn rejects_bad_inputs() {
        let cases = [
            json!({"task_type":"txt2img","input":{"prompt":"x"}}),
            json!({"model":"Qubico/flux1-pro","task_type":"txt2img","input":{"prompt":"x"}}),
            json!({"model":"Qubico/flux1-dev","task_type":"kontext","input":{"prompt":"x"}}),
            json!({"model":"Qubico/flux1-dev","task_type":"txt2img","input":{"prompt":"  "}}),
            json!({"model":"Qubico/flux1-dev","task_type":"txt2img","input":{"prompt":"x","width":2048}}),
            json!({"model":"Qubico/flux1-dev","task_type":"txt2img","input":{"prompt":"x","batch_size":2}}),
            json!({"model":"Qubico/flux1-schnell","task_type":"txt2img","input":{"prompt":"x","batch_size":5}}),
            json!({"model":"Qubico/flux1-schnell","task_type":"txt2img","input":{"prompt":"x","seed":"a"}}),
            json!({"model":"Qubico/flux1-schnell","task_type":"txt2img","input":{"prompt":"x","width":-5}}),
            json!({"model":"Qubico/flux1-schnell","task_type":"txt2img","input":{"prompt":"x","guidance_scale":9}}),
        ];
        for c in cases {
            assert!(matches!(parse(c.clone()), Err(ApiError::BadRequest(_))), "{c}");
        }
        assert!(matches!(parse_create(b"not json"), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn output_sizes_per_task() {
        let spec = |task: &str, input: Value| {
            let kind = TaskKind::from_wire(task).expect("task");
            TaskSpec::from_input(kind, input.as_object().expect("object")).expect("valid")
        };
        let img = "http://127.0.0.1:1/files/uploads/a.png";
        let src = Some((300, 200));
        assert_eq!(spec("img2img", json!({"image": img})).output_size(src), (300, 200));
        assert_eq!(spec("img2img", json!({"image": img})).denoise, DEFAULT_DENOISE);
        assert_eq!(spec("kontext", json!({"image": img})).output_size(src), (300, 200));
        assert_eq!(
            spec("kontext", json!({"image": img, "width": 64, "height": 32})).output_size(src),
            (64, 32)
        );
        let outpaint = json!({"image": img, "custom_settings": [
            {"setting_type": "other"},
            {"setting_type": "outpaint", "outpaint_left": 10, "outpaint_top": 5}]});
        assert_eq!(spec("fill-outpaint", outpaint).output_size(src), (310, 205));
        assert_eq!(
            spec("txt2img-sr", json!({"width": 512, "height": 256, "scale": 4})).output_size(None),
            (2048, 1024)
        );
        assert_eq!(spec("img2img-sr", json!({"image": img})).output_size(Some((1500, 10))), (2048, 14));
        assert_eq!(
            spec(
                "controlnet-lora",
                json!({"control_net_settings": [
            {"control_type": "openpose", "control_image": img}]})
            )
            .output_size(src),
            (1024, 1024)
        );
        assert_eq!(upscaled((1, 1), 4), (4, 4));
    }
}
