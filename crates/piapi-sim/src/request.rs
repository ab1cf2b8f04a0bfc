//! Validation of `POST /api/v1/task` bodies, the way PiAPI documents it (contract §1.2, §2).
//!
//! `parse_create` turns raw bytes into a `NewTask` or a 400 `ApiError` with a message that names
//! the offending field. It also fills the defaults PiAPI echoes back in `input` (width/height 1024,
//! a concrete seed when the request says -1 or nothing). Pricing lives here too: `Model::consume_per_image`
//! is the price in units of 1e-7 USD (the unit of `meta.usage.consume`).

use serde_json::{Map, Value, json};

use crate::error::ApiError;

/// Maximum `width * height` PiAPI accepts.
pub const MAX_PIXELS: u64 = 1_048_576;
/// Width/height used when the request leaves them unset (or 0).
pub const DEFAULT_SIDE: u32 = 1024;

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

/// A validated create request.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub model: Model,
    pub task_type: String,
    pub prompt: String,
    pub width: u32,
    pub height: u32,
    pub batch_size: u32,
    /// `None` means "pick a random seed" (the request said -1 or nothing).
    pub seed: Option<i64>,
    /// The request's `input`, with width/height/negative_prompt defaults filled (seed is filled at create).
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
    if !model.task_types().contains(&task_type.as_str()) {
        return Err(bad(format!(
            "task_type '{task_type}' is not supported by {}: expected one of {}",
            model.id(),
            model.task_types().join(", ")
        )));
    }

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

    let width = opt_positive(&input, "width")?.unwrap_or(DEFAULT_SIDE);
    let height = opt_positive(&input, "height")?.unwrap_or(DEFAULT_SIDE);
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(bad(format!(
            "input.width * input.height must not exceed {MAX_PIXELS} (got {width}x{height})"
        )));
    }

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

    if let Some(g) = input.get("guidance_scale").filter(|v| !v.is_null()) {
        match g.as_f64() {
            Some(x) if (1.5..=5.0).contains(&x) => {}
            _ => return Err(bad(format!("input.guidance_scale must be a number from 1.5 to 5 (got {g})"))),
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

    input.insert("width".into(), json!(width));
    input.insert("height".into(), json!(height));
    input.entry("negative_prompt").or_insert_with(|| json!(""));
    if model == Model::Schnell || input.contains_key("batch_size") {
        input.insert("batch_size".into(), json!(batch_size));
    }

    let config = match root.get("config") {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => json!({ "service_mode": "", "webhook_config": { "endpoint": "", "secret": "" } }),
    };

    Ok(NewTask { model, task_type, prompt, width, height, batch_size, seed, input, config })
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
        assert_eq!((t.width, t.height, t.batch_size, t.seed), (1024, 1024, 1, None));
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
}
