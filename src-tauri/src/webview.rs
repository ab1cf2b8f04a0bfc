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
//! Compositing: without a GPU (virtual machines, remote desktops, Xvfb) WebKit composites with
//! software GL (llvmpipe), which costs about 100 MiB in the web process and made every frame of the
//! gallery 3–4× slower (58 ms against 16 ms per frame while scrolling; BENCHMARKS.md figure 6). So
//! when the machine has no GPU render node (`/dev/dri/renderD*`), compositing is off and WebKit
//! paints with its CPU path. `FLUXDESK_GPU_COMPOSITING=on|off` overrides the guess, and WebKit's own
//! `WEBKIT_DISABLE_COMPOSITING_MODE=1` still works. The policy is set right after the window is
//! built, before the web process has created the page, so no page ever switches mode.
//! (WebDriver's screenshot waits for the next paint, which an idle page without compositing never
//! makes; the E2E harness keeps one invisible pixel changing while it takes a screenshot.)
//! When WebKit will not composite, [`skip_unused_gl_probe`] and [`skip_app_process_egl`] (first
//! things in `run`) also spare GTK its GL probe and keep Mesa's EGL out of the app process.

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
            let wanted = compositing_wanted();
            tracing::debug!(wanted, "WebKit compositing");
            if !wanted {
                settings.set_hardware_acceleration_policy(webkit2gtk::HardwareAccelerationPolicy::Never);
            }
        }
    });
    if let Err(e) = applied {
        tracing::warn!(error = %e, "the webview's memory settings could not be applied");
    }
}

/// The GTK variable that skips GDK's GL probe.
pub const GDK_GL: &str = "GDK_GL";

/// When WebKit will not composite (see [`tune`]), sets `GDK_GL=disable` unless the user set
/// `GDK_GL`. Why: while GTK starts, GDK probes GLX for the window, which loads Mesa's software
/// renderer with LLVM into the app and waits on the X server, for GL that nothing in the window
/// then uses: WebKit paints with its CPU path. Without the probe WebKit's web process started
/// about 40 ms sooner and the launch's CPU work (the first gallery page included) ended a median
/// 180 ms sooner, with much less spread (perf, 8 direct launches each at 100,000 images, no GPU:
/// 586–1,236 ms → 628–848 ms). With a GPU nothing changes. Call it first thing in the process,
/// before any thread exists.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn skip_unused_gl_probe() {
    if std::env::var_os(GDK_GL).is_some() || compositing_wanted() {
        return;
    }
    // SAFETY: `set_var` is unsound only while another thread reads or writes the environment.
    // This runs at the very start of `run`, before logging, Tauri, GTK or any runtime has
    // started a thread.
    unsafe { std::env::set_var(GDK_GL, "disable") };
}

/// libglvnd's variable naming the EGL vendor files it loads (`:`-separated paths).
pub const EGL_VENDORS: &str = "__EGL_VENDOR_LIBRARY_FILENAMES";

/// When WebKit will not composite (see [`tune`]), keeps Mesa's EGL out of the app process, unless
/// the user set `__EGL_VENDOR_LIBRARY_FILENAMES`. Returns whether it did.
///
/// Why: WebKit's UI side opens an EGL display while it builds the webview, even with compositing
/// off, and with no GPU that maps Mesa's software renderer and LLVM into the app process: about
/// 24 MiB of PSS (LLVM's relocated data alone is 8 MiB) and tens of milliseconds of the launch, for
/// GL the app process never uses (WebKit hands it CPU-painted buffers). Measured at 100,000
/// images, alternated with the build before: app + WebKit PSS peak 338–343 → 320–327 MiB; launch
/// → first grid page median 712 → 660 ms (21 direct launches each, builds without LTO).
///
/// How: libglvnd reads its vendor list once per process, on the first EGL call. This points
/// the variable at no vendor file, makes that first call (`eglQueryString(EGL_NO_DISPLAY,
/// EGL_EXTENSIONS)`, which has no other effect), and removes the variable again; WebKit's later
/// `eglInitialize` then fails quietly and its UI side takes the CPU path. The web process, which
/// does need EGL, is spawned later with the environment of that moment, so it still finds Mesa.
/// Call it first thing in the process, before any thread exists.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn skip_app_process_egl() -> bool {
    if std::env::var_os(EGL_VENDORS).is_some() || compositing_wanted() {
        return false;
    }
    const EGL_EXTENSIONS: i32 = 0x3055;
    type QueryString = unsafe extern "C" fn(*mut std::ffi::c_void, i32) -> *const std::ffi::c_char;
    // SAFETY: `set_var` is unsound only while another thread reads or writes the environment;
    // this runs at the very start of `run`, before logging, Tauri, GTK or any runtime has started
    // a thread. `/dev/null` is no vendor file (it is not JSON), so libglvnd loads none.
    unsafe { std::env::set_var(EGL_VENDORS, "/dev/null") };
    // SAFETY: NUL-terminated names; libEGL is already mapped (WebKit links it), so `dlopen` only
    // takes a reference, kept for the life of the process. The symbol has the C signature
    // `const char *eglQueryString(EGLDisplay, EGLint)`; EGL_NO_DISPLAY is a null pointer.
    let queried = unsafe {
        let lib = libc::dlopen(c"libEGL.so.1".as_ptr(), libc::RTLD_NOW);
        let sym =
            if lib.is_null() { std::ptr::null_mut() } else { libc::dlsym(lib, c"eglQueryString".as_ptr()) };
        if !sym.is_null() {
            let query: QueryString = std::mem::transmute::<*mut std::ffi::c_void, QueryString>(sym);
            query(std::ptr::null_mut(), EGL_EXTENSIONS);
        }
        !sym.is_null()
    };
    // SAFETY: as for `set_var` above: still no other thread.
    unsafe { std::env::remove_var(EGL_VENDORS) };
    queried
}

/// Nothing to keep out: only WebKitGTK opens EGL this way.
#[cfg(not(target_os = "linux"))]
pub fn skip_app_process_egl() -> bool {
    false
}

/// Nothing to skip: only GTK on Linux probes GL this way.
#[cfg(not(target_os = "linux"))]
pub fn skip_unused_gl_probe() {}

/// Whether WebKit should composite: `FLUXDESK_GPU_COMPOSITING` when set, else whether the machine
/// has a GPU render node. Decided once per process, so the GL probe ([`skip_unused_gl_probe`], at
/// start) and the webview's policy ([`tune`]) always agree.
#[cfg(target_os = "linux")]
fn compositing_wanted() -> bool {
    static WANTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WANTED.get_or_init(|| {
        compositing_choice(
            std::env::var("FLUXDESK_GPU_COMPOSITING").ok().as_deref(),
            has_render_node(std::path::Path::new("/dev/dri")),
        )
    })
}

/// The override (`on`/`off`, also `1`/`0`, `true`/`false`) when it is one, else `gpu`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn compositing_choice(overridden: Option<&str>, gpu: bool) -> bool {
    match overridden.map(str::trim).map(str::to_ascii_lowercase).as_deref() {
        Some("on" | "1" | "true") => true,
        Some("off" | "0" | "false") => false,
        _ => gpu,
    }
}

/// Whether `dri` (normally `/dev/dri`) holds a render node (`renderD128`…): a GPU Mesa can use.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn has_render_node(dri: &std::path::Path) -> bool {
    std::fs::read_dir(dri).is_ok_and(|entries| {
        entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    })
}

/// Applies the memory settings to `window`'s webview (nothing to do on this platform).
#[cfg(not(target_os = "linux"))]
pub fn tune<R: tauri::Runtime>(_window: &tauri::WebviewWindow<R>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_override_wins_over_the_gpu_guess() {
        assert!(compositing_choice(Some("on"), false));
        assert!(compositing_choice(Some(" TRUE "), false));
        assert!(!compositing_choice(Some("off"), true));
        assert!(!compositing_choice(Some("0"), true));
        assert!(compositing_choice(None, true));
        assert!(!compositing_choice(None, false));
        assert!(compositing_choice(Some("maybe"), true), "an unknown value falls back to the guess");
    }

    #[test]
    fn render_nodes_are_found_by_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(!has_render_node(&dir.path().join("missing")));
        std::fs::write(dir.path().join("card0"), b"").expect("card0");
        assert!(!has_render_node(dir.path()), "a card node alone is not a render node");
        std::fs::write(dir.path().join("renderD128"), b"").expect("renderD128");
        assert!(has_render_node(dir.path()));
    }
}
