//! Typed create-task requests and their validation. Validation runs before anything is sent,
//! and each failure names the field and what is allowed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Model, TaskType};

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
                    "{}×{} is {} pixels; width × height may not exceed 1,048,576 (e.g. 1024×1024, 1280×816)",
                    self.width,
                    self.height,
                    self.pixels()
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
    /// Source image URL (img2img, fill, redux, kontext).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denoise: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora_settings: Option<Vec<LoraSetting>>,
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

    /// Estimated price in US dollars.
    pub fn estimated_cost_usd(&self) -> f64 {
        self.model.price_per_image_usd() * f64::from(self.image_count())
    }

    /// Validates everything PiAPI documents, before anything is sent.
    pub fn validate(&self) -> Result<()> {
        let i = &self.input;
        if i.prompt.trim().is_empty() {
            return Err(Error::invalid_input("prompt", "the prompt is empty; describe the image you want"));
        }
        if i.prompt.chars().count() > 10_000 {
            return Err(Error::invalid_input("prompt", "the prompt is longer than 10,000 characters"));
        }
        if !self.model.supports(self.task_type) {
            return Err(Error::invalid_input(
                "task_type",
                format!(
                    "{} is not available on {}; it needs Qubico/flux1-dev-advanced",
                    self.task_type,
                    self.model.short_name()
                ),
            ));
        }
        match (i.width, i.height) {
            (Some(width), Some(height)) => Size { width, height }.validate()?,
            (None, None) => {}
            (Some(_), None) => {
                return Err(Error::invalid_input("height", "set both width and height, or neither"));
            }
            (None, Some(_)) => {
                return Err(Error::invalid_input("width", "set both width and height, or neither"));
            }
        }
        if let Some(g) = i.guidance_scale
            && (!(1.5..=5.0).contains(&g) || !g.is_finite())
        {
            return Err(Error::invalid_input("guidance_scale", format!("{g} is out of range; use 1.5–5")));
        }
        if let Some(s) = i.steps
            && !(1..=50).contains(&s)
        {
            return Err(Error::invalid_input("steps", format!("{s} is out of range; use 1–50")));
        }
        if let Some(b) = i.batch_size {
            if !(1..=4).contains(&b) {
                return Err(Error::invalid_input("batch_size", format!("{b} is out of range; use 1–4")));
            }
            if b > 1 && !self.model.supports_batch() {
                return Err(Error::invalid_input(
                    "batch_size",
                    format!(
                        "batches of {b} work only on schnell; use batch size 1 on {}",
                        self.model.short_name()
                    ),
                ));
            }
        }
        if let Some(seed) = i.seed
            && seed < -1
        {
            return Err(Error::invalid_input("seed", "use -1 (random) or a non-negative number"));
        }
        if let Some(d) = i.denoise
            && !(d > 0.0 && d <= 1.0)
        {
            return Err(Error::invalid_input(
                "denoise",
                format!("{d} is out of range; use a value above 0 and up to 1"),
            ));
        }
        Ok(())
    }

    /// The JSON body of `POST /api/v1/task`.
    pub fn to_body(&self) -> serde_json::Value {
        serde_json::json!({
            "model": self.model.id(),
            "task_type": self.task_type.as_str(),
            "input": self.input,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: Error) -> String {
        match e {
            Error::InvalidInput { field, .. } => field,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
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
            field_of(r.validate().expect_err("invalid"))
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
        assert_eq!(with(&|r| r.input.batch_size = Some(5)), "batch_size");
        assert_eq!(with(&|r| r.input.seed = Some(-2)), "seed");
        assert_eq!(with(&|r| r.input.denoise = Some(0.0)), "denoise");
        let mut dev = base.clone();
        dev.model = Model::Dev;
        dev.input.batch_size = Some(2);
        assert_eq!(field_of(dev.validate().expect_err("batch on dev")), "batch_size");
    }

    #[test]
    fn body_matches_the_documented_shape() {
        let mut r = TaskRequest::txt2img(Model::Dev, "a little cat", Size::new(1024, 1024));
        r.input.seed = Some(7);
        assert_eq!(
            r.to_body(),
            serde_json::json!({
                "model": "Qubico/flux1-dev",
                "task_type": "txt2img",
                "input": {"prompt": "a little cat", "width": 1024, "height": 1024, "seed": 7}
            })
        );
        assert!((r.estimated_cost_usd() - 0.015).abs() < 1e-12);
    }
}
