//! Demo images: soft, deterministic gradient artwork standing in for Flux output.
//!
//! Contract: `render_png(prompt, seed, w, h)` is a pure function returning RGB8 PNG bytes of exactly
//! w×h (0 is treated as 1) with a `Software: Fluxdesk PiAPI simulator` tEXt chunk. The palette comes
//! from a hash of the prompt (so different prompts look different), the composition (gradient
//! angle, soft colour fields, translucent discs and rings) from prompt+seed. A small "DEMO" badge
//! sits in the bottom-right corner and the start of the prompt in the bottom-left.
//!
//! Colours are picked in OKLCH (even lightness, pleasant chroma), mixed in linear RGB and
//! converted to sRGB through a lookup table with a 4×4 ordered dither against banding. The image
//! is built row by row and each shape only touches the span of a row it covers, so a 1024² image
//! renders and encodes in a few tens of milliseconds in release builds.

use std::f32::consts::TAU;

use crate::font;

/// Value of the PNG `Software` tEXt chunk.
pub const SOFTWARE: &str = "Fluxdesk PiAPI simulator";
/// Number of prompt characters drawn as a caption.
pub const CAPTION_CHARS: usize = 24;

/// Render the demo image for (prompt, seed, width, height): deterministic RGB PNG bytes.
pub fn render_png(prompt: &str, seed: i64, width: u32, height: u32) -> Vec<u8> {
    let (width, height) = (width.max(1), height.max(1));
    let rgb = render_rgb(prompt, seed, width, height);
    encode_png(&rgb, width, height)
}

/// Render to a raw RGB8 buffer (row-major, 3 bytes per pixel).
pub fn render_rgb(prompt: &str, seed: i64, width: u32, height: u32) -> Vec<u8> {
    let scene = Scene::new(prompt, seed, width, height);
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    scene.paint(&mut rgb);
    draw_overlays(&mut rgb, prompt, width, height);
    rgb
}

/// The artwork alone (no badge, no caption): what image tasks paint into masked or new areas.
pub(crate) fn render_art(prompt: &str, seed: i64, width: u32, height: u32) -> Vec<u8> {
    let (width, height) = (width.max(1), height.max(1));
    let scene = Scene::new(prompt, seed, width, height);
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    scene.paint(&mut rgb);
    rgb
}

/// A saturated mid-light sRGB colour from the prompt's hash (the tint of image tasks).
pub(crate) fn prompt_color(prompt: &str) -> [u8; 3] {
    let hue = (fnv1a(prompt) % 360) as f32;
    oklch(0.68, 0.16, hue).map(|c| {
        let s = if c <= 0.003_130_8 { 12.92 * c } else { 1.055 * c.powf(1.0 / 2.4) - 0.055 };
        (s * 255.0).round().clamp(0.0, 255.0) as u8
    })
}

/// RGB8 → PNG with the `Software` chunk.
pub(crate) fn encode_png(rgb: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgb.len() / 4 + 1024);
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    // After set_compression (which resets it): Sub is the smallest and among the fastest here.
    enc.set_filter(png::Filter::Sub);
    enc.add_text_chunk("Software".to_owned(), SOFTWARE.to_owned())
        .expect("BUG: the Software keyword and text are valid Latin-1");
    let mut writer = enc.write_header().expect("BUG: PNG header for a non-empty RGB8 image");
    writer.write_image_data(rgb).expect("BUG: buffer length matches width*height*3");
    writer.finish().expect("BUG: writing a PNG into a Vec cannot fail");
    out
}

/// splitmix64: tiny, fast, good enough for art direction.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn f(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f()
    }
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3))
}

/// OKLCH (hue in degrees) to linear sRGB, clipped to the gamut.
fn oklch(l: f32, c: f32, hue_deg: f32) -> [f32; 3] {
    let h = hue_deg.to_radians();
    let (a, b) = (c * h.cos(), c * h.sin());
    let l_ = l + 0.396_337_8 * a + 0.215_803_76 * b;
    let m_ = l - 0.105_561_346 * a - 0.063_854_17 * b;
    let s_ = l - 0.089_484_18 * a - 1.291_485_5 * b;
    let (l3, m3, s3) = (l_ * l_ * l_, m_ * m_ * m_, s_ * s_ * s_);
    [
        (4.076_741_7 * l3 - 3.307_711_6 * m3 + 0.230_969_94 * s3).clamp(0.0, 1.0),
        (-1.268_438 * l3 + 2.609_757_4 * m3 - 0.341_319_38 * s3).clamp(0.0, 1.0),
        (-0.004_196_086_3 * l3 - 0.703_418_6 * m3 + 1.707_614_7 * s3).clamp(0.0, 1.0),
    ]
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn smooth(t: f32) -> f32 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// A soft colour field: weight `strength * (1 - d²/r²)²` inside radius r.
struct Blob {
    cx: f32,
    cy: f32,
    r: f32,
    color: [f32; 3],
    strength: f32,
}

/// A crisp, anti-aliased translucent disc or ring.
struct Disc {
    cx: f32,
    cy: f32,
    r: f32,
    /// 0 for a filled disc, else the ring's half thickness.
    half_ring: f32,
    color: [f32; 3],
    alpha: f32,
}

struct Scene {
    width: u32,
    height: u32,
    stops: [[f32; 3]; 3],
    /// Unit gradient direction and the projection extent that maps the image onto t ∈ [0, 1].
    dir: (f32, f32),
    extent: f32,
    blobs: Vec<Blob>,
    discs: Vec<Disc>,
}

impl Scene {
    fn new(prompt: &str, seed: i64, width: u32, height: u32) -> Self {
        let (w, h) = (width as f32, height as f32);
        let ph = fnv1a(prompt);
        // Palette: from the prompt only.
        let mut pr = Rng(ph);
        let h0 = pr.range(0.0, 360.0);
        let (o1, o2) = [(35.0, 70.0), (-40.0, 40.0), (150.0, 200.0), (60.0, -60.0), (25.0, 180.0)]
            [(pr.next_u64() % 5) as usize];
        let dark = pr.f() < 0.3;
        let (l0, l1, l2) = if dark { (0.30, 0.44, 0.58) } else { (0.62, 0.76, 0.90) };
        let accent_hue = h0 + 180.0 + pr.range(-35.0, 35.0);
        let hues = [h0, h0 + o1, h0 + o2, accent_hue];
        let stops = [oklch(l0, 0.11, hues[0]), oklch(l1, 0.10, hues[1]), oklch(l2, 0.06, hues[2])];

        // Composition: from prompt and seed.
        let mut sr = Rng(ph ^ (seed as u64).wrapping_mul(0xD1B5_4A32_D192_ED03) ^ 0x5EED);
        let angle = sr.range(0.0, TAU);
        let dir = (angle.cos(), angle.sin());
        let extent = (w * dir.0).abs() + (h * dir.1).abs();
        let span = w.max(h);
        let minside = w.min(h);

        let n_blobs = 4 + (sr.next_u64() % 3) as usize;
        let mut blobs = Vec::with_capacity(n_blobs + 1);
        for _ in 0..n_blobs {
            let hue = hues[(sr.next_u64() % 4) as usize] + sr.range(-15.0, 15.0);
            let l = if dark { sr.range(0.40, 0.70) } else { sr.range(0.65, 0.92) };
            blobs.push(Blob {
                cx: sr.range(-0.1, 1.1) * w,
                cy: sr.range(-0.1, 1.1) * h,
                r: sr.range(0.25, 0.6) * span,
                color: oklch(l, sr.range(0.06, 0.15), hue),
                strength: sr.range(0.45, 0.85),
            });
        }
        // A soft light from one of the upper corners.
        blobs.push(Blob {
            cx: if sr.f() < 0.5 { 0.15 * w } else { 0.85 * w },
            cy: 0.05 * h,
            r: 0.55 * span,
            color: [1.0, 1.0, 1.0],
            strength: if dark { 0.12 } else { 0.28 },
        });

        let n_discs = 2 + (sr.next_u64() % 3) as usize;
        let discs = (0..n_discs)
            .map(|_| {
                let ring = sr.f() < 0.45;
                let tint = sr.f() < 0.5;
                Disc {
                    cx: sr.range(0.1, 0.9) * w,
                    cy: sr.range(0.1, 0.9) * h,
                    r: sr.range(0.07, 0.24) * minside,
                    half_ring: if ring { sr.range(0.004, 0.012) * minside + 0.5 } else { 0.0 },
                    color: if tint { oklch(0.93, 0.05, accent_hue) } else { [1.0, 1.0, 1.0] },
                    alpha: if ring { sr.range(0.35, 0.6) } else { sr.range(0.12, 0.3) },
                }
            })
            .collect();

        Self { width, height, stops, dir, extent: extent.max(1.0), blobs, discs }
    }

    /// The smooth part (gradient, colour fields, vignette) at pixel centre (px, py), linear RGB.
    fn field(&self, px: f32, py: f32) -> [f32; 3] {
        let (wf, hf) = (self.width as f32, self.height as f32);
        let t = ((px - wf / 2.0) * self.dir.0 + (py - hf / 2.0) * self.dir.1) / self.extent + 0.5;
        let mut c = if t < 0.5 {
            mix(self.stops[0], self.stops[1], smooth(t * 2.0))
        } else {
            mix(self.stops[1], self.stops[2], smooth((t - 0.5) * 2.0))
        };
        for b in &self.blobs {
            let (dx, dy) = (px - b.cx, py - b.cy);
            let k = 1.0 - (dx * dx + dy * dy) / (b.r * b.r);
            if k > 0.0 {
                c = mix(c, b.color, b.strength * k * k);
            }
        }
        let (nx, ny) = ((px / wf - 0.5) * 2.0, (py / hf - 0.5) * 2.0);
        let v = 1.0 - 0.14 * (nx * nx + ny * ny);
        [c[0] * v, c[1] * v, c[2] * v]
    }

    /// Paints into `out` (RGB8). The smooth field is evaluated on a grid every `STEP` pixels and
    /// interpolated bilinearly (it has no edges, so this is invisible and 16x cheaper); the discs
    /// are drawn at full resolution so their edges stay crisp.
    fn paint(&self, out: &mut [u8]) {
        const STEP: usize = 4;
        const BAYER: [f32; 16] = [0., 8., 2., 10., 12., 4., 14., 6., 3., 11., 1., 9., 15., 7., 13., 5.];
        let lut = srgb_lut();
        let (w, h) = (self.width as usize, self.height as usize);
        let (gw, gh) = (w.div_ceil(STEP) + 1, h.div_ceil(STEP) + 1);
        let mut grid = Vec::with_capacity(gw * gh);
        for gy in 0..gh {
            for gx in 0..gw {
                grid.push(self.field((gx * STEP) as f32 + 0.5, (gy * STEP) as f32 + 0.5));
            }
        }
        let inv_step = 1.0 / STEP as f32;
        let mut line = vec![[0f32; 3]; gw];
        let mut row = vec![[0f32; 3]; w];
        for y in 0..h {
            let py = y as f32 + 0.5;
            let (gy, fy) = (y / STEP, (y % STEP) as f32 * inv_step);
            let (top, bottom) = (&grid[gy * gw..(gy + 1) * gw], &grid[(gy + 1) * gw..(gy + 2) * gw]);
            for ((l, a), b) in line.iter_mut().zip(top).zip(bottom) {
                *l = mix(*a, *b, fy);
            }
            for (x, px) in row.iter_mut().enumerate() {
                let (gx, fx) = (x / STEP, (x % STEP) as f32 * inv_step);
                *px = mix(line[gx], line[gx + 1], fx);
            }
            for d in &self.discs {
                let reach = d.r + d.half_ring + 1.0;
                let dy = py - d.cy;
                if dy.abs() > reach {
                    continue;
                }
                let half = (reach * reach - dy * dy).max(0.0).sqrt();
                let (x0, x1) = span(d.cx - half, d.cx + half, w);
                for (x, px) in row.iter_mut().enumerate().take(x1).skip(x0) {
                    let dx = x as f32 + 0.5 - d.cx;
                    let dist = (dx * dx + dy * dy).sqrt();
                    let cov = if d.half_ring > 0.0 {
                        (d.half_ring - (dist - d.r).abs() + 0.5).clamp(0.0, 1.0)
                    } else {
                        (d.r - dist + 0.5).clamp(0.0, 1.0)
                    };
                    if cov > 0.0 {
                        *px = mix(*px, d.color, d.alpha * cov);
                    }
                }
            }
            // Linear → sRGB with a 4×4 ordered dither (against banding in the soft gradients).
            let out_row = &mut out[y * w * 3..(y + 1) * w * 3];
            let bayer_row = &BAYER[(y & 3) * 4..(y & 3) * 4 + 4];
            for (x, (px, o)) in row.iter().zip(out_row.chunks_exact_mut(3)).enumerate() {
                // In [0.03, 1.0): added to values >= 0, so the saturating `as u8` rounds.
                let dither = bayer_row[x & 3] / 16.0 + 0.03;
                for (c, o) in px.iter().zip(o.iter_mut()) {
                    let idx = (c.clamp(0.0, 1.0) * 4095.0) as usize;
                    *o = (lut[idx] + dither) as u8;
                }
            }
        }
    }
}

/// Pixel columns [x0, x1) covered by the interval [a, b] of pixel-centre coordinates.
fn span(a: f32, b: f32, w: usize) -> (usize, usize) {
    let x0 = (a - 0.5).floor().max(0.0) as usize;
    let x1 = ((b + 0.5).ceil().max(0.0) as usize).min(w);
    (x0.min(w), x1)
}

/// Linear [0, 1] in 4096 steps → sRGB in [0, 255] (float, so dithering can round it).
fn srgb_lut() -> Vec<f32> {
    (0..4096)
        .map(|i| {
            let c = i as f32 / 4095.0;
            let s = if c <= 0.003_130_8 { 12.92 * c } else { 1.055 * c.powf(1.0 / 2.4) - 0.055 };
            s * 255.0
        })
        .collect()
}

/// Draws the "DEMO" badge (bottom right) and the prompt caption (bottom left).
fn draw_overlays(rgb: &mut [u8], prompt: &str, width: u32, height: u32) {
    let minside = width.min(height);
    let badge_scale = (minside / 256).max(1);
    let pad = 2 * badge_scale;
    let margin = (minside / 40).max(2);
    let badge_w = font::text_width("DEMO", badge_scale) + 2 * pad;
    let badge_h = font::HEIGHT * badge_scale + 2 * pad;
    if badge_w + 2 * margin > width || badge_h + 2 * margin > height {
        return;
    }
    let bx = width - margin - badge_w;
    let by = height - margin - badge_h;
    fill_round_rect(rgb, width, height, (bx, by, badge_w, badge_h), pad as f32, [12, 14, 22], 0.38);
    font::draw_text(
        rgb,
        width,
        height,
        i64::from(bx + pad),
        i64::from(by + pad),
        "DEMO",
        badge_scale,
        [255, 255, 255],
        0.95,
    );

    // Caption: the first characters of the prompt, vertically centred on the badge.
    let scale = (minside / 320).max(1);
    let avail = bx.saturating_sub(2 * margin);
    let fit = (avail / (font::ADVANCE * scale)) as usize;
    let caption = caption(prompt, CAPTION_CHARS.min(fit));
    if caption.is_empty() || height < 48 {
        return;
    }
    let cx = i64::from(margin + pad);
    let cy = i64::from(by + badge_h / 2) - i64::from(font::HEIGHT * scale / 2);
    let shadow = i64::from(scale.div_ceil(2));
    font::draw_text(rgb, width, height, cx + shadow, cy + shadow, &caption, scale, [0, 0, 0], 0.30);
    font::draw_text(rgb, width, height, cx, cy, &caption, scale, [255, 255, 255], 0.92);
}

/// The prompt's first words in at most `max` characters, uppercase, "..." when shortened.
fn caption(prompt: &str, max: usize) -> String {
    let words = prompt.split_whitespace().collect::<Vec<_>>().join(" ").to_uppercase();
    if words.chars().count() <= max {
        return words;
    }
    let budget = max.saturating_sub(3);
    // One character more than fits, so a word ending exactly at the budget is kept whole.
    let probe: String = words.chars().take(budget + 1).collect();
    // Prefer a word boundary unless that throws away most of the text.
    let cut = match probe.rfind(' ') {
        Some(i) if i >= budget / 2 => probe[..i].to_owned(),
        _ => probe.chars().take(budget).collect(),
    };
    if cut.is_empty() { String::new() } else { format!("{}...", cut.trim_end_matches([' ', ',', '.'])) }
}

/// Anti-aliased rounded rectangle (x, y, w, h) blended with `color` at `alpha`.
fn fill_round_rect(
    rgb: &mut [u8],
    width: u32,
    height: u32,
    rect: (u32, u32, u32, u32),
    radius: f32,
    color: [u8; 3],
    alpha: f32,
) {
    let (x, y, w, h) = rect;
    let (cx, cy) = (x as f32 + w as f32 / 2.0, y as f32 + h as f32 / 2.0);
    let (hx, hy) = (w as f32 / 2.0 - radius, h as f32 / 2.0 - radius);
    for py in y..(y + h).min(height) {
        for px in x..(x + w).min(width) {
            let qx = ((px as f32 + 0.5 - cx).abs() - hx).max(0.0);
            let qy = ((py as f32 + 0.5 - cy).abs() - hy).max(0.0);
            let d = (qx * qx + qy * qy).sqrt() - radius;
            let cov = (0.5 - d).clamp(0.0, 1.0);
            if cov > 0.0 {
                let idx = (py as usize * width as usize + px as usize) * 3;
                font::blend(&mut rgb[idx..idx + 3], color, alpha * cov);
            }
        }
    }
}
