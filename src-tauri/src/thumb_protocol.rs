//! The `thumb:` URI scheme: the gallery's thumbnails, served the moment the page asks.
//!
//! Why not Tauri's `asset:` protocol: it answers each request from a task on the async runtime
//! that opens, measures, sniffs and reads the file in up to six blocking-pool hops, then hands the
//! response back to the main loop. A search shows a screenful of new thumbnails at once, and after
//! the page's own script (~5 ms) waiting for them is most of keystroke → results painted
//! (BENCHMARKS.md figure 6b: response → DOM updated, then → painted). A thumbnail is a few KB to a
//! few dozen KB in the local cache: this handler reads it in place on the thread that receives the
//! request and answers at once, so more searches have their thumbnails before the next frame.
//!
//! Contract:
//! - the same access rule as `asset:` — the asset protocol scope, which the shell widens to the
//!   gallery and thumbnail folders ([`crate::startup`]) — so this scheme reads nothing `asset:`
//!   could not (403 otherwise, 404 when the file is gone);
//! - a file larger than [`INLINE_MAX`] (an image without a thumbnail yet, shown full size) is read
//!   on the blocking pool instead, so a big read never holds the window's thread;
//! - the content type comes from the extension (the gallery writes only these formats);
//! - URLs are made by `convertFileSrc(path, "thumb")` (`thumb://localhost/<path>`, or
//!   `http://thumb.localhost/<path>` on Windows): the path is percent-decoded from the URL's path.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use tauri::http::{Response, StatusCode, header};

/// The scheme's name (`thumb://localhost/…`).
pub const SCHEME: &str = "thumb";

/// Files up to this size are read on the receiving thread; larger ones on the blocking pool.
pub const INLINE_MAX: u64 = 1024 * 1024;

/// What a request for `uri_path` (the URL's path, still percent-encoded) resolves to.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A readable file inside the scope, with its length.
    File { path: PathBuf, len: u64 },
    /// Not a usable path, or outside the scope.
    Forbidden,
    /// Inside the scope but not there (deleted, or a thumbnail not made yet).
    Missing,
}

/// Resolves `uri_path` against `allowed` (the asset protocol scope's rule).
pub fn lookup(uri_path: &str, allowed: impl Fn(&Path) -> bool) -> Lookup {
    let raw = uri_path.strip_prefix('/').unwrap_or(uri_path);
    let Ok(decoded) = percent_encoding::percent_decode_str(raw).decode_utf8() else {
        return Lookup::Forbidden;
    };
    let path = PathBuf::from(decoded.as_ref());
    // Absolute and without `..`: the scope is matched on the path as written.
    if !path.is_absolute() || path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Lookup::Forbidden;
    }
    if !allowed(&path) {
        return Lookup::Forbidden;
    }
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Lookup::File { path, len: m.len() },
        Ok(_) => Lookup::Forbidden,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Lookup::Missing,
        Err(_) => Lookup::Forbidden,
    }
}

/// The content type for an image file, by extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("webp") => "image/webp",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("avif") => "image/avif",
        _ => "application/octet-stream",
    }
}

/// The response for a looked-up file (its bytes, or the error status).
pub fn respond(lookup: Lookup) -> Response<Cow<'static, [u8]>> {
    let status = |code: StatusCode| {
        Response::builder()
            .status(code)
            .body(Cow::Borrowed(&[][..]))
            .unwrap_or_else(|_| Response::new(Cow::Borrowed(&[][..])))
    };
    match lookup {
        Lookup::Forbidden => status(StatusCode::FORBIDDEN),
        Lookup::Missing => status(StatusCode::NOT_FOUND),
        Lookup::File { path, .. } => match std::fs::read(&path) {
            Ok(bytes) => Response::builder()
                .header(header::CONTENT_TYPE, content_type(&path))
                .body(Cow::Owned(bytes))
                .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => status(StatusCode::NOT_FOUND),
            Err(e) => {
                tracing::debug!(error = %e, "a thumbnail could not be read");
                status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        },
    }
}

/// Registers the scheme on `builder`.
pub fn register<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.register_asynchronous_uri_scheme_protocol(SCHEME, |ctx, request, responder| {
        use tauri::Manager;
        // A scroll asks for thumbnails even when its pages are loaded: a memory trim waits for it.
        crate::memory::note_activity();
        let scope = ctx.app_handle().asset_protocol_scope();
        let found = lookup(request.uri().path(), |p| scope.is_allowed(p));
        match found {
            Lookup::File { len, .. } if len > INLINE_MAX => {
                tauri::async_runtime::spawn_blocking(move || responder.respond(respond(found)));
            }
            found => responder.respond(respond(found)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(path: &Path) -> String {
        format!(
            "/{}",
            percent_encoding::utf8_percent_encode(
                &path.to_string_lossy(),
                percent_encoding::NON_ALPHANUMERIC
            )
        )
    }

    #[test]
    fn a_file_in_scope_is_served_with_its_type() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("a thumb é.webp");
        std::fs::write(&file, b"RIFF....WEBP").expect("write");
        let found = lookup(&encoded(&file), |p| p.starts_with(dir.path()));
        assert_eq!(found, Lookup::File { path: file.clone(), len: 12 });
        let resp = respond(found);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "image/webp");
        assert_eq!(resp.body().as_ref(), b"RIFF....WEBP");
    }

    #[test]
    fn outside_the_scope_relative_or_dotted_paths_are_forbidden() {
        let dir = tempfile::tempdir().expect("temp dir");
        let inside = dir.path().join("in");
        std::fs::create_dir(&inside).expect("mkdir");
        let secret = dir.path().join("secret.png");
        std::fs::write(&secret, b"x").expect("write");
        let allowed = |p: &Path| p.starts_with(&inside);
        assert_eq!(lookup(&encoded(&secret), allowed), Lookup::Forbidden);
        assert_eq!(lookup(&encoded(&inside.join("..").join("secret.png")), allowed), Lookup::Forbidden);
        assert_eq!(lookup("/relative%2Fx.png", |_| true), Lookup::Forbidden);
        assert_eq!(lookup("/%FF%FE", |_| true), Lookup::Forbidden, "not UTF-8");
        assert_eq!(lookup(&encoded(&inside), |_| true), Lookup::Forbidden, "a folder is not a file");
        assert_eq!(respond(Lookup::Forbidden).status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn a_missing_file_is_not_found() {
        let dir = tempfile::tempdir().expect("temp dir");
        let gone = dir.path().join("gone.webp");
        assert_eq!(lookup(&encoded(&gone), |_| true), Lookup::Missing);
        assert_eq!(respond(Lookup::Missing).status(), StatusCode::NOT_FOUND);
        // Deleted between the lookup and the read.
        let resp = respond(Lookup::File { path: gone, len: 1 });
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type(Path::new("/a/b.PNG")), "image/png");
        assert_eq!(content_type(Path::new("/a/b.jpeg")), "image/jpeg");
        assert_eq!(content_type(Path::new("/a/b.jpg")), "image/jpeg");
        assert_eq!(content_type(Path::new("/a/b")), "application/octet-stream");
    }
}
