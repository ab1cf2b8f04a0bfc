// The Create form. Lives outside the component so a half-written prompt survives switching places.

import type { GenerateRequest, ImageView, Model, Settings } from "../backend";
import { estimateCost, modelInfo } from "../util/models";
import { presetFor, validateSize } from "../util/sizes";

export const GUIDANCE_MIN = 1.5;
export const GUIDANCE_MAX = 5;
export const GUIDANCE_DEFAULT = 3;
export const STEPS_MIN = 1;
export const STEPS_MAX = 50;

export function randomSeed(): number {
  return Math.floor(Math.random() * 2_147_483_647);
}

class CreateForm {
  prompt = $state("");
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
  cost = $derived(estimateCost(this.model, this.count));
  stepsError: string | null = $derived(
    this.steps != null && (!Number.isInteger(this.steps) || this.steps < STEPS_MIN || this.steps > STEPS_MAX)
      ? `Steps must be a whole number from ${STEPS_MIN} to ${STEPS_MAX}.`
      : null,
  );
  seedError: string | null = $derived(
    this.seedLocked && (this.seed == null || !Number.isInteger(this.seed) || this.seed < 0) ? "Enter a seed (a whole number, 0 or more)." : null,
  );
  /** Why Generate is disabled, or null when it is enabled. */
  blocker: string | null = $derived(
    !this.prompt.trim() ? "Write a prompt first." : (this.sizeError ?? this.stepsError ?? this.seedError),
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

  applyDefaults(s: Settings): void {
    if (this.touched) return;
    this.model = s.defaultModel;
    this.width = s.defaultWidth;
    this.height = s.defaultHeight;
  }

  /** Fills the form from an existing image or request ("Reuse"). */
  reuse(src: ImageView | GenerateRequest): void {
    this.prompt = src.prompt;
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
