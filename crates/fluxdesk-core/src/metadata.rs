//! Generation metadata inside PNG files, readable by Fluxdesk and by other tools.
//!
//! Why: the gallery folder is the source of truth. An image copied elsewhere, or a gallery
//! re-indexed after the database was lost, must still say how it was made. Two iTXt chunks are
//! written right after `IHDR`:
//! - `parameters`: the Automatic1111 text format that A1111, ComfyUI viewers and Infinite Image
//!   Browsing read (`<prompt>\nNegative prompt: …\nSteps: 28, CFG scale: 3.5, Seed: 1, Size: WxH,
//!   Model: …`; img2img adds A1111's `Denoising strength`);
//! - `fluxdesk`: the JSON of [`ImageMeta`], lossless, which Fluxdesk prefers when reading.
//!
//! Both use iTXt (UTF-8) so non-Latin prompts survive.
//!
//! Contract:
//! - Embedding splices chunks by hand: every other chunk is copied byte for byte (no re-encode);
//!   existing `parameters`/`fluxdesk` text chunks are replaced.
//! - Reading never panics on arbitrary bytes; it prefers `fluxdesk`, then `parameters` (tEXt,
//!   zTXt or iTXt); width and height always come from `IHDR`.
//! - [`ImageMeta`] has no field for the API key, so the key can never be written.

use std::io::{BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How an image was made. Stored as JSON in the `fluxdesk` iTXt chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase", default)]
pub struct ImageMeta {
    /// The prompt as sent.
    pub prompt: String,
    pub negative_prompt: Option<String>,
    /// The model id, e.g. `Qubico/flux1-dev`.
    pub model: Option<String>,
    /// e.g. `txt2img`.
    pub task_type: Option<String>,
    /// Pixel size (from `IHDR` when read from a file).
    pub width: u32,
    pub height: u32,
    pub seed: Option<i64>,
    pub steps: Option<u32>,
    /// Flux guidance (written as A1111's "CFG scale").
    pub guidance: Option<f32>,
    /// The PiAPI task id.
    pub task_id: Option<String>,
    /// Index of this image among the task's outputs.
    pub output_index: Option<u32>,
    /// Estimated cost of this image in US dollars.
    pub cost_usd: Option<f64>,
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The gallery image this one was derived from (img2img, inpaint, variations…), as its
    /// gallery id in decimal. An id only means something in the index that gave it: indexing
    /// goes by [`ImageMeta::source_image_hash`] instead.
    pub source_image_id: Option<String>,
    /// The content hash (`ImageRecord::content_hash`) of that source image's file when this one
    /// was saved. Indexing links an image to the image with these bytes, so a link survives a
    /// rebuild of the index and an import into another gallery, and is never made to an unrelated
    /// image that happens to have the same id. Files written before it existed have none: their
    /// link is taken from the index that saved them, or left empty.
    pub source_image_hash: Option<String>,
    /// The program that wrote the file, e.g. `Fluxdesk 0.1.0` (A1111's "Version").
    pub generator: Option<String>,
    /// Task-specific settings (denoise — A1111's "Denoising strength" —, LoRAs, ControlNet type
    /// and strength, outpaint margins, upscale factor). Never an upload URL.
    pub task_settings: Option<crate::views::TaskSettingsView>,
}

impl ImageMeta {
    /// [`ImageMeta::source_image_id`] as a gallery id.
    pub fn source_id(&self) -> Option<i64> {
        self.source_image_id.as_deref().and_then(|s| s.trim().parse().ok())
    }
}

/// iTXt keyword of the A1111 text.
pub const KEYWORD_PARAMETERS: &str = "parameters";
/// iTXt keyword of our JSON.
pub const KEYWORD_FLUXDESK: &str = "fluxdesk";

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
/// Largest text we inflate or read from one chunk (a prompt is a few KB).
const MAX_TEXT_BYTES: usize = 1 << 20;
/// PNG's limit on a chunk length.
const MAX_CHUNK_LEN: u32 = 0x7FFF_FFFF;

// ---------------------------------------------------------------------------------------------
// A1111 text
// ---------------------------------------------------------------------------------------------

/// The A1111 `parameters` text for `meta`:
/// `<prompt>[\nNegative prompt: <neg>]\n<Steps: n, CFG scale: g, Seed: s, Size: WxH, Model: m, Version: v>`.
/// Unknown parts are left out. Values containing `,`, `:` or a newline are JSON-quoted as A1111
/// does. (A1111 itself only recognises the last line as parameters when it has three or more
/// entries; with a size, a model and a seed or generator that always holds.)
pub fn a1111_parameters(meta: &ImageMeta) -> String {
    let mut out = meta.prompt.clone();
    if let Some(neg) = meta.negative_prompt.as_deref().filter(|n| !n.trim().is_empty()) {
        out.push_str("\nNegative prompt: ");
        out.push_str(neg);
    }
    let mut parts: Vec<String> = Vec::new();
    if let Some(steps) = meta.steps {
        parts.push(format!("Steps: {steps}"));
    }
    if let Some(g) = meta.guidance.filter(|g| g.is_finite()) {
        parts.push(format!("CFG scale: {g}"));
    }
    if let Some(seed) = meta.seed {
        parts.push(format!("Seed: {seed}"));
    }
    if let Some(d) = meta.task_settings.as_ref().and_then(|t| t.denoise).filter(|d| d.is_finite()) {
        parts.push(format!("Denoising strength: {d}"));
    }
    if meta.width > 0 && meta.height > 0 {
        parts.push(format!("Size: {}x{}", meta.width, meta.height));
    }
    if let Some(model) = meta.model.as_deref().filter(|m| !m.is_empty()) {
        parts.push(format!("Model: {}", a1111_quote(model)));
    }
    if let Some(g) = meta.generator.as_deref().filter(|g| !g.is_empty()) {
        parts.push(format!("Version: {}", a1111_quote(g)));
    }
    if !parts.is_empty() {
        out.push('\n');
        out.push_str(&parts.join(", "));
    }
    out
}

fn a1111_quote(v: &str) -> String {
    if v.contains([',', ':', '\n']) {
        serde_json::to_string(v).unwrap_or_else(|_| v.replace([',', ':', '\n'], " "))
    } else {
        v.to_string()
    }
}

/// Parses A1111 `parameters` text, tolerantly: multi-line prompts, a missing negative prompt,
/// parameters in any order, quoted values, `Size: WxH`. Unknown keys are ignored. Recognised:
/// `Steps`, `CFG scale` (or Forge's `Distilled CFG Scale`, preferred) → guidance, `Seed`, `Size`,
/// `Model`, `Version` → generator, `Denoising strength` → task settings' denoise.
pub fn parse_a1111_parameters(text: &str) -> ImageMeta {
    let text = text.replace("\r\n", "\n");
    let mut lines: Vec<&str> = text.trim().split('\n').collect();
    let mut params = Vec::new();
    if let Some(last) = lines.last() {
        let (pairs, clean) = parse_param_line(last);
        let all_known = !pairs.is_empty() && pairs.iter().all(|(k, _)| is_known_key(k));
        if pairs.len() >= 3 || (clean && all_known) {
            params = pairs;
            lines.pop();
        }
    }

    let mut prompt = String::new();
    let mut negative: Option<String> = None;
    for line in lines {
        if let Some(neg) = &mut negative {
            neg.push('\n');
            neg.push_str(line);
        } else if let Some(rest) = line.trim_start().strip_prefix("Negative prompt:") {
            negative = Some(rest.trim_start().to_string());
        } else {
            if !prompt.is_empty() {
                prompt.push('\n');
            }
            prompt.push_str(line);
        }
    }

    let mut meta = ImageMeta {
        prompt: prompt.trim().to_string(),
        negative_prompt: negative.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
        ..ImageMeta::default()
    };
    let mut distilled = None;
    for (key, value) in params {
        let v = value.trim();
        match key.to_ascii_lowercase().as_str() {
            "steps" => meta.steps = v.parse().ok(),
            "cfg scale" => meta.guidance = v.parse().ok(),
            "distilled cfg scale" | "guidance" => distilled = v.parse().ok(),
            "seed" => meta.seed = v.parse().ok(),
            "size" => {
                if let Some((w, h)) = v.split_once(['x', 'X', '×'])
                    && let (Ok(w), Ok(h)) = (w.trim().parse(), h.trim().parse())
                {
                    meta.width = w;
                    meta.height = h;
                }
            }
            "model" => meta.model = Some(v.to_string()).filter(|m| !m.is_empty()),
            "version" => meta.generator = Some(v.to_string()).filter(|g| !g.is_empty()),
            "denoising strength" => {
                if let Ok(d) = v.parse::<f32>() {
                    meta.task_settings.get_or_insert_with(Default::default).denoise = Some(d);
                }
            }
            _ => {}
        }
    }
    if distilled.is_some() {
        meta.guidance = distilled;
    }
    meta
}

fn is_known_key(k: &str) -> bool {
    const KNOWN: [&str; 14] = [
        "steps",
        "sampler",
        "schedule type",
        "cfg scale",
        "distilled cfg scale",
        "seed",
        "size",
        "model",
        "model hash",
        "version",
        "vae",
        "clip skip",
        "denoising strength",
        "guidance",
    ];
    KNOWN.contains(&k.to_ascii_lowercase().as_str())
}

/// Splits `Key: value, Key: "quoted, value", …` into pairs, like A1111's `re_param`. The flag
/// says whether the whole line was made of such pairs.
fn parse_param_line(line: &str) -> (Vec<(String, String)>, bool) {
    let chars: Vec<char> = line.chars().collect();
    let mut pairs = Vec::new();
    let mut clean = true;
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        // Key: a word character, then word characters, spaces, '-' or '/', up to ':'.
        let key_start = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | ' ' | '-' | '/')) {
            i += 1;
        }
        let key: String = chars[key_start..i].iter().collect();
        let key = key.trim_end().to_string();
        let key_ok =
            key.chars().count() >= 2 && key.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_');
        if i >= chars.len() || chars[i] != ':' || !key_ok {
            // Not a pair: skip to the next comma.
            clean = false;
            while i < chars.len() && chars[i] != ',' {
                i += 1;
            }
            i += 1;
            continue;
        }
        i += 1; // ':'
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let value = if i < chars.len() && chars[i] == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            let end = (i + 1).min(chars.len());
            let quoted: String = chars[start..end].iter().collect();
            i = end;
            // Anything between the closing quote and the next comma is dropped.
            while i < chars.len() && chars[i] != ',' {
                if !chars[i].is_whitespace() {
                    clean = false;
                }
                i += 1;
            }
            serde_json::from_str::<String>(&quoted).unwrap_or_else(|_| quoted.trim_matches('"').to_string())
        } else {
            let start = i;
            while i < chars.len() && chars[i] != ',' {
                i += 1;
            }
            chars[start..i].iter().collect::<String>().trim().to_string()
        };
        i += 1; // ','
        pairs.push((key, value));
    }
    (pairs, clean)
}

// ---------------------------------------------------------------------------------------------
// PNG chunks
// ---------------------------------------------------------------------------------------------

/// One chunk of a well-formed PNG (strict parse, for embedding).
struct RawChunk<'a> {
    ty: [u8; 4],
    data: &'a [u8],
    /// length + type + data + CRC, as in the file.
    raw: &'a [u8],
}

fn image_err(msg: &str) -> Error {
    Error::Image(msg.to_string())
}

/// Splits a PNG into its chunks, checking the signature, lengths, CRCs, IHDR first and IEND
/// last. Returns the chunks (IEND included) and any bytes after IEND.
fn split_png_strict(png: &[u8]) -> Result<(Vec<RawChunk<'_>>, &[u8])> {
    if !png.starts_with(&PNG_SIGNATURE) {
        return Err(image_err("the file is not a PNG (the PNG signature is missing)"));
    }
    let mut chunks = Vec::new();
    let mut pos = PNG_SIGNATURE.len();
    loop {
        let header = png
            .get(pos..pos + 8)
            .ok_or_else(|| image_err("the PNG is truncated (it ends before its IEND chunk)"))?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        if len > MAX_CHUNK_LEN {
            return Err(image_err("the PNG is damaged (a chunk length is out of range)"));
        }
        let ty = [header[4], header[5], header[6], header[7]];
        let end = pos + 12 + len as usize;
        let raw =
            png.get(pos..end).ok_or_else(|| image_err("the PNG is truncated (a chunk runs past the end)"))?;
        let data = &raw[8..8 + len as usize];
        let stored_crc = u32::from_be_bytes([
            raw[raw.len() - 4],
            raw[raw.len() - 3],
            raw[raw.len() - 2],
            raw[raw.len() - 1],
        ]);
        if crc32(&ty, data) != stored_crc {
            return Err(Error::Image(format!(
                "the PNG is damaged (bad checksum in its {} chunk)",
                String::from_utf8_lossy(&ty)
            )));
        }
        if chunks.is_empty() && (&ty != b"IHDR" || len != 13) {
            return Err(image_err("the PNG is damaged (it does not start with an IHDR chunk)"));
        }
        chunks.push(RawChunk { ty, data, raw });
        pos = end;
        if &ty == b"IEND" {
            return Ok((chunks, &png[pos..]));
        }
    }
}

fn crc32(ty: &[u8; 4], data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(ty);
    h.update(data);
    h.finalize()
}

fn is_text_chunk(ty: &[u8; 4]) -> bool {
    matches!(ty, b"tEXt" | b"zTXt" | b"iTXt")
}

/// The keyword of a text chunk's data (bytes up to the first NUL).
fn text_keyword(data: &[u8]) -> &[u8] {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    &data[..end]
}

/// Appends an uncompressed iTXt chunk (empty language tag and translated keyword).
fn push_itxt(out: &mut Vec<u8>, keyword: &str, text: &str) {
    let mut data = Vec::with_capacity(keyword.len() + 5 + text.len());
    data.extend_from_slice(keyword.as_bytes());
    data.extend_from_slice(&[0, 0, 0, 0, 0]); // NUL, compression flag, method, empty lang NUL, empty translated NUL
    data.extend_from_slice(text.as_bytes());
    push_chunk(out, b"iTXt", &data);
}

fn push_chunk(out: &mut Vec<u8>, ty: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).expect("BUG: text chunk larger than 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(ty);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(ty, data).to_be_bytes());
}

/// A new PNG with our two iTXt chunks (`parameters`, `fluxdesk`) right after `IHDR`; existing
/// `parameters`/`fluxdesk` text chunks (tEXt, zTXt, iTXt) anywhere are removed, and every other
/// byte is kept as is (no re-encode). [`Error::Image`] if `png` is not a well-formed PNG
/// (signature, chunk lengths, CRCs, IHDR first, IEND present).
pub fn embed_png_metadata(png: &[u8], meta: &ImageMeta) -> Result<Vec<u8>> {
    let (chunks, trailing) = split_png_strict(png)?;
    let json = serde_json::to_string(meta)
        .map_err(|e| Error::Internal(format!("image metadata could not be serialised: {e}")))?;
    let params = a1111_parameters(meta);

    let mut out = Vec::with_capacity(png.len() + json.len() + params.len() + 64);
    out.extend_from_slice(&PNG_SIGNATURE);
    for (i, c) in chunks.iter().enumerate() {
        let ours = is_text_chunk(&c.ty) && matches!(text_keyword(c.data), b"parameters" | b"fluxdesk");
        if !ours {
            out.extend_from_slice(c.raw);
        }
        if i == 0 {
            push_itxt(&mut out, KEYWORD_PARAMETERS, &params);
            push_itxt(&mut out, KEYWORD_FLUXDESK, &json);
        }
    }
    out.extend_from_slice(trailing);
    Ok(out)
}

/// Collects what we need from chunks seen before the image data.
#[derive(Default)]
struct Collector {
    size: Option<(u32, u32)>,
    ours: Option<String>,
    parameters: Option<String>,
}

impl Collector {
    fn chunk(&mut self, ty: &[u8; 4], data: &[u8]) {
        if ty == b"IHDR" && data.len() >= 8 {
            let w = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let h = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            self.size = Some((w, h));
            return;
        }
        if !is_text_chunk(ty) {
            return;
        }
        let keyword = text_keyword(data);
        let slot = match keyword {
            b"fluxdesk" => &mut self.ours,
            b"parameters" => &mut self.parameters,
            _ => return,
        };
        if slot.is_none() {
            *slot = decode_text_chunk(ty, data);
        }
    }

    fn finish(self) -> Option<ImageMeta> {
        let mut meta = self
            .ours
            .and_then(|j| serde_json::from_str::<ImageMeta>(&j).ok())
            .or_else(|| self.parameters.map(|p| parse_a1111_parameters(&p)))?;
        if let Some((w, h)) = self.size {
            meta.width = w;
            meta.height = h;
        }
        Some(meta)
    }
}

/// The text of a tEXt (Latin-1), zTXt (zlib, Latin-1) or iTXt (UTF-8, maybe zlib) chunk.
fn decode_text_chunk(ty: &[u8; 4], data: &[u8]) -> Option<String> {
    let kw_end = data.iter().position(|&b| b == 0)?;
    let rest = &data[kw_end + 1..];
    match ty {
        b"tEXt" => Some(latin1(rest)),
        b"zTXt" => {
            let (&method, compressed) = rest.split_first()?;
            if method != 0 {
                return None;
            }
            Some(latin1(&inflate(compressed)?))
        }
        b"iTXt" => {
            let (&flag, rest) = rest.split_first()?;
            let (&method, rest) = rest.split_first()?;
            let lang_end = rest.iter().position(|&b| b == 0)?;
            let rest = &rest[lang_end + 1..];
            let tr_end = rest.iter().position(|&b| b == 0)?;
            let text = &rest[tr_end + 1..];
            let bytes = match (flag, method) {
                (0, _) => text.to_vec(),
                (1, 0) => inflate(text)?,
                _ => return None,
            };
            String::from_utf8(bytes).ok()
        }
        _ => None,
    }
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn inflate(compressed: &[u8]) -> Option<Vec<u8>> {
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(compressed, MAX_TEXT_BYTES).ok()
}

/// Our metadata if present (the `fluxdesk` JSON), else A1111 `parameters` (tEXt, zTXt or iTXt),
/// else `None`. Width and height come from `IHDR`. Tolerant: CRCs are not checked and a truncated
/// file yields what was read. [`Error::Image`] if the bytes are not a PNG (no signature or no
/// `IHDR` first). Never panics.
pub fn read_png_metadata(png: &[u8]) -> Result<Option<ImageMeta>> {
    if !png.starts_with(&PNG_SIGNATURE) {
        return Err(image_err("the file is not a PNG (the PNG signature is missing)"));
    }
    let mut c = Collector::default();
    let mut pos = PNG_SIGNATURE.len();
    let mut first = true;
    while let Some(header) = png.get(pos..pos + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let ty = [header[4], header[5], header[6], header[7]];
        if first && &ty != b"IHDR" {
            return Err(image_err("the PNG is damaged (it does not start with an IHDR chunk)"));
        }
        first = false;
        if &ty == b"IEND" {
            break;
        }
        let Some(data) = pos.checked_add(8 + len).and_then(|end| png.get(pos + 8..end)) else {
            break; // truncated: keep what we have
        };
        c.chunk(&ty, data);
        pos = pos.saturating_add(12 + len);
    }
    if first {
        return Err(image_err("the PNG is truncated (it has no IHDR chunk)"));
    }
    Ok(c.finish())
}

/// Like [`read_png_metadata`] for a file, but reads only the chunks before the first `IDAT`
/// (where every writer puts its text), skipping over anything else, so scanning a big folder is
/// fast. Files that are not PNGs (JPEG, WebP, anything else) give `Ok(None)`; a file that starts
/// like a PNG but is damaged gives [`Error::Image`]; I/O failures give [`Error::Io`].
pub fn read_file_metadata(path: &Path) -> Result<Option<ImageMeta>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("opening the image", path, e))?;
    let mut r = BufReader::with_capacity(16 * 1024, file);
    let io_err = |e: std::io::Error| Error::io("reading the image", path, e);

    let mut sig = [0u8; 8];
    if !read_full(&mut r, &mut sig).map_err(io_err)? || sig != PNG_SIGNATURE {
        return Ok(None);
    }
    let mut c = Collector::default();
    let mut first = true;
    loop {
        let mut header = [0u8; 8];
        if !read_full(&mut r, &mut header).map_err(io_err)? {
            break; // truncated before IDAT: keep what we have
        }
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let ty = [header[4], header[5], header[6], header[7]];
        if first && &ty != b"IHDR" {
            return Err(Error::Image(format!(
                "{} is damaged (it does not start with an IHDR chunk)",
                path.display()
            )));
        }
        first = false;
        if &ty == b"IDAT" || &ty == b"IEND" || len > MAX_CHUNK_LEN {
            break;
        }
        let wanted =
            (&ty == b"IHDR" && len <= 64) || (is_text_chunk(&ty) && (len as usize) <= MAX_TEXT_BYTES);
        if wanted {
            let mut data = vec![0u8; len as usize];
            if !read_full(&mut r, &mut data).map_err(io_err)? {
                break;
            }
            c.chunk(&ty, &data);
            r.seek_relative(4).map_err(io_err)?; // CRC
        } else {
            r.seek_relative(i64::from(len) + 4).map_err(io_err)?;
        }
    }
    if first {
        return Err(Error::Image(format!("{} is truncated (it has no IHDR chunk)", path.display())));
    }
    Ok(c.finish())
}

/// Fills `buf` completely; `Ok(false)` on end of file before that.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_line_handles_quotes_and_junk() {
        let (pairs, clean) = parse_param_line(r#"Steps: 4, Model: "a, b: c", Seed: 9"#);
        assert!(clean);
        assert_eq!(pairs[1], ("Model".to_string(), "a, b: c".to_string()));
        let (pairs, clean) = parse_param_line("just a prompt, nothing else");
        assert!(pairs.is_empty() && !clean);
        // Unterminated quote does not panic.
        let (pairs, _) = parse_param_line(r#"Model: "abc"#);
        assert_eq!(pairs.len(), 1);
    }

    #[test]
    fn short_param_line_with_unknown_key_stays_in_prompt() {
        let m = parse_a1111_parameters("portrait\nstyle: baroque");
        assert_eq!(m.prompt, "portrait\nstyle: baroque");
        let m = parse_a1111_parameters("portrait\nSize: 512x768");
        assert_eq!(m.prompt, "portrait");
        assert_eq!((m.width, m.height), (512, 768));
    }
}
