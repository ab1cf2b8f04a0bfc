//! The main window's background colour: the page's own, so a launch never flashes another colour.
//!
//! Why: the window appears about a quarter of a second after launch, and WebKit paints the page
//! about 0.9 s after launch (100,000-image gallery, 2 cores, no GPU; BENCHMARKS.md figure 6).
//! Until then GTK painted the window in its theme's background (light grey under Adwaita) and
//! WebKit painted its view white. With the dark theme, the default, a designer saw a light grey
//! flash, then a white one, then the dark studio. The window and its webview now start in the
//! page's background colour (`--bg` in `ui/src/app.css`) for the saved theme.
//!
//! Contract:
//! - [`saved_theme`] reads the theme from the settings file and never writes (a corrupt file is
//!   left for the studio's settings loader to set aside); anything unreadable means the default.
//! - [`background`] is the colour for a theme and the system's preference ("system" follows it).
//! - [`boot_script`] hands the same theme to the page before its first script runs
//!   (`ui/public/theme-boot.js` prefers it to the copy in local storage), so the page's first paint
//!   agrees with the window even when the theme was changed outside the app. (The script is the
//!   launch's: were the page reloaded after a change in Settings, which the app never does, it
//!   would show the old theme until its settings load.)
//! - [`apply`] sets the colour on a built window. It runs right after the window is built, before
//!   anything is painted, and again when Settings changes the theme, so a resize never uncovers
//!   the old colour.

use std::path::Path;

use fluxdesk_core::settings::Theme;
use tauri::window::Color;
use tauri::{Runtime, WebviewWindow};

/// `--bg` of `[data-theme="dark"]` in `ui/src/app.css` (a test keeps them equal).
pub const DARK_BG: Color = Color(0x0f, 0x0f, 0x10, 0xff);
/// `--bg` of `[data-theme="light"]` in `ui/src/app.css` (a test keeps them equal).
pub const LIGHT_BG: Color = Color(0xf4, 0xf4, 0xf5, 0xff);

/// The theme in the settings file at `path` (`{"settings": {"theme": …}}`); the default theme if
/// the file is missing, unreadable or has no usable theme.
pub fn saved_theme(path: &Path) -> Theme {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|root| root.get("settings")?.get("theme").cloned())
        .and_then(|theme| serde_json::from_value(theme).ok())
        .unwrap_or_default()
}

/// The background for `theme`; "system" follows `system_light` (dark when it is unknown, as the
/// page does when it cannot tell).
pub fn background(theme: Theme, system_light: Option<bool>) -> Color {
    let light = match theme {
        Theme::Light => true,
        Theme::Dark => false,
        Theme::System => system_light.unwrap_or(false),
    };
    if light { LIGHT_BG } else { DARK_BG }
}

/// The initialization script that tells the page the saved theme: `window.__FLUXDESK_THEME__`.
pub fn boot_script(theme: Theme) -> String {
    let name = serde_json::to_string(&theme).unwrap_or_else(|_| "\"dark\"".into());
    format!("window.__FLUXDESK_THEME__ = {name};")
}

/// Sets `window`'s (and its webview's) background for `theme`, asking the window for the system's
/// preference when the theme follows it. Only logs when the platform refuses.
pub fn apply<R: Runtime>(window: &WebviewWindow<R>, theme: Theme) {
    let system_light = match theme {
        Theme::System => window.theme().ok().map(|t| t == tauri::Theme::Light),
        Theme::Light | Theme::Dark => None,
    };
    if let Err(e) = window.set_background_color(Some(background(theme, system_light))) {
        tracing::debug!(error = %e, "the window's background colour could not be set");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_file(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
        let path = dir.path().join("settings.json");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_saved_theme_is_read_and_anything_unusable_means_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let light = settings_file(&dir, r#"{"version":1,"settings":{"theme":"light","maxConcurrent":2}}"#);
        assert_eq!(saved_theme(&light), Theme::Light);
        let system = settings_file(&dir, r#"{"version":1,"settings":{"theme":"system"}}"#);
        assert_eq!(saved_theme(&system), Theme::System);
        for unusable in ["", "not json", "[]", r#"{"settings":null}"#, r#"{"settings":{"theme":"sepia"}}"#] {
            let path = settings_file(&dir, unusable);
            assert_eq!(saved_theme(&path), Theme::default(), "{unusable:?}");
            // Never moved aside or rewritten: that is the studio's settings loader's call.
            assert_eq!(std::fs::read_to_string(&path).unwrap(), unusable);
        }
        assert_eq!(saved_theme(&dir.path().join("missing.json")), Theme::default());
        assert_eq!(Theme::default(), Theme::Dark, "the page's default theme (index.html) is dark");
    }

    #[test]
    fn system_follows_the_preference_and_is_dark_when_unknown() {
        assert_eq!(background(Theme::Dark, Some(true)), DARK_BG);
        assert_eq!(background(Theme::Light, Some(false)), LIGHT_BG);
        assert_eq!(background(Theme::System, Some(true)), LIGHT_BG);
        assert_eq!(background(Theme::System, Some(false)), DARK_BG);
        assert_eq!(background(Theme::System, None), DARK_BG);
    }

    #[test]
    fn the_boot_script_names_the_theme_as_the_page_spells_it() {
        assert_eq!(boot_script(Theme::Light), r#"window.__FLUXDESK_THEME__ = "light";"#);
        assert_eq!(boot_script(Theme::Dark), r#"window.__FLUXDESK_THEME__ = "dark";"#);
        assert_eq!(boot_script(Theme::System), r#"window.__FLUXDESK_THEME__ = "system";"#);
        let boot =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/public/theme-boot.js"))
                .expect("read ui/public/theme-boot.js");
        assert!(boot.contains("window.__FLUXDESK_THEME__"), "theme-boot.js does not read the saved theme");
    }

    /// `--bg` of `[data-theme="<theme>"]` in the page's stylesheet, as a colour.
    fn css_bg(css: &str, theme: &str) -> Color {
        let block = css
            .split(&format!("[data-theme=\"{theme}\"] {{"))
            .nth(1)
            .and_then(|rest| rest.split('}').next())
            .unwrap_or_else(|| panic!("no [data-theme=\"{theme}\"] block in app.css"));
        let hex = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("--bg:"))
            .map(|v| v.trim().trim_end_matches(';').trim().trim_start_matches('#'))
            .unwrap_or_else(|| panic!("no --bg in the {theme} block of app.css"));
        assert_eq!(hex.len(), 6, "--bg of {theme} is not #rrggbb: {hex}");
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap();
        Color(byte(0), byte(2), byte(4), 0xff)
    }

    #[test]
    fn the_colours_are_the_pages_backgrounds() {
        let css = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/app.css"))
            .expect("read ui/src/app.css");
        assert_eq!(css_bg(&css, "dark"), DARK_BG);
        assert_eq!(css_bg(&css, "light"), LIGHT_BG);
    }
}
