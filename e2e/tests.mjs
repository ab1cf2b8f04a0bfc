// Fluxdesk desktop e2e tests: the real binary, driven through tauri-driver (WebDriver).
//
// Why: prove the user-visible contract end to end (real IPC, real SQLite, real files, real Secret
// Service): demo generation shows an image loaded from disk through the asset protocol, Activity and
// Gallery see it (and search filters it), and the API key goes to the keychain and nowhere else.
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
import { Builder, Key } from "selenium-webdriver";

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

/** Screenshot of the webview into artifacts/, and for main screens also docs/screenshots/. */
async function shot(driver, name, { docs = false } = {}) {
  // Park the pointer on the empty status strip so no hover tooltip is in the picture.
  await driver.actions({ async: true }).move({ x: 700, y: 790 }).perform().catch(() => {});
  await sleep(800); // takeScreenshot right after a change can show the previous frame
  const png = Buffer.from(await driver.takeScreenshot(), "base64");
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.writeFileSync(path.join(ARTIFACTS, `${name}.png`), png);
  if (docs) {
    fs.mkdirSync(DOCS_SHOTS, { recursive: true });
    fs.writeFileSync(path.join(DOCS_SHOTS, `${name}.png`), png);
  }
}

const assert = (cond, msg) => {
  if (!cond) throw new Error(msg);
};

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
});

test("activity and gallery", async (t) => {
  const d = (t.driver = await launch());
  await clickNamed(d, "Activity");
  await waitText(d, new RegExp(PROMPT), 10_000);
  await waitImage(d, PROMPT, 10_000); // the task's thumbnail
  await shot(d, "activity", { docs: true });

  await clickNamed(d, "Gallery");
  await waitImage(d, PROMPT, 15_000);
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
for (const t of tests) {
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
