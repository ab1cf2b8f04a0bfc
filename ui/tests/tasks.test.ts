// The task chooser's rules, driven by the catalog (the mock's copy of piapi's one table): which TaskType a
// choice resolves to, which models/counts/batches it allows, what it costs, why it cannot run, and the
// outpaint pixel budget.
import { describe, expect, test } from "vitest";
import { mockCatalog } from "../src/lib/backend/mock-tasks";
import type { Margins, TaskType } from "../src/lib/backend";
import {
  batchModeAllowed,
  effectiveModel,
  estimateTaskCost,
  findTask,
  fitMargin,
  intentOf,
  intentsAvailable,
  loraAvailable,
  maxCount,
  outpaintBudget,
  priceFor,
  resolveTask,
  shrinkToBudget,
  taskProblem,
  upscaleAvailable,
  type TaskDraft,
} from "../src/lib/util/tasks";

const catalog = mockCatalog();
const ALL: TaskType[] = [
  "txt2img", "img2img", "txt2img-lora", "img2img-lora", "controlnet-lora", "fill-inpaint", "fill-outpaint",
  "redux-variation", "kontext", "txt2img-sr", "img2img-sr",
];
const SCHNELL = "Qubico/flux1-schnell" as const;
const DEV = "Qubico/flux1-dev" as const;
const ADV = "Qubico/flux1-dev-advanced" as const;

describe("task choice → TaskType", () => {
  test("LoRA and upscaling refine text/image choices; they never combine", () => {
    expect(resolveTask("txt2img", { lora: false, upscale: false })).toBe("txt2img");
    expect(resolveTask("txt2img", { lora: true, upscale: false })).toBe("txt2img-lora");
    expect(resolveTask("txt2img", { lora: false, upscale: true })).toBe("txt2img-sr");
    expect(resolveTask("txt2img", { lora: true, upscale: true })).toBe("txt2img-lora");
    expect(resolveTask("img2img", { lora: true, upscale: false })).toBe("img2img-lora");
    expect(resolveTask("img2img", { lora: false, upscale: true })).toBe("img2img");
    expect(resolveTask("fill-inpaint", { lora: true, upscale: true })).toBe("fill-inpaint");
  });

  test("every task type round-trips through the chooser", () => {
    for (const t of ALL) {
      const c = intentOf(t);
      expect(resolveTask(c.intent, c), t).toBe(t);
    }
  });

  test("the chooser offers what the catalog has (text only without a catalog)", () => {
    expect(intentsAvailable(null).map((i) => i.id)).toEqual(["txt2img"]);
    expect(intentsAvailable(catalog).map((i) => i.id)).toEqual([
      "txt2img", "img2img", "fill-inpaint", "fill-outpaint", "kontext", "redux-variation", "controlnet-lora", "img2img-sr",
    ]);
    const noKontext = { ...catalog, tasks: catalog.tasks.filter((t) => t.taskType !== "kontext") };
    expect(intentsAvailable(noKontext).map((i) => i.id)).not.toContain("kontext");
  });

  test("LoRA only on text, image and ControlNet; upscaling the result only on text", () => {
    expect(loraAvailable(catalog, "txt2img")).toBe(true);
    expect(loraAvailable(catalog, "img2img")).toBe(true);
    expect(loraAvailable(catalog, "controlnet-lora")).toBe(true);
    for (const i of ["fill-inpaint", "fill-outpaint", "kontext", "redux-variation", "img2img-sr"] as const) expect(loraAvailable(catalog, i), i).toBe(false);
    expect(loraAvailable({ ...catalog, loraTypes: [] }, "txt2img")).toBe(false);
    expect(upscaleAvailable(catalog, "txt2img")).toBe(true);
    expect(upscaleAvailable(catalog, "img2img")).toBe(false);
  });
});

describe("models, counts and batches per task", () => {
  test("models: schnell and dev only text/image (+ schnell upscale); dev-advanced everything", () => {
    const models = (t: TaskType) => findTask(catalog, t)?.models;
    expect(models("txt2img")).toEqual([SCHNELL, DEV, ADV]);
    expect(models("img2img")).toEqual([SCHNELL, DEV, ADV]);
    expect(models("txt2img-sr")).toEqual([SCHNELL, ADV]);
    expect(models("img2img-sr")).toEqual([SCHNELL, ADV]);
    for (const t of ["txt2img-lora", "img2img-lora", "controlnet-lora", "fill-inpaint", "fill-outpaint", "redux-variation", "kontext"] as TaskType[]) {
      expect(models(t), t).toEqual([ADV]);
    }
  });

  test("the model used is the chosen one when the task allows it, else one it allows", () => {
    expect(effectiveModel(findTask(catalog, "img2img"), SCHNELL)).toBe(SCHNELL);
    expect(effectiveModel(findTask(catalog, "fill-inpaint"), SCHNELL)).toBe(ADV);
    expect(effectiveModel(findTask(catalog, "img2img-sr"), DEV)).toBe(SCHNELL);
    expect(effectiveModel(findTask(catalog, "img2img-sr"), DEV, ADV)).toBe(ADV);
    expect(effectiveModel(undefined, DEV)).toBe(DEV);
  });

  test("batches (many prompts) only for plain text to image; upscaling a source makes one image", () => {
    expect(ALL.filter(batchModeAllowed)).toEqual(["txt2img"]);
    expect(maxCount("img2img-sr")).toBe(1);
    expect(maxCount("fill-inpaint")).toBe(8);
    expect(maxCount("txt2img-sr")).toBe(8);
  });

  test("the cost follows task × model × count from the catalog's prices", () => {
    expect(priceFor(findTask(catalog, "txt2img"), SCHNELL)).toBe(0.0015);
    expect(priceFor(findTask(catalog, "fill-inpaint"), ADV)).toBe(0.02);
    expect(priceFor(findTask(catalog, "fill-inpaint"), SCHNELL)).toBeNull();
    expect(estimateTaskCost(findTask(catalog, "txt2img"), SCHNELL, 4)).toBe(0.006);
    expect(estimateTaskCost(findTask(catalog, "img2img"), DEV, 3)).toBe(0.045);
    expect(estimateTaskCost(findTask(catalog, "fill-outpaint"), ADV, 8)).toBe(0.16);
    // A different price table (the catalog is the one source of prices).
    const pricier = { ...catalog, tasks: catalog.tasks.map((t) => (t.taskType === "kontext" ? { ...t, prices: [{ model: ADV, usd: 0.03 }] } : t)) };
    expect(estimateTaskCost(findTask(pricier, "kontext"), ADV, 2)).toBe(0.06);
  });
});

describe("why a task cannot run", () => {
  const draft = (task: TaskType, patch: Partial<TaskDraft> = {}): TaskDraft => ({
    task,
    info: findTask(catalog, task),
    source: { width: 1024, height: 768 },
    maskPainted: true,
    margins: { left: 256, right: 256, top: 0, bottom: 0 },
    hasControl: true,
    lora: null,
    loraStrength: 1,
    denoise: 0.7,
    controlStrength: 0.6,
    scale: 2,
    ...patch,
  });

  test("ready drafts have no problem", () => {
    for (const t of ALL) {
      const lora = (findTask(catalog, t)?.minLoras ?? 0) > 0 ? "realism" : null;
      expect(taskProblem(draft(t, { lora })), t).toBeNull();
    }
  });

  test("each missing input is named", () => {
    expect(taskProblem(draft("img2img", { source: null }))).toMatch(/Choose a source image/);
    expect(taskProblem(draft("fill-inpaint", { maskPainted: false }))).toBe("Paint over the area to repaint.");
    expect(taskProblem(draft("controlnet-lora", { hasControl: false }))).toBe("Choose a control image.");
    expect(taskProblem(draft("txt2img-lora"))).toBe("Choose a LoRA style.");
    expect(taskProblem(draft("txt2img-lora", { lora: "realism", loraStrength: 2.5 }))).toMatch(/between 0 and 2/);
    expect(taskProblem(draft("controlnet-lora", { controlStrength: 1.2 }))).toMatch(/between 0 and 1/);
    expect(taskProblem(draft("img2img", { denoise: 0 }))).toMatch(/Denoise/);
    expect(taskProblem(draft("img2img-sr", { scale: 3 }))).toMatch(/2× or 4×/);
    expect(taskProblem(draft("fill-outpaint", { margins: { left: 0, right: 0, top: 0, bottom: 0 } }))).toBe("Add a margin on at least one side.");
    expect(taskProblem(draft("kontext", { info: undefined }))).toMatch(/not available/);
    // Text to image needs none of them.
    expect(taskProblem(draft("txt2img", { source: null, maskPainted: false, hasControl: false }))).toBeNull();
  });
});

describe("outpaint pixel budget", () => {
  const src = { width: 1024, height: 1024 };
  const m = (left: number, right: number, top: number, bottom: number): Margins => ({ left, right, top, bottom });

  test("the added area is output minus source, up to 1,048,576 px", () => {
    const b = outpaintBudget(src, m(512, 512, 0, 0));
    expect(b.output).toEqual({ width: 2048, height: 1024 });
    expect(b.added).toBe(1_048_576);
    expect(b.over).toBe(false);
    expect(b.error).toBeNull();
    const over = outpaintBudget(src, m(512, 520, 0, 0));
    expect(over.added).toBe(2056 * 1024 - 1024 * 1024);
    expect(over.over).toBe(true);
    expect(over.error).toBe("The margins add 1,056,768 px; the limit is 1,048,576 px. Make them smaller.");
    // Corners count: growing both ways adds more than the two strips.
    expect(outpaintBudget({ width: 100, height: 100 }, m(10, 0, 10, 0)).added).toBe(110 * 110 - 100 * 100);
  });

  test("no margin, negative or fractional margins are errors", () => {
    expect(outpaintBudget(src, m(0, 0, 0, 0)).error).toBe("Add a margin on at least one side.");
    expect(outpaintBudget(src, m(-8, 0, 0, 0)).error).toMatch(/whole numbers/);
    expect(outpaintBudget(src, m(1.5, 0, 0, 0)).error).toMatch(/whole numbers/);
  });

  test("shrink to fit keeps the proportions and lands within the budget", () => {
    const big = m(600, 600, 600, 600);
    const fit = shrinkToBudget(src, big);
    expect(outpaintBudget(src, fit).over).toBe(false);
    expect(fit.left).toBe(fit.top);
    expect(fit.left % 8).toBe(0);
    expect(fit.left).toBeGreaterThan(150);
    const side = fitMargin(src, { left: true, right: true, top: false, bottom: false });
    expect(outpaintBudget(src, m(side, side, 0, 0)).over).toBe(false);
    expect(outpaintBudget(src, m(side + 8, side + 8, 0, 0)).over).toBe(true);
  });
});
