//! Taking images out of the gallery: PNG, JPEG or WebP copies that keep how they were made.
//!
//! Why: an exported image goes to Figma, a client, a web page. The prompt and parameters must go
//! with it, in the places other tools read: PNG text chunks (`parameters` + `fluxdesk`, see
//! [`crate::metadata`]), and for JPEG and WebP an XMP packet plus EXIF (`UserComment` holds the
//! A1111 `parameters` text as A1111 itself writes it, `ImageDescription` the prompt).
//!
//! Contract:
//! - PNG export of a PNG that already carries metadata copies the original bytes unchanged;
//!   anything else is decoded (EXIF orientation applied) and re-encoded, with metadata embedded.
//! - JPEG: `image`'s encoder at the requested quality; transparency is flattened onto white;
//!   an APP1 EXIF segment and an APP1 XMP segment follow SOI (and JFIF APP0, if present).
//! - WebP: lossy through libwebp at the requested quality, in an extended (`VP8X`) RIFF container
//!   with `EXIF` and `XMP ` chunks after the bitstream, flags set accordingly.
//! - Files are never overwritten: `stem.ext`, then `stem (2).ext`, … (no-clobber rename of a fully
//!   written, fsynced temp file).
//! - What is written comes from [`ImageMeta`], which has no field for the API key, so the key can
//!   never be exported.
//! - Everything here blocks (decode, encode, disk): async callers use `spawn_blocking`.
//!
//! The readers ([`read_xmp`], [`read_exif`], [`exif_user_comment`], [`read_embedded_metadata`])
//! read back what the writers write and what A1111-style tools write; import and reconcile use
//! them for JPEG and WebP files.

use std::fs;
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use serde::{Deserialize, Serialize};

use crate::gallery::{Gallery, ImageRecord};
use crate::metadata::{self, ImageMeta};
use crate::{Error, Result};

/// Output format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Png,
    Jpeg,
    Webp,
}

impl ExportFormat {
    /// The file extension written (`png`, `jpg`, `webp`).
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Png => "png",
            ExportFormat::Jpeg => "jpg",
            ExportFormat::Webp => "webp",
        }
    }
}

/// What to export and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ExportRequest {
    /// Gallery image ids (duplicates are exported once).
    pub ids: Vec<i64>,
    /// The destination folder (created if missing; must be outside the gallery folder).
    pub dest_dir: String,
    pub format: ExportFormat,
    /// 1–100, for JPEG and WebP; ignored for PNG.
    pub quality: u8,
}

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ExportReport {
    /// Absolute paths of the files written, in request order.
    pub written: Vec<String>,
    /// One line per image that could not be exported: `<gallery path or id>: <reason>`.
    pub failed: Vec<String>,
}

/// Namespace of the XMP APP1 segment in JPEG.
const JPEG_XMP_NS: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
/// Prefix of the EXIF APP1 segment in JPEG.
const JPEG_EXIF_NS: &[u8] = b"Exif\0\0";
/// The largest payload of a JPEG marker segment (its 16-bit length counts itself).
const JPEG_SEGMENT_MAX: usize = 65_535 - 2;
/// Our XMP namespace (properties `fluxdesk:parameters`, `fluxdesk:metadata`).
pub const XMP_NAMESPACE: &str = "http://ns.fluxdesk.app/xmp/1.0/";
/// Most images exported in parallel (each worker decodes and encodes one image at a time).
const MAX_WORKERS: usize = 4;
/// Prefix of temp files (hidden, so the gallery walk and file browsers skip them).
const TEMP_PREFIX: &str = ".fluxdesk-tmp-";
/// Give up finding a free name after this many candidates.
const MAX_NAME_ATTEMPTS: u32 = 10_000;

// ---------------------------------------------------------------------------------------------
// Export of gallery images
// ---------------------------------------------------------------------------------------------

/// Exports `req.ids` from `gallery` into `req.dest_dir`. Per-image problems (unknown id, missing
/// or undecodable file) go to `failed` and the others are still exported; a bad request (quality
/// out of range, destination inside the gallery, destination not creatable) is an error.
/// Blocks: run it in `spawn_blocking`. Uses up to [`MAX_WORKERS`] threads.
pub fn export_images(gallery: &Gallery, req: &ExportRequest) -> Result<ExportReport> {
    if req.format != ExportFormat::Png && !(1..=100).contains(&req.quality) {
        return Err(Error::invalid_input("quality", format!("{} is out of range; use 1–100", req.quality)));
    }
    if req.dest_dir.trim().is_empty() {
        return Err(Error::invalid_input("destDir", "choose a folder to export to"));
    }
    let dest = std::path::absolute(Path::new(&req.dest_dir))
        .map_err(|e| Error::io("resolving the export folder", &req.dest_dir, e))?;
    fs::create_dir_all(&dest).map_err(|e| Error::io("creating the export folder", &dest, e))?;
    if is_inside(&dest, gallery.root()) {
        return Err(Error::invalid_input(
            "destDir",
            "the export folder is inside the gallery folder; choose a folder outside it",
        ));
    }

    let mut ids: Vec<i64> = Vec::with_capacity(req.ids.len());
    for id in &req.ids {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    let results = parallel_map(&ids, |&id| {
        let rec = gallery.get(id).map_err(|e| (format!("image {id}"), e))?;
        export_record(gallery, &rec, &dest, req.format, req.quality).map_err(|e| (rec.rel_path.clone(), e))
    });
    let mut report = ExportReport::default();
    for r in results {
        match r {
            Ok(path) => report.written.push(path.to_string_lossy().into_owned()),
            Err((label, e)) => {
                tracing::warn!(image = %label, error = %e, "export failed");
                report.failed.push(format!("{label}: {e}"));
            }
        }
    }
    Ok(report)
}

/// Exports one gallery image into `dest_dir` under its gallery file stem; returns the new path.
pub fn export_record(
    gallery: &Gallery,
    rec: &ImageRecord,
    dest_dir: &Path,
    format: ExportFormat,
    quality: u8,
) -> Result<PathBuf> {
    let src = gallery.abs_path(rec);
    let bytes = fs::read(&src).map_err(|e| Error::io("reading the image", &src, e))?;
    let meta = match read_embedded_metadata(&bytes) {
        Ok(Some(m)) => Some(m),
        _ => record_meta(rec),
    };
    let out = encode_export(&bytes, meta.as_ref(), format, quality).map_err(|e| match e {
        Error::Image(msg) => Error::Image(format!("{}: {msg}", src.display())),
        other => other,
    })?;
    let stem = src.file_stem().and_then(|s| s.to_str()).filter(|s| !s.is_empty()).unwrap_or("image");
    let ext = format.extension();
    write_unique(
        dest_dir,
        &out,
        |n| {
            if n == 1 { format!("{stem}.{ext}") } else { format!("{stem} ({n}).{ext}") }
        },
    )
}

/// What the index knows about an image, as metadata to embed (`None` when it knows nothing).
fn record_meta(rec: &ImageRecord) -> Option<ImageMeta> {
    let knows_nothing = rec.prompt.is_empty() && rec.model.is_none() && rec.seed.is_none();
    (!knows_nothing).then(|| ImageMeta::from(rec))
}

/// The bytes of `src` (PNG, JPEG or WebP) in `format`, carrying `meta` (width and height are
/// taken from the pixels). See the module contract for what each format gets.
pub fn encode_export(
    src: &[u8],
    meta: Option<&ImageMeta>,
    format: ExportFormat,
    quality: u8,
) -> Result<Vec<u8>> {
    let src_is_png = image::guess_format(src).ok() == Some(ImageFormat::Png);
    if format == ExportFormat::Png && src_is_png {
        // Our PNGs already carry their metadata: copy them byte for byte.
        let carried = metadata::read_png_metadata(src).ok().flatten();
        return match (carried, meta) {
            (Some(_), _) | (None, None) => Ok(src.to_vec()),
            (None, Some(m)) => {
                let (w, h) = png_size(src)?;
                metadata::embed_png_metadata(src, &ImageMeta { width: w, height: h, ..m.clone() })
            }
        };
    }
    let img = decode_oriented(src)?;
    let meta = meta.map(|m| ImageMeta { width: img.width(), height: img.height(), ..m.clone() });
    match format {
        ExportFormat::Png => {
            let mut out = Cursor::new(Vec::new());
            img.write_to(&mut out, ImageFormat::Png)
                .map_err(|e| Error::Image(format!("the image could not be encoded as PNG ({e})")))?;
            let png = out.into_inner();
            match meta {
                Some(m) => metadata::embed_png_metadata(&png, &m),
                None => Ok(png),
            }
        }
        ExportFormat::Jpeg => encode_jpeg(&img, meta.as_ref(), quality),
        ExportFormat::Webp => encode_webp(&img, meta.as_ref(), quality),
    }
}

fn png_size(png: &[u8]) -> Result<(u32, u32)> {
    ImageReader::with_format(Cursor::new(png), ImageFormat::Png)
        .into_dimensions()
        .map_err(|e| Error::Image(format!("the PNG could not be read ({e})")))
}

/// Decodes PNG, JPEG or WebP, applying the EXIF orientation.
fn decode_oriented(src: &[u8]) -> Result<DynamicImage> {
    let reader = ImageReader::new(Cursor::new(src))
        .with_guessed_format()
        .map_err(|e| Error::Image(format!("the image could not be read ({e})")))?;
    if !matches!(reader.format(), Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP)) {
        return Err(Error::Image("the file is not a PNG, JPEG or WebP image".into()));
    }
    let mut decoder =
        reader.into_decoder().map_err(|e| Error::Image(format!("the image could not be decoded ({e})")))?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder)
        .map_err(|e| Error::Image(format!("the image could not be decoded ({e})")))?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// 8-bit RGB, with any transparency composited onto white.
fn flatten_rgb(img: &DynamicImage) -> image::RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let a = u16::from(a);
        let over = |c: u8| ((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([over(r), over(g), over(b)])
    })
}

fn encode_jpeg(img: &DynamicImage, meta: Option<&ImageMeta>, quality: u8) -> Result<Vec<u8>> {
    let rgb = flatten_rgb(img);
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, quality.clamp(1, 100))
        .encode_image(&rgb)
        .map_err(|e| Error::Image(format!("the image could not be encoded as JPEG ({e})")))?;
    let Some(meta) = meta else { return Ok(jpeg) };
    let mut segments = Vec::new();
    let exif = exif_tiff(meta);
    if JPEG_EXIF_NS.len() + exif.len() <= JPEG_SEGMENT_MAX {
        segments.push([JPEG_EXIF_NS, exif.as_slice()].concat());
    } else {
        tracing::warn!("the EXIF block is too large for a JPEG segment; exporting without it");
    }
    let xmp = xmp_packet(meta);
    if JPEG_XMP_NS.len() + xmp.len() <= JPEG_SEGMENT_MAX {
        segments.push([JPEG_XMP_NS, xmp.as_bytes()].concat());
    } else {
        tracing::warn!("the XMP packet is too large for a JPEG segment; exporting without it");
    }
    splice_jpeg_app1(&jpeg, &segments)
}

/// Inserts APP1 segments (payloads) after SOI and any APP0 (JFIF) segments.
fn splice_jpeg_app1(jpeg: &[u8], payloads: &[Vec<u8>]) -> Result<Vec<u8>> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return Err(Error::Internal("the JPEG encoder wrote no SOI marker".into()));
    }
    let mut pos = 2;
    while jpeg.get(pos) == Some(&0xFF) && jpeg.get(pos + 1) == Some(&0xE0) {
        let len = jpeg
            .get(pos + 2..pos + 4)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or_else(|| Error::Internal("the JPEG encoder wrote a truncated APP0 segment".into()))?;
        pos += 2 + len;
    }
    let pos = pos.min(jpeg.len());
    let extra: usize = payloads.iter().map(|p| p.len() + 4).sum();
    let mut out = Vec::with_capacity(jpeg.len() + extra);
    out.extend_from_slice(&jpeg[..pos]);
    for p in payloads {
        let len = u16::try_from(p.len() + 2).expect("BUG: APP1 payload size checked by the caller");
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(p);
    }
    out.extend_from_slice(&jpeg[pos..]);
    Ok(out)
}

fn encode_webp(img: &DynamicImage, meta: Option<&ImageMeta>, quality: u8) -> Result<Vec<u8>> {
    let (w, h) = (img.width(), img.height());
    let alpha = img.color().has_alpha();
    let pixels = if alpha { img.to_rgba8().into_raw() } else { img.to_rgb8().into_raw() };
    let mut config = webp::WebPConfig::new()
        .map_err(|()| Error::Internal("libwebp could not initialise its encoder configuration".into()))?;
    config.lossless = 0;
    config.quality = f32::from(quality.clamp(1, 100));
    let encoder =
        if alpha { webp::Encoder::from_rgba(&pixels, w, h) } else { webp::Encoder::from_rgb(&pixels, w, h) };
    let mem = encoder
        .encode_advanced(&config)
        .map_err(|e| Error::Image(format!("the image could not be encoded as WebP ({e:?})")))?;
    match meta {
        Some(m) => webp_with_metadata(&mem, w, h, &exif_tiff(m), xmp_packet(m).as_bytes()),
        None => Ok(mem.to_vec()),
    }
}

/// VP8X flag bits (first payload byte).
const VP8X_ALPHA: u8 = 0x10;
const VP8X_EXIF: u8 = 0x08;
const VP8X_XMP: u8 = 0x04;

/// Rewrites a simple or extended WebP file as an extended one carrying `exif` (TIFF bytes) and
/// `xmp` chunks. Existing EXIF/XMP chunks are replaced.
fn webp_with_metadata(riff: &[u8], width: u32, height: u32, exif: &[u8], xmp: &[u8]) -> Result<Vec<u8>> {
    let chunks = riff_chunks(riff)
        .ok_or_else(|| Error::Internal("libwebp wrote a malformed RIFF container".into()))?;
    let mut body: Vec<u8> = Vec::with_capacity(riff.len() + exif.len() + xmp.len() + 64);
    body.extend_from_slice(b"WEBP");
    let mut vp8x_written = false;
    for (fourcc, data) in &chunks {
        match fourcc {
            b"VP8X" => {
                let mut d = data.to_vec();
                if let Some(flags) = d.first_mut() {
                    *flags |= VP8X_EXIF | VP8X_XMP;
                }
                push_riff_chunk(&mut body, b"VP8X", &d);
                vp8x_written = true;
            }
            b"EXIF" | b"XMP " => {}
            _ => {
                if !vp8x_written {
                    let alpha = fourcc == b"ALPH" || (fourcc == b"VP8L" && vp8l_has_alpha(data));
                    push_riff_chunk(&mut body, b"VP8X", &vp8x_payload(width, height, alpha)?);
                    vp8x_written = true;
                }
                push_riff_chunk(&mut body, fourcc, data);
            }
        }
    }
    push_riff_chunk(&mut body, b"EXIF", exif);
    push_riff_chunk(&mut body, b"XMP ", xmp);
    let size = u32::try_from(body.len())
        .map_err(|_| Error::Image("the WebP file would be larger than 4 GiB".into()))?;
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

fn vp8x_payload(width: u32, height: u32, alpha: bool) -> Result<[u8; 10]> {
    if width == 0 || height == 0 || width > 1 << 24 || height > 1 << 24 {
        return Err(Error::Image(format!("{width}×{height} cannot be stored in a WebP file")));
    }
    let (w, h) = ((width - 1).to_le_bytes(), (height - 1).to_le_bytes());
    let flags = VP8X_EXIF | VP8X_XMP | if alpha { VP8X_ALPHA } else { 0 };
    Ok([flags, 0, 0, 0, w[0], w[1], w[2], h[0], h[1], h[2]])
}

/// Whether a VP8L bitstream says it uses alpha (bit 28 of the header after the signature byte).
fn vp8l_has_alpha(data: &[u8]) -> bool {
    data.get(1..5).is_some_and(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & (1 << 28) != 0)
}

fn push_riff_chunk(out: &mut Vec<u8>, fourcc: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).expect("BUG: RIFF chunk larger than 4 GiB");
    out.extend_from_slice(fourcc);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

/// The chunks of a `RIFF....WEBP` file, tolerantly (stops at a truncated chunk). `None` if the
/// bytes are not a WebP file.
fn riff_chunks(riff: &[u8]) -> Option<Vec<([u8; 4], &[u8])>> {
    if riff.len() < 12 || &riff[..4] != b"RIFF" || &riff[8..12] != b"WEBP" {
        return None;
    }
    let declared = u32::from_le_bytes([riff[4], riff[5], riff[6], riff[7]]) as usize;
    let end = declared.saturating_add(8).min(riff.len());
    let mut chunks = Vec::new();
    let mut pos = 12;
    while pos + 8 <= end {
        let fourcc = [riff[pos], riff[pos + 1], riff[pos + 2], riff[pos + 3]];
        let len = u32::from_le_bytes([riff[pos + 4], riff[pos + 5], riff[pos + 6], riff[pos + 7]]) as usize;
        let Some(data) = riff.get(pos + 8..(pos + 8).saturating_add(len).min(end)) else { break };
        if data.len() < len {
            break;
        }
        chunks.push((fourcc, data));
        pos = pos + 8 + len + (len % 2);
    }
    Some(chunks)
}

// ---------------------------------------------------------------------------------------------
// XMP and EXIF blocks
// ---------------------------------------------------------------------------------------------

/// The XMP packet for `meta`: `dc:description` (the prompt), `exif:UserComment` and
/// `fluxdesk:parameters` (the A1111 text), `xmp:CreatorTool`, `xmp:CreateDate`, and
/// `fluxdesk:metadata` (the [`ImageMeta`] JSON, which Fluxdesk reads back losslessly).
pub fn xmp_packet(meta: &ImageMeta) -> String {
    let params = metadata::a1111_parameters(meta);
    let json = serde_json::to_string(meta).unwrap_or_default();
    let mut props = String::new();
    let alt = |name: &str, text: &str| {
        format!(
            "   <{name}><rdf:Alt><rdf:li xml:lang=\"x-default\">{}</rdf:li></rdf:Alt></{name}>\n",
            xml_escape(text)
        )
    };
    if !meta.prompt.is_empty() {
        props.push_str(&alt("dc:description", &meta.prompt));
    }
    props.push_str(&alt("exif:UserComment", &params));
    if let Some(g) = meta.generator.as_deref().filter(|g| !g.is_empty()) {
        props.push_str(&format!("   <xmp:CreatorTool>{}</xmp:CreatorTool>\n", xml_escape(g)));
    }
    if let Some(t) = meta.created_at {
        props.push_str(&format!(
            "   <xmp:CreateDate>{}</xmp:CreateDate>\n",
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    props.push_str(&format!("   <fluxdesk:parameters>{}</fluxdesk:parameters>\n", xml_escape(&params)));
    props.push_str(&format!("   <fluxdesk:metadata>{}</fluxdesk:metadata>\n", xml_escape(&json)));
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n\
         <x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n \
         <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n  \
         <rdf:Description rdf:about=\"\"\n    \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\"\n    \
         xmlns:exif=\"http://ns.adobe.com/exif/1.0/\"\n    \
         xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n    \
         xmlns:fluxdesk=\"{XMP_NAMESPACE}\">\n\
         {props}  \
         </rdf:Description>\n \
         </rdf:RDF>\n\
         </x:xmpmeta>\n\
         <?xpacket end=\"w\"?>"
    )
}

/// XML text escaping; characters XML 1.0 cannot carry are dropped, `\r` is kept as a reference.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

fn xml_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => {
                u32::from_str_radix(&e[2..], 16).ok().and_then(char::from_u32)
            }
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of property `name` in an XMP packet, as an element (`<name>text</name>`, or with an
/// `rdf:Alt` list, the first `rdf:li`) or as an attribute (`name="text"`). Unescaped.
pub fn xmp_property(xmp: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    if let Some(start) = xmp.find(&open) {
        let after = &xmp[start + open.len()..];
        let end = after.find(&format!("</{name}>"))?;
        let inner = &after[..end];
        let text = match inner.find("<rdf:li") {
            Some(li) => {
                let li = &inner[li..];
                let body = &li[li.find('>')? + 1..];
                &body[..body.find("</rdf:li>")?]
            }
            None => inner,
        };
        return Some(xml_unescape(text));
    }
    let attr = format!("{name}=\"");
    let start = xmp.find(&attr)? + attr.len();
    let end = xmp[start..].find('"')?;
    Some(xml_unescape(&xmp[start..start + end]))
}

/// A big-endian TIFF block (the EXIF payload) with `ImageDescription` (the prompt, UTF-8),
/// `Software` (the generator, else "Fluxdesk") and an EXIF IFD holding `ExifVersion` 0232 and
/// `UserComment` = the A1111 `parameters` text as `UNICODE\0` + UTF-16BE (what A1111 writes and
/// reads for JPEG and WebP).
pub fn exif_tiff(meta: &ImageMeta) -> Vec<u8> {
    const ASCII: u16 = 2;
    const LONG: u16 = 4;
    const UNDEFINED: u16 = 7;
    let mut description = meta.prompt.as_bytes().to_vec();
    description.push(0);
    let mut software =
        meta.generator.as_deref().filter(|g| !g.is_empty()).unwrap_or("Fluxdesk").as_bytes().to_vec();
    software.push(0);
    let mut comment = b"UNICODE\0".to_vec();
    for unit in metadata::a1111_parameters(meta).encode_utf16() {
        comment.extend_from_slice(&unit.to_be_bytes());
    }

    // Layout: header (8) | IFD0 (3 entries) | EXIF IFD (2 entries) | values.
    let ifd_len = |n: usize| 2 + 12 * n + 4;
    let ifd0_at = 8;
    let exif_ifd_at = ifd0_at + ifd_len(3);
    let mut data_at = exif_ifd_at + ifd_len(2);
    let mut data: Vec<u8> = Vec::new();
    let mut place = |bytes: &[u8]| -> u32 {
        let at = data_at;
        data.extend_from_slice(bytes);
        data_at += bytes.len();
        if bytes.len() % 2 == 1 {
            data.push(0);
            data_at += 1;
        }
        u32::try_from(at).unwrap_or(u32::MAX)
    };
    let count = |b: &[u8]| u32::try_from(b.len()).unwrap_or(u32::MAX);
    // (tag, type, count, value-or-offset bytes)
    let ifd0: [(u16, u16, u32, [u8; 4]); 3] = [
        (0x010E, ASCII, count(&description), place(&description).to_be_bytes()),
        (0x0131, ASCII, count(&software), place(&software).to_be_bytes()),
        (0x8769, LONG, 1, u32::try_from(exif_ifd_at).unwrap_or(0).to_be_bytes()),
    ];
    let exif_ifd: [(u16, u16, u32, [u8; 4]); 2] = [
        (0x9000, UNDEFINED, 4, *b"0232"),
        (0x9286, UNDEFINED, count(&comment), place(&comment).to_be_bytes()),
    ];

    let mut out = Vec::with_capacity(data_at);
    out.extend_from_slice(b"MM\0\x2A");
    out.extend_from_slice(&8u32.to_be_bytes());
    for ifd in [&ifd0[..], &exif_ifd[..]] {
        out.extend_from_slice(&u16::try_from(ifd.len()).unwrap_or(0).to_be_bytes());
        for (tag, ty, n, value) in ifd {
            out.extend_from_slice(&tag.to_be_bytes());
            out.extend_from_slice(&ty.to_be_bytes());
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(value);
        }
        out.extend_from_slice(&0u32.to_be_bytes());
    }
    out.extend_from_slice(&data);
    out
}

/// A minimal TIFF reader: the value bytes of `tag` in the IFD at `ifd_offset`.
struct Tiff<'a> {
    b: &'a [u8],
    big_endian: bool,
}

impl<'a> Tiff<'a> {
    fn new(b: &'a [u8]) -> Option<Tiff<'a>> {
        let big_endian = match b.get(..4)? {
            [b'M', b'M', 0, 0x2A] => true,
            [b'I', b'I', 0x2A, 0] => false,
            _ => return None,
        };
        Some(Tiff { b, big_endian })
    }
    fn u16_at(&self, at: usize) -> Option<u16> {
        let s = self.b.get(at..at + 2)?;
        Some(if self.big_endian {
            u16::from_be_bytes([s[0], s[1]])
        } else {
            u16::from_le_bytes([s[0], s[1]])
        })
    }
    fn u32_at(&self, at: usize) -> Option<u32> {
        let s = self.b.get(at..at + 4)?;
        let a = [s[0], s[1], s[2], s[3]];
        Some(if self.big_endian { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) })
    }
    fn first_ifd(&self) -> Option<usize> {
        Some(self.u32_at(4)? as usize)
    }
    /// The raw value bytes of `tag` (BYTE/ASCII/UNDEFINED/LONG… sized by type × count).
    fn value(&self, ifd: usize, tag: u16) -> Option<&'a [u8]> {
        let n = usize::from(self.u16_at(ifd)?);
        for i in 0..n {
            let e = ifd + 2 + 12 * i;
            if self.u16_at(e)? != tag {
                continue;
            }
            let unit = match self.u16_at(e + 2)? {
                1 | 2 | 6 | 7 => 1,
                3 | 8 => 2,
                4 | 9 | 11 => 4,
                5 | 10 | 12 => 8,
                _ => return None,
            };
            let len = (self.u32_at(e + 4)? as usize).checked_mul(unit)?;
            let at = if len <= 4 { e + 8 } else { self.u32_at(e + 8)? as usize };
            return self.b.get(at..at.checked_add(len)?);
        }
        None
    }
}

/// The EXIF `UserComment` of a TIFF/EXIF block (a leading `Exif\0\0` is skipped), decoded from
/// its character code (`UNICODE` as UTF-16 — byte order detected —, `ASCII`, or undefined as
/// UTF-8). `None` when absent or empty.
pub fn exif_user_comment(exif: &[u8]) -> Option<String> {
    let exif = exif.strip_prefix(JPEG_EXIF_NS).unwrap_or(exif);
    let t = Tiff::new(exif)?;
    let ifd0 = t.first_ifd()?;
    let ptr = t.value(ifd0, 0x8769)?;
    let exif_ifd = match ptr {
        [a, b, c, d] if t.big_endian => u32::from_be_bytes([*a, *b, *c, *d]),
        [a, b, c, d] => u32::from_le_bytes([*a, *b, *c, *d]),
        _ => return None,
    } as usize;
    let raw = t.value(exif_ifd, 0x9286)?;
    let (code, text) = (raw.get(..8)?, &raw[8..]);
    let s = if code == b"UNICODE\0" {
        decode_utf16_guessing(text, t.big_endian)
    } else {
        String::from_utf8_lossy(text).into_owned()
    };
    let s = s.trim_end_matches(['\0', ' ']).to_string();
    if s.trim().is_empty() { None } else { Some(s) }
}

/// UTF-16 in the byte order that looks right: the one whose code units more often have a zero
/// high byte (Latin text), defaulting to the TIFF's own order.
fn decode_utf16_guessing(b: &[u8], tiff_big_endian: bool) -> String {
    let units = |be: bool| -> Vec<u16> {
        b.chunks_exact(2)
            .map(|c| if be { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_le_bytes([c[0], c[1]]) })
            .collect()
    };
    let latin = |u: &[u16]| u.iter().filter(|&&x| x < 0x100).count();
    let (own, other) = (units(tiff_big_endian), units(!tiff_big_endian));
    let pick = if latin(&other) > latin(&own) { other } else { own };
    String::from_utf16_lossy(&pick)
}

/// The XMP packet of a JPEG (APP1 `http://ns.adobe.com/xap/1.0/`) or WebP (`XMP ` chunk) file.
pub fn read_xmp(bytes: &[u8]) -> Option<String> {
    let raw = if bytes.starts_with(&[0xFF, 0xD8]) {
        jpeg_app1(bytes, JPEG_XMP_NS)?
    } else {
        riff_chunks(bytes)?.into_iter().find(|(f, _)| f == b"XMP ")?.1
    };
    Some(String::from_utf8_lossy(raw).into_owned())
}

/// The EXIF block (TIFF bytes) of a JPEG (APP1 `Exif\0\0`) or WebP (`EXIF` chunk) file.
pub fn read_exif(bytes: &[u8]) -> Option<Vec<u8>> {
    let raw = if bytes.starts_with(&[0xFF, 0xD8]) {
        jpeg_app1(bytes, JPEG_EXIF_NS)?
    } else {
        let data = riff_chunks(bytes)?.into_iter().find(|(f, _)| f == b"EXIF")?.1;
        data.strip_prefix(JPEG_EXIF_NS).unwrap_or(data)
    };
    Some(raw.to_vec())
}

/// The payload (after `prefix`) of the first APP1 segment starting with `prefix`, scanning the
/// segments before the image data.
fn jpeg_app1<'a>(jpeg: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let mut pos = 2;
    loop {
        if *jpeg.get(pos)? != 0xFF {
            return None;
        }
        let marker = *jpeg.get(pos + 1)?;
        match marker {
            0xFF => {
                pos += 1; // fill byte
                continue;
            }
            0x01 | 0xD0..=0xD7 => {
                pos += 2;
                continue;
            }
            0xD9 | 0xDA => return None, // EOI, start of scan
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([*jpeg.get(pos + 2)?, *jpeg.get(pos + 3)?]));
        let payload = jpeg.get(pos + 4..(pos + 2).checked_add(len)?)?;
        if marker == 0xE1
            && let Some(rest) = payload.strip_prefix(prefix)
        {
            return Some(rest);
        }
        pos += 2 + len;
    }
}

/// How an image file says it was made, whatever its format: PNG (our `fluxdesk` chunk, else
/// A1111 `parameters`), JPEG or WebP (our XMP `fluxdesk:metadata`, else `fluxdesk:parameters`,
/// else an EXIF `UserComment` in A1111 format). `Ok(None)` when it carries nothing we read
/// (including formats we do not know); [`Error::Image`] for a damaged PNG. Width and height are
/// whatever the metadata says: callers take the real size from the pixels.
pub fn read_embedded_metadata(bytes: &[u8]) -> Result<Option<ImageMeta>> {
    match image::guess_format(bytes) {
        Ok(ImageFormat::Png) => metadata::read_png_metadata(bytes),
        Ok(ImageFormat::Jpeg | ImageFormat::WebP) => {
            if let Some(xmp) = read_xmp(bytes) {
                if let Some(meta) =
                    xmp_property(&xmp, "fluxdesk:metadata").and_then(|j| serde_json::from_str(&j).ok())
                {
                    return Ok(Some(meta));
                }
                if let Some(p) = xmp_property(&xmp, "fluxdesk:parameters").filter(|p| !p.trim().is_empty()) {
                    return Ok(Some(metadata::parse_a1111_parameters(&p)));
                }
            }
            Ok(read_exif(bytes)
                .and_then(|e| exif_user_comment(&e))
                .map(|text| metadata::parse_a1111_parameters(&text)))
        }
        _ => Ok(None),
    }
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// Writes `bytes` into `dir` under the first free name `name_for(1)`, `name_for(2)`, … and
/// returns its path. Never overwrites: the data goes to a fsynced temp file that is renamed
/// without clobbering (a name taken meanwhile moves on to the next). No temp file is left behind.
pub fn write_unique(dir: &Path, bytes: &[u8], name_for: impl Fn(u32) -> String) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| Error::io("creating the folder", dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| Error::io("creating a temporary file", dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io("writing the file", dir, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io("flushing the file to disk", dir, e))?;
    for n in 1..=MAX_NAME_ATTEMPTS {
        let dest = dir.join(name_for(n));
        if fs::symlink_metadata(&dest).is_ok() {
            continue;
        }
        match tmp.persist_noclobber(&dest) {
            Ok(_) => {
                #[cfg(unix)]
                if let Ok(d) = fs::File::open(dir) {
                    let _ = d.sync_all();
                }
                return Ok(dest);
            }
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => tmp = e.file,
            Err(e) => return Err(Error::io("saving the file", dest, e.error)),
        }
    }
    Err(Error::io(
        "saving the file",
        dir.join(name_for(1)),
        io::Error::new(io::ErrorKind::AlreadyExists, "no free file name was found"),
    ))
}

/// Whether `path` is `root` or inside it (compared after resolving symlinks where possible).
pub(crate) fn is_inside(path: &Path, root: &Path) -> bool {
    let canon = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(path).starts_with(canon(root))
}

/// `f` over `items` on up to [`MAX_WORKERS`] threads (the available cores), results in order.
pub(crate) fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers =
        std::thread::available_parallelism().map_or(1, usize::from).min(MAX_WORKERS).min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(r);
                }
            });
        }
    });
    slots
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|r| r.expect("BUG: every slot is filled by a worker"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escaping_round_trips() {
        let s = "a <b> & \"c\"\r\nd\u{1}é";
        assert_eq!(xml_unescape(&xml_escape(s)), "a <b> & \"c\"\r\nd\u{e9}");
        assert_eq!(xml_unescape("&unknown; &#x41;&#66;"), "&unknown; AB");
    }

    #[test]
    fn exif_user_comment_round_trips_in_both_byte_orders() {
        let meta = ImageMeta { prompt: "a fox, ü".into(), seed: Some(3), ..ImageMeta::default() };
        let tiff = exif_tiff(&meta);
        assert_eq!(exif_user_comment(&tiff).as_deref(), Some("a fox, ü\nSeed: 3"));
        // Little-endian UTF-16 in a big-endian TIFF (some writers) is still read.
        let mut le = b"UNICODE\0".to_vec();
        for u in "hello".encode_utf16() {
            le.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode_utf16_guessing(&le[8..], true), "hello");
        assert!(exif_user_comment(b"garbage").is_none());
    }

    #[test]
    fn xmp_property_reads_elements_alts_and_attributes() {
        let x = r#"<a:b>t&amp;u</a:b><c:d><rdf:Alt><rdf:li xml:lang="x-default">v</rdf:li></rdf:Alt></c:d> e:f="w&lt;""#;
        assert_eq!(xmp_property(x, "a:b").as_deref(), Some("t&u"));
        assert_eq!(xmp_property(x, "c:d").as_deref(), Some("v"));
        assert_eq!(xmp_property(x, "e:f").as_deref(), Some("w<"));
        assert_eq!(xmp_property(x, "g:h"), None);
    }
}
