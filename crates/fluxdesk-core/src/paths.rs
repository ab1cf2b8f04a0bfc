//! Where Fluxdesk keeps its files, resolved the same way by the desktop app and the CLI.
//!
//! Three roots:
//! - `home`: the database, settings and logs (`FLUXDESK_HOME`, else the platform data dir,
//!   e.g. `~/.local/share/fluxdesk` on Linux).
//! - `gallery`: the user's images, a plain folder they can browse (`FLUXDESK_GALLERY`, else the
//!   user's setting, else `~/Pictures/Fluxdesk`).
//! - `cache`: thumbnails and other rebuildable data (`FLUXDESK_CACHE`, else `$FLUXDESK_HOME/cache`
//!   when `FLUXDESK_HOME` is set, else the platform cache dir).
//!
//! Contract: [`Paths::resolve`] only computes paths (no I/O); relative overrides are made absolute
//! against the current directory so every process agrees. [`Paths::ensure_dirs`] creates them.

use std::path::{Path, PathBuf};

use directories::{BaseDirs, ProjectDirs, UserDirs};

use crate::settings::EnvOverrides;
use crate::{Error, Result};

/// The resolved locations of Fluxdesk's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Database, settings, logs.
    pub home: PathBuf,
    /// The image folder (the source of truth for images).
    pub gallery: PathBuf,
    /// Rebuildable data (thumbnails).
    pub cache: PathBuf,
}

impl Paths {
    /// Resolves the three roots from the environment overrides, the user's gallery setting and
    /// the platform's conventional folders (via `directories`, the same crate the CLI uses).
    ///
    /// Errors with [`Error::InvalidInput`] (field `FLUXDESK_HOME`) when no home directory can be
    /// determined and no override is set.
    pub fn resolve(env: &EnvOverrides, gallery_override: Option<&Path>) -> Result<Paths> {
        let project = ProjectDirs::from("ai", "Fluxdesk", "Fluxdesk");
        let no_home = || {
            Error::invalid_input(
                "FLUXDESK_HOME",
                "no home directory could be determined; set FLUXDESK_HOME (and FLUXDESK_GALLERY)",
            )
        };

        let home = match &env.home {
            Some(h) => absolute(h),
            None => project.as_ref().ok_or_else(no_home)?.data_dir().to_path_buf(),
        };

        let gallery = match (&env.gallery, gallery_override) {
            (Some(g), _) => absolute(g),
            (None, Some(g)) if !g.as_os_str().is_empty() => absolute(g),
            _ => default_gallery().ok_or_else(no_home)?,
        };

        let cache = match (&env.cache, &env.home) {
            (Some(c), _) => absolute(c),
            (None, Some(_)) => home.join("cache"),
            (None, None) => project.as_ref().ok_or_else(no_home)?.cache_dir().to_path_buf(),
        };

        Ok(Paths { home, gallery, cache })
    }

    /// Creates home, gallery, cache and the thumbnails folder (and their parents) if missing.
    pub fn ensure_dirs(&self) -> Result<()> {
        for dir in [&self.home, &self.gallery, &self.cache, &self.thumbs_dir()] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io("creating a Fluxdesk folder", dir.clone(), e))?;
        }
        Ok(())
    }

    /// `home/fluxdesk.db`: the SQLite ledger and gallery index.
    pub fn db_path(&self) -> PathBuf {
        self.home.join("fluxdesk.db")
    }

    /// `home/settings.json`: see [`crate::settings::SettingsFile`].
    pub fn settings_path(&self) -> PathBuf {
        self.home.join("settings.json")
    }

    /// `cache/thumbs`: see [`crate::thumbs::thumb_path`].
    pub fn thumbs_dir(&self) -> PathBuf {
        self.cache.join("thumbs")
    }

    /// `home/inputs`: prepared input images of image tasks (see [`crate::inputs`]).
    pub fn inputs_dir(&self) -> PathBuf {
        crate::inputs::inputs_dir(&self.home)
    }

    /// `home/logs`.
    pub fn logs_dir(&self) -> PathBuf {
        self.home.join("logs")
    }
}

/// The platform Pictures folder + `Fluxdesk`, else `$HOME/Pictures/Fluxdesk`.
fn default_gallery() -> Option<PathBuf> {
    if let Some(pictures) = UserDirs::new().and_then(|u| u.picture_dir().map(Path::to_path_buf)) {
        return Some(pictures.join("Fluxdesk"));
    }
    BaseDirs::new().map(|b| b.home_dir().join("Pictures").join("Fluxdesk"))
}

/// `p` made absolute against the current directory (no symlink resolution, no I/O beyond
/// reading the current directory); unchanged if that fails.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_win_and_cache_follows_home() {
        let env = EnvOverrides::from_pairs([
            ("FLUXDESK_HOME", "/tmp/fd-home"),
            ("FLUXDESK_GALLERY", "/tmp/fd-gal"),
        ]);
        let p = Paths::resolve(&env, Some(Path::new("/ignored"))).expect("resolve");
        assert_eq!(p.home, PathBuf::from("/tmp/fd-home"));
        assert_eq!(p.gallery, PathBuf::from("/tmp/fd-gal"));
        assert_eq!(p.cache, PathBuf::from("/tmp/fd-home/cache"));
        assert_eq!(p.db_path(), PathBuf::from("/tmp/fd-home/fluxdesk.db"));
        assert_eq!(p.settings_path(), PathBuf::from("/tmp/fd-home/settings.json"));
        assert_eq!(p.thumbs_dir(), PathBuf::from("/tmp/fd-home/cache/thumbs"));
        assert_eq!(p.logs_dir(), PathBuf::from("/tmp/fd-home/logs"));
    }

    #[test]
    fn gallery_setting_used_without_env_and_cache_override() {
        let env = EnvOverrides::from_pairs([("FLUXDESK_HOME", "/tmp/h"), ("FLUXDESK_CACHE", "/tmp/c")]);
        let p = Paths::resolve(&env, Some(Path::new("/data/pics"))).expect("resolve");
        assert_eq!(p.gallery, PathBuf::from("/data/pics"));
        assert_eq!(p.cache, PathBuf::from("/tmp/c"));
    }

    #[test]
    fn relative_overrides_become_absolute() {
        let env = EnvOverrides::from_pairs([("FLUXDESK_HOME", "rel-home")]);
        let p = Paths::resolve(&env, None).expect("resolve");
        assert!(p.home.is_absolute());
        assert!(p.home.ends_with("rel-home"));
    }

    #[test]
    fn platform_defaults_when_nothing_is_set() {
        // HOME is set in any normal test environment.
        let p = Paths::resolve(&EnvOverrides::default(), None).expect("resolve");
        assert!(p.gallery.ends_with("Fluxdesk"));
        assert!(p.home.is_absolute() && p.cache.is_absolute());
        assert_ne!(p.home, p.cache);
    }

    #[test]
    fn ensure_dirs_creates_everything() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = Paths {
            home: tmp.path().join("h"),
            gallery: tmp.path().join("g/deep"),
            cache: tmp.path().join("c"),
        };
        p.ensure_dirs().expect("ensure");
        p.ensure_dirs().expect("ensure twice");
        for d in [&p.home, &p.gallery, &p.cache, &p.thumbs_dir()] {
            assert!(d.is_dir(), "{d:?}");
        }
    }
}
