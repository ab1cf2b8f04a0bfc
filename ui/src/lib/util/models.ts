// Static facts about the Flux models (IPC.md): display names, prices and typical durations.

import type { Model } from "../backend/types";

export type ModelInfo = {
  id: Model;
  name: string;
  short: string;
  blurb: string;
  priceUsd: number;
  typicalMs: number;
};

export const MODELS: readonly ModelInfo[] = [
  { id: "Qubico/flux1-schnell", name: "Flux Schnell", short: "Schnell", blurb: "Fast drafts", priceUsd: 0.0015, typicalMs: 8_000 },
  { id: "Qubico/flux1-dev", name: "Flux Dev", short: "Dev", blurb: "Detailed, follows prompts", priceUsd: 0.015, typicalMs: 25_000 },
  {
    id: "Qubico/flux1-dev-advanced",
    name: "Flux Dev Advanced",
    short: "Dev Adv.",
    blurb: "Finest detail",
    priceUsd: 0.02,
    typicalMs: 35_000,
  },
];

export function modelInfo(id: string | null | undefined): ModelInfo | undefined {
  return MODELS.find((m) => m.id === id);
}

export function modelName(id: string | null | undefined): string {
  return modelInfo(id)?.name ?? id ?? "Unknown model";
}

/** Estimated cost of `count` images, rounded to a hundredth of a cent to avoid float noise. */
export function estimateCost(model: Model, count: number): number {
  const price = modelInfo(model)?.priceUsd ?? 0;
  return Math.round(price * count * 10_000) / 10_000;
}
