// Applies the last chosen theme before first paint so the window never flashes white.
// (External file rather than inline so a strict CSP needs no hash.) The app re-applies it from settings.
try {
  var t = localStorage.getItem("fluxdesk.theme") || "dark";
  if (t === "system") t = matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
  document.documentElement.dataset.theme = t;
} catch (e) {
  /* storage unavailable: keep the default dark theme */
}
