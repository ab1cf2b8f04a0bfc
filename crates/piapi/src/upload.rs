//! Uploading local input images to PiAPI's ephemeral file store, so tasks can reference them by URL.
//!
//! Contract (`piapi-api.md` §1.1, `WAVE3.md` §A): [`Client::upload_image`] checks the size first
//! (at most [`MAX_UPLOAD_BYTES`], else `InvalidInput { field: "image" }` and nothing is sent),
//! then POSTs `{"file_name": .., "file_data": "<base64, no data: prefix>"}` with `x-api-key` to
//! the configured upload URL and returns the file's URL. Replies are read tolerantly: the URL is
//! `data.url`, else top-level `url`, else `data.file_url`; envelope `code` 200 (any 2xx) or 0 is
//! success. Uploads are free, so connection failures, timeouts, 5xx, 408 and 429 are retried (3
//! attempts in all, short backoff). 401/403 is `Unauthorized`; every other failure is
//! `UploadFailed` with a sentence. The key and the file bytes are never logged.

use std::time::Duration;

use base64::Engine as _;
use reqwest::Method;
use serde_json::Value;

use crate::client::{Client, Transport};
use crate::error::{Error, Result};
use crate::parse;

/// PiAPI's upload endpoint (used when the base URL is PiAPI's default).
pub const DEFAULT_UPLOAD_URL: &str = "https://upload.theapi.app/api/ephemeral_resource";
/// Largest image we upload, in bytes (our documented limit; PiAPI documents none).
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

/// Tries in all for one upload.
const UPLOAD_ATTEMPTS: u32 = 3;
/// Wait before the second try; doubled before the third.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between tries, even when the server asks for more with `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Upload speed assumed when sizing the per-try timeout (on top of the read timeout).
const SLOWEST_UPLOAD_BYTES_PER_SEC: u64 = 128 * 1024;

/// Why one upload try did not return a URL.
#[derive(Debug)]
enum Problem {
    /// Worth another try (server error, rate limit); the message describes it.
    Retry(String),
    /// Final.
    Fatal(Error),
}

impl Client {
    /// Uploads an input image and returns its URL (for `input.image` or a `control_image`).
    ///
    /// `file_name` is sent as given, without any directory part (`image.png` if empty); the
    /// bytes are sent as-is, base64-encoded.
    ///
    /// Errors: `InvalidInput` (field `image`) when `bytes` is empty or larger than
    /// [`MAX_UPLOAD_BYTES`] (nothing is sent); `Unauthorized` (401/403); `UploadFailed` when the
    /// upload service cannot be reached, keeps failing after 3 attempts, refuses the file or
    /// answers without a file URL.
    pub async fn upload_image(&self, file_name: &str, bytes: &[u8]) -> Result<String> {
        if bytes.is_empty() {
            return Err(Error::invalid_input("image", "the image file is empty; pick another image"));
        }
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(Error::invalid_input(
                "image",
                format!(
                    "the image is {:.1} MB; uploads are limited to {} MB, so use a smaller image (e.g. a PNG or JPEG of at most 1024×1024)",
                    bytes.len() as f64 / (1024.0 * 1024.0),
                    MAX_UPLOAD_BYTES / (1024 * 1024)
                ),
            ));
        }
        let name = clean_file_name(file_name);
        let body = serde_json::json!({
            "file_name": name,
            "file_data": base64::engine::general_purpose::STANDARD.encode(bytes),
        })
        .to_string();
        let extra = Duration::from_secs(body.len() as u64 / SLOWEST_UPLOAD_BYTES_PER_SEC);
        let timeout = self.config().read_timeout.saturating_add(extra);
        let body = bytes::Bytes::from(body);
        let url = self.upload_url().as_str().to_owned();

        let mut attempt = 1;
        loop {
            let (message, retry_after) =
                match self.send(Method::POST, &url, "upload", Some(body.clone()), timeout).await {
                    Err(transport) => (transport_message(transport), None),
                    Ok(reply) => match read_reply(reply.status, &reply.body) {
                        Ok(file_url) => {
                            tracing::debug!(attempt, bytes = bytes.len(), "input image uploaded");
                            return Ok(file_url);
                        }
                        Err(Problem::Fatal(error)) => return Err(self.redact(error)),
                        Err(Problem::Retry(message)) => (message, reply.retry_after),
                    },
                };
            let message = self.redact_text(message);
            if attempt >= UPLOAD_ATTEMPTS {
                return Err(Error::UploadFailed {
                    message: format!("{message}; gave up after {UPLOAD_ATTEMPTS} attempts"),
                });
            }
            let wait =
                retry_after.unwrap_or(FIRST_BACKOFF.saturating_mul(1 << (attempt - 1))).min(MAX_BACKOFF);
            tracing::debug!(attempt, ?wait, error = %message, "upload failed; retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

fn transport_message(t: Transport) -> String {
    let connect = matches!(t, Transport::Connect(_));
    let m = t.message();
    if connect { format!("the upload service could not be reached ({m})") } else { format!("the upload {m}") }
}

/// The file name without directories or control characters, at most 200 characters.
fn clean_file_name(file_name: &str) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let clean = clean.trim();
    if clean.is_empty() || clean == "." || clean == ".." { "image.png".to_owned() } else { clean.to_owned() }
}

/// Reads one upload reply (any status) into the file URL or a [`Problem`].
fn read_reply(status: u16, body: &[u8]) -> std::result::Result<String, Problem> {
    let said = parse::server_message(body);
    let detail = if said.is_empty() { String::new() } else { format!(": {said}") };
    if !(200..300).contains(&status) {
        return Err(problem_for(status, said, format!("the upload service answered HTTP {status}{detail}")));
    }
    let root: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return Err(Problem::Fatal(Error::UploadFailed {
                message: "the upload service sent a reply that is not the expected JSON".to_owned(),
            }));
        }
    };
    if let Some(code) = root.get("code").and_then(envelope_code)
        && code != 0
        && !(200..300).contains(&code)
    {
        let status = u16::try_from(code).unwrap_or(0);
        return Err(problem_for(
            status,
            said,
            format!("the upload service answered with code {code}{detail}"),
        ));
    }
    let data = root.get("data");
    let candidates = [
        data.and_then(|d| d.get("url")),
        root.get("url"),
        data.and_then(|d| d.get("file_url")),
        root.get("file_url"),
    ];
    candidates
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::trim)
        .find(|u| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
        .map(str::to_owned)
        .ok_or_else(|| {
            Problem::Fatal(Error::UploadFailed {
                message: "the upload service accepted the image but sent no file URL".to_owned(),
            })
        })
}

/// An envelope `code` given as a whole number or a numeric string.
fn envelope_code(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Maps a failing HTTP status (or envelope code) to a retry or a final error.
fn problem_for(status: u16, said: String, message: String) -> Problem {
    match status {
        401 | 403 => Problem::Fatal(Error::Unauthorized { message: said }),
        408 | 429 | 500..=599 => Problem::Retry(message),
        413 => Problem::Fatal(Error::UploadFailed { message: format!("{message} (the image is too large)") }),
        _ => Problem::Fatal(Error::UploadFailed { message }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn url_of(status: u16, body: &str) -> std::result::Result<String, Problem> {
        read_reply(status, body.as_bytes())
    }

    #[test]
    fn every_documented_reply_shape_gives_the_url() {
        for body in [
            r#"{"code":200,"message":"success","data":{"url":"https://img.theapi.app/ephemeral/a.png"}}"#,
            r#"{"code":0,"data":{"url":"https://img.theapi.app/ephemeral/a.png"}}"#,
            r#"{"code":"200","data":{"url":" https://img.theapi.app/ephemeral/a.png "}}"#,
            r#"{"url":"https://img.theapi.app/ephemeral/a.png"}"#,
            r#"{"code":200,"data":{"file_url":"https://img.theapi.app/ephemeral/a.png"}}"#,
            r#"{"code":200,"data":{"url":null},"file_url":"https://img.theapi.app/ephemeral/a.png"}"#,
            r#"{"data":{"url":"ftp://nope","file_url":"https://img.theapi.app/ephemeral/a.png"}}"#,
        ] {
            assert_eq!(
                url_of(200, body).unwrap_or_else(|p| panic!("{body}: {p:?}")),
                "https://img.theapi.app/ephemeral/a.png"
            );
        }
    }

    #[test]
    fn failures_are_classified() {
        let retry = |status: u16, body: &str| matches!(url_of(status, body), Err(Problem::Retry(_)));
        let code = |status: u16, body: &str| match url_of(status, body) {
            Err(Problem::Fatal(e)) => e.code(),
            other => panic!("{status} {body}: {other:?}"),
        };
        assert!(retry(500, "<html>bad gateway</html>"));
        assert!(retry(502, ""));
        assert!(retry(429, r#"{"message":"slow down"}"#));
        assert!(retry(408, ""));
        assert!(retry(200, r#"{"code":500,"message":"internal error"}"#));
        assert_eq!(code(401, r#"{"message":"invalid key"}"#), ErrorCode::Unauthorized);
        assert_eq!(code(403, ""), ErrorCode::Unauthorized);
        assert_eq!(code(200, r#"{"code":401,"message":"invalid key"}"#), ErrorCode::Unauthorized);
        assert_eq!(code(413, ""), ErrorCode::UploadFailed);
        assert_eq!(code(400, r#"{"message":"file_data is not valid base64"}"#), ErrorCode::UploadFailed);
        assert_eq!(code(200, "<html>hello</html>"), ErrorCode::UploadFailed);
        assert_eq!(code(200, ""), ErrorCode::UploadFailed);
        assert_eq!(code(200, "[1,2]"), ErrorCode::UploadFailed);
        assert_eq!(code(200, r#"{"code":200,"data":{}}"#), ErrorCode::UploadFailed);
        assert_eq!(code(200, r#"{"code":200,"data":{"url":"not a url"}}"#), ErrorCode::UploadFailed);
        assert_eq!(code(200, r#"{"code":10001,"message":"bad file"}"#), ErrorCode::UploadFailed);
        assert_eq!(code(302, ""), ErrorCode::UploadFailed);
        match url_of(400, r#"{"message":"file_data is not valid base64"}"#) {
            Err(Problem::Fatal(e)) => {
                let text = e.to_string();
                assert!(text.contains("not valid base64") && text.contains("retry"), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn file_names_lose_directories_and_control_characters() {
        assert_eq!(clean_file_name("cat.png"), "cat.png");
        assert_eq!(clean_file_name("/home/me/pics/cat.png"), "cat.png");
        assert_eq!(clean_file_name(r"C:\Users\me\cat.jpg"), "cat.jpg");
        assert_eq!(clean_file_name("a\nb.png"), "ab.png");
        assert_eq!(clean_file_name(""), "image.png");
        assert_eq!(clean_file_name("dir/"), "image.png");
        assert_eq!(clean_file_name(".."), "image.png");
        assert_eq!(clean_file_name(&"x".repeat(500)).len(), 200);
    }
}
