import { describe, expect, test } from "vitest";
import { money, pathPieces } from "../src/lib/util/format";
import { estimateCost } from "../src/lib/util/models";
import { SIZE_PRESETS, MAX_PIXELS, fitToLimit, validateSize } from "../src/lib/util/sizes";
import { estimateProgress } from "../src/lib/state/jobs.svelte";
import type { JobView } from "../src/lib/backend";
import { gridLayout, prepend, rowCellKeys, rowOf, rowTop, scrollToReveal, visibleRows } from "../src/lib/util/virtual";
import { captionText } from "../src/lib/util/format";
import { highlight } from "../src/lib/util/highlight";
import { imageSrc } from "../src/lib/util/attach";

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

describe("virtual grid layout", () => {
  test("columns follow the thumbnail size; only visible rows plus overscan are rendered", () => {
    const l = gridLayout(1024, 196, 100_000);
    expect(l.cols).toBe(4);
    expect(l.rows).toBe(25_000);
    expect(l.height).toBeGreaterThan(25_000 * l.cell);
    const [first, last] = visibleRows(l, 0, 768);
    expect(first).toBe(0);
    expect(last - first + 1).toBeLessThanOrEqual(3 + 2 * 2 + 1);
    const [f2, l2] = visibleRows(l, 1_000_000, 768);
    expect(f2).toBeGreaterThan(3900);
    expect(l2 - f2).toBeLessThan(10);
    expect(gridLayout(1024, 120, 10).cols).toBeGreaterThan(l.cols);
  });

  test("prepending fills leading slots first, then adds whole rows", () => {
    expect(prepend(0, 1, 4)).toEqual({ lead: 3, rows: 1 });
    expect(prepend(3, 1, 4)).toEqual({ lead: 2, rows: 0 });
    expect(prepend(2, 2, 4)).toEqual({ lead: 0, rows: 0 });
    expect(prepend(1, 6, 4)).toEqual({ lead: 3, rows: 2 });
    // Every old item keeps its column: (index + k) + lead' ≡ index + lead (mod cols).
    for (const [lead, k, cols] of [[0, 1, 4], [3, 5, 4], [2, 9, 5]]) {
      const p = prepend(lead, k, cols);
      expect((k + p.lead - lead) % cols).toBe(0);
      expect((k + p.lead - lead) / cols).toBe(p.rows);
    }
  });

  test("scrollToReveal leaves a visible tile alone and brings others into view", () => {
    const l = gridLayout(1024, 196, 1000);
    expect(scrollToReveal(l, 1, 0, 0, 768)).toBe(0);
    const down = scrollToReveal(l, 400, 0, 0, 768);
    expect(down).toBeGreaterThan(0);
    expect(rowTop(l, rowOf(l, 400)) + l.cell).toBeLessThanOrEqual(down + 768);
  });
});

describe("grid cell keys", () => {
  test("a new row gets fresh keys", () => {
    const { keys, after } = rowCellKeys(undefined, [10, 11, 12]);
    expect(keys).toEqual([0, 1, 2]);
    expect([...after]).toEqual([[10, 0], [11, 1], [12, 2]]);
  });

  test("images that stay keep their cell; new ones take the cells of those that left", () => {
    const before = new Map([[10, 0], [11, 1], [12, 2], [13, 3]]);
    // 11 left the list (a longer search), 14 came in: only 14 is drawn anew, in 11's old element.
    const { keys, after } = rowCellKeys(before, [10, 12, 13, 14]);
    expect(keys).toEqual([0, 2, 3, 1]);
    expect(after.get(14)).toBe(1);
  });

  test("a wholly new list reuses every element, and a longer row adds keys", () => {
    const before = new Map([[10, 0], [11, 1]]);
    expect(rowCellKeys(before, [20, 21, 22]).keys).toEqual([0, 1, 2]);
  });

  test("a placeholder's element is kept for the image that fills it", () => {
    const { after } = rowCellKeys(undefined, [10, -1 - 5]);
    expect(rowCellKeys(after, [10, 99]).keys).toEqual([0, 1]);
  });

  test("keys are unique even when an id appears twice", () => {
    const { keys } = rowCellKeys(new Map([[10, 0]]), [10, 10]);
    expect(new Set(keys).size).toBe(2);
  });
});

describe("tile captions", () => {
  test("a long prompt is cut to what two lines can show; the full text stays for alt and title", () => {
    const prompt = "word ".repeat(100).trim();
    expect(captionText({ prompt, path: "/g/a.png" })).toHaveLength(200);
    expect(captionText({ prompt: " short ", path: "/g/a.png" })).toBe("short");
    expect(captionText({ prompt: "", path: "/g/a.png" })).toBe("Imported image a.png");
  });
});

describe("search highlighting", () => {
  test("marks every case-insensitive occurrence of every term, merging overlaps", () => {
    expect(highlight("Fox and FOXES", ["fox"])).toEqual([
      { text: "Fox", hit: true },
      { text: " and ", hit: false },
      { text: "FOX", hit: true },
      { text: "ES", hit: false },
    ]);
    expect(highlight("misty forest", ["mist", "sty f"])).toEqual([
      { text: "misty f", hit: true },
      { text: "orest", hit: false },
    ]);
    expect(highlight("plain", [])).toEqual([{ text: "plain", hit: false }]);
  });
});

describe("image src attachment", () => {
  test("sets src once the element is attached, leaves an unchanged one alone and updates a new one in place", () => {
    const img = document.createElement("img");
    const calls: string[] = [];
    const set = img.setAttribute.bind(img);
    img.setAttribute = (name: string, value: string) => {
      calls.push(`${name}=${value}`);
      set(name, value);
    };
    expect(img.hasAttribute("src")).toBe(false);
    imageSrc("thumb://localhost/a.webp")(img);
    expect(img.getAttribute("src")).toBe("thumb://localhost/a.webp");
    // The tile re-rendered with the same image: nothing is set (setting src again may load it again).
    imageSrc("thumb://localhost/a.webp")(img);
    // Another image took over the element.
    imageSrc("thumb://localhost/b.webp")(img);
    expect(img.getAttribute("src")).toBe("thumb://localhost/b.webp");
    expect(calls).toEqual(["src=thumb://localhost/a.webp", "src=thumb://localhost/b.webp"]);
  });
});

describe("pathPieces", () => {
  test("cuts a path after each separator and loses nothing", () => {
    expect(pathPieces("/home/ana/Pictures/Fluxdesk")).toEqual(["/", "home/", "ana/", "Pictures/", "Fluxdesk"]);
    expect(pathPieces("C:\\Users\\Ana\\Fluxdesk").join("")).toBe("C:\\Users\\Ana\\Fluxdesk");
    expect(pathPieces("C:\\Users\\Ana")).toEqual(["C:\\", "Users\\", "Ana"]);
    expect(pathPieces("your gallery folder")).toEqual(["your gallery folder"]);
    expect(pathPieces("")).toEqual([]);
  });
});
