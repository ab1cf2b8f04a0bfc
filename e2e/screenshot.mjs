// One WebDriver screenshot helper for the E2E suite and the app benchmark.
//
// WebKitGTK's WebDriver screenshot waits for the page's next paint. With compositing off (the app's
// default without a GPU, as under Xvfb) an idle page does not paint again until something changes, so
// the screenshot would wait forever. While it is taken, a 1×1 pixel in the corner is repainted every
// 50 ms: two greys one level apart at 2 % opacity (WebKit repaints it; the picture is unaffected).
const TICK_START_JS = `
  if (!window.__fdTick) {
    const el = document.createElement("div");
    el.style.cssText = "position:fixed;left:0;top:0;width:1px;height:1px;pointer-events:none;z-index:2147483647";
    document.documentElement.appendChild(el);
    let on = false;
    window.__fdTick = { el, timer: setInterval(() => { on = !on; el.style.background = on ? "rgba(128,128,128,0.02)" : "rgba(127,127,127,0.02)"; }, 50) };
  }`;
const TICK_STOP_JS = `
  const t = window.__fdTick;
  if (t) { clearInterval(t.timer); t.el.remove(); window.__fdTick = null; }`;

/** `driver.takeScreenshot()` that cannot wait forever for a paint (see TICK_START_JS). */
export async function screenshot(driver) {
  await driver.executeScript(TICK_START_JS);
  try {
    return await driver.takeScreenshot();
  } finally {
    await driver.executeScript(TICK_STOP_JS).catch(() => {});
  }
}
