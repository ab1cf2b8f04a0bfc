//! Decode once: the thumbnail made from the pixels the download's verification decoded
//! (`piapi::FetchedImage::decoded`) is byte-for-byte the one made by decoding the bytes again, for
//! every format and for an EXIF-rotated JPEG; and the verification still rejects broken downloads.
//! Images are served by a minimal HTTP/1.1 server on loopback and fetched by the real client.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use fluxdesk_core::metadata::{ImageMeta, embed_png_metadata};
use fluxdesk_core::thumbs::{make_thumbnail, make_thumbnail_from_image};
use image::{DynamicImage, GrayImage, ImageFormat, RgbImage, RgbaImage};
use piapi::{Client, ClientConfig, DownloadOptions, FetchedImage};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// What the server answers for a path: the `Content-Length` it declares and the body it sends.
type Routes = Arc<HashMap<String, (usize, Vec<u8>)>>;

/// Serves `routes` on 127.0.0.1 (one request per connection) and returns the base URL.
async fn serve(routes: Routes) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&req).lines().next().unwrap_or_default().to_owned();
                let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
                let response = match routes.get(&path) {
                    Some((declared, body)) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                             Content-Length: {declared}\r\nConnection: close\r\n\r\n"
                        )
                        .into_bytes();
                        r.extend_from_slice(body);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
                    }
                };
                let _ = sock.write_all(&response).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

fn client(base: &str) -> Client {
    Client::new(ClientConfig::new(base, SecretString::from("sk-test-not-a-key")).unwrap()).unwrap()
}

async fn fetch(client: &Client, url: &str) -> piapi::Result<FetchedImage> {
    let opts = DownloadOptions { max_attempts: 1, ..DownloadOptions::default() };
    let cancel = CancellationToken::new();
    let mut on_bytes = |_: u64, _: Option<u64>| {};
    let fut = client.fetch_image(url, &opts, &cancel, &mut on_bytes);
    tokio::time::timeout(Duration::from_secs(20), fut).await.expect("fetch finished in time")
}

fn gradient(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, ((x ^ y) & 0xff) as u8])
    }))
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// `jpeg` with an APP1 Exif segment (big-endian TIFF, one IFD0 entry) saying `orientation`,
/// inserted right after SOI.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    assert_eq!(&jpeg[..2], b"\xFF\xD8");
    let mut tiff = b"MM\x00\x2A\x00\x00\x00\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(b"\xFF\xE1");
    out.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn meta(width: u32, height: u32) -> ImageMeta {
    ImageMeta {
        prompt: "a lighthouse at dusk".into(),
        width,
        height,
        task_id: Some("task-1".into()),
        output_index: Some(0),
        ..ImageMeta::default()
    }
}

#[tokio::test]
async fn thumbnails_from_verified_pixels_equal_thumbnails_from_bytes() {
    let rgba = DynamicImage::ImageRgba8(RgbaImage::from_fn(900, 600, |x, y| {
        image::Rgba([(x % 256) as u8, (y % 256) as u8, 40, if x < 450 { 255 } else { 30 }])
    }));
    let grey = DynamicImage::ImageLuma8(GrayImage::from_fn(800, 400, |x, _| image::Luma([(x % 256) as u8])));
    let rotated_jpeg = with_exif_orientation(&encode(&gradient(640, 320), ImageFormat::Jpeg), 6);
    // (name, bytes, expected thumbnail size)
    let cases: Vec<(&str, Vec<u8>, (u32, u32))> = vec![
        ("rgb-png-1024", encode(&gradient(1024, 1024), ImageFormat::Png), (512, 512)),
        ("rgba-png", encode(&rgba, ImageFormat::Png), (512, 341)),
        ("grey-png", encode(&grey, ImageFormat::Png), (512, 256)),
        ("small-png", encode(&gradient(300, 200), ImageFormat::Png), (300, 200)),
        ("jpeg", encode(&gradient(1024, 768), ImageFormat::Jpeg), (512, 384)),
        ("webp", encode(&gradient(700, 350), ImageFormat::WebP), (512, 256)),
        // Orientation 6 (rotate 90° clockwise): the stored 640×320 shows as 320×640.
        ("exif-rotated-jpeg", rotated_jpeg, (256, 512)),
    ];
    let routes: HashMap<String, (usize, Vec<u8>)> =
        cases.iter().map(|(name, bytes, _)| (format!("/{name}"), (bytes.len(), bytes.clone()))).collect();
    let base = serve(Arc::new(routes)).await;
    let client = client(&base);
    let dir = tempfile::tempdir().unwrap();

    for (name, served, expected) in cases {
        let fetched =
            fetch(&client, &format!("{base}/{name}")).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(fetched.bytes, served, "{name}: the bytes are kept as served");
        let dbg = format!("{fetched:?}");
        assert!(dbg.len() < 300, "{name}: Debug stays short: {dbg}");
        let FetchedImage { bytes, format, decoded, .. } = fetched;
        // As the runner does: PNGs are saved with our metadata, which changes bytes, not pixels.
        let saved = if format == "png" {
            embed_png_metadata(&bytes, &meta(decoded.pixels().width(), decoded.pixels().height())).unwrap()
        } else {
            bytes
        };
        let from_bytes = dir.path().join(format!("{name}-bytes.webp"));
        let from_pixels = dir.path().join(format!("{name}-pixels.webp"));
        let a = make_thumbnail(&saved, &from_bytes).unwrap();
        let b = make_thumbnail_from_image(decoded.into_upright(), &from_pixels).unwrap();
        assert_eq!((a.width, a.height), expected, "{name}");
        assert_eq!(a, b, "{name}");
        assert_eq!(
            std::fs::read(&from_bytes).unwrap(),
            std::fs::read(&from_pixels).unwrap(),
            "{name}: byte-identical thumbnails"
        );
    }
}

#[tokio::test]
async fn truncated_and_garbage_downloads_are_still_rejected() {
    let png = encode(&gradient(256, 256), ImageFormat::Png);
    let cut = png[..png.len() / 2].to_vec();
    let routes: HashMap<String, (usize, Vec<u8>)> = [
        // The connection closes before the declared length arrived.
        ("/short-body".to_owned(), (png.len(), cut.clone())),
        // An honest length for a truncated file: only decoding can tell.
        ("/truncated-png".to_owned(), (cut.len(), cut)),
        ("/html".to_owned(), (28, b"<html>502 Bad Gateway</html>".to_vec())),
        ("/whole".to_owned(), (png.len(), png)),
    ]
    .into_iter()
    .collect();
    let base = serve(Arc::new(routes)).await;
    let client = client(&base);

    let e = fetch(&client, &format!("{base}/short-body")).await.expect_err("short body must fail");
    assert!(matches!(e, piapi::Error::DownloadFailed { .. }), "{e:?}");
    for path in ["truncated-png", "html"] {
        let e = fetch(&client, &format!("{base}/{path}")).await.expect_err("must fail");
        assert!(matches!(e, piapi::Error::InvalidImage { .. }), "{path}: {e:?}");
    }
    let ok = fetch(&client, &format!("{base}/whole")).await.unwrap();
    assert_eq!((ok.width, ok.height, ok.format.as_str()), (256, 256, "png"));
    assert_eq!((ok.decoded.pixels().width(), ok.decoded.pixels().height()), (256, 256));
}
