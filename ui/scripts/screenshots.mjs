#!/usr/bin/env node
// Screenshots of every screen in dark and light, driven through the real UI against the in-memory mock
// backend. Usage: npm run build && node scripts/screenshots.mjs [outDir]
// Starts `vite preview` itself (killed by PID at the end) and uses the system Chromium.

import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = resolve(process.argv[2] ?? join(root, "screenshots-preview"));
const PORT = Number(process.env.SHOT_PORT ?? 4173);
const BASE = `http://127.0.0.1:${PORT}/`;
const only = process.env.SHOT_ONLY ? new RegExp(process.env.SHOT_ONLY) : null;
mkdirSync(out, { recursive: true });

const MODEL_IDS = { "Flux Schnell": "Qubico/flux1-schnell", "Flux Dev": "Qubico/flux1-dev", "Flux Dev Advanced": "Qubico/flux1-dev-advanced" };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitForServer(url, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      /* not up yet */
    }
    await sleep(150);
  }
  throw new Error(`vite preview did not start on ${url}`);
}

const server = spawn(process.execPath, [join(root, "node_modules/vite/bin/vite.js"), "preview", "--port", String(PORT), "--strictPort", "--host", "127.0.0.1"], {
  cwd: root,
  stdio: ["ignore", "ignore", "inherit"],
});

let browser;
const shots = [];
try {
  await waitForServer(BASE);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });

  async function open(theme, mock, viewport = { width: 1280, height: 800 }, query = "") {
    const context = await browser.newContext({ viewport, deviceScaleFactor: 1, colorScheme: theme, reducedMotion: "reduce" });
    await context.addInitScript(
      ([t, m]) => {
        localStorage.setItem("fluxdesk.theme", t);
        window.__FLUXDESK_MOCK__ = { theme: t, ...m };
      },
      [theme, mock],
    );
    const page = await context.newPage();
    page.on("pageerror", (e) => console.error("pageerror:", e.message));
    page.on("console", (m) => m.type() === "error" && console.error("console:", m.text()));
    await page.goto(BASE + query);
    await page.waitForSelector("nav[aria-label=Places]");
    await sleep(300);
    return { page, context };
  }

  async function shot(page, name, { keepToasts = false } = {}) {
    if (only && !only.test(name)) {
      await sleep(250); // keep the timing of a full run
      return;
    }
    await page.mouse.move(900, 790); // park the pointer on the status strip: no hover tooltips
    if (!keepToasts) {
      for (const b of await page.getByRole("button", { name: "Dismiss", exact: true }).all()) await b.click().catch(() => {});
      await page.mouse.move(900, 790);
    }
    await sleep(250);
    const file = join(out, `${name}.png`);
    await page.screenshot({ path: file });
    shots.push(file);
    console.log("wrote", file);
  }

  async function generate(page, prompt, { model, count, size } = {}) {
    await page.getByLabel("Prompt", { exact: true }).fill(prompt);
    if (model) await page.locator(`input[name=model][value="${MODEL_IDS[model]}"]`).check();
    if (size) await page.getByRole("radio", { name: new RegExp(`^${size.replace(":", "\\:")},`) }).click();
    if (count) await page.getByRole("radio", { name: `${count} ${count === 1 ? "image" : "images"}`, exact: true }).click();
    await page.getByRole("button", { name: "Generate", exact: true }).click();
  }

  for (const theme of ["dark", "light"]) {
    const t = theme;

    // First run: empty library, demo mode.
    {
      const { page, context } = await open(t, { seedGallery: 0, seedJobs: false });
      await shot(page, `${t}-01-create-first-run`);
      await page.getByRole("button", { name: "Gallery", exact: true }).click();
      await shot(page, `${t}-02-gallery-empty`);
      await context.close();
    }

    // A working session with a key set: finished batch, a batch in flight, one failure.
    {
      const { page, context } = await open(t, { seedGallery: 30, seedJobs: true, speed: 0.12, keySource: "keychain" });
      await generate(page, "Soft pastel 3D shapes on a seamless studio backdrop, gentle shadows", { count: 4, size: "4:3" });
      await sleep(2600);
      await generate(page, "Misty forest valley at dawn, layered mountains, volumetric light", { model: "Flux Dev", count: 4, size: "16:9" });
      await sleep(1900);
      await page.getByLabel("Prompt", { exact: true }).fill("Brutalist concrete pavilion at dusk, long shadows, warm light");
      await shot(page, `${t}-03-create-generating`);

      await sleep(5200);
      await page.evaluate(() => window.__FLUXDESK_MOCK_BACKEND__?.configure({ failWith: "InsufficientCredits" }));
      await generate(page, "Editorial portrait, rim light, black backdrop", { model: "Flux Dev Advanced", count: 1, size: "2:3" });
      await sleep(400);
      await page.evaluate(() => window.__FLUXDESK_MOCK_BACKEND__?.configure({ failWith: null }));
      await generate(page, "Aerial view of salt flats in pink and teal, minimal landscape", { model: "Flux Dev", count: 3, size: "3:2" });
      await sleep(1500);
      await page.getByRole("button", { name: "Activity", exact: true }).click();
      await shot(page, `${t}-04-activity`, { keepToasts: true });

      await page.getByRole("button", { name: "Create", exact: true }).click();
      await sleep(4500);
      await shot(page, `${t}-05-create-results`);

      await page.getByRole("button", { name: "Gallery", exact: true }).click();
      await sleep(400);
      await shot(page, `${t}-06-gallery`);

      // Cull: a selection made with clicks, Ctrl-click and Shift-click; the selection bar appears.
      const thumbs = page.locator("button.thumb");
      await thumbs.nth(1).click({ modifiers: ["Control"] });
      await thumbs.nth(3).click({ modifiers: ["Control"] });
      await thumbs.nth(6).click({ modifiers: ["Shift"] });
      await sleep(200);
      await shot(page, `${t}-06b-gallery-selection`);
      await page.keyboard.press("Escape");

      await page.getByRole("searchbox", { name: "Search" }).fill("forest");
      await sleep(500);
      await thumbs.nth(0).dblclick();
      await sleep(400);
      await page.keyboard.press("4");
      await shot(page, `${t}-07-large-view`);
      await page.keyboard.press("Escape");
      await page.getByRole("searchbox", { name: "Search" }).fill("");
      await sleep(300);

      await page.getByRole("button", { name: "Settings", exact: true }).click();
      await shot(page, `${t}-08-settings`);
      await context.close();
    }

    // Settings in demo mode, with environment overrides.
    {
      const { page, context } = await open(t, {
        seedGallery: 6,
        keySource: "none",
        overrides: [
          { field: "baseUrl", env: "PIAPI_BASE_URL" },
          { field: "galleryDir", env: "FLUXDESK_GALLERY" },
          { field: "pollIntervalMs", env: "FLUXDESK_POLL_INTERVAL_MS" },
        ],
      });
      await page.getByRole("button", { name: "Settings", exact: true }).click();
      await sleep(200);
      await shot(page, `${t}-09-settings-demo`);
      await page.getByRole("button", { name: "Network" }).click();
      await sleep(500);
      await shot(page, `${t}-10-settings-network`);
      await context.close();
    }
  }

  // Batch planning, a busy queue (2 at a time) and its reorder list, a budget pause; both themes.
  for (const t of ["dark", "light"]) {
    const { page, context } = await open(t, { seedGallery: 40, seedJobs: true, speed: 0.6, keySource: "keychain", maxConcurrent: 2 });
    await page.getByRole("radio", { name: "Batch" }).click();
    await page
      .getByLabel(/^Prompts/)
      .fill(
        [
          "Brutalist concrete pavilion at dusk, long shadows, warm light",
          "Soft pastel 3D shapes on a seamless studio backdrop",
          "Aerial view of salt flats in pink and teal, minimal landscape",
          "Misty forest valley at dawn, layered mountains",
          "Bauhaus poster of concentric arches, citrus colours",
          "Ceramic vase still life in a muted Morandi palette",
        ].join("\n"),
      );
    await page.getByRole("radio", { name: "4 images", exact: true }).click();
    await page.getByRole("radio", { name: "Sweep" }).click();
    await page.locator(".compose .scroll").evaluate((el) => (el.scrollTop = 0));
    await shot(page, `${t}-03c-create-batch`);
    await page.getByRole("button", { name: "Generate", exact: true }).click();
    await sleep(2500);
    await shot(page, `${t}-03d-create-batch-running`);
    await page.getByRole("button", { name: "Activity", exact: true }).click();
    await sleep(300);
    await shot(page, `${t}-04b-activity-queue`);
    await page.evaluate(() =>
      window.__FLUXDESK_MOCK_BACKEND__?.pauseQueue("Today's budget of $0.05 is reached. Raise the daily budget in Settings, or resume tomorrow."),
    );
    await sleep(300);
    await shot(page, `${t}-04c-activity-paused`);
    await context.close();
  }

  // 100,000 images: the virtualized grid, scrolled deep, with a filter bar in use (dark only).
  {
    const { page, context } = await open("dark", { seedGallery: 100000, keySource: "keychain" });
    await page.getByRole("button", { name: "Gallery", exact: true }).click();
    await sleep(500);
    await page.getByRole("slider", { name: "Thumbnail size" }).fill("148");
    await page.locator(".gallery .scroller").evaluate((el) => (el.scrollTop = el.scrollHeight * 0.42));
    await sleep(2500);
    await shot(page, "dark-06c-gallery-100k");
    await page.getByRole("combobox", { name: "Date" }).selectOption("30d");
    await page.getByRole("radio", { name: "Landscape" }).check();
    await page.getByRole("combobox", { name: "Minimum rating" }).selectOption("3");
    await sleep(600);
    await shot(page, "dark-06d-gallery-filtered");
    const thumbs = page.locator("button.thumb");
    await thumbs.nth(0).click({ modifiers: ["Control"] });
    await thumbs.nth(1).click({ modifiers: ["Control"] });
    await page.getByRole("button", { name: "Export" }).click();
    await page.getByRole("radio", { name: "WebP" }).check();
    await sleep(200);
    await shot(page, "dark-06e-export-dialog");
    await page.keyboard.press("Escape");
    await page.evaluate(() => window.__FLUXDESK_MOCK_BACKEND__?.simulateFileHover());
    await sleep(200);
    await shot(page, "dark-06f-drop-to-import");
    await context.close();
  }

  // A key is set but PiAPI cannot be reached: the account card says why and offers Retry (dark only).
  {
    const { page, context } = await open("dark", { seedGallery: 6, keySource: "environment", accountFailWith: "Network" });
    await page.getByRole("button", { name: "Settings", exact: true }).click();
    await sleep(300);
    await shot(page, "dark-08b-settings-balance-unavailable");
    await context.close();
  }

  // "Use settings" with an unsent prompt in Create asks first (dark only).
  {
    const { page, context } = await open("dark", { seedGallery: 12, keySource: "keychain" });
    await page.getByLabel("Prompt", { exact: true }).fill("A half-written idea about lighthouses");
    await page.getByRole("button", { name: "Gallery", exact: true }).click();
    await sleep(300);
    await page.locator("button.thumb").nth(2).dblclick();
    await sleep(300);
    await page.getByRole("button", { name: "Use settings" }).click();
    await sleep(200);
    await shot(page, "dark-07b-replace-prompt");
    await context.close();
  }

  // The "More" options, dark only.
  {
    const { page, context } = await open("dark", { seedGallery: 12, seedJobs: true, speed: 0.2, keySource: "keychain" });
    await page.getByLabel("Prompt", { exact: true }).fill("Retro-futurist poster of a lunar railway, bauhaus geometry, citrus colours");
    await page.getByRole("button", { name: "More" }).click();
    await page.getByLabel("Negative prompt").fill("text, watermark, blurry");
    await page.getByRole("button", { name: "Roll a new seed" }).click();
    await page.getByLabel("Steps").fill("28");
    await page.getByLabel("Guidance").fill("3.5");
    await page.locator("input[name=model][value='Qubico/flux1-dev']").check();
    await page.getByRole("button", { name: "Generate", exact: true }).click();
    await sleep(2200);
    await shot(page, "dark-03b-create-more-options");
    await context.close();
  }

  // Wave 3: edit an image from the large view (Edit menu), the inpaint mask painter with a stroke, the
  // result linking back to its source, outpaint margins over budget, and ControlNet + LoRA. Both themes.
  for (const t of ["dark", "light"]) {
    const { page, context } = await open(t, { seedGallery: 12, seedJobs: true, speed: 0.1, keySource: "keychain" });
    await page.getByRole("button", { name: "Gallery", exact: true }).click();
    await sleep(300);
    await page.locator("button.thumb").nth(1).dblclick();
    await sleep(300);
    await page.getByRole("complementary", { name: "Details" }).getByRole("button", { name: "Edit…" }).click();
    await sleep(200);
    await shot(page, `${t}-17-edit-menu`);
    await page.getByRole("menuitem", { name: /^Inpaint/ }).click();
    await page.waitForSelector("canvas[aria-label^='Mask painter']");
    await sleep(400);
    const box = await page.locator("canvas[aria-label^='Mask painter']").boundingBox();
    if (box) {
      await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.45);
      await page.mouse.down();
      for (let i = 1; i <= 12; i++) await page.mouse.move(box.x + box.width * (0.3 + i * 0.03), box.y + box.height * (0.45 + Math.sin(i / 2) * 0.08));
      await page.mouse.up();
    }
    await page.getByLabel("Prompt", { exact: true }).fill("a glass greenhouse with warm light");
    await sleep(200);
    await shot(page, `${t}-18-inpaint-painter`);
    await page.getByRole("button", { name: "Generate", exact: true }).click();
    await sleep(2600);
    await shot(page, `${t}-19-inpaint-result`);
    await page.locator(".results button").filter({ has: page.locator("img") }).first().click().catch(() => {});
    await sleep(500);
    await shot(page, `${t}-20-result-source-link`);
    await page.keyboard.press("Escape");
    await sleep(200);

    await page.getByRole("radio", { name: "Outpaint" }).check();
    await sleep(200);
    await page.getByRole("button", { name: "Wider" }).click();
    await sleep(200);
    await shot(page, `${t}-21-outpaint`);
    await page.getByLabel("Top margin").fill("600");
    await page.getByLabel("Bottom margin").fill("600");
    await sleep(200);
    await shot(page, `${t}-22-outpaint-over-budget`);

    await page.getByRole("radio", { name: "ControlNet" }).check();
    await page.getByRole("checkbox", { name: "LoRA style" }).check();
    await sleep(200);
    await page.getByRole("button", { name: "From gallery…" }).click();
    await sleep(300);
    await shot(page, `${t}-23-gallery-picker`);
    await page.getByRole("dialog").locator("button.pick").nth(3).click();
    await sleep(300);
    await page.locator(".compose .scroll").evaluate((el) => (el.scrollTop = 0));
    await shot(page, `${t}-24-controlnet-lora`);
    await context.close();
  }

  // Small window + shortcuts overlay + validation, dark only.
  {
    const { page, context } = await open("dark", { seedGallery: 12, seedJobs: true, speed: 0.2 }, { width: 1024, height: 700 });
    await page.getByLabel("Prompt", { exact: true }).fill("Ceramic vase still life in a muted Morandi palette");
    await page.getByRole("button", { name: "More" }).click();
    await page.getByLabel("Width", { exact: true }).fill("2000");
    await page.getByLabel("Height", { exact: true }).fill("2000");
    await shot(page, "dark-11-create-1024-validation");
    await page.getByRole("button", { name: /^Use / }).click();
    await page.getByRole("button", { name: "Generate", exact: true }).click();
    await sleep(1400);
    await shot(page, "dark-12-create-1024-generating");
    await page.getByRole("button", { name: "Gallery", exact: true }).click();
    await shot(page, "dark-13-gallery-1024");
    await page.getByRole("button", { name: "Activity", exact: true }).click();
    await shot(page, "dark-14-activity-1024");
    await page.getByRole("button", { name: "Settings", exact: true }).click();
    await shot(page, "dark-15-settings-1024");
    await page.locator("body").press("?");
    await shot(page, "dark-16-shortcuts");
    await context.close();
  }
} finally {
  await browser?.close().catch(() => {});
  server.kill("SIGTERM");
}
console.log(`${shots.length} screenshots in ${out}`);
