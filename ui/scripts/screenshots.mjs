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
    if (only && !only.test(name)) return;
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

      await page.locator("button.thumb").nth(3).click();
      await sleep(300);
      await page.keyboard.press("4");
      await shot(page, `${t}-07-large-view`);
      await page.keyboard.press("Escape");

      await page.getByRole("button", { name: "Settings", exact: true }).click();
      await shot(page, `${t}-08-settings`);
      await context.close();
    }

    // Settings in demo mode, with environment overrides.
    {
      const { page, context } = await open(t, {
        seedGallery: 6,
        keySource: "none",
        overrides: [{ field: "baseUrl", env: "PIAPI_BASE_URL" }],
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
