//! Drag-out of gallery images into other apps (Figma, a file manager, a chat window…).
//!
//! Why a command: tauri-plugin-drag 2.1.1 turns each item into `file://{path}` *without*
//! percent-encoding on Linux, so a file under "My Gallery" or named "ümlaut #1.png" reaches the
//! drop target as an invalid URI and the drop is lost (`paths: []`, the drag ends "Cancel").
//! The verified workaround is to hand the plugin a path that is already percent-encoded per
//! segment. Since the gallery folder is user-chosen, the UI must not guess: it asks
//! [`drag_items`] and passes the answer unchanged to the plugin's JS `startDrag`:
//!
//! ```ts
//! import { startDrag } from "@crabnebula/tauri-plugin-drag";
//! const { items, icon } = await commands.dragItems(ids);
//! await startDrag({ item: items, icon }, (e) => { /* e.result: "Dropped" | "Cancel" */ });
//! ```
//!
//! Contract:
//! - `items` are the images' files in the order of `ids`; on Linux each is percent-encoded per
//!   path segment (everything but `A–Z a–z 0–9 - . _ ~` becomes `%XX` of its UTF-8 bytes, the
//!   `/` separators stay); on macOS and Windows they are plain paths (their drag code takes paths).
//! - `icon` is a plain (never encoded) path, read by the plugin with `fs::read`: the first image's
//!   thumbnail, or the image itself when it has none.
//! - A file that is no longer on disk fails the whole call with `Missing`: a drag of a missing file
//!   would silently drop nothing.

use std::path::Path;

use fluxdesk_core::ErrorCode;
use fluxdesk_core::views::ImageView;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use tauri::State;

use crate::error::IpcError;
use crate::state::{AppState, blocking};

/// What `startDrag({ item, icon })` needs, ready to pass as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DragPayload {
    /// One entry per image, in the order asked: pass as `item`.
    pub items: Vec<String>,
    /// A plain path to the drag icon (a thumbnail): pass as `icon`.
    pub icon: String,
}

/// RFC 3986 unreserved characters stay; everything else in a segment is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The `item` and `icon` to pass unchanged to the drag plugin's `startDrag` for these images.
#[tauri::command]
#[specta::specta]
pub async fn drag_items(state: State<'_, AppState>, ids: Vec<i64>) -> Result<DragPayload, IpcError> {
    let images = blocking(state.studio().await?, move |s| {
        ids.iter().map(|id| s.get_image(*id)).collect::<fluxdesk_core::Result<Vec<ImageView>>>()
    })
    .await?;
    payload(&images, cfg!(target_os = "linux"))
}

/// Builds the payload; `encode` is whether the platform's drag code needs encoded paths (Linux).
pub fn payload(images: &[ImageView], encode: bool) -> Result<DragPayload, IpcError> {
    let Some(first) = images.first() else {
        return Err(IpcError::new(ErrorCode::InvalidInput, "Select at least one image to drag."));
    };
    let mut items = Vec::with_capacity(images.len());
    for image in images {
        if !Path::new(&image.path).is_file() {
            return Err(IpcError::new(
                ErrorCode::Missing,
                format!(
                    "The image file {} is no longer on disk, so it cannot be dragged. Refresh the gallery.",
                    image.path
                ),
            ));
        }
        items.push(if encode { encode_path(&image.path) } else { image.path.clone() });
    }
    let icon =
        first.thumb_path.as_deref().filter(|t| Path::new(t).is_file()).unwrap_or(&first.path).to_owned();
    Ok(DragPayload { items, icon })
}

/// Percent-encodes each `/`-separated segment of an absolute path (what the drag crate then
/// prefixes with `file://`).
pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_and_separators_kept() {
        assert_eq!(
            encode_path("/home/ana/My Gallery/2026/ümlaut #1 (v2).png"),
            "/home/ana/My%20Gallery/2026/%C3%BCmlaut%20%231%20%28v2%29.png"
        );
        assert_eq!(encode_path("/tmp/plain-name_1.0~x.png"), "/tmp/plain-name_1.0~x.png");
        assert_eq!(encode_path("/a/100%.png"), "/a/100%25.png");
    }
}
