// Flux task types as the Create screen offers them (team/WAVE3.md): which task the designer's choice
// resolves to, which models and counts it allows, what it costs, and why it cannot run yet. Everything is
// driven by the backend's TaskCatalog (one table in Rust); this module only maps choices onto it.
// Pure functions, no state: unit-tested in tests/tasks.test.ts.

import type { Margins, Model, TaskCatalog, TaskInfo, TaskType } from "../backend/types";
import { MAX_PIXELS } from "./sizes";

/** What the designer picks in the task chooser; LoRA and "upscale the result" refine it into a TaskType. */
export type Intent = "txt2img" | "img2img" | "fill-inpaint" | "fill-outpaint" | "kontext" | "redux-variation" | "controlnet-lora" | "img2img-sr";

/** Names of Icon.svelte glyphs (kept as literals: this module does not import components). */
export type TaskIcon = "sparkle" | "image" | "brush" | "outpaint" | "pencil" | "shuffle" | "control" | "upscale";

export type IntentInfo = { id: Intent; short: string; icon: TaskIcon; blurb: string };

/** The chooser, in the order shown. Labels come from the catalog when it has them (`intentLabel`). */
export const INTENTS: readonly IntentInfo[] = [
  { id: "txt2img", short: "Text", icon: "sparkle", blurb: "A new image from a prompt" },
  { id: "img2img", short: "Image", icon: "image", blurb: "Restyle a source image with the prompt" },
  { id: "fill-inpaint", short: "Inpaint", icon: "brush", blurb: "Repaint the area you paint over" },
  { id: "fill-outpaint", short: "Outpaint", icon: "outpaint", blurb: "Extend the canvas beyond its edges" },
  { id: "kontext", short: "Kontext", icon: "pencil", blurb: "Edit the image with an instruction" },
  { id: "redux-variation", short: "Variation", icon: "shuffle", blurb: "A new take on the source image" },
  { id: "controlnet-lora", short: "ControlNet", icon: "control", blurb: "Follow the structure of a control image" },
  { id: "img2img-sr", short: "Upscale", icon: "upscale", blurb: "Enlarge the source image 2× or 4×" },
];

/** The tasks the gallery's "Edit" offers, in menu order. */
export const EDIT_TASKS: readonly TaskType[] = ["img2img", "fill-inpaint", "fill-outpaint", "kontext", "redux-variation", "img2img-sr"];

/** Designer words when the catalog is not loaded (or lacks a label). */
const FALLBACK_LABELS: Record<TaskType, string> = {
  txt2img: "Text to image",
  img2img: "Image to image",
  "txt2img-lora": "Text to image + LoRA",
  "img2img-lora": "Image to image + LoRA",
  "controlnet-lora": "ControlNet",
  "fill-inpaint": "Inpaint",
  "fill-outpaint": "Outpaint",
  "redux-variation": "Variation",
  kontext: "Kontext edit",
  "txt2img-sr": "Text to image, upscaled",
  "img2img-sr": "Upscale",
};

export type TaskOptions = { lora: boolean; upscale: boolean };

/** The TaskType a choice resolves to. LoRA wins over upscaling (they cannot be combined). */
export function resolveTask(intent: Intent, opts: TaskOptions): TaskType {
  if (intent === "txt2img") return opts.lora ? "txt2img-lora" : opts.upscale ? "txt2img-sr" : "txt2img";
  if (intent === "img2img") return opts.lora ? "img2img-lora" : "img2img";
  return intent;
}

/** The choice that resolves to a TaskType (restoring a request into the form). */
export function intentOf(task: TaskType): { intent: Intent } & TaskOptions {
  switch (task) {
    case "txt2img-lora":
      return { intent: "txt2img", lora: true, upscale: false };
    case "txt2img-sr":
      return { intent: "txt2img", lora: false, upscale: true };
    case "img2img-lora":
      return { intent: "img2img", lora: true, upscale: false };
    case "controlnet-lora":
      return { intent: task, lora: false, upscale: false };
    default:
      return { intent: task, lora: false, upscale: false };
  }
}

export function findTask(catalog: TaskCatalog | null | undefined, task: TaskType): TaskInfo | undefined {
  return catalog?.tasks.find((t) => t.taskType === task);
}

export function taskLabel(catalog: TaskCatalog | null | undefined, task: TaskType): string {
  return findTask(catalog, task)?.label || FALLBACK_LABELS[task] || task;
}

/** The chooser offers an intent only when the catalog knows its task. */
export function intentsAvailable(catalog: TaskCatalog | null | undefined): IntentInfo[] {
  if (!catalog) return INTENTS.filter((i) => i.id === "txt2img");
  return INTENTS.filter((i) => findTask(catalog, i.id));
}

/** Can the intent take a LoRA (through its *-lora task, or controlnet-lora's optional one)? */
export function loraAvailable(catalog: TaskCatalog | null | undefined, intent: Intent): boolean {
  if (!catalog?.loraTypes.length) return false;
  const t = intent === "txt2img" ? "txt2img-lora" : intent === "img2img" ? "img2img-lora" : intent === "controlnet-lora" ? intent : null;
  return !!t && (findTask(catalog, t)?.maxLoras ?? 0) > 0;
}

/** Is the LoRA required by the task (min_loras ≥ 1) rather than optional? */
export function loraRequired(info: TaskInfo | undefined): boolean {
  return (info?.minLoras ?? 0) > 0;
}

/** Text to image can be upscaled in the same task (txt2img-sr). */
export function upscaleAvailable(catalog: TaskCatalog | null | undefined, intent: Intent): boolean {
  return intent === "txt2img" && !!findTask(catalog, "txt2img-sr");
}

/**
 * The model a request uses: the one chosen when the task allows it, else the first the task allows that
 * the designer might prefer (the default model), else the task's first model.
 */
export function effectiveModel(info: TaskInfo | undefined, chosen: Model, preferred: Model = chosen): Model {
  if (!info || !info.models.length) return chosen;
  if (info.models.includes(chosen)) return chosen;
  if (info.models.includes(preferred)) return preferred;
  return info.models[0];
}

/** Per-image price of a task on a model, from the catalog; null when the pair is not offered. */
export function priceFor(info: TaskInfo | undefined, model: Model): number | null {
  return info?.prices.find((p) => p.model === model)?.usd ?? null;
}

/** Estimated cost of `count` images, rounded to a hundredth of a cent to avoid float noise. */
export function estimateTaskCost(info: TaskInfo | undefined, model: Model, count: number): number | null {
  const price = priceFor(info, model);
  return price == null ? null : Math.round(price * count * 10_000) / 10_000;
}

export const MAX_IMAGES = 8;

/** How many images one request may ask for. Upscaling a source gives the same picture each time: one. */
export function maxCount(task: TaskType): number {
  return task === "img2img-sr" ? 1 : MAX_IMAGES;
}

/**
 * Batch mode (many prompts, team/WAVE2.md BatchRequest) carries no task fields: plain text to image only.
 * (Each image is its own PiAPI task, so PiAPI's batch_size — `TaskInfo.batchModels` — is not used.)
 */
export function batchModeAllowed(task: TaskType): boolean {
  return task === "txt2img";
}

export type Size = { width: number; height: number };

const fmt = (n: number) => n.toLocaleString("en-US");

export type OutpaintBudget = { added: number; output: Size; over: boolean; error: string | null };

/** PiAPI's outpaint limit: the added area (output minus source) stays within 1,048,576 px. */
export function outpaintBudget(source: Size, m: Margins): OutpaintBudget {
  const sides = [m.left, m.right, m.top, m.bottom];
  const valid = sides.every((v) => Number.isInteger(v) && v >= 0);
  const output = valid ? { width: source.width + m.left + m.right, height: source.height + m.top + m.bottom } : { ...source };
  const added = valid ? output.width * output.height - source.width * source.height : 0;
  const over = added > MAX_PIXELS;
  let error: string | null = null;
  if (!valid) error = "Margins must be whole numbers of pixels, 0 or more.";
  else if (sides.every((v) => v === 0)) error = "Add a margin on at least one side.";
  else if (over) error = `The margins add ${fmt(added)} px; the limit is ${fmt(MAX_PIXELS)} px. Make them smaller.`;
  return { added, output, over, error };
}

/** The largest equal margin on the chosen sides that keeps the added area within the budget. */
export function fitMargin(source: Size, sides: { left: boolean; right: boolean; top: boolean; bottom: boolean }): number {
  let lo = 0;
  let hi = 4096;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const m = { left: sides.left ? mid : 0, right: sides.right ? mid : 0, top: sides.top ? mid : 0, bottom: sides.bottom ? mid : 0 };
    if (outpaintBudget(source, m).added <= MAX_PIXELS) lo = mid;
    else hi = mid - 1;
  }
  return Math.floor(lo / 8) * 8;
}

/** The margins scaled down (same proportions, multiples of 8) until the added area fits the budget. */
export function shrinkToBudget(source: Size, m: Margins): Margins {
  if (outpaintBudget(source, m).added <= MAX_PIXELS) return { ...m };
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 24; i++) {
    const k = (lo + hi) / 2;
    const s = scaleMargins(m, k);
    if (outpaintBudget(source, s).added <= MAX_PIXELS) lo = k;
    else hi = k;
  }
  return scaleMargins(m, lo);
}

function scaleMargins(m: Margins, k: number): Margins {
  const f = (v: number) => Math.floor((v * k) / 8) * 8;
  return { left: f(m.left), right: f(m.right), top: f(m.top), bottom: f(m.bottom) };
}

/** What the form holds, as far as task validity is concerned. */
export type TaskDraft = {
  task: TaskType;
  info: TaskInfo | undefined;
  /** The source's size once source_info answered; null while there is no (readable) source. */
  source: Size | null;
  maskPainted: boolean;
  margins: Margins;
  hasControl: boolean;
  lora: string | null;
  loraStrength: number;
  denoise: number;
  controlStrength: number;
  scale: number;
};

/** Why the task cannot run as set up (a sentence saying what to do), or null. */
export function taskProblem(d: TaskDraft): string | null {
  const info = d.info;
  if (!info) return "This task is not available. Choose another task.";
  if (info.needsImage && !d.source) return "Choose a source image: from the gallery, a file, or paste one.";
  if (d.task === "fill-inpaint" && !d.maskPainted) return "Paint over the area to repaint.";
  if (info.takesOutpaint && d.source) {
    const b = outpaintBudget(d.source, d.margins);
    if (b.error) return b.error;
  }
  if (info.needsControl && !d.hasControl) return "Choose a control image.";
  if (loraRequired(info) && !d.lora) return "Choose a LoRA style.";
  if (d.lora && !(d.loraStrength >= 0 && d.loraStrength <= 2)) return "LoRA strength must be between 0 and 2.";
  if (info.needsControl && !(d.controlStrength >= 0 && d.controlStrength <= 1)) return "Control strength must be between 0 and 1.";
  if (info.takesDenoise && !(d.denoise > 0 && d.denoise <= 1)) return "Denoise must be above 0 and at most 1.";
  if (info.takesScale && d.scale !== 2 && d.scale !== 4) return "Choose an upscale of 2× or 4×.";
  return null;
}

/** "Strong LoRA name" for display: "ob3d-isometric-3d-room" → "Ob3d isometric 3d room". */
export function loraLabel(name: string): string {
  const s = name.replace(/-/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}
