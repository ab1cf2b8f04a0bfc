// The Create form. Lives outside the component so a half-written prompt survives switching places.

import {
  backend,
  type BatchRequest,
  type ControlType,
  type GenerateRequest,
  type ImageView,
  type Margins,
  type Model,
  type SeedPlan,
  type Settings,
  type TaskCatalog,
  type TaskInfo,
  type TaskType,
} from "../backend";
import { estimateCost, modelInfo } from "../util/models";
import { fitToLimit, presetFor, validateSize } from "../util/sizes";
import {
  batchModeAllowed,
  effectiveModel,
  estimateTaskCost,
  findTask,
  intentOf,
  loraAvailable,
  maxCount,
  outpaintBudget,
  priceFor,
  resolveTask,
  taskProblem,
  upscaleAvailable,
  type Intent,
  type Size,
} from "../util/tasks";
import { SourceSlot } from "./source.svelte";
import { mask } from "./mask.svelte";

export const GUIDANCE_MIN = 1.5;
export const GUIDANCE_MAX = 5;
export const GUIDANCE_DEFAULT = 3;
export const STEPS_MIN = 1;
export const STEPS_MAX = 50;

export const BATCH_MAX_IMAGES = 1000;
export const BATCH_MAX_PROMPTS = 200;

export function randomSeed(): number {
  return Math.floor(Math.random() * 2_147_483_647);
}

export type CreateMode = "single" | "batch";
export type SeedMode = SeedPlan["kind"];

/** The prompts of a batch: one per line, blank lines and surrounding spaces ignored. */
export function parsePrompts(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}

const isSeed = (n: number | null): n is number => n != null && Number.isInteger(n) && n >= 0;

export const DENOISE_DEFAULT = 0.7;
export const LORA_STRENGTH_DEFAULT = 1;
export const CONTROL_STRENGTH_DEFAULT = 0.6;
export const DEFAULT_MARGINS: Margins = { left: 256, right: 256, top: 0, bottom: 0 };

/** Longest side of an upscaled result (the simulator and PiAPI cap it). */
const SR_MAX_SIDE = 2048;

class CreateForm {
  mode: CreateMode = $state("single");
  prompt = $state("");
  /** Batch prompts, one per line. */
  batchText = $state("");
  seedMode: SeedMode = $state("random");
  sweepStart: number | null = $state(1000);
  sweepStep: number | null = $state(1);
  /** Prompt text as it was last sent; anything else in the field is "unsent". */
  lastSent = $state("");
  lastSentBatch = $state("");
  negativePrompt = $state("");
  model: Model = $state("Qubico/flux1-schnell");
  width: number | null = $state(1024);
  height: number | null = $state(1024);
  count = $state(4);
  seedLocked = $state(false);
  seed: number | null = $state(randomSeed());
  steps: number | null = $state(null);
  guidance: number | null = $state(null);
  moreOpen = $state(false);
  busy = $state(false);
  /** Set once the user touched model/size, so late-loading defaults never overwrite their choice. */
  touched = $state(false);

  // ---- wave 3: the task and its inputs ----
  /** The backend's task table (null until loaded, or when an older shell has none: text to image only). */
  catalog: TaskCatalog | null = $state.raw(null);
  intent: Intent = $state("txt2img");
  loraOn = $state(false);
  loraName: string | null = $state(null);
  loraStrength = $state(LORA_STRENGTH_DEFAULT);
  /** Text to image, upscaled in the same task (txt2img-sr). */
  upscaleOn = $state(false);
  scale = $state(2);
  denoise = $state(DENOISE_DEFAULT);
  readonly source = new SourceSlot();
  readonly control = new SourceSlot();
  controlType: ControlType = $state("canny");
  controlStrength = $state(CONTROL_STRENGTH_DEFAULT);
  margins: Margins = $state({ ...DEFAULT_MARGINS });

  /** The TaskType the choices resolve to. */
  task: TaskType = $derived(
    resolveTask(this.intent, {
      lora: this.loraOn && loraAvailable(this.catalog, this.intent) && this.intent !== "controlnet-lora",
      upscale: this.upscaleOn && upscaleAvailable(this.catalog, this.intent),
    }),
  );
  info: TaskInfo | undefined = $derived(findTask(this.catalog, this.task));
  /** The task's models (all when the catalog is not loaded). */
  models: Model[] = $derived(this.info?.models ?? ["Qubico/flux1-schnell", "Qubico/flux1-dev", "Qubico/flux1-dev-advanced"]);
  /** The model a request uses: the chosen one when the task allows it. */
  modelUsed: Model = $derived(effectiveModel(this.info, this.model));
  needsSource: boolean = $derived(this.info?.needsImage ?? false);
  takesSize: boolean = $derived(this.info?.takesSize ?? true);
  /** A LoRA is part of the request (chosen and allowed; required on *-lora). */
  loraActive: boolean = $derived(
    loraAvailable(this.catalog, this.intent) && (this.loraOn || (this.info?.minLoras ?? 0) > 0) && (this.info?.maxLoras ?? 0) > 0,
  );
  maxCount: number = $derived(maxCount(this.task));
  countUsed: number = $derived(Math.min(this.count, this.maxCount));
  batchAllowed: boolean = $derived(batchModeAllowed(this.task));
  sourceSize: Size | null = $derived(this.source.info ? { width: this.source.info.width, height: this.source.info.height } : null);
  outpaint = $derived(this.sourceSize ? outpaintBudget(this.sourceSize, this.margins) : null);
  /** The size of what the task will make, when it can be known. */
  outputSize: Size | null = $derived.by(() => {
    const src = this.sourceSize;
    if (this.takesSize) {
      if (this.width == null || this.height == null) return null;
      const k = this.info?.takesScale ? Math.min(this.scale, SR_MAX_SIDE / Math.max(this.width, this.height)) : 1;
      return { width: Math.round(this.width * k), height: Math.round(this.height * k) };
    }
    if (!src) return null;
    if (this.info?.takesOutpaint) return this.outpaint?.output ?? null;
    const fit = fitToLimit(src.width, src.height);
    if (this.info?.takesScale) {
      const k = Math.min(this.scale, SR_MAX_SIDE / Math.max(src.width, src.height));
      return { width: Math.round(src.width * k), height: Math.round(src.height * k) };
    }
    return fit;
  });
  /** Why the task's own inputs are not ready (source, mask, margins, control, LoRA), or null. */
  taskError: string | null = $derived(
    this.mode === "batch"
      ? null
      : taskProblem({
          task: this.task,
          info: this.catalog ? this.info : findTask({ tasks: [TXT2IMG_FALLBACK], loraTypes: [], controlTypes: [] }, this.task),
          source: this.sourceSize,
          maskPainted: mask.painted > 0,
          margins: this.margins,
          hasControl: !!this.control.info,
          lora: this.loraActive ? this.loraName : null,
          loraStrength: this.loraStrength,
          denoise: this.denoise,
          controlStrength: this.controlStrength,
          scale: this.scale,
        }),
  );

  sizeError: string | null = $derived(
    this.width == null ? "Enter a width in pixels." : this.height == null ? "Enter a height in pixels." : validateSize(this.width, this.height),
  );
  preset = $derived(this.width != null && this.height != null ? presetFor(this.width, this.height) : undefined);
  prompts: string[] = $derived(parsePrompts(this.batchText));
  /** Images the Generate button will ask for. */
  total: number = $derived(this.mode === "batch" ? this.prompts.length * this.count : this.countUsed);
  /** Per-image price of the task on the model used (the catalog's table; the model's price before it loads). */
  price: number = $derived(
    this.mode === "batch" ? (modelInfo(this.model)?.priceUsd ?? 0) : (priceFor(this.info, this.modelUsed) ?? modelInfo(this.modelUsed)?.priceUsd ?? 0),
  );
  cost: number = $derived(
    this.mode === "batch" ? estimateCost(this.model, this.total) : (estimateTaskCost(this.info, this.modelUsed, this.total) ?? estimateCost(this.modelUsed, this.total)),
  );
  stepsError: string | null = $derived(
    this.steps != null && (!Number.isInteger(this.steps) || this.steps < STEPS_MIN || this.steps > STEPS_MAX)
      ? `Steps must be a whole number from ${STEPS_MIN} to ${STEPS_MAX}.`
      : null,
  );
  seedError: string | null = $derived.by(() => {
    if (this.mode === "single") return this.seedLocked && !isSeed(this.seed) ? "Enter a seed (a whole number, 0 or more)." : null;
    if (this.seedMode === "locked" && !isSeed(this.seed)) return "Enter a seed (a whole number, 0 or more).";
    if (this.seedMode === "sweep") {
      if (!isSeed(this.sweepStart)) return "Enter a start seed (a whole number, 0 or more).";
      if (this.sweepStep == null || !Number.isInteger(this.sweepStep) || this.sweepStep < 1) return "The step must be a whole number, 1 or more.";
    }
    return null;
  });
  batchError: string | null = $derived(
    this.mode !== "batch"
      ? null
      : this.prompts.length > BATCH_MAX_PROMPTS
        ? `A batch can hold up to ${BATCH_MAX_PROMPTS} prompts (now ${this.prompts.length}).`
        : this.total > BATCH_MAX_IMAGES
          ? `A batch can make up to ${BATCH_MAX_IMAGES.toLocaleString("en-US")} images (now ${this.total.toLocaleString("en-US")}).`
          : null,
  );
  /** Why Generate is disabled, or null when it is enabled. */
  blocker: string | null = $derived(
    this.mode === "batch"
      ? !this.prompts.length
        ? "Write at least one prompt, one per line."
        : (this.batchError ?? this.sizeError ?? this.stepsError ?? this.seedError)
      : !this.prompt.trim()
        ? this.intent === "kontext"
          ? "Write an instruction first."
          : "Write a prompt first."
        : (this.taskError ?? (this.takesSize ? this.sizeError : null) ?? this.stepsError ?? this.seedError),
  );
  /** True when a prompt field holds text that has not been sent (so it must not be replaced silently). */
  hasUnsent: boolean = $derived(
    (!!this.prompt.trim() && this.prompt.trim() !== this.lastSent.trim()) ||
      (!!this.batchText.trim() && this.batchText.trim() !== this.lastSentBatch.trim()),
  );

  get typicalMs(): number {
    return modelInfo(this.modelUsed)?.typicalMs ?? 10_000;
  }

  /** Loads the task catalog once (an older shell without task_catalog keeps text to image only). */
  async loadCatalog(): Promise<void> {
    if (this.catalog) return;
    try {
      this.catalog = await backend.taskCatalog();
      if (!this.loraName && this.catalog.loraTypes.length) this.loraName = this.catalog.loraTypes[0];
    } catch {
      /* text to image only */
    }
  }

  /** Chooses what to do. Leaves batch mode for tasks batches cannot carry. */
  setIntent(intent: Intent): void {
    this.intent = intent;
    if (!batchModeAllowed(this.task)) this.mode = "single";
  }

  /**
   * The request without the mask (width/height: the size chosen where the task takes one, else the expected
   * output size fitted to the pixel limit; the shell derives the real size from the source).
   */
  request(): GenerateRequest {
    const info = this.info;
    const task = this.task;
    const out = this.takesSize ? null : this.outputSize ? fitToLimit(this.outputSize.width, this.outputSize.height) : null;
    const base: GenerateRequest = {
      prompt: this.prompt.trim(),
      negativePrompt: this.negativePrompt.trim() || null,
      model: this.modelUsed,
      width: out?.width ?? this.width ?? 1024,
      height: out?.height ?? this.height ?? 1024,
      steps: this.steps,
      guidance: this.guidance,
      seed: this.seedLocked ? this.seed : null,
      count: this.countUsed,
    };
    // Plain text to image sends the wave-1 shape (the task fields all default to it in Rust).
    if (task === "txt2img") return base;
    return {
      ...base,
      taskType: task,
      source: info?.needsImage ? this.source.source : null,
      mask: null,
      denoise: info?.takesDenoise ? this.denoise : null,
      loras: this.loraActive && this.loraName ? [{ name: this.loraName, strength: this.loraStrength }] : [],
      control:
        info?.needsControl && this.control.source ? { controlType: this.controlType, image: this.control.source, strength: this.controlStrength } : null,
      outpaint: info?.takesOutpaint ? { ...this.margins } : null,
      scale: info?.takesScale ? this.scale : null,
    };
  }

  /** The full request, with the painted mask encoded as PNG for inpaint. */
  async buildRequest(): Promise<GenerateRequest> {
    const req = this.request();
    if (this.task === "fill-inpaint") {
      const png = await mask.pngBase64();
      req.mask = png ? { path: null, pngBase64: png } : null;
    }
    return req;
  }

  /** The seed plan of a batch. */
  seedPlan(): SeedPlan {
    if (this.seedMode === "locked") return { kind: "locked", seed: this.seed ?? 0 };
    if (this.seedMode === "sweep") return { kind: "sweep", start: this.sweepStart ?? 0, step: this.sweepStep ?? 1 };
    return { kind: "random" };
  }

  batchRequest(): BatchRequest {
    return {
      prompts: this.prompts,
      negativePrompt: this.negativePrompt.trim() || null,
      model: this.model,
      width: this.width ?? 1024,
      height: this.height ?? 1024,
      steps: this.steps,
      guidance: this.guidance,
      seeds: this.seedPlan(),
      countPerPrompt: this.count,
    };
  }

  /** The hint under the seed plan: which seeds image 1, 2, 3… of every prompt get. */
  seedHint(n = 3): string {
    const plan = this.seedPlan();
    if (plan.kind === "random") return "A new random seed for every image.";
    const start = plan.kind === "locked" ? plan.seed : plan.start;
    const step = plan.kind === "locked" ? 1 : plan.step;
    const list = Array.from({ length: Math.min(n, Math.max(1, this.count)) }, (_, i) => start + i * step);
    const more = this.count > list.length ? "…" : "";
    return `Every prompt uses seed${list.length > 1 ? "s" : ""} ${list.join(", ")}${more}: compare prompts side by side.`;
  }

  markSent(): void {
    if (this.mode === "batch") this.lastSentBatch = this.batchText;
    else this.lastSent = this.prompt;
  }

  applyDefaults(s: Settings): void {
    if (this.touched) return;
    this.model = s.defaultModel;
    this.width = s.defaultWidth;
    this.height = s.defaultHeight;
  }

  /** Fills the form from an existing image or request ("Reuse", "Use settings", "Edit"). */
  reuse(src: ImageView | GenerateRequest): void {
    this.mode = "single";
    if ("count" in src) this.reuseTask(src);
    this.prompt = src.prompt;
    this.lastSent = src.prompt;
    this.negativePrompt = src.negativePrompt ?? "";
    if (src.model && modelInfo(src.model)) this.model = src.model as Model;
    if (!this.keepSize) {
      this.width = src.width;
      this.height = src.height;
    }
    this.keepSize = false;
    this.steps = src.steps;
    this.guidance = src.guidance;
    if (src.seed != null) {
      this.seed = src.seed;
      this.seedLocked = true;
    } else this.seedLocked = false;
    if (src.negativePrompt || src.steps != null || src.guidance != null || src.seed != null) this.moreOpen = true;
    this.touched = true;
  }

  /** The task part of a request: task choice, source, control image, and the task's settings. */
  private reuseTask(req: GenerateRequest): void {
    const choice = intentOf(req.taskType ?? "txt2img");
    this.intent = choice.intent;
    this.loraOn = choice.lora || (req.loras?.length ?? 0) > 0;
    this.upscaleOn = choice.upscale;
    const lora = req.loras?.[0];
    if (lora) {
      this.loraName = lora.name;
      this.loraStrength = lora.strength ?? 1;
    }
    if (req.denoise != null) this.denoise = req.denoise;
    if (req.scale != null) this.scale = req.scale;
    this.margins = req.outpaint ? { ...req.outpaint } : { ...DEFAULT_MARGINS };
    if (req.control) {
      this.controlType = req.control.controlType;
      this.controlStrength = req.control.strength ?? 0.5;
      void this.control.set(req.control.image);
    }
    if (req.source) void this.source.set(req.source);
    // A request's size is its output size; keep the chosen size for tasks that take none.
    if (req.taskType && req.taskType !== "txt2img" && !findTask(this.catalog, req.taskType)?.takesSize) {
      this.keepSize = true;
    }
  }

  /** Set by reuseTask: the request's width/height describe the output, not a size to choose. */
  private keepSize = false;

  reset(): void {
    this.mode = "single";
    this.intent = "txt2img";
    this.loraOn = false;
    this.loraStrength = LORA_STRENGTH_DEFAULT;
    this.upscaleOn = false;
    this.scale = 2;
    this.denoise = DENOISE_DEFAULT;
    this.source.reset();
    this.control.reset();
    this.controlType = "canny";
    this.controlStrength = CONTROL_STRENGTH_DEFAULT;
    this.margins = { ...DEFAULT_MARGINS };
    this.keepSize = false;
    this.catalog = null;
    mask.reset();
    this.batchText = "";
    this.seedMode = "random";
    this.sweepStart = 1000;
    this.sweepStep = 1;
    this.lastSent = "";
    this.lastSentBatch = "";
    this.prompt = "";
    this.negativePrompt = "";
    this.model = "Qubico/flux1-schnell";
    this.width = 1024;
    this.height = 1024;
    this.count = 4;
    this.seedLocked = false;
    this.seed = randomSeed();
    this.steps = null;
    this.guidance = null;
    this.moreOpen = false;
    this.busy = false;
    this.touched = false;
  }
}

/** Text to image as the form knows it before a catalog arrives (older shells). */
const TXT2IMG_FALLBACK: TaskInfo = {
  taskType: "txt2img",
  label: "Text to image",
  models: ["Qubico/flux1-schnell", "Qubico/flux1-dev", "Qubico/flux1-dev-advanced"],
  needsImage: false,
  minLoras: 0,
  maxLoras: 0,
  needsControl: false,
  takesSize: true,
  takesDenoise: false,
  takesOutpaint: false,
  takesScale: false,
  batchModels: ["Qubico/flux1-schnell"],
  prices: [],
};

export const form = new CreateForm();
