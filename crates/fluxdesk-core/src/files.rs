//! Crash-safe file writes and readable gallery names.
//!
//! Why: "never lose an image" means a generated image is either fully on disk under its final name
//! or not there at all. Every write here goes to a temporary file in the destination's directory,
//! is flushed with `fsync`, and is then renamed into place, so a crash, a kill or a full disk
//! leaves either the old state or the new one, never a truncated file, and never a stray temp file
//! (the temp file is removed on every error path).
//!
//! Contract:
//! - [`write_new_file`] never overwrites: re-running it with the same bytes is a no-op, with other
//!   bytes it fails with an [`Error::Io`] of kind `AlreadyExists`.
//! - [`write_replace`] atomically replaces (settings, thumbnails, exports).
//! - "No space left on device" always surfaces as [`Error::DiskFull`] (via [`Error::io`]).
//! - Names from [`gallery_relative_path`] are a pure function of their inputs, so re-running the
//!   completion of a task yields the same path. [`write_new_file_first_free`] with [`name_tags`]
//!   moves to a longer tag when another image already holds the name, the same way on every re-run.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};

use crate::{Error, Result};

/// Prefix of the temporary files this module creates (they never outlive a call).
const TEMP_PREFIX: &str = ".fluxdesk-tmp-";

/// The BLAKE3 hash of `bytes` as 64 lowercase hex characters (the gallery's content id).
pub fn content_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// The first 4 hex characters of BLAKE3(`seed_text`): a short, stable tag for file names
/// (e.g. derived from `"{task_id}:{index}"`).
pub fn short_tag(seed_text: &str) -> String {
    let hex = blake3::hash(seed_text.as_bytes()).to_hex();
    hex[..4].to_string()
}

/// File-name tags for `seed_text`, to try in order: [`short_tag`]'s 4 hex characters, then 8, then
/// 16 (a name clash at 4 characters is rare but real: tasks created in the same second with the same
/// prompt share everything else in the name). The list is a pure function of `seed_text`, so a
/// re-run of the same save walks the same names and finds its own file again.
pub fn name_tags(seed_text: &str) -> Vec<String> {
    let hex = blake3::hash(seed_text.as_bytes()).to_hex();
    [4, 8, 16].iter().map(|n| hex[..*n].to_string()).collect()
}

/// Writes `bytes` with [`write_new_file`] to the first of `candidates` that is free or already
/// holds exactly these bytes, and returns that path. A candidate holding other bytes is skipped,
/// never overwritten. When every candidate is taken, the last clash is the error.
pub fn write_new_file_first_free(
    candidates: impl IntoIterator<Item = PathBuf>,
    bytes: &[u8],
) -> Result<PathBuf> {
    let mut last = None;
    for dest in candidates {
        match write_new_file(&dest, bytes) {
            Ok(()) => return Ok(dest),
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
                last = Some(conflict(&dest));
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::Internal("no file name to save to".into())))
}

/// Writes `bytes` to `dest`, which must not exist yet (parent directories are created).
///
/// The data goes to a temp file in the same directory, is fsynced, and is then renamed to `dest`
/// without clobbering (`renameat2(RENAME_NOREPLACE)` on Linux, link + unlink elsewhere). If `dest`
/// already exists with identical content the call succeeds (idempotent); with different content it
/// fails with [`Error::Io`] whose source has kind [`io::ErrorKind::AlreadyExists`]. No partial file
/// or temp file is left behind on any error, including a full disk ([`Error::DiskFull`]).
pub fn write_new_file(dest: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(done) = existing_matches(dest, bytes)? {
        return done;
    }
    let dir = parent_dir(dest)?;
    let tmp = write_temp(&dir, dest, bytes)?;
    match tmp.persist_noclobber(dest) {
        Ok(_) => {
            sync_dir(&dir);
            Ok(())
        }
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
            // Someone else created it between our check and the rename; `e.file` (the temp file)
            // is dropped, and thereby deleted, when this arm ends.
            drop(e.file);
            match existing_matches(dest, bytes)? {
                Some(done) => done,
                None => Err(conflict(dest)),
            }
        }
        Err(e) => Err(Error::io("saving the file", dest, e.error)),
    }
}

/// Atomically replaces `dest` with `bytes` (temp file in the same directory + fsync + rename
/// over). Parent directories are created. Readers see either the old or the new content.
pub fn write_replace(dest: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(dest)?;
    let tmp = write_temp(&dir, dest, bytes)?;
    tmp.persist(dest).map_err(|e| Error::io("replacing the file", dest, e.error))?;
    sync_dir(&dir);
    Ok(())
}

/// `Some(Ok)` if `dest` exists with exactly `bytes`, `Some(Err(conflict))` if it exists with other
/// content, `None` if it does not exist.
fn existing_matches(dest: &Path, bytes: &[u8]) -> Result<Option<Result<()>>> {
    let meta = match fs::metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("checking the destination", dest, e)),
    };
    if !meta.is_file() || meta.len() != bytes.len() as u64 {
        return Ok(Some(Err(conflict(dest))));
    }
    let existing = fs::read(dest).map_err(|e| Error::io("reading the existing file", dest, e))?;
    if existing == bytes { Ok(Some(Ok(()))) } else { Ok(Some(Err(conflict(dest)))) }
}

fn conflict(dest: &Path) -> Error {
    Error::io(
        "saving the file",
        dest,
        io::Error::new(io::ErrorKind::AlreadyExists, "a different file already exists at this path"),
    )
}

/// The destination's directory, created if needed.
fn parent_dir(dest: &Path) -> Result<PathBuf> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| Error::io("creating the folder", &dir, e))?;
    Ok(dir)
}

/// Writes and fsyncs a temp file in `dir`. On error the temp file is deleted (dropped).
fn write_temp(dir: &Path, dest: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| Error::io("creating a temporary file", dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io("writing the file", dest, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io("flushing the file to disk", dest, e))?;
    Ok(tmp)
}

/// Makes the rename itself durable (best effort: not every platform can fsync a directory).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// A lowercase ASCII slug of `prompt`: words joined by `-`, common accents folded (`é` → `e`,
/// `ß` → `ss`), other non-ASCII characters dropped, at most `max_chars` characters (cut at a word
/// boundary when possible). Never empty: falls back to `"image"`.
///
/// `"A red fox, at dawn!"` → `"a-red-fox-at-dawn"`.
pub fn slugify(prompt: &str, max_chars: usize) -> String {
    let words = slug_words(prompt);
    join_words(words.iter().map(String::as_str), max_chars)
}

/// Lowercase ASCII words of `text`, accents folded, everything else a separator.
fn slug_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            cur.push(c.to_ascii_lowercase());
        } else if let Some(folded) = fold_accent(c) {
            cur.push_str(folded);
        } else if c.is_alphanumeric() || is_combining_mark(c) || c == '\'' || c == '’' {
            // Letters we cannot fold (CJK, Cyrillic…), combining accents and apostrophes
            // ("fox's" → "foxs") are dropped without splitting the word.
        } else if !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Joins words with `-`, keeping whole words while they fit in `max_chars`; a first word longer
/// than the limit is cut. `"image"` if nothing remains.
fn join_words<'a>(words: impl Iterator<Item = &'a str>, max_chars: usize) -> String {
    let mut out = String::new();
    for w in words {
        let extra = if out.is_empty() { w.len() } else { w.len() + 1 };
        if out.len() + extra <= max_chars {
            if !out.is_empty() {
                out.push('-');
            }
            out.push_str(w);
        } else {
            if out.is_empty() {
                // Words are ASCII, so byte indexing is char indexing.
                out.push_str(&w[..max_chars.min(w.len())]);
            }
            break;
        }
    }
    if out.is_empty() { "image".to_string() } else { out }
}

fn is_combining_mark(c: char) -> bool {
    ('\u{0300}'..='\u{036f}').contains(&c)
}

/// ASCII for common Latin letters with diacritics (lowercased).
fn fold_accent(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā'
        | 'Ă' | 'Ą' => "a",
        'æ' | 'Æ' => "ae",
        'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' | 'Ç' | 'Ć' | 'Č' => "c",
        'ď' | 'đ' | 'ð' | 'Ď' | 'Đ' | 'Ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' | 'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ė' | 'Ę' | 'Ě' => {
            "e"
        }
        'ğ' | 'ĝ' | 'ġ' | 'ģ' | 'Ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' | 'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' | 'İ' => "i",
        'ł' | 'ľ' | 'ĺ' | 'ļ' | 'Ł' | 'Ľ' => "l",
        'ñ' | 'ń' | 'ň' | 'ņ' | 'Ñ' | 'Ń' | 'Ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' | 'Ő' => {
            "o"
        }
        'œ' | 'Œ' => "oe",
        'ř' | 'ŕ' | 'Ř' => "r",
        'ś' | 'š' | 'ş' | 'ș' | 'Ś' | 'Š' | 'Ş' | 'Ș' => "s",
        'ß' => "ss",
        'ť' | 'ţ' | 'ț' | 'Ť' | 'Ţ' | 'Ț' => "t",
        'þ' | 'Þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' | 'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' | 'Ů' | 'Ű' => {
            "u"
        }
        'ý' | 'ÿ' | 'Ý' | 'Ÿ' => "y",
        'ź' | 'ż' | 'ž' | 'Ź' | 'Ż' | 'Ž' => "z",
        _ => return None,
    })
}

/// Words of a prompt used in file names (leading articles skipped).
const NAME_WORDS: usize = 5;
/// Longest prompt part of a file name.
const NAME_CHARS: usize = 40;

/// A readable, deterministic path for a gallery image, relative to the gallery root:
/// `YYYY/MM/YYYY-MM-DD_HHMMSS_<slug>_<tag>.<ext>`, e.g.
/// `2026/11/2026-11-21_143012_red-fox-at-dawn_3f9a.png`.
///
/// - The date and time are `created` in local time.
/// - `<slug>` is the first few words of the prompt (at most 5 words / 40 characters, a leading
///   "a", "an" or "the" skipped), see [`slugify`].
/// - `tag` is a short hex string the caller derives from the task id and image index (e.g.
///   [`short_tag`]) so two images of the same second differ and re-running completion yields
///   the same name. It is reduced to `[a-z0-9]`, and left out when empty.
/// - `ext` is lowercased, a leading dot is ignored.
pub fn gallery_relative_path(created: DateTime<Local>, prompt: &str, tag: &str, ext: &str) -> PathBuf {
    let words = slug_words(prompt);
    let skip = usize::from(words.len() > 1 && matches!(words[0].as_str(), "a" | "an" | "the"));
    let slug = join_words(words.iter().skip(skip).take(NAME_WORDS).map(String::as_str), NAME_CHARS);
    let tag: String =
        tag.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).take(16).collect();
    let ext: String = ext
        .trim_start_matches('.')
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let ext = if ext.is_empty() { "png".to_string() } else { ext };

    let mut name = format!("{}_{slug}", created.format("%Y-%m-%d_%H%M%S"));
    if !tag.is_empty() {
        name.push('_');
        name.push_str(&tag);
    }
    name.push('.');
    name.push_str(&ext);

    let mut path = PathBuf::from(created.format("%Y").to_string());
    path.push(created.format("%m").to_string());
    path.push(name);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_words_cuts_a_long_first_word() {
        assert_eq!(slugify("supercalifragilistic", 5), "super");
        assert_eq!(slugify("!!!", 10), "image");
        assert_eq!(slugify("abc", 0), "image");
    }

    #[test]
    fn short_tag_is_four_hex_chars() {
        let t = short_tag("task-1:0");
        assert_eq!(t.len(), 4);
        assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(t, short_tag("task-1:0"));
        assert_ne!(t, short_tag("task-1:1"));
    }

    #[test]
    fn name_tags_start_with_the_short_tag_and_grow() {
        let tags = name_tags("task-1/0");
        assert_eq!(tags[0], short_tag("task-1/0"));
        assert_eq!(tags.iter().map(String::len).collect::<Vec<_>>(), [4, 8, 16]);
        assert!(tags.windows(2).all(|w| w[1].starts_with(&w[0])));
    }

    #[test]
    fn a_clash_moves_to_the_next_name_and_a_rerun_finds_its_own_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names: Vec<PathBuf> = ["a.png", "b.png", "c.png"].iter().map(|n| dir.path().join(n)).collect();
        write_new_file(&names[0], b"someone else").expect("first");
        let got = write_new_file_first_free(names.clone(), b"mine").expect("saved");
        assert_eq!(got, names[1]);
        assert_eq!(fs::read(&names[0]).expect("read"), b"someone else", "never overwritten");
        // The same save again: the same path, nothing new.
        assert_eq!(write_new_file_first_free(names.clone(), b"mine").expect("again"), names[1]);
        assert!(!names[2].exists());
        // Every name taken by other bytes: the clash is the error and nothing is written.
        write_new_file(&names[2], b"third").expect("third");
        let e = write_new_file_first_free(names.clone(), b"fourth").expect_err("all taken");
        assert_eq!(e.code(), crate::ErrorCode::Io);
        assert!(e.to_string().contains("c.png"), "{e}");
        let left: Vec<_> = fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(left.len(), 3, "no temp files left");
    }
}
