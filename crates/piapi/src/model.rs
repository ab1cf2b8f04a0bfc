//! Flux models, task types and their prices (the one place prices live).

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

/// A Flux model on PiAPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Model {
    #[serde(rename = "Qubico/flux1-schnell")]
    Schnell,
    #[serde(rename = "Qubico/flux1-dev")]
    Dev,
    #[serde(rename = "Qubico/flux1-dev-advanced")]
    DevAdvanced,
}

impl Model {
    pub const ALL: [Model; 3] = [Model::Schnell, Model::Dev, Model::DevAdvanced];

    /// The model id PiAPI expects, e.g. `Qubico/flux1-schnell`.
    pub fn id(self) -> &'static str {
        match self {
            Model::Schnell => "Qubico/flux1-schnell",
            Model::Dev => "Qubico/flux1-dev",
            Model::DevAdvanced => "Qubico/flux1-dev-advanced",
        }
    }

    /// The short name used on the command line: `schnell`, `dev`, `dev-advanced`.
    pub fn short_name(self) -> &'static str {
        match self {
            Model::Schnell => "schnell",
            Model::Dev => "dev",
            Model::DevAdvanced => "dev-advanced",
        }
    }

    /// A human label for pickers.
    pub fn label(self) -> &'static str {
        match self {
            Model::Schnell => "Flux Schnell",
            Model::Dev => "Flux Dev",
            Model::DevAdvanced => "Flux Dev Advanced",
        }
    }

    /// Accepts a short name (`schnell`), a full id (`Qubico/flux1-schnell`), case-insensitively.
    pub fn parse(s: &str) -> Result<Model> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.strip_prefix("qubico/").unwrap_or(&t);
        let t = t.strip_prefix("flux1-").unwrap_or(t);
        match t {
            "schnell" => Ok(Model::Schnell),
            "dev" => Ok(Model::Dev),
            "dev-advanced" | "devadvanced" | "advanced" => Ok(Model::DevAdvanced),
            _ => Err(Error::invalid_input(
                "model",
                format!(
                    "unknown model \"{s}\"; use schnell, dev, dev-advanced or a full id such as Qubico/flux1-schnell"
                ),
            )),
        }
    }

    /// Price per output image in US dollars (PiAPI's published Flux prices).
    pub fn price_per_image_usd(self) -> f64 {
        match self {
            Model::Schnell => 0.0015,
            Model::Dev => 0.015,
            Model::DevAdvanced => 0.02,
        }
    }

    /// How long a task on this model typically takes on PiAPI, for estimated progress bars.
    pub fn typical_duration(self) -> Duration {
        match self {
            Model::Schnell => Duration::from_secs(8),
            Model::Dev => Duration::from_secs(25),
            Model::DevAdvanced => Duration::from_secs(35),
        }
    }

    /// Whether `batch_size` > 1 is allowed (schnell only).
    pub fn supports_batch(self) -> bool {
        matches!(self, Model::Schnell)
    }

    /// Task types this model accepts.
    pub fn supports(self, task: TaskType) -> bool {
        match task {
            TaskType::Txt2Img | TaskType::Img2Img => true,
            _ => matches!(self, Model::DevAdvanced),
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A Flux task type. Only `txt2img` is wired through the app today; the rest are named so the
/// request type stays open to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum TaskType {
    #[serde(rename = "txt2img")]
    Txt2Img,
    #[serde(rename = "img2img")]
    Img2Img,
    #[serde(rename = "txt2img-lora")]
    Txt2ImgLora,
    #[serde(rename = "img2img-lora")]
    Img2ImgLora,
    #[serde(rename = "controlnet-lora")]
    ControlnetLora,
    #[serde(rename = "fill-inpaint")]
    FillInpaint,
    #[serde(rename = "fill-outpaint")]
    FillOutpaint,
    #[serde(rename = "redux-variation")]
    ReduxVariation,
    #[serde(rename = "kontext")]
    Kontext,
}

impl TaskType {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::Txt2Img => "txt2img",
            TaskType::Img2Img => "img2img",
            TaskType::Txt2ImgLora => "txt2img-lora",
            TaskType::Img2ImgLora => "img2img-lora",
            TaskType::ControlnetLora => "controlnet-lora",
            TaskType::FillInpaint => "fill-inpaint",
            TaskType::FillOutpaint => "fill-outpaint",
            TaskType::ReduxVariation => "redux-variation",
            TaskType::Kontext => "kontext",
        }
    }

    pub fn parse(s: &str) -> Result<TaskType> {
        let all = [
            TaskType::Txt2Img,
            TaskType::Img2Img,
            TaskType::Txt2ImgLora,
            TaskType::Img2ImgLora,
            TaskType::ControlnetLora,
            TaskType::FillInpaint,
            TaskType::FillOutpaint,
            TaskType::ReduxVariation,
            TaskType::Kontext,
        ];
        let t = s.trim().to_ascii_lowercase();
        all.into_iter().find(|k| k.as_str() == t).ok_or_else(|| {
            Error::invalid_input(
                "task_type",
                format!("unknown task type \"{s}\"; use txt2img, img2img, kontext, …"),
            )
        })
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
