// Fluxdesk app benchmark: the gallery at 100,000 images in the real window (figure 6 of BENCHMARKS.md).
//
// Why: the core bench (figure 4) times the database; the targets are about what the user
// sees. This drives the release binary through tauri-driver and measures from inside the page:
//   1. start → first grid page painted: the app process's start time (/proc, 10 ms ticks) to the
//      first animation frame after every thumbnail in the viewport is loaded and decoded. The first
//      start (a fresh home) opens on Create and "Gallery" is clicked as soon as the UI is there; the
//      app remembers the last screen, so the later starts open in the gallery (median of those).
//      When the app asked for the first page before the instrumentation could be installed, the
//      call's times come from the UI's User Timing marks (fd:list_images:start/end); if the page
//      was already painted when first checked, that check's frame is taken (an upper bound, `late`).
//      Response → painted is split: rendered (the viewport's tiles show the results), thumbnails
//      loaded, decoded + next frame.
//   2. keystroke → results painted for 1, 2 and 3+ character queries typed into the search box:
//      the last key's event time to the first frame after the viewport shows the new results, in
//      order, with their thumbnails decoded. The `list_images` IPC call is timed by wrapping
//      the page's `fetch` (Tauri's IPC transport), so the time splits into the key → call (the
//      UI asks at once), the call, and rendering.
//   3. scrolling through 10,000 thumbnails: one viewport per step every 100 ms (a fast fling);
//      visible tiles still blank (placeholder, or thumbnail not loaded) 2 frames and 100 ms after
//      each step, and frame intervals.
//   4. memory throughout: VmRSS and PSS summed over the app and its WebKit processes, every 250 ms.
//
// Contract: run only via e2e/bench/run.sh (E2E_APP, E2E_WEBDRIVER_URL, BENCH_OUT, FLUXDESK_*).
// Writes one JSON object to BENCH_OUT; exit 0 when every part was measured. Timings are measured,
// never asserted.

import fs from "node:fs";
import { Builder, Key } from "selenium-webdriver";
import { screenshot } from "../screenshot.mjs";

const env = (n) => {
  const v = process.env[n];
  if (!v) throw new Error(`${n} is not set: run via e2e/bench/run.sh`);
  return v;
};
const APP = env("E2E_APP");
const SERVER = env("E2E_WEBDRIVER_URL");
const OUT = env("BENCH_OUT");
const MARK = Buffer.from(`\0FLUXDESK_KEYRING_SERVICE=${env("FLUXDESK_KEYRING_SERVICE")}\0`);
const QUICK = process.env.BENCH_QUICK === "1";
const STARTS = QUICK ? 2 : 4;
const ROUNDS = Number(process.env.BENCH_ROUNDS) || (QUICK ? 1 : 2);
/** BENCH_ONLY=search (diagnosis, A/B of search changes): the starts and the search, no scroll. */
const SEARCH_ONLY = process.env.BENCH_ONLY === "search";
const SCROLL_TILES = 10_000;
const QUERIES = {
  "1": ["a", "e", "o", "s", "t", "x", "k", "y", "q", "w"],
  "2": ["ne", "ca", "gh", "ky", "wy", "ab", "st", "ou", "zq", "ph"],
  "3+": ["fox", "castle", "light", "neon", "at the", "portrait", "zzz", "storm", "glass", "city"],
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => console.log(`# ${s}`);

async function waitFor(what, fn, timeoutMs = 15_000, everyMs = 20) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      // not there yet
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Processes and memory

const CLK_TCK = 100; // Linux USER_HZ
const bootMs = Number(/^btime (\d+)$/m.exec(fs.readFileSync("/proc/stat", "utf8"))[1]) * 1000;

function appPids() {
  const out = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readlinkSync(`/proc/${name}/exe`).replace(/ \(deleted\)$/, "") !== APP) continue;
      const environ = Buffer.concat([Buffer.from([0]), fs.readFileSync(`/proc/${name}/environ`)]);
      if (environ.includes(MARK)) out.push(Number(name));
    } catch {
      // gone, or not ours
    }
  }
  return out;
}

function statOf(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return { ppid: Number(f[1]), startMs: bootMs + (Number(f[19]) * 1000) / CLK_TCK };
}

/** The app and every process below it (WebKit's web and network processes). */
function tree(root) {
  const kids = new Map();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const { ppid } = statOf(name);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(name));
    } catch {
      // gone
    }
  }
  const out = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(kids.get(p) ?? []));
  }
  return out;
}

function memOf(pids) {
  let rss = 0;
  let pss = 0;
  let pssFile = 0;
  let n = 0;
  const pssByProcess = {};
  for (const p of pids) {
    try {
      const status = fs.readFileSync(`/proc/${p}/status`, "utf8");
      const r = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const rollup = fs.readFileSync(`/proc/${p}/smaps_rollup`, "utf8");
      const q = Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      rss += r;
      pss += q;
      // Mapped files (mostly WebKit's, GTK's and Mesa's shared libraries) and the rest (heaps).
      pssFile += Number(/^Pss_File:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      n += 1;
      const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? String(p);
      pssByProcess[name] = (pssByProcess[name] ?? 0) + q / 1024;
    } catch {
      // gone
    }
  }
  return { rssMib: rss / 1024, pssMib: pss / 1024, pssFileMib: pssFile / 1024, processes: n, pssByProcess };
}

/** With BENCH_SMAPS_DIR set, keeps each process's /proc/PID/smaps at the end of a phase (diagnosis). */
function dumpSmaps(root, label) {
  const dir = process.env.BENCH_SMAPS_DIR;
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  for (const p of tree(root)) {
    try {
      const name = /^Name:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? String(p);
      fs.writeFileSync(`${dir}/${label}-${name.replace(/\W/g, "")}-${p}.smaps`, fs.readFileSync(`/proc/${p}/smaps`));
    } catch {
      // gone
    }
  }
}

class Sampler {
  constructor(pid) {
    this.pid = pid;
    this.phase = "start";
    this.samples = [];
    this.timer = setInterval(() => this.sample(), 250);
  }
  sample() {
    const m = memOf(tree(this.pid));
    if (m.processes) this.samples.push({ t: Date.now(), phase: this.phase, ...m });
    return m;
  }
  stop() {
    clearInterval(this.timer);
  }
  summary() {
    const by = {};
    for (const s of this.samples) {
      const b = (by[s.phase] ??= { samples: 0, peakRssMib: 0, peakPssMib: 0, lastRssMib: 0, lastPssMib: 0 });
      b.samples += 1;
      b.peakRssMib = Math.max(b.peakRssMib, s.rssMib);
      b.peakPssMib = Math.max(b.peakPssMib, s.pssMib);
      b.lastRssMib = s.rssMib;
      b.lastPssMib = s.pssMib;
      b.lastPssFileMib = s.pssFileMib;
      b.lastPssByProcess = Object.fromEntries(Object.entries(s.pssByProcess).map(([k, v]) => [k, Math.round(v)]));
    }
    const all = this.samples;
    return {
      phases: by,
      peakRssMib: Math.max(0, ...all.map((s) => s.rssMib)),
      peakPssMib: Math.max(0, ...all.map((s) => s.pssMib)),
      processes: Math.max(0, ...all.map((s) => s.processes)),
      samples: all.length,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// In-page instrumentation (installed once per session; the UI is a single page)

const INSTALL_JS = String.raw`
if (window.__fdBench) return "already";
const B = (window.__fdBench = { reqs: [], keys: [], watch: null, wrapped: false });
// Tauri's IPC (invoke) posts to ipc://localhost/<command> with the global fetch, looked up per call.
try {
  const of = window.fetch;
  window.fetch = function (input, init) {
    const url = typeof input === "string" ? input : (input && input.url) || "";
    if (!url.startsWith("ipc:") || !url.includes("list_images")) return of.apply(this, arguments);
    let q = {};
    try { q = (JSON.parse(init.body).query) || {}; } catch (e) { /* not JSON */ }
    const r = { text: q.text ?? null, cursor: !!q.cursor, start: performance.now(), end: null, ids: null, total: null, paint: null };
    B.reqs.push(r);
    return of.apply(this, arguments).then((resp) => {
      resp.clone().json().then((page) => {
        // The first ids only (more than a viewport): the harness's own memory stays small.
        r.end = performance.now(); r.ids = page.items.slice(0, 100).map((i) => i.id); r.total = page.total;
        // Answers may arrive out of order (queries run in parallel): only a newer query is watched.
        if (!r.cursor && (!B.watch || B.watch.start <= r.start)) B.watch = r;
      }, (e) => { r.end = performance.now(); r.error = String(e); });
      return resp;
    });
  };
  B.wrapped = true;
} catch (e) { B.wrapError = String(e); }
document.addEventListener("keydown", (e) => B.keys.push(e.timeStamp), true);
// DOM changes with the grid's first tile at that moment (the observer runs right after the
// mutating task): when the page's script put a list's first tile in, which splits response →
// rendered into script work and waiting for a frame. The last 200 only.
B.muts = [];
new MutationObserver(() => {
  const c = document.querySelector('[role=grid][aria-label="Images"] [role=gridcell][data-id]');
  const id = c ? Number(c.dataset.id) : null;
  const last = B.muts[B.muts.length - 1];
  if (last && last.id === id) return;
  B.muts.push({ t: performance.now(), id });
  if (B.muts.length > 200) B.muts.shift();
}).observe(document.documentElement, { childList: true, subtree: true });
B.domAt = (r) => {
  if (!r.ids || !r.ids.length) return null;
  const m = B.muts.find((x) => x.t >= r.start && x.id === r.ids[0]);
  return m ? m.t : null;
};

const grid = () => document.querySelector('[role=grid][aria-label="Images"]');
// Visible grid cells in reading order.
B.visible = () => {
  const g = grid();
  if (!g) return [];
  const vr = g.parentElement.getBoundingClientRect();
  const out = [];
  for (const c of g.querySelectorAll("[role=gridcell]")) {
    const r = c.getBoundingClientRect();
    if (r.bottom > vr.top + 1 && r.top < vr.bottom - 1 && r.right > vr.left && r.left < vr.right) out.push({ c, top: Math.round(r.top), left: r.left });
  }
  out.sort((a, b) => a.top - b.top || a.left - b.left);
  return out.map((x) => x.c);
};
B.ready = (c) => {
  if (c.classList.contains("ph")) return false;
  const img = c.querySelector("img");
  return !!img && img.complete && img.naturalWidth > 0;
};
// The first page may have been asked for before this script ran (the gallery is the start
// screen): take the call's times from the UI's User Timing marks; ids unknown (any loaded tiles).
const markAt = (n) => { const e = performance.getEntriesByName(n); return e.length ? e[0].startTime : null; };
// The marks may also appear after this script ran (the app had not asked yet): checked each frame
// until the first page is watched.
const takeMarks = () => {
  if (B.marksTaken || markAt("fd:list_images:start") == null) return;
  B.marksTaken = true;
  const r = { text: null, cursor: false, start: markAt("fd:list_images:start"), end: markAt("fd:list_images:end"), ids: null, total: null, paint: null, synthetic: true };
  B.reqs.push(r);
  B.pendingMarked = r;
};
takeMarks();
// Each frame: has the watched result list been painted (viewport shows its first images, in
// order, loaded)? Then decode them and take the next frame's time as "painted".
let busy = false;
let firstTick = true;
const tick = (ts) => {
  if (!B.watch) takeMarks();
  const pm = B.pendingMarked;
  if (pm && !B.watch) {
    if (pm.end == null) pm.end = markAt("fd:list_images:end");
    if (pm.end != null) B.watch = pm;
  }
  const r = B.watch;
  if (r && r.paint == null && !busy) {
    const cells = B.visible();
    const want = r.ids ? r.ids.slice(0, cells.length) : null;
    const shown = r.ids && r.ids.length === 0
      ? cells.length === 0
      : cells.length > 0 && cells.every((c, i) => (want ? Number(c.dataset.id) === want[i] : !!c.dataset.id));
    if (shown && r.dom == null) r.dom = ts;
    const ok = shown && cells.every((c) => B.ready(c));
    if (ok && r.loaded == null) r.loaded = ts;
    if (shown && r.mutated == null) r.mutated = B.domAt(r);
    if (ok && r.synthetic && firstTick) r.late = true;
    if (ok) {
      busy = true;
      const imgs = cells.map((c) => c.querySelector("img"));
      Promise.all(imgs.map((i) => i.decode().catch(() => {}))).then(() => requestAnimationFrame((t2) => {
        r.paint = r.late ? ts : t2; r.cells = cells.length; busy = false;
      }));
    }
  }
  firstTick = false;
  requestAnimationFrame(tick);
};
requestAnimationFrame(tick);

// Scrolling: one viewport per step every dwellMs, until the viewport is past tile targetIndex.
B.scrollTest = async (targetIndex, dwellMs) => {
  const res = (B.scroll = { done: false, steps: 0, cells: 0, blank2f: 0, blank100: 0, stepsBlank100: 0,
    maxBlank100: 0, lingerMs: [], frames: [], lastIndex: 0, ms: 0, error: null });
  try {
    const g = grid();
    const sc = g.parentElement;
    const raf = () => new Promise((r) => requestAnimationFrame(r));
    const cols = Number(g.getAttribute("aria-colcount")) || 1;
    // The tiles one PageDown moves the focus by (the grid's own rule: whole rows in the viewport),
    // for memory.py, which scrolls as far with the keyboard.
    const tops = [...new Set(B.visible().map((c) => Math.round(c.getBoundingClientRect().top)))].sort((a, b) => a - b);
    res.pageTiles = tops.length > 1 ? Math.max(1, Math.floor(sc.clientHeight / (tops[1] - tops[0]))) * cols : 0;
    let running = true;
    let prev = null;
    const frame = (t) => { if (prev != null) res.frames.push(t - prev); prev = t; if (running) requestAnimationFrame(frame); };
    requestAnimationFrame(frame);
    const t0 = performance.now();
    for (;;) {
      const start = performance.now();
      sc.scrollTop = sc.scrollTop + sc.clientHeight;
      await raf(); await raf();
      let cells = B.visible();
      res.steps += 1;
      res.cells += cells.length;
      res.blank2f += cells.filter((c) => !B.ready(c)).length;
      const wait = start + dwellMs - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      cells = B.visible();
      const blank = cells.filter((c) => !B.ready(c)).length;
      res.blank100 += blank;
      res.maxBlank100 = Math.max(res.maxBlank100, blank);
      if (blank) {
        res.stepsBlank100 += 1;
        const t = performance.now();
        while (B.visible().some((c) => !B.ready(c)) && performance.now() - t < 3000) await raf();
        res.lingerMs.push(performance.now() - start);
      }
      const rows = cells.map((c) => Number(c.parentElement.getAttribute("aria-rowindex")));
      res.lastIndex = rows.length ? Math.max(...rows) * cols : 0;
      if (res.lastIndex >= targetIndex || sc.scrollTop + sc.clientHeight >= sc.scrollHeight - 1) break;
    }
    res.ms = performance.now() - t0;
    running = false;
  } catch (e) {
    res.error = String(e);
  }
  res.done = true;
};
return B.wrapped ? "ok" : "not-wrapped " + (B.wrapError || "");`;

// Finds a visible control by accessible name (aria-label or text).
const CLICK_JS = String.raw`
const [name] = arguments;
const norm = (s) => (s || "").replace(/\s+/g, " ").trim().toLowerCase();
const el = Array.from(document.querySelectorAll("button, a[href], [role=button], [role=link], [role=tab]"))
  .find((e) => (norm(e.getAttribute("aria-label")) === norm(name) || norm(e.textContent) === norm(name)) && e.getBoundingClientRect().width > 0);
if (!el) return null;
el.click();
return performance.timeOrigin + performance.now();`;

// ---------------------------------------------------------------------------------------------

async function launch() {
  if (appPids().length) await waitFor("a previous app to exit", () => appPids().length === 0, 15_000, 100);
  const driver = await new Builder()
    .usingServer(SERVER)
    .withCapabilities({ browserName: "wry", "tauri:options": { application: APP } })
    .build();
  await driver.manage().setTimeouts({ script: 60_000 });
  const [pid] = await waitFor("the app process", () => (appPids().length ? appPids() : null), 10_000);
  return { driver, pid, startMs: statOf(pid).startMs };
}

async function quit(driver) {
  await driver.quit().catch(() => {});
  await waitFor("the app to exit", () => appPids().length === 0, 15_000, 100).catch(() => {
    for (const p of appPids()) process.kill(p, "SIGTERM");
  });
}

/** What the page shows (for failure messages), plus a screenshot in e2e/artifacts/. */
async function diag(d) {
  try {
    const png = await screenshot(d);
    fs.writeFileSync(new URL("../artifacts/bench-failure.png", import.meta.url), Buffer.from(png, "base64"));
    return JSON.stringify(
      await d.executeScript(`const B = window.__fdBench; const v = B ? B.visible() : [];
        return { reqs: B && B.reqs.map((r) => ({ ...r, ids: r.ids && r.ids.length })), visible: v.length,
          ready: v.filter(B.ready).length, firstIds: v.slice(0, 5).map((c) => c.dataset.id),
          imgs: v.slice(0, 3).map((c) => { const i = c.querySelector("img"); return i && { complete: i.complete, w: i.naturalWidth, src: i.src.slice(0, 80) }; }),
          text: document.body.innerText.slice(0, 300) };`),
    );
  } catch (e) {
    return `(no diagnostics: ${e.message})`;
  }
}

/** The requests and keystrokes recorded since `from` (indexes), without their id lists. */
const state = (d, from = { reqs: 0, keys: 0 }) =>
  d.executeScript(
    `const B = window.__fdBench, f = arguments[0];
     return B && { reqs: B.reqs.slice(f.reqs).map((r) => ({ ...r, ids: null })), keys: B.keys.slice(f.keys), nReqs: B.reqs.length, nKeys: B.keys.length };`,
    from,
  );

/** Launch → (click Gallery unless the app opened there) → first page painted. */
async function firstPage(onPid) {
  const { driver, pid, startMs } = await launch();
  onPid?.(pid);
  let startedIn = null;
  const clickMs = await waitFor("the Gallery control", async () => {
    const r = await driver.executeScript(INSTALL_JS);
    if (r !== "ok" && r !== "already") throw new Error(`instrumentation: ${r}`);
    const where = await driver.executeScript(
      "const h = document.querySelector('main h1'); return h ? h.textContent.trim() : (document.querySelector('main [aria-busy=true], main [role=grid]') ? 'Gallery' : null)",
    );
    if (!where) return null;
    startedIn = where;
    if (where === "Gallery") return -1;
    return driver.executeScript(CLICK_JS, "Gallery");
  });
  const origin = await driver.executeScript("return performance.timeOrigin");
  const fcp = await driver.executeScript(
    "const e = performance.getEntriesByType('paint').find((p) => p.name === 'first-contentful-paint'); return e ? e.startTime : null",
  );
  const r = await waitFor(
    "the first page painted",
    async () => (await state(driver)).reqs.find((q) => !q.cursor && q.paint != null),
    30_000,
    50,
  ).catch(async (e) => {
    throw new Error(`${e.message}; page: ${await diag(driver)}`);
  });
  const run = {
    startedIn,
    startToPaintedMs: origin + r.paint - startMs,
    startToPageLoadMs: origin - startMs,
    startToFirstContentfulPaintMs: fcp == null ? null : origin + fcp - startMs,
    startToGalleryClickMs: clickMs < 0 ? null : clickMs - startMs,
    clickToPaintedMs: clickMs < 0 ? null : origin + r.paint - clickMs,
    startToRequestMs: origin + r.start - startMs,
    ipcMs: r.end - r.start,
    responseToPaintedMs: r.paint - r.end,
    responseToRenderedMs: r.dom == null ? null : r.dom - r.end,
    responseToLoadedMs: r.loaded == null ? null : r.loaded - r.end,
    fromMarks: !!r.synthetic,
    late: !!r.late,
    total: r.total,
    tiles: r.cells,
  };
  return { driver, pid, run };
}

async function searchBox(driver) {
  return waitFor("the search box", () => driver.executeScript("return document.querySelector('input[aria-label=Search]')"));
}

/** Escape clears the search at once (no debounce); waits for the full list painted. */
async function clearSearch(driver, box) {
  const s0 = await state(driver, { reqs: 1e9, keys: 1e9 });
  const from = { reqs: s0.nReqs, keys: s0.nKeys };
  await box.sendKeys(Key.ESCAPE);
  await waitFor(
    "the unfiltered list painted",
    async () => (await state(driver, from)).reqs.find((q) => !q.cursor && q.text == null && q.paint != null),
    20_000,
    30,
  );
}

async function typeQuery(driver, box, text) {
  // The keystroke measured is the query's last: everything before it is typed first and its results
  // painted, so the measure is one keystroke's latency, not the backlog of a burst that WebDriver
  // types far faster than anyone can (each key's results would still be rendering when the next
  // key arrives).
  const prefix = text.slice(0, -1);
  if (prefix) {
    const p0 = await state(driver, { reqs: 1e9, keys: 1e9 });
    await box.sendKeys(prefix);
    await waitFor(
      `results for "${prefix}" painted`,
      async () => (await state(driver, { reqs: p0.nReqs, keys: p0.nKeys })).reqs.find((q) => !q.cursor && q.text === prefix.trim() && q.paint != null),
      20_000,
      30,
    );
  }
  const s0 = await state(driver, { reqs: 1e9, keys: 1e9 });
  const from = { reqs: s0.nReqs, keys: s0.nKeys };
  await box.sendKeys(text.slice(-1));
  const r = await waitFor(
    `results for "${text}" painted`,
    async () => (await state(driver, from)).reqs.find((q) => !q.cursor && q.text === text && q.paint != null),
    20_000,
    30,
  );
  const s1 = await state(driver, from);
  const lastKey = Math.max(...s1.keys);
  return {
    text,
    keyToPaintedMs: r.paint - lastKey,
    keyToCallMs: r.start - lastKey,
    ipcMs: r.end - r.start,
    callToPaintedMs: r.paint - r.start,
    responseToPaintedMs: r.paint - r.end,
    responseToRenderedMs: r.dom == null ? null : r.dom - r.end,
    responseToLoadedMs: r.loaded == null ? null : r.loaded - r.end,
    responseToDomMs: r.mutated == null ? null : r.mutated - r.end,
    queries: s1.reqs.filter((q) => !q.cursor).length,
    total: r.total,
  };
}

const pct = (v, p) => {
  if (!v.length) return null;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const stats = (v) => ({ n: v.length, p50: pct(v, 50), p95: pct(v, 95), max: v.length ? Math.max(...v) : null, mean: v.length ? v.reduce((a, b) => a + b, 0) / v.length : null });

async function main() {
  const result = { measured: false, binary: APP, starts: [], search: {}, scroll: null, memory: null, notes: [] };
  let sampler = null;
  let driver = null;
  try {
    // 1. Starts (the last one stays open for the rest).
    for (let i = 0; i < STARTS; i++) {
      const last = i === STARTS - 1;
      const s = await firstPage(last ? (pid) => (sampler = new Sampler(pid)) : null);
      driver = s.driver;
      result.starts.push(s.run);
      log(`start ${i + 1}: first page painted ${s.run.startToPaintedMs.toFixed(0)} ms after process start`);
      if (i < STARTS - 1) {
        await quit(driver);
        driver = null;
      } else {
        sampler.phase = "idle after first page";
      }
    }
    await sleep(3000);
    const idle = sampler.sample();
    dumpSmaps(sampler.pid, "1-idle");
    result.idle = idle;
    log(`idle after first page: RSS ${idle.rssMib.toFixed(0)} MiB, PSS ${idle.pssMib.toFixed(0)} MiB (${idle.processes} processes)`);

    // 2. Search.
    sampler.phase = "search";
    const box = await searchBox(driver);
    await box.click();
    const samples = { "1": [], "2": [], "3+": [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const [kind, qs] of Object.entries(QUERIES)) {
        for (const q of qs) {
          await clearSearch(driver, box);
          await sleep(150);
          const m = await typeQuery(driver, box, q);
          samples[kind].push(m);
        }
      }
    }
    await clearSearch(driver, box);
    for (const [kind, ms] of Object.entries(samples)) {
      result.search[kind] = {
        keyToPainted: stats(ms.map((m) => m.keyToPaintedMs)),
        keyToCall: stats(ms.map((m) => m.keyToCallMs)),
        ipc: stats(ms.map((m) => m.ipcMs)),
        callToPainted: stats(ms.map((m) => m.callToPaintedMs)),
        responseToPainted: stats(ms.map((m) => m.responseToPaintedMs)),
        responseToRendered: stats(ms.map((m) => m.responseToRenderedMs).filter((v) => v != null)),
        responseToLoaded: stats(ms.map((m) => m.responseToLoadedMs).filter((v) => v != null)),
        responseToDom: stats(ms.map((m) => m.responseToDomMs).filter((v) => v != null)),
        samples: ms,
      };
      log(`search ${kind}: key → painted p50 ${result.search[kind].keyToPainted.p50.toFixed(0)} / p95 ${result.search[kind].keyToPainted.p95.toFixed(0)} ms; call → painted p95 ${result.search[kind].callToPainted.p95.toFixed(0)} ms`);
    }

    if (SEARCH_ONLY) throw new Error("BENCH_ONLY=search: no scroll measured (a diagnosis run)");
    // 3. Scroll.
    dumpSmaps(sampler.pid, "2-search");
    sampler.phase = "scroll";
    await driver.executeScript("document.activeElement && document.activeElement.blur()");
    await driver.executeScript(`window.__fdBench.scrollTest(${SCROLL_TILES}, 100); return true;`);
    const sc = await waitFor(
      "the scroll test",
      () => driver.executeScript("const s = window.__fdBench.scroll; return s && s.done ? s : null"),
      600_000,
      500,
    );
    if (sc.error) throw new Error(`scroll test: ${sc.error}`);
    result.scroll = {
      tiles: sc.lastIndex,
      pageTiles: sc.pageTiles,
      steps: sc.steps,
      seconds: sc.ms / 1000,
      visibleTilesPerStep: sc.cells / Math.max(1, sc.steps),
      blankAfter2Frames: sc.blank2f,
      blankAfter2FramesShare: sc.blank2f / Math.max(1, sc.cells),
      blankAfter100ms: sc.blank100,
      stepsWithBlankAfter100ms: sc.stepsBlank100,
      maxBlankAfter100ms: sc.maxBlank100,
      lingering: stats(sc.lingerMs),
      frameMs: stats(sc.frames),
    };
    log(`scroll: ${sc.lastIndex} tiles in ${sc.steps} steps; blank after 2 frames ${sc.blank2f} of ${sc.cells}; still blank after 100 ms ${sc.blank100} (${sc.stepsBlank100} steps)`);
    sampler.phase = "after scroll";
    await sleep(3000);
    result.afterScroll = sampler.sample();
    dumpSmaps(sampler.pid, "3-scroll");
    result.memory = sampler.summary();
    result.measured = true;
  } catch (e) {
    result.note = `failed: ${e.message}`;
    console.log(`# ${result.note}`);
  } finally {
    sampler?.stop();
    if (sampler && !result.memory) result.memory = sampler.summary();
    if (driver) await quit(driver);
  }
  const inGallery = result.starts.filter((s) => s.startedIn === "Gallery").map((s) => s.startToPaintedMs);
  const viaClick = result.starts.filter((s) => s.startedIn !== "Gallery").map((s) => s.startToPaintedMs);
  result.firstPage = {
    median: pct(inGallery.length ? inGallery : viaClick, 50),
    startScreen: inGallery.length ? "Gallery (remembered)" : "Create (Gallery clicked)",
    runs: inGallery,
    viaClickRuns: viaClick,
    method:
      "process start (/proc, 10 ms ticks) → first animation frame after the viewport's thumbnails are loaded and decoded; the median is over starts that opened in the gallery (remembered from the previous start), else over starts where Gallery was clicked as soon as the UI was there",
  };
  fs.writeFileSync(OUT, `${JSON.stringify(result)}\n`);
  console.log(result.measured ? "BENCH: measured" : "BENCH: failed");
  process.exit(result.measured ? 0 : 1);
}

main();
