// Fluxdesk desktop e2e tests: the real binary, driven through tauri-driver (WebDriver).
//
// Why: prove the user-visible contract end to end (real IPC, real SQLite, real files, real Secret
// Service, real X11 clipboard and drag-and-drop): demo generation shows an image loaded from disk
// through the asset protocol, Activity and Gallery see it (and search filters it), the API key goes
// to the keychain and nowhere else, a rating survives a restart, Delete goes to the freedesktop trash
// and Undo brings the file back, exports carry the prompt in their metadata, Copy puts pixels on the
// clipboard, and files are dragged out of (and dropped into) the window for real.
//
// Contract: run only via e2e/run.sh (it sets E2E_APP, E2E_WEBDRIVER_URL, E2E_ROOT, E2E_ARTIFACTS,
// FLUXDESK_* and a private FLUXDESK_KEYRING_SERVICE). Each test gets its own WebDriver session, which
// launches the app fresh. Tests run in order and share the sandbox (test 2 sees test 1's image).
// Prints `ok - name` / `not ok - name: error`, then exactly `E2E: N passed, N failed`; exit 1 on any
// failure. Controls are found by accessible name (aria-label / aria-labelledby / <label> / text /
// alt), never by CSS class, so the tests follow the UI contract rather than its markup.

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { Builder, Key } from "selenium-webdriver";
import { screenshot } from "./screenshot.mjs";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests via e2e/run.sh`);
  return v;
};
const APP = env("E2E_APP");
const SERVER = env("E2E_WEBDRIVER_URL");
const ROOT = env("E2E_ROOT");
const ARTIFACTS = env("E2E_ARTIFACTS");
const HOME = env("HOME");
const FLUXDESK_HOME = env("FLUXDESK_HOME");
const GALLERY = env("FLUXDESK_GALLERY");
const CACHE = env("FLUXDESK_CACHE");
const KEYRING_SERVICE = env("FLUXDESK_KEYRING_SERVICE");
const KEYRING_ACCOUNT = "piapi-api-key"; // fluxdesk-core secrets::KEYRING_ACCOUNT
const DOCS_SHOTS = path.resolve(env("E2E_DIR"), "..", "docs", "screenshots");

const PROMPT = "a red fox at dawn";
const TEST_TIMEOUT_MS = 90_000;

// ---------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, timeoutMs = 10_000, everyMs = 150) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
    }
    await sleep(everyMs);
  }
}

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`${what} exceeded ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

function* walk(dir, skip = () => false) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (skip(p)) continue;
    if (e.isDirectory()) yield* walk(p, skip);
    else if (e.isFile()) yield p;
  }
}

/** PIDs of app processes started by this run (the binary, with our private keyring service in
 * its environment), so other people's instances of the same binary are never waited on or touched. */
function appPids() {
  const pids = [];
  const mark = Buffer.from(`\0FLUXDESK_KEYRING_SERVICE=${KEYRING_SERVICE}\0`);
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const exe = fs.readlinkSync(`/proc/${name}/exe`).replace(/ \(deleted\)$/, "");
      if (exe !== APP) continue;
      const environ = Buffer.concat([Buffer.from([0]), fs.readFileSync(`/proc/${name}/environ`)]);
      if (environ.includes(mark)) pids.push(Number(name));
    } catch {
      // gone or not ours to read
    }
  }
  return pids;
}

/** The environment of this run's WebKit web process (it inherits the app's), or null. */
function webProcessEnviron() {
  const mark = Buffer.from(`\0FLUXDESK_KEYRING_SERVICE=${KEYRING_SERVICE}\0`);
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!fs.readlinkSync(`/proc/${name}/exe`).endsWith("/WebKitWebProcess")) continue;
      const environ = Buffer.concat([Buffer.from([0]), fs.readFileSync(`/proc/${name}/environ`)]);
      if (environ.includes(mark)) return environ;
    } catch {
      // gone or not ours to read
    }
  }
  return null;
}

function secretTool(...args) {
  const r = spawnSync("secret-tool", args, { encoding: "utf8", timeout: 10_000 });
  if (r.error) throw new Error(`secret-tool ${args[0]}: ${r.error.message}`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// In-page accessibility helpers (executed in the webview)

// Finds a visible element of a kind by accessible name: exact (case/space-insensitive) match
// first, else the first whose name starts with it (e.g. "Generate 1 · $0.0015").
const PAGE_LIB = String.raw`
const norm = (s) => (s || "").replace(/\s+/g, " ").trim().toLowerCase();
const visible = (el) => {
  if (!el.isConnected) return false;
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) return false;
  const cs = getComputedStyle(el);
  return cs.visibility !== "hidden" && cs.display !== "none" && !el.closest("[hidden],[inert],[aria-hidden=true]");
};
// Text as assistive tech reads it: skips aria-hidden / hidden subtrees, uses img alt.
const textOf = (node) => {
  if (node.nodeType === Node.TEXT_NODE) return node.textContent;
  if (node.nodeType !== Node.ELEMENT_NODE) return "";
  if (node.getAttribute("aria-hidden") === "true" || node.hidden || ["STYLE", "SCRIPT"].includes(node.tagName)) return "";
  if (node.tagName === "IMG") return node.getAttribute("alt") || "";
  return Array.from(node.childNodes).map(textOf).join(" ");
};
const nameOf = (el) => {
  const by = el.getAttribute("aria-labelledby");
  if (by) {
    const t = by.split(/\s+/).map((id) => { const n = document.getElementById(id); return n ? textOf(n) : ""; }).join(" ");
    if (norm(t)) return t;
  }
  const al = el.getAttribute("aria-label");
  if (norm(al)) return al;
  if (el.tagName === "IMG") return el.getAttribute("alt") || "";
  if (el.labels && el.labels.length) {
    const t = Array.from(el.labels).map(textOf).join(" ");
    if (norm(t)) return t;
  }
  if (!["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)) {
    const t = textOf(el);
    if (norm(t)) return t;
  }
  return el.getAttribute("title") || el.getAttribute("placeholder") || "";
};
const SEL = {
  control: "button, a[href], [role=button], [role=link], [role=tab], [role=menuitem], [role=radio], input[type=button], input[type=submit]",
  textbox: "textarea, input:not([type]), input[type=text], input[type=search], input[type=password], [role=textbox], [role=searchbox], [contenteditable=true]",
  img: "img",
};
const all = (kind) => Array.from(document.querySelectorAll(SEL[kind])).filter(visible);
`;

const FIND_JS = `${PAGE_LIB}
const [kind, name, exactOnly] = arguments;
const want = norm(name);
const els = all(kind);
return els.find((e) => norm(nameOf(e)) === want)
  || (exactOnly ? null : els.find((e) => norm(nameOf(e)).startsWith(want)))
  || null;`;

const NAMES_JS = `${PAGE_LIB}
const out = {};
for (const kind of Object.keys(SEL)) out[kind] = all(kind).map((e) => e.tagName.toLowerCase() + ":" + JSON.stringify(nameOf(e).replace(/\\s+/g, " ").trim().slice(0, 60)));
return out;`;

const IMGS_JS = `${PAGE_LIB}
const [alt] = arguments;
return all("img").filter((i) => norm(i.getAttribute("alt")) === norm(alt))
  .map((i) => ({ complete: i.complete, w: i.naturalWidth, h: i.naturalHeight, src: i.currentSrc || i.src }));`;

// ---------------------------------------------------------------------------------------------
// Session helpers

async function launch() {
  const stale = appPids();
  if (stale.length) await waitFor(`previous app (pids ${stale}) to exit`, () => appPids().length === 0, 10_000);
  const driver = await withTimeout(
    new Builder()
      .usingServer(SERVER)
      .withCapabilities({ browserName: "wry", "tauri:options": { application: APP } })
      .build(),
    30_000,
    "starting a WebDriver session (launching the app)",
  );
  // The UI is ready once the navigation rail is there.
  try {
    await waitFor("the app UI (a control named \"Create\")", () => find(driver, "control", "Create"), 20_000);
  } catch (e) {
    // e.g. http://localhost:1420/ = a binary built without tauri/custom-protocol (no embedded ui/dist)
    const url = await driver.getCurrentUrl().catch(() => "?");
    await driver.quit().catch(() => {});
    throw new Error(`${e.message}; page URL: ${url}`);
  }
  assert(appPids().length === 1, `expected one ${APP} process in this sandbox, found ${appPids().length}`);
  return driver;
}

async function quit(driver) {
  if (!driver) return;
  try {
    await withTimeout(driver.quit(), 15_000, "ending the WebDriver session");
  } catch (e) {
    console.log(`# warning: ${e.message}`);
  }
  try {
    await waitFor("the app process to exit", () => appPids().length === 0, 10_000);
  } catch {
    for (const pid of appPids()) {
      console.log(`# warning: app pid ${pid} still running after the session ended; sending SIGTERM`);
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    await sleep(1000);
  }
}

const find = (driver, kind, name, exactOnly = false) => driver.executeScript(FIND_JS, kind, name, exactOnly);

async function need(driver, kind, name, timeoutMs = 10_000) {
  try {
    return await waitFor(`${kind} named "${name}"`, () => find(driver, kind, name), timeoutMs);
  } catch (e) {
    let names = "";
    try {
      names = JSON.stringify(await driver.executeScript(NAMES_JS));
    } catch {
      // the page is gone
    }
    throw new Error(`${e.message}; visible: ${names}`);
  }
}

async function clickNamed(driver, name, timeoutMs) {
  const el = await need(driver, "control", name, timeoutMs);
  await el.click();
  return el;
}

/** Replaces a field's text the way a user would (select all, delete, type). */
async function setText(driver, el, text, { secret = false } = {}) {
  // As a user would: bring the field into view first (a sticky footer may cover the edge).
  await driver.executeScript("arguments[0].scrollIntoView({ block: 'center' })", el);
  await el.click();
  await el.sendKeys(Key.chord(Key.CONTROL, "a"), Key.BACK_SPACE);
  if (text) await el.sendKeys(text);
  const got = await driver.executeScript("return arguments[0].value ?? arguments[0].textContent", el);
  if (got !== text) {
    const show = (s) => (secret ? `<${String(s).length} chars>` : JSON.stringify(s));
    throw new Error(`field holds ${show(got)} after typing ${show(text)}`);
  }
}

const bodyText = (driver) => driver.executeScript("return document.body.innerText");

async function waitText(driver, re, timeoutMs = 10_000) {
  try {
    return await waitFor(`text matching ${re}`, async () => re.test(await bodyText(driver)), timeoutMs);
  } catch (e) {
    const t = (await bodyText(driver).catch(() => "")).replace(/\s+/g, " ").slice(0, 600);
    throw new Error(`${e.message}; page text: ${JSON.stringify(t)}`);
  }
}

async function waitImage(driver, alt, timeoutMs) {
  return waitFor(
    `a loaded <img alt="${alt}">`,
    async () => (await driver.executeScript(IMGS_JS, alt)).find((i) => i.complete && i.w > 0),
    timeoutMs,
    250,
  );
}

/** Screenshot of the webview into artifacts/; main screens also into docs/screenshots/ when
 * E2E_UPDATE_DOCS=1 (so an ordinary test run leaves the work tree clean). */
async function shot(driver, name, { docs = false } = {}) {
  // Park the pointer on the empty status strip so no hover tooltip is in the picture.
  await driver.actions({ async: true }).move({ x: 700, y: 790 }).perform().catch(() => {});
  await sleep(800); // takeScreenshot right after a change can show the previous frame
  const png = Buffer.from(await screenshot(driver), "base64");
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.writeFileSync(path.join(ARTIFACTS, `${name}.png`), png);
  if (docs && process.env.E2E_UPDATE_DOCS === "1") {
    fs.mkdirSync(DOCS_SHOTS, { recursive: true });
    fs.writeFileSync(path.join(DOCS_SHOTS, `${name}.png`), png);
  }
}

const assert = (cond, msg) => {
  if (!cond) throw new Error(msg);
};

/**
 * Calls a Fluxdesk IPC command from the page, exactly as the UI's adapter does
 * (`window.__TAURI_INTERNALS__.invoke`). Used to look things up (ids, counts) and for the steps
 * whose UI needs a native dialog. Rejects with the command's `{code, message}`.
 */
async function invoke(d, cmd, args = {}) {
  const r = await d.executeAsyncScript(
    `const [cmd, args, done] = arguments;
     window.__TAURI_INTERNALS__.invoke(cmd, args).then((ok) => done({ ok }), (err) => done({ err: err ?? "rejected" }));`,
    cmd,
    args,
  );
  if (r && "err" in r) throw new Error(`${cmd} failed: ${JSON.stringify(r.err)}`);
  return r?.ok;
}

/** Every indexed image (newest first), through the same command the gallery uses. */
async function allImages(d) {
  const page = await invoke(d, "list_images", { query: { limit: 200 } });
  return { items: page.items, total: page.total };
}

/** The gallery's own count label ("3 images"), as a number. */
async function galleryCount(d) {
  const text = await bodyText(d);
  const m = /(\d[\d,]*)\s+images?\b/i.exec(text);
  return m ? Number(m[1].replace(/,/g, "")) : null;
}

/** Opens Gallery and waits for the image with this prompt (its tile button) to be there. */
async function openGallery(d, prompt) {
  await clickNamed(d, "Gallery");
  await waitImage(d, prompt, 15_000);
  return need(d, "control", prompt);
}

/** Finds the tile button for a prompt and clicks it (selects and focuses it, like a user). */
async function selectTile(d, prompt) {
  const tile = await need(d, "control", prompt);
  await tile.click();
  return tile;
}

const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * The text metadata a file carries: PNG tEXt / zTXt / iTXt chunks (inflated when compressed),
 * else the raw bytes of JPEG APP1 (XMP/EXIF) or WebP XMP chunks decoded as UTF-8. Also checks that
 * the container is complete (PNG ends with IEND, JPEG with EOI, WebP's RIFF size matches).
 */
function embeddedText(file) {
  const buf = fs.readFileSync(file);
  if (buf.subarray(0, 8).equals(pngSignature)) {
    const texts = [];
    let off = 8;
    let sawEnd = false;
    while (off + 12 <= buf.length) {
      const len = buf.readUInt32BE(off);
      const type = buf.toString("latin1", off + 4, off + 8);
      const data = buf.subarray(off + 8, off + 8 + len);
      if (type === "tEXt") texts.push(data.toString("latin1"));
      else if (type === "zTXt") {
        const nul = data.indexOf(0);
        texts.push(zlib.inflateSync(data.subarray(nul + 2)).toString("latin1"));
      } else if (type === "iTXt") {
        const nul = data.indexOf(0);
        const compressed = data[nul + 1] === 1;
        let p = nul + 3;
        p = data.indexOf(0, p) + 1; // language tag
        p = data.indexOf(0, p) + 1; // translated keyword
        const body = data.subarray(p);
        texts.push((compressed ? zlib.inflateSync(body) : body).toString("utf8"));
      } else if (type === "IEND") {
        sawEnd = true;
        break;
      }
      off += 12 + len;
    }
    assert(sawEnd, `${file}: PNG without IEND (truncated?)`);
    return { kind: "png", text: texts.join("\n") };
  }
  if (buf[0] === 0xff && buf[1] === 0xd8) {
    assert(buf[buf.length - 2] === 0xff && buf[buf.length - 1] === 0xd9, `${file}: JPEG without EOI (truncated?)`);
    return { kind: "jpeg", text: buf.toString("utf8") };
  }
  if (buf.toString("latin1", 0, 4) === "RIFF" && buf.toString("latin1", 8, 12) === "WEBP") {
    assert(buf.readUInt32LE(4) + 8 === buf.length, `${file}: WebP RIFF size does not match the file`);
    return { kind: "webp", text: buf.toString("utf8") };
  }
  throw new Error(`${file} is neither PNG, JPEG nor WebP`);
}

/** A small valid RGB PNG (a gradient), written from scratch so it is in no gallery yet. */
function writePng(file, w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, "latin1");
    const tail = Buffer.alloc(4);
    tail.writeUInt32BE(crc(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, tail]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + w * 3);
    for (let x = 0; x < w; x++) row.set([(x * 255) / w, (y * 255) / h, 160], 1 + x * 3);
    rows.push(row);
  }
  const png = Buffer.concat([
    pngSignature,
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, png);
}

/** Decodes the file with ImageMagick when it is installed (a real decoder, not our own parser). */
function identify(file) {
  const r = spawnSync("identify", ["-format", "%m %w %h", file], { encoding: "utf8", timeout: 20_000 });
  if (r.error) return null; // not installed: the container checks above still ran
  assert(r.status === 0, `identify ${file}: exit ${r.status} ${r.stderr.trim()}`);
  return r.stdout.trim();
}

// ---------------------------------------------------------------------------------------------
// Tests

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test("demo generate", async (t) => {
  const d = (t.driver = await launch());
  await waitText(d, /demo mode/i, 10_000);
  await clickNamed(d, "Create");
  const prompt = await need(d, "textbox", "Prompt");
  await setText(d, prompt, PROMPT);
  await clickNamed(d, "Generate");
  const img = await waitImage(d, PROMPT, 30_000);
  // Loaded from a local file through Tauri (asset protocol, or a custom local scheme), not inline.
  assert(
    /^(asset|thumb):\/\/localhost\/|^https?:\/\/(asset|thumb)\.localhost\//.test(img.src),
    `image src is not a Tauri local-file URL: ${img.src.slice(0, 120)}`,
  );
  console.log(`# image ${img.w}x${img.h} via ${img.src.slice(0, img.src.indexOf(":") + 1)}`);
  const pngs = await waitFor(
    `a PNG under ${GALLERY}`,
    () => {
      const found = [...walk(GALLERY)].filter((p) => /\.png$/i.test(p));
      return found.length ? found : null;
    },
    10_000,
  );
  const head = fs.readFileSync(pngs[0]).subarray(0, 8);
  assert(head.equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), `${pngs[0]} is not a PNG`);
  console.log(`# gallery file: ${path.relative(GALLERY, pngs[0])} (${fs.statSync(pngs[0]).size} bytes)`);
  await shot(d, "create", { docs: true });
  // The page's JavaScript collector collects fully (src-tauri/src/memory.rs): removed tiles do not
  // linger until a rare full collection.
  const environ = webProcessEnviron();
  assert(environ, "the app's WebKit web process was not found");
  assert(environ.includes(Buffer.from("\0JSC_useGenerationalGC=0\0")), "the web process runs without JSC_useGenerationalGC=0");
  // Without a GPU render node WebKit does not composite, so GTK skips its GL probe at start
  // (src-tauri/src/webview.rs); with one, GL is left alone.
  const gpu = fs.existsSync("/dev/dri") && fs.readdirSync("/dev/dri").some((n) => n.startsWith("renderD"));
  const skipped = environ.includes(Buffer.from("\0GDK_GL=disable\0"));
  assert(skipped === !gpu, gpu ? "GDK_GL=disable was set on a machine with a GPU" : "the app did not skip GDK's GL probe without a GPU");
});

test("activity and gallery", async (t) => {
  const d = (t.driver = await launch());
  await clickNamed(d, "Activity");
  await waitText(d, new RegExp(PROMPT), 10_000);
  await waitImage(d, PROMPT, 10_000); // the task's thumbnail
  await shot(d, "activity", { docs: true });

  await clickNamed(d, "Gallery");
  const tile = await waitImage(d, PROMPT, 15_000);
  // The grid's thumbnails come over the app's own thumb: scheme (src-tauri/src/thumb_protocol.rs).
  assert(/^(thumb:\/\/localhost\/|http:\/\/thumb\.localhost\/)/.test(tile.src), `the grid's thumbnail is not served by thumb: (${tile.src})`);
  const search = await need(d, "textbox", "Search");
  await setText(d, search, "fox");
  await waitImage(d, PROMPT, 10_000);
  await setText(d, search, "zzzz");
  await waitFor(
    `<img alt="${PROMPT}"> to disappear for search "zzzz"`,
    async () => (await d.executeScript(IMGS_JS, PROMPT)).length === 0,
    10_000,
  );
  await setText(d, search, "fox");
  await waitImage(d, PROMPT, 10_000);
  await shot(d, "gallery", { docs: true });
});

test("key in keychain, never on disk", async (t) => {
  const key = `pk-e2e-${randomBytes(16).toString("hex")}`;
  const lookup = () => secretTool("lookup", "service", KEYRING_SERVICE, "username", KEYRING_ACCOUNT);

  let d = (t.driver = await launch());
  await clickNamed(d, "Settings");
  const field = await need(d, "textbox", "API key");
  assert((await field.getAttribute("type")) === "password", `"API key" is not a password input`);
  await setText(d, field, key, { secret: true });
  await clickNamed(d, "Save key");
  await waitText(d, /key set/i, 10_000);

  // Restart: the key must come back from the keychain.
  await quit(d);
  t.driver = null;
  d = t.driver = await launch();
  await clickNamed(d, "Settings");
  await waitText(d, /key set/i, 10_000);
  // The key was read back from the keychain at startup, so the app is out of demo mode.
  assert(!/demo mode/i.test(await bodyText(d)), "\"Demo mode\" is still shown after a restart with a key in the keychain");

  // In the Secret Service, under our private service name and the documented account.
  const found = lookup();
  assert(found.status === 0, `secret-tool lookup service ${KEYRING_SERVICE} username ${KEYRING_ACCOUNT}: exit ${found.status} ${found.stderr.trim()}`);
  assert(found.stdout.trim() === key, "the keychain holds a different secret than the key typed in Settings");
  const listing = secretTool("search", "--all", "service", KEYRING_SERVICE);
  const attrs = `${listing.stdout}\n${listing.stderr}`.split("\n").filter((l) => l.startsWith("attribute."));
  console.log(`# keychain item: ${attrs.map((l) => l.replace(/\s+/g, "")).join(" ")}`);

  // Nowhere on disk: the whole sandbox (HOME with .config/.local/.cache, FLUXDESK_HOME incl. logs,
  // gallery, cache, TMPDIR) plus the e2e logs. Excluded: gnome-keyring's own store
  // (~/.local/share/keyrings; encrypted, but excluded anyway since it is the keychain itself).
  const keyrings = path.join(HOME, ".local", "share", "keyrings");
  const needles = [Buffer.from(key, "utf8"), Buffer.from(key, "utf16le")];
  const files = [
    ...walk(ROOT, (p) => p === keyrings),
    ...[...walk(ARTIFACTS)].filter((p) => p.endsWith(".log")),
  ];
  const leaks = [];
  let bytes = 0;
  for (const f of files) {
    let buf;
    try {
      buf = fs.readFileSync(f);
    } catch {
      continue;
    }
    bytes += buf.length;
    if (needles.some((n) => buf.includes(n))) leaks.push(f);
  }
  const mustScan = [
    path.join(FLUXDESK_HOME, "fluxdesk.db"),
    path.join(FLUXDESK_HOME, "settings.json"),
    path.join(FLUXDESK_HOME, "logs", "fluxdesk-app.log"), // the app's log file (src-tauri logging.rs)
    path.join(ARTIFACTS, "tauri-driver.log"), // the app's stderr
  ];
  for (const must of mustScan) {
    assert(files.includes(must), `expected ${must} to exist and be scanned`);
  }
  console.log(`# scanned ${files.length} files (${bytes} bytes) under ${ROOT} and e2e/artifacts/*.log; ${GALLERY}, ${CACHE} included`);
  assert(leaks.length === 0, `the key was found on disk in: ${leaks.join(", ")}`);
  await shot(d, "settings", { docs: true });

  // Remove: back to demo, and gone from the Secret Service.
  await clickNamed(d, "Remove key");
  await confirmIfAsked(d, /key set/i);
  await waitFor(
    "no-key status (text \"demo\" or \"no key\", no \"Key set\")",
    async () => {
      const text = await bodyText(d);
      return /demo|no key/i.test(text) && !/key set/i.test(text);
    },
    10_000,
  );
  const after = lookup();
  assert(after.status !== 0 && after.stdout.trim() === "", "the key is still in the Secret Service after Remove key");
});

/** The rating the open large view shows: the pressed star button in its "Rating" group (0 = none). */
const VIEWER_RATING_JS = `${PAGE_LIB}
const dlg = Array.from(document.querySelectorAll("[role=dialog]")).filter(visible).find((d) => norm(nameOf(d)).startsWith("image"));
if (!dlg) return null;
const group = Array.from(dlg.querySelectorAll("[role=group]")).find((g) => norm(nameOf(g)) === "rating");
if (!group) return null;
const on = Array.from(group.querySelectorAll("button")).find((b) => b.getAttribute("aria-pressed") === "true");
return on ? parseInt(nameOf(on), 10) : 0;`;

/** Opens the large view of the image with this prompt the way a user does: click its tile, Enter. */
async function openViewer(d, prompt) {
  await openGallery(d, prompt);
  await selectTile(d, prompt);
  await d.actions().sendKeys(Key.ENTER).perform();
  return waitFor("the large view with its star rating", async () => {
    const r = await d.executeScript(VIEWER_RATING_JS);
    return r == null ? null : { rating: r };
  });
}

test("a rating survives a restart", async (t) => {
  let d = (t.driver = await launch());
  const opened = await openViewer(d, PROMPT);
  assert(opened.rating !== 4, `the image is already rated 4 before the test`);
  await d.actions().sendKeys("4").perform();
  await waitFor("the large view to show 4 stars", async () => (await d.executeScript(VIEWER_RATING_JS)) === 4);
  const { items } = await allImages(d);
  const image = items.find((i) => i.prompt === PROMPT);
  await waitFor("the index to hold rating 4", async () => (await invoke(d, "get_image", { id: image.id })).rating === 4);

  await quit(d);
  t.driver = null;
  d = t.driver = await launch();
  const again = await openViewer(d, PROMPT);
  assert(again.rating === 4, `after a restart the large view shows ${again.rating} stars, not 4`);
  assert((await invoke(d, "get_image", { id: image.id })).rating === 4, "the index lost the rating");
});

test("the next launch starts in the theme saved in Settings", async (t) => {
  const THEME_JS = "return [window.__FLUXDESK_THEME__ ?? null, document.documentElement.dataset.theme]";
  const setTheme = async (d, theme) => {
    const view = await invoke(d, "get_settings");
    await invoke(d, "update_settings", { settings: { ...view.settings, theme } });
  };
  let d = (t.driver = await launch());
  const [bootTheme] = await d.executeScript(THEME_JS);
  assert(bootTheme === "dark", `the window was told the theme ${bootTheme}, not the default dark`);
  try {
    await setTheme(d, "light");
    await quit(d);
    t.driver = null;
    d = t.driver = await launch();
    // The window's colour comes from the same saved theme (not visible to WebDriver): the page is told
    // it before its first script, so its first paint is already light.
    const [told, applied] = await d.executeScript(THEME_JS);
    assert(told === "light", `after a restart the window was told the theme ${told}, not light`);
    assert(applied === "light", `after a restart the page shows the ${applied} theme, not light`);
  } finally {
    await setTheme(d, "dark").catch(() => {});
  }
});

test("Delete moves the file to the trash and the index agrees", async (t) => {
  const d = (t.driver = await launch());
  await openGallery(d, PROMPT);
  const before = await allImages(d);
  const candidates = before.items.filter((i) => i.prompt === PROMPT);
  assert(candidates.length > 0 && candidates.every((i) => fs.existsSync(i.path)), `no indexed files for "${PROMPT}"`);
  const shown = await waitFor("the gallery's image count", () => galleryCount(d));
  assert(shown === before.total, `the gallery shows ${shown} images, the index has ${before.total}`);
  const tiles = async () => (await d.executeScript(IMGS_JS, PROMPT)).length;
  const tilesBefore = await tiles();
  const trashDir = path.join(HOME, ".local", "share", "Trash");
  const trashed = () => {
    try {
      return fs.readdirSync(path.join(trashDir, "files"));
    } catch {
      return [];
    }
  };
  const trashedBefore = trashed();

  // The user's way: click a tile (selects it), press Delete. No confirmation; Undo is offered.
  await selectTile(d, PROMPT);
  await d.actions().sendKeys(Key.DELETE).perform();
  const gone = await waitFor(
    "one image file to leave the gallery folder",
    () => {
      const g = candidates.filter((i) => !fs.existsSync(i.path));
      return g.length ? g : null;
    },
    10_000,
  );
  assert(gone.length === 1, `Delete removed ${gone.length} files, expected 1`);
  const image = gone[0];
  const newInTrash = trashed().filter((n) => !trashedBefore.includes(n));
  assert(
    newInTrash.length === 1 && newInTrash[0].startsWith(path.basename(image.path)),
    `expected ${path.basename(image.path)} in ${trashDir}/files, found new: ${JSON.stringify(newInTrash)}`,
  );
  const info = fs.readFileSync(path.join(trashDir, "info", `${newInTrash[0]}.trashinfo`), "utf8");
  assert(/^Path=/m.test(info) && /^DeletionDate=/m.test(info), `not a freedesktop trash entry: ${info}`);
  await waitFor("the index to drop the image", async () => (await allImages(d)).total === before.total - 1);
  assert(
    (await invoke(d, "get_image", { id: image.id }).catch((e) => e.message)).toString().includes("Missing"),
    "get_image still finds the deleted image",
  );
  await waitFor(`the gallery to show ${before.total - 1} images`, async () => (await galleryCount(d)) === before.total - 1);
  await waitFor("its tile to leave the grid", async () => (await tiles()) === tilesBefore - 1);
  await shot(d, "gallery-deleted");

  // Undo (the toast's action) takes the file out of the trash and re-indexes it.
  await clickNamed(d, "Undo", 5000);
  await waitFor(`${image.path} to come back`, () => fs.existsSync(image.path), 10_000);
  assert(!trashed().includes(newInTrash[0]), "the file is still in the trash after Undo");
  await waitFor("the index to have the image again", async () => (await allImages(d)).total === before.total);
  assert((await invoke(d, "get_image", { id: image.id })).path === image.path, "the image came back under another id or path");
  await waitFor(`the gallery to show ${before.total} images`, async () => (await galleryCount(d)) === before.total);
  await waitFor("its tile to come back", async () => (await tiles()) === tilesBefore);
});

test("export writes a valid file whose metadata carries the prompt", async (t) => {
  const d = (t.driver = await launch());
  const { items } = await allImages(d);
  const image = items.find((i) => i.prompt === PROMPT);
  assert(image, `no indexed image for "${PROMPT}"`);

  // JPEG through the UI: Export… on the selection. The folder is the one remembered from an
  // earlier export (the UI keeps it in localStorage), so no native folder picker opens.
  const viaUi = path.join(ROOT, "exports ü", "jpeg");
  fs.mkdirSync(viaUi, { recursive: true });
  await d.executeScript(
    `localStorage.setItem("fluxdesk.export", JSON.stringify({ format: "jpeg", quality: 85, dest: arguments[0] }));`,
    viaUi,
  );
  await openGallery(d, PROMPT);
  await selectTile(d, PROMPT);
  let jpeg;
  if (await find(d, "control", "Export", true)) {
    await clickNamed(d, "Export");
    await waitText(d, new RegExp(viaUi.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")), 5000);
    await clickNamed(d, "Export 1 image");
    jpeg = await waitFor(`a JPEG in ${viaUi}`, () => fs.readdirSync(viaUi).find((n) => /\.jpe?g$/i.test(n)), 15_000);
    jpeg = path.join(viaUi, jpeg);
  } else {
    console.log("# note: no Export control in the UI yet; exporting the JPEG via invoke('export_images')");
    const r = await invoke(d, "export_images", { request: { ids: [image.id], destDir: viaUi, format: "jpeg", quality: 85 } });
    jpeg = r.written[0];
  }
  // PNG through the command (the same path the dialog takes, without a second dialog round).
  const viaCmd = path.join(ROOT, "exports ü", "png");
  fs.mkdirSync(viaCmd, { recursive: true });
  const report = await invoke(d, "export_images", { request: { ids: [image.id], destDir: viaCmd, format: "png", quality: 90 } });
  assert(report.written.length === 1 && report.failed.length === 0, `export report: ${JSON.stringify(report)}`);

  for (const [file, kind] of [[jpeg, "jpeg"], [report.written[0], "png"]]) {
    const meta = embeddedText(file);
    assert(meta.kind === kind, `${file} is ${meta.kind}, expected ${kind}`);
    assert(meta.text.includes(PROMPT), `${file} (${meta.kind}) does not carry the prompt in its metadata`);
    const decoded = identify(file);
    if (decoded) assert(decoded.startsWith(kind === "jpeg" ? "JPEG" : "PNG"), `identify ${file}: ${decoded}`);
    console.log(`# exported ${path.relative(ROOT, file)} (${fs.statSync(file).size} bytes${decoded ? `, ${decoded}` : ""})`);
  }
});

test("copy puts the image's pixels on the clipboard", async (t) => {
  const d = (t.driver = await launch());
  await openGallery(d, PROMPT);
  await selectTile(d, PROMPT);
  await d.actions().keyDown(Key.CONTROL).sendKeys("c").keyUp(Key.CONTROL).perform();
  await waitText(d, /image copied to the clipboard/i, 10_000);
  // Outside the app, as another program would paste it (X11; the app owns the data while it runs).
  const xclip = (...args) => spawnSync("xclip", ["-selection", "clipboard", ...args, "-o"], { timeout: 10_000 });
  const targets = xclip("-t", "TARGETS");
  if (targets.error) {
    console.log("# note: xclip is not installed; checked the app's confirmation only");
    return;
  }
  assert(targets.stdout.toString().split("\n").includes("image/png"), `clipboard targets: ${targets.stdout}`);
  const png = xclip("-t", "image/png").stdout;
  assert(png.subarray(0, 8).equals(pngSignature), "the clipboard's image/png is not a PNG");
  const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
  const image = (await allImages(d)).items.find((i) => i.prompt === PROMPT);
  assert(w === image.width && h === image.height, `clipboard image is ${w}x${h}, the image is ${image.width}x${image.height}`);
  console.log(`# clipboard: image/png ${w}x${h}, ${png.length} bytes`);
});

/** Runs xdotool (the X server is xvfb-run's); throws on failure. */
function xdotool(...args) {
  const r = spawnSync("xdotool", args, { encoding: "utf8", timeout: 10_000 });
  if (r.error) throw new Error(`xdotool ${args.join(" ")}: ${r.error.message}`);
  assert(r.status === 0, `xdotool ${args.join(" ")}: exit ${r.status} ${r.stderr.trim()}`);
  return r.stdout;
}

/** Screen position of the app window's client area (no window manager: usually 0,0). */
function windowOrigin() {
  const ids = xdotool("search", "--onlyvisible", "--name", "^Fluxdesk$").trim().split("\n").filter(Boolean);
  assert(ids.length > 0, "no visible X window named Fluxdesk");
  const geo = Object.fromEntries(
    xdotool("getwindowgeometry", "--shell", ids[0]).trim().split("\n").map((l) => l.split("=")),
  );
  return { x: Number(geo.X), y: Number(geo.Y) };
}

// Records the webview's native drop events (`tauri://drag-drop`, which the UI's import listens to
// as well) in window.__e2eDrops.
const LISTEN_DROPS_JS = `
const done = arguments[arguments.length - 1];
window.__e2eDrops = [];
// The payload is { paths, position }; the event name says what happened.
const handler = window.__TAURI_INTERNALS__.transformCallback((e) => window.__e2eDrops.push({ type: "drop", ...e.payload }));
window.__TAURI_INTERNALS__.invoke("plugin:event|listen", { event: "tauri://drag-drop", target: { kind: "Any" }, handler })
  .then(() => done(true), (err) => done(String(err)));`;

/**
 * GTK starts a drag only while a mouse button is down: holds button 1 on an empty strip of the
 * window, runs `start` (which must begin the drag), then moves over the window at `to` (window
 * coordinates) and releases there. This is a real X11 drag-and-drop, not a simulation.
 */
async function dragWithHeldButton(start, to) {
  const o = windowOrigin();
  xdotool("mousemove", String(o.x + 700), String(o.y + 790), "mousedown", "1");
  try {
    await start();
    await sleep(1000); // the IPC round trips before GTK's drag begins take tens of ms
    xdotool("mousemove", String(o.x + to.x - 30), String(o.y + to.y - 30));
    await sleep(200);
    xdotool("mousemove", String(o.x + to.x), String(o.y + to.y));
    await sleep(300);
  } finally {
    xdotool("mouseup", "1");
  }
}

/** Waits for the first drop recorded by LISTEN_DROPS_JS. */
async function nextDrop(d) {
  return waitFor(
    "a drop event on the window",
    async () => (await d.executeScript("return window.__e2eDrops")).find((e) => e.type === "drop"),
    10_000,
  );
}

test("drag-out of a gallery file round-trips through a real drop", async (t) => {
  if (spawnSync("xdotool", ["version"]).status !== 0) {
    console.log("# skip: xdotool is not installed");
    return;
  }
  const d = (t.driver = await launch());
  const tile = await openGallery(d, PROMPT);
  const image = (await allImages(d)).items.find((i) => i.prompt === PROMPT);
  assert(/ /.test(image.path) && /[^\x00-\x7f]/.test(image.path), `the gallery path should hold a space and non-ASCII: ${image.path}`);
  const payload = await invoke(d, "drag_items", { ids: [image.id] });
  assert(payload.items.length === 1 && !payload.items[0].includes(" "), `drag_items did not encode the path: ${payload.items[0]}`);
  assert(payload.icon === (image.thumbPath ?? image.path), `drag icon ${payload.icon} is not the raw thumbnail path`);
  assert((await d.executeAsyncScript(LISTEN_DROPS_JS)) === true, "could not listen for drop events");

  // The UI starts the drag from the tile (its dragstart handler calls drag_items + startDrag);
  // the drop lands on the grid, to the right of the tile.
  const rect = await tile.getRect();
  await dragWithHeldButton(
    async () => {
      const handled = await d.executeScript(
        `return arguments[0].dispatchEvent(new DragEvent("dragstart", { bubbles: true, cancelable: true })) === false;`,
        tile,
      );
      if (!handled) console.log("# note: the tile's dragstart was not handled by the UI");
    },
    { x: Math.round(rect.x + rect.width + 200), y: Math.round(rect.y + 120) },
  );
  const drop = await nextDrop(d);
  console.log(`# dropped on the window: ${JSON.stringify(drop.paths)}`);
  assert(
    drop.paths.length === 1 && drop.paths[0] === image.path,
    `the drop target got ${JSON.stringify(drop.paths)}, expected [${JSON.stringify(image.path)}]`,
  );
  // The window's own drop handling imports what is dropped: the same file is already there.
  await waitText(d, /already in the gallery/i, 10_000);
});

test("files dropped on the window are imported", async (t) => {
  if (spawnSync("xdotool", ["version"]).status !== 0) {
    console.log("# skip: xdotool is not installed");
    return;
  }
  const d = (t.driver = await launch());
  await openGallery(d, PROMPT);
  const before = (await allImages(d)).total;
  // A file from elsewhere, with a name Linux drag code finds awkward.
  const file = path.join(ROOT, "incoming ü", "drop #1.png");
  writePng(file, 96, 64);
  assert((await d.executeAsyncScript(LISTEN_DROPS_JS)) === true, "could not listen for drop events");
  // Another app's drag, played by the drag plugin (as @crabnebula/tauri-plugin-drag's startDrag
  // calls it): the item percent-encoded per segment, the icon a plain path.
  await dragWithHeldButton(
    async () => {
      const r = await d.executeAsyncScript(
        `const [file, done] = arguments;
         const item = file.split("/").map(encodeURIComponent).join("/");
         const onEvent = "__CHANNEL__:" + window.__TAURI_INTERNALS__.transformCallback(() => {});
         window.__TAURI_INTERNALS__.invoke("plugin:drag|start_drag", { item: [item], image: file, options: { mode: "copy" }, onEvent })
           .then(() => done("ok"), (e) => done(String(e)));`,
        file,
      );
      assert(r === "ok", `start_drag: ${r}`);
    },
    { x: 640, y: 400 },
  );
  const drop = await nextDrop(d);
  assert(drop.paths.length === 1 && drop.paths[0] === file, `the window got ${JSON.stringify(drop.paths)}, expected [${JSON.stringify(file)}]`);
  await waitText(d, /imported 1 image/i, 10_000);
  await waitFor(`the index to hold ${before + 1} images`, async () => (await allImages(d)).total === before + 1);
  await waitFor(`the gallery to show ${before + 1} images`, async () => (await galleryCount(d)) === before + 1);
  const copied = [...walk(GALLERY)].filter((p) => fs.readFileSync(p).equals(fs.readFileSync(file)));
  assert(copied.length === 1, `expected one copy of the dropped file under ${GALLERY}, found ${copied.length}`);
  assert(fs.existsSync(file), "the dropped original must stay where it was");
});

/** The name of the open large view ("Image: <prompt>"), or null. */
const VIEWER_NAME_JS = `${PAGE_LIB}
const dlg = Array.from(document.querySelectorAll("[role=dialog]")).filter(visible).find((d) => norm(nameOf(d)).startsWith("image"));
return dlg ? nameOf(dlg) : null;`;

// Issue 7: a masked inpaint in the real window. The image from "demo generate" is opened in the large
// view, Edit → Inpaint puts it in Create as the source, a stroke is painted on the mask canvas with real
// pointer input, Generate runs fill-inpaint (demo mode: the simulator), the result shows up in the
// gallery, the index records its source, and its metadata panel links back to the source image.
const INPAINT_PROMPT = "a red fox at dawn, wearing a blue scarf";

test("masked inpaint: the result appears in the gallery and links to its source", async (t) => {
  const d = (t.driver = await launch());
  const source = (await allImages(d)).items.find((i) => i.prompt === PROMPT);
  assert(source, `no indexed image for "${PROMPT}"`);
  await openViewer(d, PROMPT);
  await clickNamed(d, "Edit…");
  await clickNamed(d, "Inpaint"); // the menu item ("Inpaint · Repaint the area you paint over")

  // Create, with the image as the source and the mask painter over it.
  const canvas = await waitFor(
    "the mask painter's canvas",
    () => d.executeScript(`return Array.from(document.querySelectorAll("canvas")).find((c) => (c.getAttribute("aria-label") || "").startsWith("Mask painter")) || null;`),
    15_000,
  );
  await waitText(d, /Paint over what should change/i, 10_000);
  const rect = await canvas.getRect();
  const dx = Math.round(rect.width * 0.2);
  await d
    .actions({ async: true })
    .move({ origin: canvas, x: -dx, y: 0 })
    .press()
    .move({ origin: canvas, x: 0, y: Math.round(rect.height * 0.1), duration: 150 })
    .move({ origin: canvas, x: dx, y: 0, duration: 150 })
    .release()
    .perform();
  await waitText(d, /% of the image will be repainted/i, 5000);
  await shot(d, "inpaint-mask", { docs: true });

  await setText(d, await need(d, "textbox", "Prompt"), INPAINT_PROMPT);
  await clickNamed(d, "Generate");
  await waitImage(d, INPAINT_PROMPT, 60_000);

  // The index knows the task and the source.
  const result = await waitFor(
    "the inpaint result in the index",
    async () => (await allImages(d)).items.find((i) => i.prompt === INPAINT_PROMPT),
    15_000,
  );
  assert(result.taskType === "fill-inpaint", `the result's task type is ${result.taskType}, expected fill-inpaint`);
  assert(result.sourceImageId === source.id, `the result's sourceImageId is ${result.sourceImageId}, expected ${source.id}`);
  assert(fs.existsSync(result.path) && result.path !== source.path, `the result is not a new file: ${result.path}`);
  console.log(`# inpaint result ${result.width}x${result.height} (source ${source.width}x${source.height}) → ${path.relative(GALLERY, result.path)}`);

  // The gallery shows it; its metadata panel names the task and opens the source.
  await openViewer(d, INPAINT_PROMPT);
  await waitText(d, /Inpaint/, 5000);
  await shot(d, "inpaint-result", { docs: true });
  await clickNamed(d, "Open source image");
  await waitFor(
    `the large view to show the source ("${PROMPT}")`,
    async () => /^image: a red fox at dawn$/i.test(((await d.executeScript(VIEWER_NAME_JS)) ?? "").replace(/\s+/g, " ").trim()),
    10_000,
  );
});

/**
 * "Remove key" may ask first: a DOM dialog (click its confirming button), a JS confirm() (accept
 * it), or a native GTK dialog (press Return via xdotool). Returns once `stillThere` stops matching.
 */
async function confirmIfAsked(d, stillThere) {
  const end = Date.now() + 6000;
  let pressedReturn = false;
  while (Date.now() < end) {
    try {
      await d.switchTo().alert().accept();
      console.log("# note: Remove key asked via window.confirm; accepted");
    } catch {
      // no alert
    }
    if (!stillThere.test(await bodyText(d))) return;
    const btn = await d.executeScript(`${PAGE_LIB}
      const dlg = Array.from(document.querySelectorAll("dialog[open], [role=dialog], [role=alertdialog]")).filter(visible)[0];
      if (!dlg) return null;
      const ok = ["remove key", "remove", "delete", "confirm", "yes", "ok"];
      const btns = Array.from(dlg.querySelectorAll(SEL.control)).filter(visible);
      for (const w of ok) { const b = btns.find((b) => norm(nameOf(b)) === w || norm(nameOf(b)).startsWith(w)); if (b) return b; }
      return null;`);
    if (btn) {
      await btn.click();
      console.log("# note: Remove key asked via an in-app dialog; confirmed");
      return;
    }
    if (!pressedReturn && Date.now() > end - 3000) {
      pressedReturn = true;
      const r = spawnSync("xdotool", ["key", "--clearmodifiers", "Return"], { timeout: 5000 });
      console.log(`# note: no change after Remove key; pressed Return via xdotool (exit ${r.status})`);
    }
    await sleep(200);
  }
}

// ---------------------------------------------------------------------------------------------
// Runner

let passed = 0;
let failed = 0;
fs.mkdirSync(ARTIFACTS, { recursive: true });
// E2E_ONLY (a regex over test names) runs a subset while developing a test; tests share the
// sandbox, so include the ones that set up what yours needs (e.g. "demo generate|rating").
const only = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY, "i") : null;
for (const t of tests) {
  if (only && !only.test(t.name)) continue;
  const ctx = { driver: null };
  const started = Date.now();
  try {
    await withTimeout(t.fn(ctx), TEST_TIMEOUT_MS, `test "${t.name}"`);
    passed++;
    console.log(`ok - ${t.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    const msg = String(e?.message ?? e).replace(/\s+/g, " ");
    console.log(`not ok - ${t.name}: ${msg}`);
    if (ctx.driver) {
      const slug = t.name.replace(/\W+/g, "-");
      try {
        await withTimeout(shot(ctx.driver, `FAIL-${slug}`), 10_000, "failure screenshot");
        const text = await withTimeout(bodyText(ctx.driver), 5000, "page text");
        fs.writeFileSync(path.join(ARTIFACTS, `FAIL-${slug}.txt`), `${msg}\n\n--- page text ---\n${text}\n`);
      } catch {
        // the app is gone; the error above says why
      }
    }
  } finally {
    await quit(ctx.driver);
  }
}
console.log(`E2E: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
