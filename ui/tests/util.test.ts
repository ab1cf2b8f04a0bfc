import { describe, expect, test } from "vitest";
import { money } from "../src/lib/util/format";
import { estimateCost } from "../src/lib/util/models";
import { SIZE_PRESETS, MAX_PIXELS, fitToLimit, validateSize } from "../src/lib/util/sizes";
import { estimateProgress } from "../src/lib/state/jobs.svelte";
import type { JobView } from "../src/lib/backend";

describe("formatting and validation", () => {
  test("money keeps sub-cent precision without float noise", () => {
    expect(money(estimateCost("Qubico/flux1-schnell", 4))).toBe("$0.006");
    expect(money(0.0015)).toBe("$0.0015");
    expect(money(estimateCost("Qubico/flux1-dev", 4))).toBe("$0.06");
    expect(money(estimateCost("Qubico/flux1-dev-advanced", 8))).toBe("$0.16");
    expect(money(0)).toBe("$0.00");
    expect(money(1234.5)).toBe("$1,234.50");
  });

  test("every preset is valid and within the pixel limit", () => {
    for (const p of SIZE_PRESETS) {
      expect(validateSize(p.width, p.height)).toBeNull();
      expect(p.width * p.height).toBeLessThanOrEqual(MAX_PIXELS);
    }
  });

  test("size problems are named", () => {
    expect(validateSize(2000, 2000)).toMatch(/4,000,000 px; the limit is 1,048,576 px/);
    expect(validateSize(63, 512)).toMatch(/^Width must be between 64 and 2,048/);
    expect(validateSize(512, 4096)).toMatch(/^Height must be between/);
    expect(validateSize(512.5, 512)).toMatch(/whole number/);
    const fit = fitToLimit(2000, 2000);
    expect(validateSize(fit.width, fit.height)).toBeNull();
  });

  test("estimated progress rises with time and never reaches 100 % before saving", () => {
    const t0 = Date.parse("2026-01-01T00:00:00Z");
    const job = {
      state: "running",
      startedAt: new Date(t0).toISOString(),
      createdAt: new Date(t0).toISOString(),
      finishedAt: null,
      typicalMs: 10_000,
    } as JobView;
    const at = (ms: number) => estimateProgress(job, undefined, t0 + ms);
    expect(at(1000)).toBeLessThan(at(5000));
    expect(at(5000)).toBeLessThan(at(10_000));
    expect(at(10_000)).toBeLessThan(at(60_000));
    expect(at(600_000)).toBeLessThan(1);
    expect(estimateProgress({ ...job, state: "saved" }, undefined, t0)).toBe(1);
  });
});
