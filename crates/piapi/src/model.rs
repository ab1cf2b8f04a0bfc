//! Flux models, task types, LoRA names, ControlNet types and their prices (the one place
//! prices live: [`Model::price_for`]).
//!
//! Contract: which model takes which task type ([`Model::supports`]) and which inputs each task
//! type takes (`needs_image`, `lora_range`, `needs_control`, `takes_*`) are decided here, once;
//! request validation, the core's task catalog and the UI all read these answers.

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

    /// Price per output image in US dollars for a plain txt2img (see [`Model::price_for`]).
    pub fn price_per_image_usd(self) -> f64 {
        self.price_for(TaskType::Txt2Img)
    }

    /// Price per output image in US dollars for `task` on this model: THE one price table
    /// (PiAPI's published Flux prices, `piapi-api.md` §2.4). Every task type on a model costs
    /// the model's per-image price; super-resolution is listed at the model price too.
    /// Combinations the model does not support ([`Model::supports`]) still return the model's
    /// price; validation rejects them before anything is sent.
    pub fn price_for(self, task: TaskType) -> f64 {
        use TaskType as T;
        let model_price = match self {
            Model::Schnell => 0.0015,
            Model::Dev => 0.015,
            Model::DevAdvanced => 0.02,
        };
        // Exhaustive on purpose: a new task type must decide its price here.
        match task {
            T::Txt2Img
            | T::Img2Img
            | T::Txt2ImgLora
            | T::Img2ImgLora
            | T::ControlnetLora
            | T::FillInpaint
            | T::FillOutpaint
            | T::ReduxVariation
            | T::Kontext
            | T::Txt2ImgSr
            | T::Img2ImgSr => model_price,
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

    /// Task types this model accepts (the vendor catalog, `piapi-api.md` §2.1): schnell takes
    /// txt2img, img2img, txt2img-sr and img2img-sr; dev takes txt2img and img2img; dev-advanced
    /// takes every task type.
    pub fn supports(self, task: TaskType) -> bool {
        use TaskType as T;
        match self {
            Model::Schnell => matches!(task, T::Txt2Img | T::Img2Img | T::Txt2ImgSr | T::Img2ImgSr),
            Model::Dev => matches!(task, T::Txt2Img | T::Img2Img),
            Model::DevAdvanced => true,
        }
    }

    /// Whether `batch_size` > 1 is allowed for `task` on this model (schnell txt2img / img2img).
    pub fn supports_batch_for(self, task: TaskType) -> bool {
        self.supports_batch() && task.takes_batch() && self.supports(task)
    }

    /// The models that accept `task`, in [`Model::ALL`] order.
    pub fn supporting(task: TaskType) -> Vec<Model> {
        Model::ALL.into_iter().filter(|m| m.supports(task)).collect()
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A Flux task type (the wire `task_type`).
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
    #[serde(rename = "txt2img-sr")]
    Txt2ImgSr,
    #[serde(rename = "img2img-sr")]
    Img2ImgSr,
}

impl TaskType {
    /// Every task type, in picker order.
    pub const ALL: [TaskType; 11] = [
        TaskType::Txt2Img,
        TaskType::Img2Img,
        TaskType::Txt2ImgLora,
        TaskType::Img2ImgLora,
        TaskType::ControlnetLora,
        TaskType::FillInpaint,
        TaskType::FillOutpaint,
        TaskType::ReduxVariation,
        TaskType::Kontext,
        TaskType::Txt2ImgSr,
        TaskType::Img2ImgSr,
    ];

    /// The wire name, e.g. `fill-inpaint`.
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
            TaskType::Txt2ImgSr => "txt2img-sr",
            TaskType::Img2ImgSr => "img2img-sr",
        }
    }

    /// A short label for pickers (the designer's words); unique per task type.
    pub fn label(self) -> &'static str {
        match self {
            TaskType::Txt2Img => "Text to image",
            TaskType::Img2Img => "Image to image",
            TaskType::Txt2ImgLora => "Text to image + LoRA",
            TaskType::Img2ImgLora => "Image to image + LoRA",
            TaskType::ControlnetLora => "ControlNet",
            TaskType::FillInpaint => "Inpaint",
            TaskType::FillOutpaint => "Outpaint",
            TaskType::ReduxVariation => "Variation",
            TaskType::Kontext => "Kontext edit",
            TaskType::Txt2ImgSr => "Text to image + upscale",
            TaskType::Img2ImgSr => "Upscale",
        }
    }

    /// Whether `input.image` (the source image) is required; other task types take none.
    pub fn needs_image(self) -> bool {
        matches!(
            self,
            TaskType::Img2Img
                | TaskType::Img2ImgLora
                | TaskType::FillInpaint
                | TaskType::FillOutpaint
                | TaskType::ReduxVariation
                | TaskType::Kontext
                | TaskType::Img2ImgSr
        )
    }

    /// How many `lora_settings` entries are allowed: `(min, max)`.
    pub fn lora_range(self) -> (u8, u8) {
        match self {
            TaskType::Txt2ImgLora | TaskType::Img2ImgLora => (1, 1),
            TaskType::ControlnetLora => (0, 1),
            _ => (0, 0),
        }
    }

    /// Whether exactly one `control_net_settings` entry is required (and allowed).
    pub fn needs_control(self) -> bool {
        matches!(self, TaskType::ControlnetLora)
    }

    /// Whether `width`/`height` may be set (elsewhere the output follows the source image).
    pub fn takes_size(self) -> bool {
        matches!(
            self,
            TaskType::Txt2Img
                | TaskType::Txt2ImgLora
                | TaskType::ControlnetLora
                | TaskType::Kontext
                | TaskType::Txt2ImgSr
        )
    }

    /// Whether `denoise` may be set.
    pub fn takes_denoise(self) -> bool {
        matches!(self, TaskType::Img2Img | TaskType::Img2ImgLora)
    }

    /// Whether the outpaint margins (`custom_settings`) are required (and allowed).
    pub fn takes_outpaint(self) -> bool {
        matches!(self, TaskType::FillOutpaint)
    }

    /// Whether `scale` (2 or 4) may be set: the super-resolution task types.
    pub fn takes_scale(self) -> bool {
        matches!(self, TaskType::Txt2ImgSr | TaskType::Img2ImgSr)
    }

    /// Whether `batch_size` > 1 is possible at all (on schnell only, see
    /// [`Model::supports_batch_for`]).
    pub fn takes_batch(self) -> bool {
        matches!(self, TaskType::Txt2Img | TaskType::Img2Img)
    }

    /// Accepts a wire name (`fill-inpaint`), case-insensitively.
    pub fn parse(s: &str) -> Result<TaskType> {
        let t = s.trim().to_ascii_lowercase();
        TaskType::ALL.into_iter().find(|k| k.as_str() == t).ok_or_else(|| {
            let names: Vec<&str> = TaskType::ALL.iter().map(|k| k.as_str()).collect();
            Error::invalid_input(
                "task_type",
                format!("unknown task type \"{s}\"; use one of {}", names.join(", ")),
            )
        })
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The documented `lora_type` values (`piapi-api.md` §2.2, PiAPI's "Available LoRA and
/// Controlnet" page; `deep-sea-particle-enhencer` is PiAPI's spelling). Validation accepts any
/// well-formed name so a LoRA PiAPI adds later still works; pickers offer this list.
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

/// A ControlNet `control_type` (wire: `depth`, `soft_edge`, `canny`, `openpose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum ControlType {
    Depth,
    SoftEdge,
    Canny,
    Openpose,
}

impl ControlType {
    pub const ALL: [ControlType; 4] =
        [ControlType::Depth, ControlType::SoftEdge, ControlType::Canny, ControlType::Openpose];

    /// The wire name, e.g. `soft_edge`.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlType::Depth => "depth",
            ControlType::SoftEdge => "soft_edge",
            ControlType::Canny => "canny",
            ControlType::Openpose => "openpose",
        }
    }

    /// A short label for pickers.
    pub fn label(self) -> &'static str {
        match self {
            ControlType::Depth => "Depth",
            ControlType::SoftEdge => "Soft edges",
            ControlType::Canny => "Canny edges",
            ControlType::Openpose => "Pose (OpenPose)",
        }
    }

    /// Accepts a wire name case-insensitively; `soft-edge`, `softedge` and `open-pose` too.
    pub fn parse(s: &str) -> Result<ControlType> {
        let t = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        match t.as_str() {
            "depth" => Ok(ControlType::Depth),
            "soft_edge" | "softedge" => Ok(ControlType::SoftEdge),
            "canny" => Ok(ControlType::Canny),
            "openpose" | "open_pose" => Ok(ControlType::Openpose),
            _ => Err(Error::invalid_input(
                "control_type",
                format!("unknown ControlNet type \"{s}\"; use depth, soft_edge, canny or openpose"),
            )),
        }
    }
}

impl fmt::Display for ControlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_types_round_trip_through_wire_names_and_serde() {
        assert_eq!(TaskType::ALL.len(), 11);
        let mut labels = std::collections::HashSet::new();
        for t in TaskType::ALL {
            assert_eq!(TaskType::parse(t.as_str()).expect("parse"), t);
            assert_eq!(TaskType::parse(&format!(" {} ", t.as_str().to_uppercase())).expect("parse"), t);
            assert_eq!(serde_json::to_value(t).expect("ser"), serde_json::json!(t.as_str()));
            assert_eq!(serde_json::from_value::<TaskType>(serde_json::json!(t.as_str())).expect("de"), t);
            assert_eq!(t.to_string(), t.as_str());
            assert!(labels.insert(t.label()), "labels are unique: {}", t.label());
        }
        assert_eq!(TaskType::Txt2ImgSr.as_str(), "txt2img-sr");
        assert_eq!(TaskType::Img2ImgSr.as_str(), "img2img-sr");
        let e = TaskType::parse("img2img-kontext").expect_err("unknown");
        assert!(e.to_string().contains("fill-outpaint"), "{e}");
    }

    #[test]
    fn what_each_task_type_takes() {
        use TaskType as T;
        // (task, needs_image, lora_range, needs_control, size, denoise, outpaint, scale, batch)
        let table = [
            (T::Txt2Img, false, (0, 0), false, true, false, false, false, true),
            (T::Img2Img, true, (0, 0), false, false, true, false, false, true),
            (T::Txt2ImgLora, false, (1, 1), false, true, false, false, false, false),
            (T::Img2ImgLora, true, (1, 1), false, false, true, false, false, false),
            (T::ControlnetLora, false, (0, 1), true, true, false, false, false, false),
            (T::FillInpaint, true, (0, 0), false, false, false, false, false, false),
            (T::FillOutpaint, true, (0, 0), false, false, false, true, false, false),
            (T::ReduxVariation, true, (0, 0), false, false, false, false, false, false),
            (T::Kontext, true, (0, 0), false, true, false, false, false, false),
            (T::Txt2ImgSr, false, (0, 0), false, true, false, false, true, false),
            (T::Img2ImgSr, true, (0, 0), false, false, false, false, true, false),
        ];
        assert_eq!(table.len(), T::ALL.len());
        for (t, image, loras, control, size, denoise, outpaint, scale, batch) in table {
            assert_eq!(t.needs_image(), image, "{t}");
            assert_eq!(t.lora_range(), loras, "{t}");
            assert_eq!(t.needs_control(), control, "{t}");
            assert_eq!(t.takes_size(), size, "{t}");
            assert_eq!(t.takes_denoise(), denoise, "{t}");
            assert_eq!(t.takes_outpaint(), outpaint, "{t}");
            assert_eq!(t.takes_scale(), scale, "{t}");
            assert_eq!(t.takes_batch(), batch, "{t}");
        }
    }

    #[test]
    fn model_support_matches_the_catalog() {
        use TaskType as T;
        let schnell: Vec<T> = T::ALL.into_iter().filter(|t| Model::Schnell.supports(*t)).collect();
        assert_eq!(schnell, [T::Txt2Img, T::Img2Img, T::Txt2ImgSr, T::Img2ImgSr]);
        let dev: Vec<T> = T::ALL.into_iter().filter(|t| Model::Dev.supports(*t)).collect();
        assert_eq!(dev, [T::Txt2Img, T::Img2Img]);
        assert!(T::ALL.into_iter().all(|t| Model::DevAdvanced.supports(t)));
        assert_eq!(Model::supporting(T::Kontext), [Model::DevAdvanced]);
        assert_eq!(Model::supporting(T::Img2ImgSr), [Model::Schnell, Model::DevAdvanced]);
        let batch: Vec<(Model, T)> = Model::ALL
            .into_iter()
            .flat_map(|m| T::ALL.into_iter().map(move |t| (m, t)))
            .filter(|(m, t)| m.supports_batch_for(*t))
            .collect();
        assert_eq!(batch, [(Model::Schnell, T::Txt2Img), (Model::Schnell, T::Img2Img)]);
    }

    #[test]
    fn prices_come_from_one_table() {
        for t in TaskType::ALL {
            assert!((Model::Schnell.price_for(t) - 0.0015).abs() < 1e-12, "{t}");
            assert!((Model::Dev.price_for(t) - 0.015).abs() < 1e-12, "{t}");
            assert!((Model::DevAdvanced.price_for(t) - 0.02).abs() < 1e-12, "{t}");
        }
        for m in Model::ALL {
            assert_eq!(m.price_per_image_usd().to_bits(), m.price_for(TaskType::Txt2Img).to_bits());
        }
    }

    #[test]
    fn lora_list_is_the_documented_one() {
        assert_eq!(LORA_TYPES.len(), 22);
        for name in ["anime", "graphic-portrait", "deep-sea-particle-enhencer", "remes-abstract-poster-style"]
        {
            assert!(LORA_TYPES.contains(&name), "{name}");
        }
        let unique: std::collections::HashSet<_> = LORA_TYPES.iter().collect();
        assert_eq!(unique.len(), LORA_TYPES.len());
        assert!(
            LORA_TYPES
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
        );
    }

    #[test]
    fn control_types_use_snake_case_wire_names() {
        let wire: Vec<&str> = ControlType::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(wire, ["depth", "soft_edge", "canny", "openpose"]);
        for c in ControlType::ALL {
            assert_eq!(serde_json::to_value(c).expect("ser"), serde_json::json!(c.as_str()));
            assert_eq!(serde_json::from_value::<ControlType>(serde_json::json!(c.as_str())).expect("de"), c);
            assert_eq!(ControlType::parse(c.as_str()).expect("parse"), c);
            assert!(!c.label().is_empty());
        }
        assert_eq!(ControlType::parse(" Soft-Edge ").expect("dash"), ControlType::SoftEdge);
        assert_eq!(ControlType::parse("OPENPOSE").expect("caps"), ControlType::Openpose);
        let e = ControlType::parse("normal").expect_err("unknown");
        assert!(matches!(&e, Error::InvalidInput { field, .. } if field == "control_type"));
        assert!(e.to_string().contains("soft_edge"), "{e}");
    }
}
