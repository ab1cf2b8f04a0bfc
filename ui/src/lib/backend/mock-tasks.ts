// The mock backend's side of wave 3 (team/WAVE3.md): the task catalog as piapi's one table defines it
// (schnell: txt2img img2img *-sr; dev: txt2img img2img; dev-advanced: everything; per-image price = the
// model's price), and "results" that visibly derive from their source, composed as SVG around the source's
// own data: URL (inpaint shows new art only where the mask is white, outpaint grows the canvas, …).

import type { ControlType, GenerateRequest, Model, TaskCatalog, TaskInfo, TaskType } from "./types";
import { artDataUrl, hash } from "./mock-art";

const SCHNELL: Model = "Qubico/flux1-schnell";
const DEV: Model = "Qubico/flux1-dev";
const ADV: Model = "Qubico/flux1-dev-advanced";
const PRICE: Record<Model, number> = { [SCHNELL]: 0.0015, [DEV]: 0.015, [ADV]: 0.02 };

export const LORA_TYPES: readonly string[] = [
  "anime", "art", "disney", "furry", "mjv6", "realism", "scenery", "collage-artstyle", "creepcute",
  "cyberpunk-anime-style", "deco-pulse", "deep-sea-particle-enhencer", "faetastic-details", "fractal-geometry",
  "galactixy-illustrations-style", "geometric-woman", "graphic-portrait", "mat-miller-art", "moebius-style",
  "ob3d-isometric-3d-room", "paper-quilling-and-layering-style", "remes-abstract-poster-style",
];

export const CONTROL_TYPES: readonly ControlType[] = ["depth", "soft_edge", "canny", "openpose"];

type Row = [TaskType, string, Model[], Partial<TaskInfo>];
const ROWS: Row[] = [
  ["txt2img", "Text to image", [SCHNELL, DEV, ADV], { takesSize: true }],
  ["img2img", "Image to image", [SCHNELL, DEV, ADV], { needsImage: true, takesDenoise: true }],
  ["txt2img-lora", "Text to image + LoRA", [ADV], { minLoras: 1, maxLoras: 1, takesSize: true }],
  ["img2img-lora", "Image to image + LoRA", [ADV], { needsImage: true, minLoras: 1, maxLoras: 1, takesDenoise: true }],
  ["controlnet-lora", "ControlNet", [ADV], { maxLoras: 1, needsControl: true, takesSize: true }],
  ["fill-inpaint", "Inpaint", [ADV], { needsImage: true }],
  ["fill-outpaint", "Outpaint", [ADV], { needsImage: true, takesOutpaint: true }],
  ["redux-variation", "Variation", [ADV], { needsImage: true }],
  ["kontext", "Kontext edit", [ADV], { needsImage: true, takesSize: true }],
  ["txt2img-sr", "Text to image, upscaled", [SCHNELL, ADV], { takesSize: true, takesScale: true }],
  ["img2img-sr", "Upscale", [SCHNELL, ADV], { needsImage: true, takesScale: true }],
];

export function mockCatalog(): TaskCatalog {
  const tasks: TaskInfo[] = ROWS.map(([taskType, label, models, flags]) => ({
    taskType,
    label,
    models: [...models],
    needsImage: false,
    minLoras: 0,
    maxLoras: 0,
    needsControl: false,
    takesSize: false,
    takesDenoise: false,
    takesOutpaint: false,
    takesScale: false,
    batchModels: taskType === "txt2img" || taskType === "img2img" ? [SCHNELL] : [],
    prices: models.map((model) => ({ model, usd: PRICE[model] })),
    ...flags,
  }));
  return { tasks, loraTypes: [...LORA_TYPES], controlTypes: [...CONTROL_TYPES] };
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A prompt's colour (the simulator tints toward a prompt colour too). */
function tint(prompt: string): string {
  const h = hash(prompt) % 360;
  return `hsl(${h} 70% 55%)`;
}

export type Derive = {
  request: GenerateRequest;
  seed: number;
  /** The source's image URL (a data: URL in the mock) and size. */
  source: { url: string; width: number; height: number } | null;
  control: { url: string; width: number; height: number } | null;
  width: number;
  height: number;
};

/** An SVG data: URL showing the task applied to the source. */
export function derivedDataUrl(d: Derive): string {
  const { request: r, width: W, height: H } = d;
  const task = r.taskType ?? "txt2img";
  const s = d.source;
  const scale = 512 / Math.max(W, H);
  const w = Math.round(W * scale);
  const h = Math.round(H * scale);
  const art = (pw = w, ph = h) => artDataUrl(r.prompt, d.seed, Math.max(1, Math.round(pw / scale)), Math.max(1, Math.round(ph / scale)));
  const colour = tint(r.prompt);
  let body = "";
  const img = (href: string, x: number, y: number, iw: number, ih: number, extra = "") =>
    `<image href="${href}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${iw.toFixed(1)}" height="${ih.toFixed(1)}" preserveAspectRatio="none" ${extra}/>`;
  const band = (text: string) =>
    `<rect x="0" y="${h - 34}" width="${w}" height="34" fill="rgba(0,0,0,.55)"/><text x="12" y="${h - 12}" font-family="system-ui,sans-serif" font-size="15" fill="#fff">${esc(text.slice(0, 60))}</text>`;
  const lora = r.loras?.[0];
  switch (task) {
    case "img2img":
    case "img2img-lora":
      body = `${img(s?.url ?? art(), 0, 0, w, h)}<rect width="${w}" height="${h}" fill="${colour}" opacity="${((r.denoise ?? 0.7) * 0.55).toFixed(2)}" style="mix-blend-mode:color"/>`;
      break;
    case "fill-inpaint": {
      const mask = r.mask?.pngBase64 ? `data:image/png;base64,${r.mask.pngBase64}` : null;
      body = `${img(s?.url ?? art(), 0, 0, w, h)}${
        mask ? `<defs><mask id="m" maskUnits="userSpaceOnUse" x="0" y="0" width="${w}" height="${h}">${img(mask, 0, 0, w, h)}</mask></defs><g mask="url(#m)">${img(art(), 0, 0, w, h)}</g>` : ""
      }`;
      break;
    }
    case "fill-outpaint": {
      const m = r.outpaint ?? { left: 0, right: 0, top: 0, bottom: 0 };
      const k = s ? w / (s.width + m.left + m.right) : 1;
      body = `${img(art(), 0, 0, w, h)}${s ? img(s.url, m.left * k, m.top * k, s.width * k, s.height * k) : ""}`;
      break;
    }
    case "redux-variation":
      body = `<g transform="translate(${w} 0) scale(-1 1)">${img(s?.url ?? art(), 0, 0, w, h)}</g><rect width="${w}" height="${h}" fill="${colour}" opacity=".25"/>`;
      break;
    case "kontext":
      body = `${img(s?.url ?? art(), 0, 0, w, h)}<rect width="${w}" height="${h}" fill="#ff9a3c" opacity=".18"/>${band(r.prompt)}`;
      break;
    case "controlnet-lora":
      body = `${img(art(), 0, 0, w, h)}${d.control ? img(d.control.url, 0, 0, w, h, 'opacity=".45" style="mix-blend-mode:luminosity"') : ""}`;
      break;
    case "img2img-sr":
      body = img(s?.url ?? art(), 0, 0, w, h);
      break;
    default:
      body = img(art(), 0, 0, w, h);
  }
  if (lora) body += band(`LoRA ${lora.name}`);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${body}</svg>`;
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}
