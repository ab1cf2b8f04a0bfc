import { afterEach, describe, expect, test } from "vitest";
import { images } from "../src/lib/state/images.svelte";
import type { ImageView } from "../src/lib/backend";

const view = (id: number): ImageView => ({
  id,
  path: `/g/${id}.png`,
  thumbPath: `/t/${id}.webp`,
  prompt: `prompt ${id}`,
  negativePrompt: null,
  model: "Qubico/flux1-dev",
  taskType: "txt2img",
  width: 1024,
  height: 1024,
  seed: id,
  steps: null,
  guidance: null,
  taskId: `task-${id}`,
  costUsd: null,
  createdAt: "2026-11-21T12:00:00Z",
  favourite: false,
  rating: 0,
  sourceImageId: null,
  task: null,
});

afterEach(() => images.reset());

describe("image cache bound", () => {
  test("below the bound nothing is dropped", () => {
    for (let id = 1; id <= 10; id++) images.put(view(id));
    expect(images.prune(new Set(), 10)).toBe(0);
    expect(images.size).toBe(10);
  });

  test("past the bound the oldest unkept entries go, kept ones stay", () => {
    for (let id = 1; id <= 20; id++) images.put(view(id));
    const keep = new Set([1, 2, 19, 20]);
    const dropped = images.prune(keep, 10);
    expect(dropped).toBe(15);
    expect(images.size).toBe(5);
    for (const id of keep) expect(images.get(id)?.id).toBe(id);
    // The newest unkept entry survives; the oldest unkept ones are gone.
    expect(images.get(18)?.id).toBe(18);
    expect(images.get(3)).toBeUndefined();
  });

  test("when everything is kept nothing is dropped", () => {
    for (let id = 1; id <= 12; id++) images.put(view(id));
    expect(images.prune(new Set(Array.from({ length: 12 }, (_, i) => i + 1)), 4)).toBe(0);
    expect(images.size).toBe(12);
  });
});
