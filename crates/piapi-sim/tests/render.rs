//! `render_png`: deterministic, different per prompt and seed, decodes to the requested size and
//! carries the Software tEXt chunk.

use piapi_sim::render_png;

fn decode(png: &[u8]) -> image::RgbImage {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png).expect("valid PNG");
    assert_eq!(img.color(), image::ColorType::Rgb8);
    img.to_rgb8()
}

fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let sum: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    sum as f64 / a.as_raw().len() as f64
}

#[test]
fn deterministic() {
    assert_eq!(render_png("a little cat", 42, 200, 120), render_png("a little cat", 42, 200, 120));
}

#[test]
fn differs_across_prompts_and_seeds() {
    let base = decode(&render_png("a little cat", 1, 160, 160));
    let other_prompt = decode(&render_png("neon city at night", 1, 160, 160));
    let other_seed = decode(&render_png("a little cat", 2, 160, 160));
    assert!(mean_abs_diff(&base, &other_prompt) > 8.0, "prompts look different");
    assert!(mean_abs_diff(&base, &other_seed) > 4.0, "seeds look different");
}

#[test]
fn decodes_to_the_requested_size() {
    for (w, h) in [(1, 1), (7, 3), (37, 53), (320, 200), (128, 512), (0, 5)] {
        let img = decode(&render_png("size check", 3, w, h));
        assert_eq!((img.width(), img.height()), (w.max(1), h.max(1)));
    }
}

#[test]
fn full_size_image() {
    let img = decode(&render_png("full size", 9, 1024, 1024));
    assert_eq!((img.width(), img.height()), (1024, 1024));
    // Not a flat fill: the picture has structure.
    let px = |x, y| *img.get_pixel(x, y);
    assert_ne!(px(10, 10), px(1000, 500));
}

#[test]
fn has_software_text_chunk() {
    let png = render_png("x", 0, 8, 8);
    let needle = b"tEXtSoftware\0Fluxdesk PiAPI simulator";
    assert!(png.windows(needle.len()).any(|w| w == needle));
    assert_eq!(piapi_sim::PNG_SOFTWARE, "Fluxdesk PiAPI simulator");
}
