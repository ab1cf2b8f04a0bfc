//! Typed create-task requests for every Flux task type and their validation.
//!
//! Contract: [`TaskRequest::validate`] runs before anything is sent and enforces every rule of
//! the task types (see `WAVE3.md` §A and [`TaskType`]'s `needs_*`/`takes_*` answers);
//! [`TaskRequest::validate_except_inputs`] is the same minus the presence/URL checks of the
//! input images, for requests whose local files are not uploaded yet. Each failure is
//! `Error::InvalidInput { field, message }` and the message says what to do.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{ControlType, Model, TaskType};

/// PiAPI's documented pixel budget: width × height may not exceed 1024².
pub const MAX_PIXELS: u64 = 1_048_576;
/// Smallest side we accept (PiAPI documents no minimum; below this Flux output is useless).
pub const MIN_SIDE: u32 = 64;
/// Longest side we accept (a 1:4 strip of one megapixel is 512×2048).
pub const MAX_SIDE: u32 = 2048;

/// An output size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Size {
    pub const fn new(width: u32, height: u32) -> Self {
        Size { width, height }
    }

    pub fn pixels(self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Checks the sides and the pixel budget.
    pub fn validate(self) -> Result<()> {
        for (field, v) in [("width", self.width), ("height", self.height)] {
            if !(MIN_SIDE..=MAX_SIDE).contains(&v) {
                return Err(Error::invalid_input(
                    field,
                    format!("{v} is out of range; use {MIN_SIDE}–{MAX_SIDE} pixels"),
                ));
            }
        }
        if self.pixels() > MAX_PIXELS {
            return Err(Error::invalid_input(
                "size",
                format!(
                    "{}×{} is {} pixels; width × height may not exceed 1,048,576, so use a smaller size such as 1024×1024 or 1280×816",
                    self.width,
                    self.height,
                    group(self.pixels())
                ),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl FromStr for Size {
    type Err = Error;

    /// Parses `1024x768`, `1024X768`, `1024×768` or `1024 x 768`, then validates it.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid_input("size", format!("\"{s}\" is not a size; write WIDTHxHEIGHT, e.g. 1024x768"))
        };
        let norm = s.trim().replace(['×', 'X', '*'], "x");
        let (w, h) = norm.split_once('x').ok_or_else(bad)?;
        let width: u32 = w.trim().parse().map_err(|_| bad())?;
        let height: u32 = h.trim().parse().map_err(|_| bad())?;
        let size = Size { width, height };
        size.validate()?;
        Ok(size)
    }
}

/// One LoRA in `lora_settings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LoraSetting {
    pub lora_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lora_strength: Option<f32>,
}

/// One ControlNet in `control_net_settings` (controlnet-lora).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ControlNetSetting {
    pub control_type: ControlType,
    /// URL of the control image (upload local files first).
    pub control_image: String,
    /// 0–1 (PiAPI's examples use 0.45–0.7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_strength: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_preprocessed_image: Option<bool>,
}

/// Outpaint margins in pixels per side (fill-outpaint). Our own type: on the wire it becomes the
/// documented `custom_settings` entry (see [`FluxInput::set_outpaint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Outpaint {
    pub left: u32,
    pub right: u32,
    pub top: u32,
    pub bottom: u32,
}

impl Outpaint {
    pub const fn new(left: u32, right: u32, top: u32, bottom: u32) -> Self {
        Outpaint { left, right, top, bottom }
    }

    /// The size of the outpainted image: `source` grown by the margins.
    pub fn output_size(&self, source: Size) -> Size {
        Size {
            width: source.width.saturating_add(self.left).saturating_add(self.right),
            height: source.height.saturating_add(self.top).saturating_add(self.bottom),
        }
    }

    /// Pixels the margins add around `source` (output area minus source area).
    pub fn added_pixels(&self, source: Size) -> u64 {
        let w = u64::from(source.width);
        let h = u64::from(source.height);
        let out_w = w + u64::from(self.left) + u64::from(self.right);
        let out_h = h + u64::from(self.top) + u64::from(self.bottom);
        out_w.saturating_mul(out_h) - w * h
    }

    /// Checks that some margin is above 0 and that the added area stays within [`MAX_PIXELS`]
    /// (PiAPI: "the total added pixel area should stay under 1024×1024"). Errors are
    /// `InvalidInput` with field `outpaint`.
    pub fn validate(&self, source: Size) -> Result<()> {
        if self.is_zero() {
            return Err(Error::invalid_input(
                "outpaint",
                "all four margins are 0; add pixels on at least one side (left, right, top or bottom)",
            ));
        }
        let added = self.added_pixels(source);
        if added > MAX_PIXELS {
            return Err(Error::invalid_input(
                "outpaint",
                format!(
                    "the margins add {} pixels around the {}×{} source; the added area may not exceed 1,048,576 pixels, so use smaller margins or a smaller source",
                    group(added),
                    source.width,
                    source.height
                ),
            ));
        }
        Ok(())
    }

    /// True when every margin is 0.
    pub fn is_zero(&self) -> bool {
        self.left == 0 && self.right == 0 && self.top == 0 && self.bottom == 0
    }

    /// The documented `custom_settings` entry.
    fn to_setting(self) -> serde_json::Value {
        serde_json::json!({
            "setting_type": OUTPAINT_SETTING,
            "outpaint_left": self.left,
            "outpaint_right": self.right,
            "outpaint_top": self.top,
            "outpaint_bottom": self.bottom,
        })
    }

    /// Reads a `custom_settings` entry: `None` unless it is an object with `setting_type`
    /// `"outpaint"` whose margins (missing ones count as 0) are whole numbers that fit in `u32`.
    fn from_setting(v: &serde_json::Value) -> Option<Outpaint> {
        if !is_outpaint_setting(v) {
            return None;
        }
        let side = |k: &str| match v.get(k) {
            None | Some(serde_json::Value::Null) => Some(0),
            Some(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        };
        Some(Outpaint {
            left: side("outpaint_left")?,
            right: side("outpaint_right")?,
            top: side("outpaint_top")?,
            bottom: side("outpaint_bottom")?,
        })
    }
}

const OUTPAINT_SETTING: &str = "outpaint";

fn is_outpaint_setting(v: &serde_json::Value) -> bool {
    v.get("setting_type").and_then(serde_json::Value::as_str) == Some(OUTPAINT_SETTING)
}

/// `1048576` → `1,048,576`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The `input` object of a Flux task. Optional fields are omitted from the JSON when unset.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FluxInput {
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance_scale: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    /// Source image URL (img2img, *-lora img2img, fill, redux, kontext, img2img-sr). Kontext also
    /// takes base64 or a `data:` URL. For fill-inpaint the area to repaint is white in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denoise: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora_settings: Option<Vec<LoraSetting>>,
    /// controlnet-lora: exactly one entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_net_settings: Option<Vec<ControlNetSetting>>,
    /// fill-outpaint: the documented outpaint entry, written by [`FluxInput::set_outpaint`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_settings: Option<Vec<serde_json::Value>>,
    /// Super-resolution factor (txt2img-sr, img2img-sr): 2 or 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
}

impl FluxInput {
    /// Writes the margins as the documented `custom_settings` entry
    /// `{"setting_type":"outpaint","outpaint_left":..,"outpaint_right":..,"outpaint_top":..,"outpaint_bottom":..}`,
    /// replacing an earlier outpaint entry and keeping any other entries.
    pub fn set_outpaint(&mut self, outpaint: &Outpaint) {
        let settings = self.custom_settings.get_or_insert_with(Vec::new);
        settings.retain(|v| !is_outpaint_setting(v));
        settings.push(outpaint.to_setting());
    }

    /// The outpaint margins in `custom_settings`, if an entry is there and readable.
    pub fn outpaint(&self) -> Option<Outpaint> {
        self.custom_settings.as_ref()?.iter().find_map(Outpaint::from_setting)
    }
}

/// A complete create-task request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TaskRequest {
    pub model: Model,
    pub task_type: TaskType,
    pub input: FluxInput,
}

impl TaskRequest {
    /// A request with only a prompt; set the task's other inputs on `input`.
    pub fn new(model: Model, task_type: TaskType, prompt: impl Into<String>) -> Self {
        TaskRequest { model, task_type, input: FluxInput { prompt: prompt.into(), ..FluxInput::default() } }
    }

    /// A text-to-image request with only a prompt and a size.
    pub fn txt2img(model: Model, prompt: impl Into<String>, size: Size) -> Self {
        TaskRequest {
            model,
            task_type: TaskType::Txt2Img,
            input: FluxInput {
                prompt: prompt.into(),
                width: Some(size.width),
                height: Some(size.height),
                ..FluxInput::default()
            },
        }
    }

    /// Number of images this request produces (and is charged for).
    pub fn image_count(&self) -> u32 {
        self.input.batch_size.unwrap_or(1).max(1)
    }

    /// Estimated price in US dollars: [`Model::price_for`] the task type × [`image_count`](Self::image_count).
    pub fn estimated_cost_usd(&self) -> f64 {
        self.model.price_for(self.task_type) * f64::from(self.image_count())
    }

    /// Validates everything, before anything is sent: the model × task type combination, which
    /// inputs the task type takes (see [`TaskType`]), every value's range, and that `image` and
    /// each `control_image` are present and http(s) URLs (kontext's `image` may also be base64 or
    /// a `data:` URL). Errors are `InvalidInput { field, message }`; the message says what to do.
    pub fn validate(&self) -> Result<()> {
        self.check(true)
    }

    /// [`validate`](Self::validate) without the presence and URL checks of `image` and
    /// `control_image`, for checking a request before its local input files are uploaded. An
    /// `image` on a task type that takes none is still an error.
    pub fn validate_except_inputs(&self) -> Result<()> {
        self.check(false)
    }

    fn check(&self, inputs: bool) -> Result<()> {
        let i = &self.input;
        let task = self.task_type;
        if i.prompt.trim().is_empty() {
            let what = if task == TaskType::Kontext {
                "the instruction is empty; describe the edit you want"
            } else {
                "the prompt is empty; describe the image you want"
            };
            return Err(Error::invalid_input("prompt", what));
        }
        if i.prompt.chars().count() > 10_000 {
            return Err(Error::invalid_input(
                "prompt",
                "the prompt is longer than 10,000 characters; shorten it",
            ));
        }
        if !self.model.supports(task) {
            let models: Vec<&str> = Model::supporting(task).iter().map(|m| m.short_name()).collect();
            return Err(Error::invalid_input(
                "task_type",
                format!(
                    "{task} ({}) is not available on {}; use {}",
                    task.label(),
                    self.model.short_name(),
                    models.join(" or ")
                ),
            ));
        }
        self.check_image(inputs)?;
        self.check_size()?;
        self.check_denoise()?;
        self.check_loras()?;
        self.check_control(inputs)?;
        self.check_outpaint()?;
        self.check_scale()?;
        if let Some(g) = i.guidance_scale
            && (!(1.5..=5.0).contains(&g) || !g.is_finite())
        {
            return Err(Error::invalid_input("guidance_scale", format!("{g} is out of range; use 1.5–5")));
        }
        let max_steps = if task == TaskType::Kontext { 40 } else { 50 };
        if let Some(s) = i.steps
            && !(1..=max_steps).contains(&s)
        {
            return Err(Error::invalid_input("steps", format!("{s} is out of range; use 1–{max_steps}")));
        }
        if let Some(b) = i.batch_size {
            if !(1..=4).contains(&b) {
                return Err(Error::invalid_input("batch_size", format!("{b} is out of range; use 1–4")));
            }
            if b > 1 && !self.model.supports_batch_for(task) {
                let why = if self.model.supports_batch() {
                    format!("batches work only with txt2img and img2img; use batch size 1 for {task}")
                } else {
                    format!(
                        "batches of {b} work only on schnell; use batch size 1 on {}",
                        self.model.short_name()
                    )
                };
                return Err(Error::invalid_input("batch_size", why));
            }
        }
        if let Some(seed) = i.seed
            && seed < -1
        {
            return Err(Error::invalid_input("seed", "use -1 (random) or a non-negative number"));
        }
        Ok(())
    }

    fn check_image(&self, inputs: bool) -> Result<()> {
        let task = self.task_type;
        match (&self.input.image, task.needs_image()) {
            (Some(_), false) => Err(Error::invalid_input(
                "image",
                format!("{task} takes no source image; remove it, or pick an image task such as img2img"),
            )),
            (None, true) if inputs => Err(Error::invalid_input(
                "image",
                format!(
                    "{task} ({}) needs a source image; pick one from the gallery or a file",
                    task.label()
                ),
            )),
            (Some(image), true) if inputs => {
                if image.trim().is_empty() {
                    return Err(Error::invalid_input(
                        "image",
                        format!("the source image is empty; pick one from the gallery or a file for {task}"),
                    ));
                }
                if task == TaskType::Kontext {
                    if is_http_url(image) || is_base64_image(image) {
                        return Ok(());
                    }
                    return Err(Error::invalid_input(
                        "image",
                        "the source image must be an http(s) URL, a data: URL or base64; upload local files first",
                    ));
                }
                if is_http_url(image) {
                    Ok(())
                } else {
                    Err(Error::invalid_input(
                        "image",
                        "the source image must be an http(s) URL; upload local files first",
                    ))
                }
            }
            _ => Ok(()),
        }
    }

    fn check_size(&self) -> Result<()> {
        let i = &self.input;
        let task = self.task_type;
        if !task.takes_size() && (i.width.is_some() || i.height.is_some()) {
            let field = if i.width.is_some() { "width" } else { "height" };
            return Err(Error::invalid_input(
                field,
                format!(
                    "{task} takes no output size (the result follows the source image); remove width and height"
                ),
            ));
        }
        match (i.width, i.height) {
            (Some(width), Some(height)) => Size { width, height }.validate(),
            (None, None) => Ok(()),
            (Some(_), None) => Err(Error::invalid_input("height", "set both width and height, or neither")),
            (None, Some(_)) => Err(Error::invalid_input("width", "set both width and height, or neither")),
        }
    }

    fn check_denoise(&self) -> Result<()> {
        let task = self.task_type;
        let Some(d) = self.input.denoise else { return Ok(()) };
        if !task.takes_denoise() {
            return Err(Error::invalid_input(
                "denoise",
                format!("{task} takes no denoise (only img2img and img2img-lora do); remove it"),
            ));
        }
        if !(d > 0.0 && d <= 1.0) {
            return Err(Error::invalid_input(
                "denoise",
                format!("{d} is out of range; use a value above 0 and up to 1 (0.7 is typical)"),
            ));
        }
        Ok(())
    }

    fn check_loras(&self) -> Result<()> {
        let task = self.task_type;
        let loras = self.input.lora_settings.as_deref().unwrap_or_default();
        let (min, max) = task.lora_range();
        let n = loras.len();
        if n > usize::from(max) {
            let what = if max == 0 {
                format!(
                    "{task} takes no LoRA; remove it, or pick txt2img-lora, img2img-lora or controlnet-lora"
                )
            } else {
                format!("{task} takes at most {max} LoRA but {n} are set; remove the others")
            };
            return Err(Error::invalid_input("lora_settings", what));
        }
        if n < usize::from(min) {
            return Err(Error::invalid_input(
                "lora_settings",
                format!("{task} needs {min} LoRA; pick one from the list (e.g. realism)"),
            ));
        }
        for lora in loras {
            let name = &lora.lora_type;
            let well_formed = !name.is_empty()
                && name.len() <= 100
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !well_formed {
                return Err(Error::invalid_input(
                    "lora_type",
                    format!(
                        "\"{name}\" is not a LoRA name; use a name from the list, such as realism or graphic-portrait (lowercase letters, digits and dashes)"
                    ),
                ));
            }
            if let Some(s) = lora.lora_strength
                && !(s.is_finite() && (0.0..=2.0).contains(&s))
            {
                return Err(Error::invalid_input(
                    "lora_strength",
                    format!("{s} is out of range; use 0–2 (1 is typical)"),
                ));
            }
        }
        Ok(())
    }

    fn check_control(&self, inputs: bool) -> Result<()> {
        let task = self.task_type;
        let controls = self.input.control_net_settings.as_deref().unwrap_or_default();
        if !task.needs_control() {
            if controls.is_empty() {
                return Ok(());
            }
            return Err(Error::invalid_input(
                "control_net_settings",
                format!("{task} takes no ControlNet; remove it, or pick controlnet-lora"),
            ));
        }
        let [control] = controls else {
            return Err(Error::invalid_input(
                "control_net_settings",
                format!(
                    "{task} needs exactly one ControlNet ({} are set); choose a control type, a control image and a strength",
                    controls.len()
                ),
            ));
        };
        if let Some(s) = control.control_strength
            && !(s.is_finite() && (0.0..=1.0).contains(&s))
        {
            return Err(Error::invalid_input(
                "control_strength",
                format!("{s} is out of range; use 0–1 (0.45–0.7 is typical)"),
            ));
        }
        if inputs {
            if control.control_image.trim().is_empty() {
                return Err(Error::invalid_input(
                    "control_image",
                    "the ControlNet needs a control image; pick one from the gallery or a file",
                ));
            }
            if !is_http_url(&control.control_image) {
                return Err(Error::invalid_input(
                    "control_image",
                    "the control image must be an http(s) URL; upload local files first",
                ));
            }
        }
        Ok(())
    }

    fn check_outpaint(&self) -> Result<()> {
        let task = self.task_type;
        let settings = self.input.custom_settings.as_deref().unwrap_or_default();
        if !task.takes_outpaint() {
            if settings.is_empty() {
                return Ok(());
            }
            return Err(Error::invalid_input(
                "custom_settings",
                format!("{task} takes no custom settings (only fill-outpaint's margins); remove them"),
            ));
        }
        let [setting] = settings else {
            let what = if settings.is_empty() {
                format!("{task} needs margins; set at least one of left, right, top and bottom above 0")
            } else {
                "set the outpaint margins once; custom_settings holds exactly one outpaint entry".to_owned()
            };
            return Err(Error::invalid_input("outpaint", what));
        };
        let Some(margins) = Outpaint::from_setting(setting) else {
            return Err(Error::invalid_input(
                "custom_settings",
                "the entry is not an outpaint setting with whole-pixel margins; write it with FluxInput::set_outpaint",
            ));
        };
        // The source's size is not known here (it is a URL); the full budget check is
        // `Outpaint::validate(source)`. Margins that overflow the budget around even the
        // smallest source are rejected now.
        margins.validate(Size::new(MIN_SIDE, MIN_SIDE))
    }

    fn check_scale(&self) -> Result<()> {
        let task = self.task_type;
        match (self.input.scale, task.takes_scale()) {
            (None, _) | (Some(2 | 4), true) => Ok(()),
            (Some(s), true) => Err(Error::invalid_input("scale", format!("{s} is not offered; use 2 or 4"))),
            (Some(_), false) => Err(Error::invalid_input(
                "scale",
                format!("{task} takes no scale (only txt2img-sr and img2img-sr do); remove it"),
            )),
        }
    }

    /// The JSON body of `POST /api/v1/task`. Numbers are written as their shortest decimal
    /// (`0.45`, not the `f32`-widened `0.44999998807907104`).
    pub fn to_body(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Body<'a> {
            model: &'a str,
            task_type: &'a str,
            input: &'a FluxInput,
        }
        // Straight to text: `f32`s are written as their shortest decimal, then read as `f64`.
        let body = Body { model: self.model.id(), task_type: self.task_type.as_str(), input: &self.input };
        let text = serde_json::to_string(&body).expect("BUG: a task request always serialises");
        serde_json::from_str(&text).expect("BUG: serde_json reads back what it wrote")
    }
}

/// An absolute `http://` or `https://` URL with a host.
fn is_http_url(s: &str) -> bool {
    s.trim() == s
        && url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// A `data:image/…;base64,…` URL or bare base64 that decodes to something.
fn is_base64_image(s: &str) -> bool {
    use base64::Engine as _;
    let payload = match s.strip_prefix("data:") {
        Some(rest) => match rest.split_once(";base64,") {
            Some((mime, data)) if mime.starts_with("image/") => data,
            _ => return false,
        },
        None => s,
    };
    let engine = base64::engine::general_purpose::STANDARD;
    !payload.is_empty() && engine.decode(payload.trim()).is_ok_and(|b| !b.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field_of(e: Error) -> String {
        match e {
            Error::InvalidInput { field, .. } => field,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    /// Words that tell the user what to do; every validation message has one.
    const DIRECTIVES: [&str; 10] =
        ["use ", "remove", "pick", "set ", "add ", "describe", "shorten", "choose", "upload", "write it"];

    /// The error's field; asserts its message says what to do.
    fn rejected(r: &TaskRequest) -> String {
        let e = r.validate().expect_err("invalid");
        let Error::InvalidInput { field, message } = &e else { panic!("expected InvalidInput, got {e:?}") };
        assert!(DIRECTIVES.iter().any(|d| message.contains(d)), "{field}: \"{message}\" says what to do");
        field.clone()
    }

    const IMG: &str = "https://i.ibb.co/TH7xMvd/girl-mask.png";
    const CONTROL_IMG: &str = "https://i.ibb.co/yX07dwV/Comfy-UI-controlnet.webp";

    fn lora(name: &str, strength: f32) -> LoraSetting {
        LoraSetting { lora_type: name.to_owned(), lora_strength: Some(strength) }
    }

    fn control() -> ControlNetSetting {
        ControlNetSetting {
            control_type: ControlType::Canny,
            control_image: CONTROL_IMG.to_owned(),
            control_strength: Some(0.45),
            return_preprocessed_image: Some(true),
        }
    }

    /// One valid minimal request per task type (on the cheapest model that takes it) and its
    /// exact body. controlnet-lora, fill-inpaint and redux-variation are the documented examples
    /// (`piapi-api.md` §2.3, without the optional `config`); fill-outpaint uses the documented
    /// `custom_settings` shape (§2.2).
    fn examples() -> Vec<(TaskRequest, serde_json::Value)> {
        let mut out = Vec::new();
        for task in TaskType::ALL {
            let model = Model::ALL.into_iter().find(|m| m.supports(task)).expect("some model");
            let mut r = TaskRequest::new(model, task, "a little cat");
            let body = match task {
                TaskType::Txt2Img => {
                    r.input.width = Some(1024);
                    r.input.height = Some(1024);
                    json!({"model": "Qubico/flux1-schnell", "task_type": "txt2img",
                           "input": {"prompt": "a little cat", "width": 1024, "height": 1024}})
                }
                TaskType::Img2Img => {
                    r.input.image = Some(IMG.into());
                    r.input.denoise = Some(0.7);
                    json!({"model": "Qubico/flux1-schnell", "task_type": "img2img",
                           "input": {"prompt": "a little cat", "image": IMG, "denoise": 0.7}})
                }
                TaskType::Txt2ImgLora => {
                    r.input.lora_settings = Some(vec![lora("realism", 0.8)]);
                    json!({"model": "Qubico/flux1-dev-advanced", "task_type": "txt2img-lora",
                           "input": {"prompt": "a little cat",
                                     "lora_settings": [{"lora_type": "realism", "lora_strength": 0.8}]}})
                }
                TaskType::Img2ImgLora => {
                    r.input.image = Some(IMG.into());
                    r.input.lora_settings =
                        Some(vec![LoraSetting { lora_type: "anime".into(), lora_strength: None }]);
                    json!({"model": "Qubico/flux1-dev-advanced", "task_type": "img2img-lora",
                           "input": {"prompt": "a little cat", "image": IMG,
                                     "lora_settings": [{"lora_type": "anime"}]}})
                }
                TaskType::ControlnetLora => {
                    r.input.prompt = "A girl in city, 25 years old, cool, futuristic".into();
                    r.input.steps = Some(28);
                    r.input.negative_prompt = Some("low quality, ugly, distorted, artefacts".into());
                    r.input.guidance_scale = Some(2.5);
                    r.input.control_net_settings = Some(vec![control()]);
                    r.input.lora_settings = Some(vec![lora("graphic-portrait", 1.0)]);
                    json!({"model": "Qubico/flux1-dev-advanced", "task_type": "controlnet-lora",
                           "input": {"steps": 28, "prompt": "A girl in city, 25 years old, cool, futuristic",
                                     "negative_prompt": "low quality, ugly, distorted, artefacts",
                                     "guidance_scale": 2.5,
                                     "control_net_settings": [{"control_type": "canny",
                                                               "control_image": CONTROL_IMG,
                                                               "control_strength": 0.45,
                                                               "return_preprocessed_image": true}],
                                     "lora_settings": [{"lora_type": "graphic-portrait", "lora_strength": 1.0}]}})
                }
                TaskType::FillInpaint => {
                    r.input.prompt = "a girl in blue and red skirt".into();
                    r.input.image = Some(IMG.into());
                    json!({"model": "Qubico/flux1-dev-advanced", "task_type": "fill-inpaint",
                           "input": {"prompt": "a girl in blue and red skirt", "image": IMG}})
                }
                TaskType::FillOutpaint => {
                    r.input.image = Some(IMG.into());
                    r.input.set_outpaint(&Outpaint::new(500, 500, 0, 0));
                    json!({"model": "Qubico/flux1-dev-advanced", "task_type": "fill-outpaint",
                           "input": {"prompt": "a little cat", "image": IMG,
                                     "custom_settings": [{"setting_type": "outpaint", "outpaint_left": 500,
                                                          "outpaint_right": 500, "outpaint_top": 0,
                                                          "outpaint_bottom": 0}]}})
                }
                TaskType::ReduxVariation => {
                    r.input.prompt = "a superman".into();
                    r.input.image = Some(IMG.into());
                    json!({"model": "Qubico/flux1-dev-advanced", "task_type": "redux-variation",
                           "input": {"prompt": "a superman", "image": IMG}})
                }
                TaskType::Kontext => {
                    r.input.prompt = "make the cat wear a hat".into();
                    r.input.image = Some(IMG.into());
                    json!({"model": "Qubico/flux1-dev-advanced", "task_type": "kontext",
                           "input": {"prompt": "make the cat wear a hat", "image": IMG}})
                }
                TaskType::Txt2ImgSr => {
                    r.input.width = Some(512);
                    r.input.height = Some(512);
                    r.input.scale = Some(2);
                    json!({"model": "Qubico/flux1-schnell", "task_type": "txt2img-sr",
                           "input": {"prompt": "a little cat", "width": 512, "height": 512, "scale": 2}})
                }
                TaskType::Img2ImgSr => {
                    r.input.image = Some(IMG.into());
                    r.input.scale = Some(4);
                    json!({"model": "Qubico/flux1-schnell", "task_type": "img2img-sr",
                           "input": {"prompt": "a little cat", "image": IMG, "scale": 4}})
                }
            };
            out.push((r, body));
        }
        out
    }

    fn example(task: TaskType) -> TaskRequest {
        examples().into_iter().find(|(r, _)| r.task_type == task).expect("example").0
    }

    #[test]
    fn size_parsing_accepts_the_usual_spellings() {
        for s in ["1024x768", "1024×768", " 1024 X 768 ", "1024*768", "1024 x 768"] {
            assert_eq!(s.parse::<Size>().expect(s), Size::new(1024, 768), "{s}");
        }
        assert_eq!(Size::new(1024, 768).to_string(), "1024x768");
    }

    #[test]
    fn size_parsing_rejects_bad_input_naming_the_field() {
        for (s, field) in [
            ("1024", "size"),
            ("axb", "size"),
            ("1024x", "size"),
            ("x768", "size"),
            ("-5x10", "size"),
            ("1024x768x2", "size"),
            ("", "size"),
            ("0x512", "width"),
            ("512x4096", "height"),
            ("2048x1024", "size"),
            ("1025x1024", "size"),
        ] {
            assert_eq!(field_of(s.parse::<Size>().expect_err(s)), field, "{s}");
        }
        let e = "2048x1024".parse::<Size>().expect_err("too many pixels");
        assert!(e.to_string().contains("1,048,576"), "{e}");
        assert!("1024x1024".parse::<Size>().is_ok(), "exactly 1,048,576 px is allowed");
    }

    #[test]
    fn validation_names_the_field() {
        let base = TaskRequest::txt2img(Model::Schnell, "a cat", Size::new(1024, 1024));
        assert!(base.validate().is_ok());
        let with = |f: &dyn Fn(&mut TaskRequest)| {
            let mut r = base.clone();
            f(&mut r);
            rejected(&r)
        };
        assert_eq!(with(&|r| r.input.prompt = "   ".into()), "prompt");
        assert_eq!(with(&|r| r.input.prompt = "x".repeat(10_001)), "prompt");
        assert_eq!(with(&|r| r.task_type = TaskType::Kontext), "task_type");
        assert_eq!(with(&|r| r.input.height = None), "height");
        assert_eq!(with(&|r| r.input.width = None), "width");
        assert_eq!(with(&|r| r.input.width = Some(2048)), "size");
        assert_eq!(with(&|r| r.input.guidance_scale = Some(9.0)), "guidance_scale");
        assert_eq!(with(&|r| r.input.guidance_scale = Some(f32::NAN)), "guidance_scale");
        assert_eq!(with(&|r| r.input.steps = Some(0)), "steps");
        assert_eq!(with(&|r| r.input.steps = Some(51)), "steps");
        assert_eq!(with(&|r| r.input.batch_size = Some(5)), "batch_size");
        assert_eq!(with(&|r| r.input.batch_size = Some(0)), "batch_size");
        assert_eq!(with(&|r| r.input.seed = Some(-2)), "seed");
        let mut dev = base.clone();
        dev.model = Model::Dev;
        dev.input.batch_size = Some(2);
        assert_eq!(rejected(&dev), "batch_size");
    }

    #[test]
    fn every_task_type_has_a_valid_minimal_body() {
        let examples = examples();
        assert_eq!(examples.len(), TaskType::ALL.len());
        for (r, body) in examples {
            r.validate().unwrap_or_else(|e| panic!("{}: {e}", r.task_type));
            r.validate_except_inputs().unwrap_or_else(|e| panic!("{}: {e}", r.task_type));
            assert_eq!(r.to_body(), body, "{}", r.task_type);
            // The body reads back into the same request.
            let back: TaskRequest = serde_json::from_value(r.to_body()).expect("deserialise");
            assert_eq!(back.to_body(), body, "{}", r.task_type);
        }
    }

    #[test]
    fn bodies_write_short_decimals() {
        let mut r = example(TaskType::Img2Img);
        r.input.denoise = Some(0.45);
        r.input.guidance_scale = Some(3.3);
        let text = r.to_body().to_string();
        assert!(text.contains("\"denoise\":0.45") && text.contains("\"guidance_scale\":3.3"), "{text}");
    }

    #[test]
    fn model_and_task_type_combinations() {
        for task in TaskType::ALL {
            for model in Model::ALL {
                let mut r = example(task);
                r.model = model;
                if model.supports(task) {
                    r.validate().unwrap_or_else(|e| panic!("{model:?} {task}: {e}"));
                } else {
                    assert_eq!(rejected(&r), "task_type", "{model:?} {task}");
                    let e = r.validate().expect_err("unsupported").to_string();
                    assert!(e.contains("dev-advanced"), "{e}");
                    assert_eq!(field_of(r.validate_except_inputs().expect_err("also here")), "task_type");
                }
            }
        }
        let mut r = example(TaskType::Img2ImgSr);
        r.model = Model::Dev;
        assert!(r.validate().expect_err("dev").to_string().contains("use schnell or dev-advanced"));
    }

    #[test]
    fn the_source_image_is_required_exactly_where_needed() {
        for task in TaskType::ALL {
            let mut r = example(task);
            if task.needs_image() {
                r.input.image = None;
                assert_eq!(rejected(&r), "image", "{task}");
                assert!(r.validate_except_inputs().is_ok(), "{task}: checked before upload");
                r.input.image = Some("   ".into());
                assert_eq!(rejected(&r), "image", "{task}");
                for bad in [
                    "/home/me/cat.png",
                    "file:///tmp/cat.png",
                    "ftp://x/cat.png",
                    "cat.png",
                    " https://x/a.png",
                ] {
                    r.input.image = Some(bad.into());
                    assert_eq!(rejected(&r), "image", "{task} {bad}");
                    assert!(r.validate_except_inputs().is_ok(), "{task} {bad}");
                }
                r.input.image = Some("http://127.0.0.1:5000/files/uploads/a.png".into());
                assert!(r.validate().is_ok(), "{task}: plain http (the simulator) is a URL");
            } else {
                r.input.image = Some(IMG.into());
                assert_eq!(rejected(&r), "image", "{task}");
                assert_eq!(field_of(r.validate_except_inputs().expect_err("no image")), "image", "{task}");
            }
        }
    }

    #[test]
    fn kontext_also_takes_base64_and_data_urls() {
        let mut r = example(TaskType::Kontext);
        for ok in [
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==",
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==",
        ] {
            r.input.image = Some(ok.into());
            r.validate().unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "data:text/plain;base64,aGVsbG8=",
            "data:image/png,rawbytes",
            "not base64 at all!",
            "data:image/png;base64,",
        ] {
            r.input.image = Some(bad.into());
            assert_eq!(rejected(&r), "image", "{bad}");
        }
        let mut img2img = example(TaskType::Img2Img);
        img2img.input.image = Some("data:image/png;base64,aGVsbG8=".into());
        assert_eq!(rejected(&img2img), "image", "only kontext takes base64");
    }

    #[test]
    fn output_size_only_where_the_task_takes_one() {
        for task in TaskType::ALL {
            let mut r = example(task);
            r.input.width = Some(768);
            r.input.height = Some(512);
            if task.takes_size() {
                r.validate().unwrap_or_else(|e| panic!("{task}: {e}"));
                r.input.width = Some(4096);
                assert_eq!(rejected(&r), "width", "{task}");
                r.input.width = None;
                assert_eq!(rejected(&r), "width", "{task}");
            } else {
                assert_eq!(rejected(&r), "width", "{task}");
                r.input.width = None;
                assert_eq!(rejected(&r), "height", "{task}");
            }
        }
    }

    #[test]
    fn denoise_only_where_the_task_takes_it() {
        for task in TaskType::ALL {
            let mut r = example(task);
            r.input.denoise = Some(0.5);
            if task.takes_denoise() {
                r.validate().unwrap_or_else(|e| panic!("{task}: {e}"));
                for ok in [1.0, 0.01] {
                    r.input.denoise = Some(ok);
                    assert!(r.validate().is_ok(), "{task} {ok}");
                }
                for bad in [0.0, -0.1, 1.01, f32::NAN, f32::INFINITY] {
                    r.input.denoise = Some(bad);
                    assert_eq!(rejected(&r), "denoise", "{task} {bad}");
                    assert_eq!(field_of(r.validate_except_inputs().expect_err("range")), "denoise");
                }
            } else {
                assert_eq!(rejected(&r), "denoise", "{task}");
            }
        }
    }

    #[test]
    fn lora_counts_names_and_strengths() {
        for task in TaskType::ALL {
            let (min, max) = task.lora_range();
            for n in 0..=2u8 {
                let mut r = example(task);
                r.input.lora_settings =
                    if n == 0 { None } else { Some((0..n).map(|_| lora("realism", 1.0)).collect()) };
                if (min..=max).contains(&n) {
                    r.validate().unwrap_or_else(|e| panic!("{task} with {n} LoRAs: {e}"));
                } else {
                    assert_eq!(rejected(&r), "lora_settings", "{task} with {n} LoRAs");
                    assert_eq!(field_of(r.validate_except_inputs().expect_err("count")), "lora_settings");
                }
            }
        }
        let mut r = example(TaskType::Txt2ImgLora);
        r.input.lora_settings = Some(vec![]);
        assert_eq!(rejected(&r), "lora_settings", "an empty list is no LoRA");
        for bad in ["", "Realism", "real ism", "real_ism", "../x", "réalisme"] {
            r.input.lora_settings = Some(vec![lora(bad, 1.0)]);
            assert_eq!(rejected(&r), "lora_type", "{bad:?}");
        }
        r.input.lora_settings = Some(vec![lora("some-new-lora-2", 1.0)]);
        assert!(r.validate().is_ok(), "names beyond the documented list are allowed");
        for ok in [0.0, 2.0, 0.7] {
            r.input.lora_settings = Some(vec![lora("anime", ok)]);
            assert!(r.validate().is_ok(), "{ok}");
        }
        for bad in [-0.1, 2.01, f32::NAN] {
            r.input.lora_settings = Some(vec![lora("anime", bad)]);
            assert_eq!(rejected(&r), "lora_strength", "{bad}");
        }
    }

    #[test]
    fn controlnet_exactly_where_needed() {
        for task in TaskType::ALL {
            let mut r = example(task);
            if task.needs_control() {
                r.input.control_net_settings = None;
                assert_eq!(rejected(&r), "control_net_settings", "{task}");
                r.input.control_net_settings = Some(vec![]);
                assert_eq!(rejected(&r), "control_net_settings", "{task}");
                r.input.control_net_settings = Some(vec![control(), control()]);
                assert_eq!(rejected(&r), "control_net_settings", "{task}");
                assert_eq!(field_of(r.validate_except_inputs().expect_err("two")), "control_net_settings");
            } else {
                r.input.control_net_settings = Some(vec![control()]);
                assert_eq!(rejected(&r), "control_net_settings", "{task}");
            }
        }
        let mut r = example(TaskType::ControlnetLora);
        r.input.lora_settings = None;
        assert!(r.validate().is_ok(), "the LoRA is optional on controlnet-lora");
        for (strength, ok) in [(0.0, true), (1.0, true), (-0.01, false), (1.01, false), (f32::NAN, false)] {
            let mut c = control();
            c.control_strength = Some(strength);
            r.input.control_net_settings = Some(vec![c]);
            assert_eq!(r.validate().is_ok(), ok, "{strength}");
            if !ok {
                assert_eq!(rejected(&r), "control_strength");
                assert_eq!(field_of(r.validate_except_inputs().expect_err("range")), "control_strength");
            }
        }
        for (image, ok_later) in
            [("", true), ("/tmp/pose.png", true), ("data:image/png;base64,aGVsbG8=", true)]
        {
            let mut c = control();
            c.control_image = image.into();
            r.input.control_net_settings = Some(vec![c]);
            assert_eq!(rejected(&r), "control_image", "{image:?}");
            assert_eq!(r.validate_except_inputs().is_ok(), ok_later, "{image:?}: checked after upload");
        }
        let mut c = control();
        c.control_strength = None;
        c.return_preprocessed_image = None;
        r.input.control_net_settings = Some(vec![c]);
        assert!(r.validate().is_ok());
    }

    #[test]
    fn outpaint_margins_only_on_fill_outpaint() {
        for task in TaskType::ALL {
            let mut r = example(task);
            if task.takes_outpaint() {
                r.input.custom_settings = None;
                assert_eq!(rejected(&r), "outpaint", "{task}");
                r.input.set_outpaint(&Outpaint::default());
                assert_eq!(rejected(&r), "outpaint", "{task}: all zero");
                r.input.set_outpaint(&Outpaint::new(0, 0, 0, 64));
                assert!(r.validate().is_ok(), "{task}: one side is enough");
                r.input.set_outpaint(&Outpaint::new(1000, 1000, 1000, 1000));
                assert_eq!(rejected(&r), "outpaint", "{task}: over budget around any source");
                assert_eq!(field_of(r.validate_except_inputs().expect_err("budget")), "outpaint");
                r.input.custom_settings =
                    Some(vec![json!({"setting_type": "outpaint", "outpaint_left": -5})]);
                assert_eq!(rejected(&r), "custom_settings", "{task}: negative margin");
                r.input.custom_settings = Some(vec![json!({"setting_type": "zoom"})]);
                assert_eq!(rejected(&r), "custom_settings", "{task}: unknown setting");
                r.input.custom_settings = Some(vec![
                    Outpaint::new(8, 0, 0, 0).to_setting(),
                    Outpaint::new(0, 8, 0, 0).to_setting(),
                ]);
                assert_eq!(rejected(&r), "outpaint", "{task}: two entries");
            } else {
                r.input.set_outpaint(&Outpaint::new(64, 0, 0, 0));
                assert_eq!(rejected(&r), "custom_settings", "{task}");
                assert_eq!(field_of(r.validate_except_inputs().expect_err("no margins")), "custom_settings");
            }
        }
    }

    #[test]
    fn scale_only_on_super_resolution() {
        for task in TaskType::ALL {
            let mut r = example(task);
            if task.takes_scale() {
                for ok in [None, Some(2), Some(4)] {
                    r.input.scale = ok;
                    assert!(r.validate().is_ok(), "{task} {ok:?}");
                }
                for bad in [0, 1, 3, 8] {
                    r.input.scale = Some(bad);
                    assert_eq!(rejected(&r), "scale", "{task} {bad}");
                    assert_eq!(field_of(r.validate_except_inputs().expect_err("scale")), "scale");
                }
            } else {
                r.input.scale = Some(2);
                assert_eq!(rejected(&r), "scale", "{task}");
            }
        }
    }

    #[test]
    fn batches_only_on_schnell_txt2img_and_img2img() {
        for task in TaskType::ALL {
            for model in Model::ALL.into_iter().filter(|m| m.supports(task)) {
                let mut r = example(task);
                r.model = model;
                r.input.batch_size = Some(1);
                assert!(r.validate().is_ok(), "{model:?} {task}: batch 1 is always fine");
                r.input.batch_size = Some(4);
                let ok = model == Model::Schnell && matches!(task, TaskType::Txt2Img | TaskType::Img2Img);
                if ok {
                    assert!(r.validate().is_ok(), "{model:?} {task}");
                    assert!((r.estimated_cost_usd() - 4.0 * 0.0015).abs() < 1e-12);
                } else {
                    assert_eq!(rejected(&r), "batch_size", "{model:?} {task}");
                }
            }
        }
    }

    #[test]
    fn kontext_steps_stop_at_40() {
        let mut r = example(TaskType::Kontext);
        r.input.steps = Some(40);
        assert!(r.validate().is_ok());
        r.input.steps = Some(41);
        assert_eq!(rejected(&r), "steps");
        r.input.prompt = " ".into();
        assert!(r.validate().expect_err("empty").to_string().contains("instruction"));
    }

    #[test]
    fn validate_except_inputs_still_checks_everything_else() {
        let mut r = example(TaskType::Img2Img);
        r.input.image = None;
        assert!(r.validate_except_inputs().is_ok());
        r.input.prompt = String::new();
        assert_eq!(field_of(r.validate_except_inputs().expect_err("prompt")), "prompt");
        let mut r = example(TaskType::ControlnetLora);
        r.input.control_net_settings =
            Some(vec![ControlNetSetting { control_image: String::new(), ..control() }]);
        assert!(r.validate_except_inputs().is_ok());
        r.input.guidance_scale = Some(0.5);
        assert_eq!(field_of(r.validate_except_inputs().expect_err("guidance")), "guidance_scale");
    }

    #[test]
    fn outpaint_geometry() {
        let src = Size::new(600, 400);
        let o = Outpaint::new(100, 50, 20, 0);
        assert_eq!(o.output_size(src), Size::new(750, 420));
        assert_eq!(o.added_pixels(src), 750 * 420 - 600 * 400);
        assert_eq!(Outpaint::default().added_pixels(src), 0);
        assert!(o.validate(src).is_ok());
        assert_eq!(field_of(Outpaint::default().validate(src).expect_err("zero")), "outpaint");
        // 1024×1024 source + 512 on every side adds 2048² − 1024² = 3,145,728 px.
        let big = Outpaint::new(512, 512, 512, 512);
        let e = big.validate(Size::new(1024, 1024)).expect_err("over budget");
        assert_eq!(
            e.to_string(),
            "outpaint: the margins add 3,145,728 pixels around the 1024×1024 source; the added area may not exceed 1,048,576 pixels, so use smaller margins or a smaller source"
        );
        // Exactly at the budget is allowed: 0×0 source + 1024×1024.
        assert!(Outpaint::new(1024, 0, 1024, 0).validate(Size::new(0, 0)).is_ok());
        assert!(Outpaint::new(1025, 0, 1024, 0).validate(Size::new(0, 0)).is_err());
        // No overflow with absurd margins.
        let huge = Outpaint::new(u32::MAX, u32::MAX, u32::MAX, u32::MAX);
        assert!(huge.added_pixels(Size::new(u32::MAX, u32::MAX)) > MAX_PIXELS);
        assert_eq!(huge.output_size(Size::new(1, 1)), Size::new(u32::MAX, u32::MAX));
    }

    #[test]
    fn outpaint_settings_round_trip() {
        let mut input = FluxInput::default();
        assert_eq!(input.outpaint(), None);
        input.set_outpaint(&Outpaint::new(1, 2, 3, 4));
        assert_eq!(input.outpaint(), Some(Outpaint::new(1, 2, 3, 4)));
        input.set_outpaint(&Outpaint::new(5, 0, 0, 0));
        assert_eq!(input.custom_settings.as_ref().map(Vec::len), Some(1), "replaced, not added");
        assert_eq!(input.outpaint(), Some(Outpaint::new(5, 0, 0, 0)));
        input.custom_settings = Some(vec![
            json!({"setting_type": "other"}),
            json!({"setting_type": "outpaint", "outpaint_top": 9}),
        ]);
        assert_eq!(input.outpaint(), Some(Outpaint::new(0, 0, 9, 0)), "missing margins are 0");
        input.set_outpaint(&Outpaint::new(7, 7, 7, 7));
        assert_eq!(input.custom_settings.as_ref().map(Vec::len), Some(2), "other entries are kept");
        input.custom_settings = Some(vec![json!({"setting_type": "outpaint", "outpaint_top": 1.5})]);
        assert_eq!(input.outpaint(), None);
        assert_eq!(
            serde_json::to_value(Outpaint::new(1, 2, 3, 4)).expect("ser"),
            json!({"left": 1, "right": 2, "top": 3, "bottom": 4})
        );
    }

    #[test]
    fn old_request_json_still_reads() {
        let r: TaskRequest = serde_json::from_value(json!({
            "model": "Qubico/flux1-dev", "task_type": "txt2img",
            "input": {"prompt": "a little cat", "width": 1024, "height": 1024}
        }))
        .expect("old shape");
        assert_eq!(r.input.control_net_settings, None);
        assert_eq!(r.input.custom_settings, None);
        assert_eq!(r.input.scale, None);
    }

    #[test]
    fn cost_follows_the_price_table() {
        for (r, _) in examples() {
            let expected = r.model.price_for(r.task_type) * f64::from(r.image_count());
            assert_eq!(r.estimated_cost_usd().to_bits(), expected.to_bits(), "{}", r.task_type);
        }
        assert!((example(TaskType::Kontext).estimated_cost_usd() - 0.02).abs() < 1e-12);
        assert!((example(TaskType::Img2ImgSr).estimated_cost_usd() - 0.0015).abs() < 1e-12);
        let mut r = TaskRequest::txt2img(Model::Dev, "a little cat", Size::new(1024, 1024));
        r.input.seed = Some(7);
        assert_eq!(
            r.to_body(),
            json!({
                "model": "Qubico/flux1-dev",
                "task_type": "txt2img",
                "input": {"prompt": "a little cat", "width": 1024, "height": 1024, "seed": 7}
            })
        );
        assert!((r.estimated_cost_usd() - 0.015).abs() < 1e-12);
    }

    #[test]
    fn numbers_group_by_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_048_576), "1,048,576");
    }
}
