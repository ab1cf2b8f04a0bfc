//! Writes demo images and prints how long each took to render + encode (a rough benchmark).
//!
//! `cargo run --release -p piapi-sim --example render_demo -- OUT_DIR [SIZE]`

use std::time::Instant;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().unwrap_or_else(|| "demo-renders".to_owned()));
    let size: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1024);
    std::fs::create_dir_all(&out)?;
    let prompts = [
        "a little cat sleeping on a windowsill",
        "neon city at night, rain, cinematic",
        "misty pine forest at dawn",
        "a bowl of ramen, studio lighting",
        "portrait of an astronaut in a sunflower field",
        "minimalist poster of a mountain lake",
        "cyberpunk street market",
        "watercolor fox",
        "an isometric 3d room with plants",
        "deep sea creatures, bioluminescent",
        "old lighthouse in a storm",
        "macro photo of a dew drop",
    ];
    let mut total = 0.0;
    for (i, prompt) in prompts.iter().enumerate() {
        let t = Instant::now();
        let png = piapi_sim::render_png(prompt, i as i64, size, size);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        total += ms;
        let path = out.join(format!("{i:02}.png"));
        std::fs::write(&path, &png)?;
        println!("{} {:>8} bytes {ms:6.1} ms  {prompt}", path.display(), png.len());
    }
    println!("mean {:.1} ms per {size}x{size} image", total / prompts.len() as f64);
    Ok(())
}
