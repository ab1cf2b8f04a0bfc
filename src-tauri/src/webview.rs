//! WebKitGTK memory tuning for the main window (Linux; a no-op elsewhere).
//!
//! Why: the app is one long-lived page, not a browser. WebKitGTK's default cache model
//! (`WebBrowser`) sizes the web process's in-memory resource cache from the machine's RAM — up to
//! 512 MB, a quarter to a half of it kept for resources no page shows any more — and keeps pages
//! for back/forward navigation. The gallery's virtualised grid loads one thumbnail per tile it has
//! ever shown, so scrolling 10,000 thumbnails made WebKit's processes grow from 431 to 941 MiB
//! (PSS, app included; BENCHMARKS.md figure 6b). `DocumentViewer` keeps a small cache and drops
//! resources nothing shows any more (dead capacity 0); a visible tile's image stays decoded, and
//! a tile scrolled back into view reloads its thumbnail from the asset protocol (a local file).
//! There is no back/forward navigation in the app, so its page cache is off too.
//!
//! Contract: [`tune`] is called once, right after the main window is built; it changes only
//! caching (never what the page can do) and only logs when the platform webview is unavailable.
//! Compositing: WebKit's default policy stays. Without a GPU (virtual machines, remote desktops,
//! Xvfb) WebKit composites with software GL, which cost about 100 MiB in the web process and made
//! every frame of the gallery 4× slower in our measurements; `FLUXDESK_GPU_COMPOSITING=off` turns
//! it off. It is not the default yet: with it off, WebDriver's screenshots of the gallery hung in
//! the E2E suite (WebKitGTK 2.50 under Xvfb), which needs understanding first.

/// Applies the memory settings to `window`'s webview (Linux: WebKitGTK).
#[cfg(target_os = "linux")]
pub fn tune<R: tauri::Runtime>(window: &tauri::WebviewWindow<R>) {
    let applied = window.with_webview(|platform| {
        use webkit2gtk::{CacheModel, SettingsExt, WebContextExt, WebViewExt};
        let view = platform.inner();
        if let Some(context) = view.context() {
            context.set_cache_model(CacheModel::DocumentViewer);
        }
        if let Some(settings) = WebViewExt::settings(&view) {
            settings.set_enable_page_cache(false);
            if !compositing_wanted() {
                settings.set_hardware_acceleration_policy(webkit2gtk::HardwareAccelerationPolicy::Never);
            }
        }
    });
    if let Err(e) = applied {
        tracing::warn!(error = %e, "the webview's memory settings could not be applied");
    }
}

/// Whether WebKit should composite (its default), unless `FLUXDESK_GPU_COMPOSITING` says otherwise.
#[cfg(target_os = "linux")]
fn compositing_wanted() -> bool {
    match std::env::var("FLUXDESK_GPU_COMPOSITING").ok().as_deref() {
        Some("on" | "1" | "true") => return true,
        Some("off" | "0" | "false") => return false,
        _ => {}
    }
    true
}

/// Applies the memory settings to `window`'s webview (nothing to do on this platform).
#[cfg(not(target_os = "linux"))]
pub fn tune<R: tauri::Runtime>(_window: &tauri::WebviewWindow<R>) {}
