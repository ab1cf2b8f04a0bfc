//! Pure, deterministic image operations that make image-task outputs visibly reflect their input.
//!
//! Contract (one function per effect, all on RGB8 buffers, no I/O, no randomness):
//! `tint` blends toward a colour; `mirror` flips horizontally; `inpaint` replaces white
//! (all channels ≥ `WHITE`) pixels with art and keeps the rest byte-for-byte (a replaced pixel is
//! never white itself); `outpaint` pastes the source into an art canvas at (left, top) unchanged;
//! `edges` is a Sobel edge map coloured by a colour; `resize_nearest` scales by pixel replication
//! (so an integer upscale maps each source pixel to an exact block); `band` draws a dark strip
//! with a text label at the top or bottom. All run in one pass over the pixels, so a 1024² image
//! costs a few milliseconds.

use crate::font;

/// A channel value at or above which a pixel counts as "white" (the inpaint mask).
pub const WHITE: u8 = 250;
/// Largest side accepted when decoding an input image.
pub const MAX_DECODE_SIDE: u32 = 8192;

/// An RGB8 image, row-major, 3 bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl Rgb {
    /// Wraps a buffer of `width * height * 3` bytes.
    pub fn from_raw(width: u32, height: u32, data: Vec<u8>) -> Self {
        debug_assert_eq!(data.len(), width as usize * height as usize * 3);
        Self { width, height, data }
    }

    fn idx(&self, x: u32, y: u32) -> usize {
        (y as usize * self.width as usize + x as usize) * 3
    }

    /// The pixel at (x, y).
    #[cfg(test)]
    pub fn get(&self, x: u32, y: u32) -> [u8; 3] {
        let i = self.idx(x, y);
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Decodes PNG/JPEG/WebP/GIF bytes (first frame; alpha is dropped) with size limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, image::ImageError> {
        let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format()?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_DECODE_SIDE);
        limits.max_image_height = Some(MAX_DECODE_SIDE);
        limits.max_alloc = Some(512 * 1024 * 1024);
        reader.limits(limits);
        let img = reader.decode()?.to_rgb8();
        Ok(Self { width: img.width(), height: img.height(), data: img.into_raw() })
    }

    /// PNG bytes (same encoder as the txt2img renders, with the Software chunk).
    pub fn encode(&self) -> Vec<u8> {
        crate::render::encode_png(&self.data, self.width, self.height)
    }
}

fn lerp(a: u8, b: u8, t: f32) -> u8 {
    (f32::from(a) + (f32::from(b) - f32::from(a)) * t).round().clamp(0.0, 255.0) as u8
}

/// Blends every pixel toward `color` by `t` (0 = unchanged, 1 = flat colour).
pub fn tint(img: &mut Rgb, color: [u8; 3], t: f32) {
    let t = t.clamp(0.0, 1.0);
    for px in img.data.chunks_exact_mut(3) {
        for (c, target) in px.iter_mut().zip(color) {
            *c = lerp(*c, target, t);
        }
    }
}

/// The image flipped left to right.
pub fn mirror(img: &Rgb) -> Rgb {
    let row_len = img.width as usize * 3;
    let mut data = Vec::with_capacity(img.data.len());
    for row in img.data.chunks_exact(row_len.max(1)) {
        for px in row.chunks_exact(3).rev() {
            data.extend_from_slice(px);
        }
    }
    Rgb::from_raw(img.width, img.height, data)
}

/// `src` with its white pixels replaced by `art` (same size); the replacement is never white.
pub fn inpaint(src: &Rgb, art: &Rgb) -> Rgb {
    debug_assert_eq!((src.width, src.height), (art.width, art.height));
    let mut out = src.clone();
    for (o, a) in out.data.chunks_exact_mut(3).zip(art.data.chunks_exact(3)) {
        if o.iter().all(|&c| c >= WHITE) {
            o.copy_from_slice(a);
            if o.iter().all(|&c| c >= WHITE) {
                o.iter_mut().for_each(|c| *c = 236);
            }
        }
    }
    out
}

/// `canvas` with `src` pasted at (left, top), clipped to the canvas.
pub fn outpaint(src: &Rgb, mut canvas: Rgb, left: u32, top: u32) -> Rgb {
    let cols = src.width.min(canvas.width.saturating_sub(left)) as usize * 3;
    for y in 0..src.height.min(canvas.height.saturating_sub(top)) {
        let s = src.idx(0, y);
        let d = canvas.idx(left, top + y);
        canvas.data[d..d + cols].copy_from_slice(&src.data[s..s + cols]);
    }
    canvas
}

/// Nearest-neighbour resize (pixel replication when enlarging).
pub fn resize_nearest(src: &Rgb, width: u32, height: u32) -> Rgb {
    let (width, height) = (width.max(1), height.max(1));
    if (width, height) == (src.width, src.height) {
        return src.clone();
    }
    let xs: Vec<usize> = (0..width)
        .map(|x| src.idx((u64::from(x) * u64::from(src.width) / u64::from(width)) as u32, 0))
        .collect();
    let mut data = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        let sy = (u64::from(y) * u64::from(src.height) / u64::from(height)) as u32;
        let row = src.idx(0, sy);
        for &sx in &xs {
            data.extend_from_slice(&src.data[row + sx..row + sx + 3]);
        }
    }
    Rgb::from_raw(width, height, data)
}

/// Sobel edge map of `src`: a dark ground with edges drawn in `color`; `strength` (0–1) raises
/// the contrast of weak edges.
pub fn edges(src: &Rgb, color: [u8; 3], strength: f32) -> Rgb {
    let (w, h) = (src.width as usize, src.height as usize);
    let luma: Vec<f32> = src
        .data
        .chunks_exact(3)
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect();
    let at = |x: usize, y: usize| luma[y * w + x];
    let ground = [14u8, 15, 20];
    let gain = (0.5 + strength.clamp(0.0, 1.0)) / (2.0 * 255.0);
    let mut data = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let (ym, yp) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for x in 0..w {
            let (xm, xp) = (x.saturating_sub(1), (x + 1).min(w - 1));
            let gx =
                (at(xp, ym) + 2.0 * at(xp, y) + at(xp, yp)) - (at(xm, ym) + 2.0 * at(xm, y) + at(xm, yp));
            let gy =
                (at(xm, yp) + 2.0 * at(x, yp) + at(xp, yp)) - (at(xm, ym) + 2.0 * at(x, ym) + at(xp, ym));
            let e = ((gx * gx + gy * gy).sqrt() * gain).clamp(0.0, 1.0);
            data.extend(ground.iter().zip(color).map(|(&g, c)| lerp(g, c, e)));
        }
    }
    Rgb::from_raw(src.width, src.height, data)
}

/// Where a `band` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Top,
    Bottom,
}

/// Darkens a strip along `edge` (height ≈ 1/10 of the image, at least 11 px) and writes `text`
/// in it (uppercase, shortened with "..." to fit).
pub fn band(img: &mut Rgb, edge: Edge, text: &str) {
    let (w, h) = (img.width, img.height);
    let band_h = (h / 10).max(11).min(h);
    let scale = (band_h.saturating_sub(4) / font::HEIGHT).clamp(1, 4);
    let y0 = match edge {
        Edge::Top => 0,
        Edge::Bottom => h - band_h,
    };
    for y in y0..y0 + band_h {
        let row = img.idx(0, y);
        for px in img.data[row..row + w as usize * 3].chunks_exact_mut(3) {
            font::blend(px, [10, 10, 14], 0.72);
        }
    }
    let pad = 2 * scale;
    let fit = (w.saturating_sub(2 * pad) / (font::ADVANCE * scale)) as usize;
    let upper: String = text.split_whitespace().collect::<Vec<_>>().join(" ").to_uppercase();
    let label = if upper.chars().count() <= fit {
        upper
    } else {
        let mut s: String = upper.chars().take(fit.saturating_sub(3)).collect();
        s.push_str("...");
        s
    };
    let ty = i64::from(y0 + band_h.saturating_sub(font::HEIGHT * scale) / 2);
    font::draw_text(&mut img.data, w, h, i64::from(pad), ty, &label, scale, [255, 255, 255], 0.95);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, c: [u8; 3]) -> Rgb {
        Rgb::from_raw(w, h, c.repeat((w * h) as usize))
    }

    #[test]
    fn mirror_and_resize() {
        let img = Rgb::from_raw(2, 1, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(mirror(&img).data, vec![4, 5, 6, 1, 2, 3]);
        let big = resize_nearest(&img, 4, 2);
        assert_eq!(big.get(1, 1), [1, 2, 3]);
        assert_eq!(big.get(2, 0), [4, 5, 6]);
    }

    #[test]
    fn inpaint_keeps_unmasked_and_never_leaves_white() {
        let mut src = solid(4, 1, [10, 20, 30]);
        src.data[..3].copy_from_slice(&[255, 255, 255]);
        let art = solid(4, 1, [255, 252, 251]);
        let out = inpaint(&src, &art);
        assert!(out.get(0, 0).iter().any(|&c| c < WHITE));
        assert_eq!(out.get(1, 0), [10, 20, 30]);
    }

    #[test]
    fn edges_light_up_only_at_the_boundary() {
        let mut src = solid(8, 4, [0, 0, 0]);
        for y in 0..4 {
            for x in 4..8 {
                let i = src.idx(x, y);
                src.data[i..i + 3].copy_from_slice(&[255, 255, 255]);
            }
        }
        let out = edges(&src, [250, 100, 50], 0.5);
        assert_eq!(out.get(0, 1), [14, 15, 20]);
        assert_eq!(out.get(7, 1), [14, 15, 20]);
        assert!(out.get(4, 1)[0] > 200);
    }

    #[test]
    fn band_fits_tiny_images() {
        let mut img = solid(5, 3, [200, 200, 200]);
        band(&mut img, Edge::Bottom, "a very long instruction text");
        assert_ne!(img.get(0, 2), [200, 200, 200]);
    }
}
