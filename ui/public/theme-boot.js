// Applies the theme before first paint so the window never flashes another colour.
// (External file rather than inline so a strict CSP needs no hash.) The desktop app names the theme saved
// in its settings (window.__FLUXDESK_THEME__, set before any page script runs; its window starts in the
// same colour); otherwise the last one chosen here. The app re-applies it from settings.
try {
  var t = window.__FLUXDESK_THEME__ || localStorage.getItem("fluxdesk.theme") || "dark";
  if (t === "system") t = matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
  if (t !== "light" && t !== "dark") t = "dark";
  document.documentElement.dataset.theme = t;
} catch (e) {
  /* storage unavailable: keep the default dark theme */
}
