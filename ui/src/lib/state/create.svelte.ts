// The Create form. Lives outside the component so a half-written prompt survives switching places.

import type { BatchRequest, GenerateRequest, ImageView, Model, SeedPlan, Settings } from "../backend";
import { estimateCost, modelInfo } from "../util/models";
import { presetFor, validateSize } from "../util/sizes";

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

  sizeError: string | null = $derived(
    this.width == null ? "Enter a width in pixels." : this.height == null ? "Enter a height in pixels." : validateSize(this.width, this.height),
  );
  preset = $derived(this.width != null && this.height != null ? presetFor(this.width, this.height) : undefined);
  prompts: string[] = $derived(parsePrompts(this.batchText));
  /** Images the Generate button will ask for. */
  total: number = $derived(this.mode === "batch" ? this.prompts.length * this.count : this.count);
  cost = $derived(estimateCost(this.model, this.total));
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
        ? "Write a prompt first."
        : (this.sizeError ?? this.stepsError ?? this.seedError),
  );
  /** True when a prompt field holds text that has not been sent (so it must not be replaced silently). */
  hasUnsent: boolean = $derived(
    (!!this.prompt.trim() && this.prompt.trim() !== this.lastSent.trim()) ||
      (!!this.batchText.trim() && this.batchText.trim() !== this.lastSentBatch.trim()),
  );

  get typicalMs(): number {
    return modelInfo(this.model)?.typicalMs ?? 10_000;
  }

  request(): GenerateRequest {
    return {
      prompt: this.prompt.trim(),
      negativePrompt: this.negativePrompt.trim() || null,
      model: this.model,
      width: this.width ?? 1024,
      height: this.height ?? 1024,
      steps: this.steps,
      guidance: this.guidance,
      seed: this.seedLocked ? this.seed : null,
      count: this.count,
    };
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

  /** Fills the form from an existing image or request ("Reuse", "Use settings"). */
  reuse(src: ImageView | GenerateRequest): void {
    this.mode = "single";
    this.prompt = src.prompt;
    this.lastSent = src.prompt;
    this.negativePrompt = src.negativePrompt ?? "";
    if (src.model && modelInfo(src.model)) this.model = src.model as Model;
    this.width = src.width;
    this.height = src.height;
    this.steps = src.steps;
    this.guidance = src.guidance;
    if (src.seed != null) {
      this.seed = src.seed;
      this.seedLocked = true;
    } else this.seedLocked = false;
    if (src.negativePrompt || src.steps != null || src.guidance != null || src.seed != null) this.moreOpen = true;
    this.touched = true;
  }

  reset(): void {
    this.mode = "single";
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

export const form = new CreateForm();
