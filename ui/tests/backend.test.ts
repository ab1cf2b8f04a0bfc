import { afterEach, describe, expect, test, vi } from "vitest";
import { clearMocks, mockConvertFileSrc, mockIPC } from "@tauri-apps/api/mocks";
import { createTauriBackend } from "../src/lib/backend/tauri";
import { BackendError, type BatchRequest, type GenerateRequest, type JobEvent, type JobView } from "../src/lib/backend";

afterEach(() => clearMocks());

const request: GenerateRequest = {
  prompt: "a fox",
  negativePrompt: null,
  model: "Qubico/flux1-schnell",
  width: 1024,
  height: 1024,
  steps: null,
  guidance: null,
  seed: null,
  count: 2,
};

const batch: BatchRequest = {
  prompts: ["a", "b"],
  negativePrompt: null,
  model: "Qubico/flux1-dev",
  width: 1024,
  height: 1024,
  steps: null,
  guidance: null,
  seeds: { kind: "sweep", start: 1, step: 2 },
  countPerPrompt: 3,
};

describe("Tauri adapter", () => {
  test("commands are snake_case with camelCase argument names", async () => {
    const seen: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      if (cmd === "generate") return [7, 8];
      if (cmd === "retry_job") return [9];
      return null;
    });
    const b = createTauriBackend();
    expect(await b.generate(request)).toEqual([7, 8]);
    await b.cancelJob(7);
    expect(await b.retryJob(7)).toEqual([9]);
    await b.setRating([1, 2], 4);
    await b.setFavourite([1], true);
    await b.deleteImages([3]);
    await b.revealImage(3);
    await b.setKey("k");
    await b.listImages({ text: null, model: null, minRating: null, favouritesOnly: false, sort: "newest", limit: 60, cursor: null });
    expect(seen).toEqual([
      ["generate", { request }],
      ["cancel_job", { jobId: 7 }],
      ["retry_job", { jobId: 7 }],
      ["set_rating", { ids: [1, 2], rating: 4 }],
      ["set_favourite", { ids: [1], favourite: true }],
      ["delete_images", { ids: [3] }],
      ["reveal_image", { id: 3 }],
      ["set_key", { key: "k" }],
      ["list_images", { query: { text: null, model: null, minRating: null, favouritesOnly: false, sort: "newest", limit: 60, cursor: null } }],
    ]);
  });

  test("wave 2 commands: names and argument keys", async () => {
    const seen: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      if (cmd === "drag_items") return { items: ["/g/a%20b.png"], icon: "/t/a.webp" };
      if (cmd === "undo_delete") return 2;
      return null;
    });
    const b = createTauriBackend();
    await b.generateBatch(batch);
    await b.queueState();
    await b.pauseQueue("Budget");
    await b.resumeQueue();
    await b.moveJob(4, null);
    await b.costSummary();
    await b.exportImages({ ids: [1], destDir: "/x", format: "webp", quality: 80 });
    await b.importPaths(["/a.png"]);
    await b.deleteImages([1, 2]);
    expect(await b.undoDelete("t")).toBe(2);
    await b.imageSettings(1);
    await b.varyImage(1, 3);
    await b.copyImage(1);
    await b.revealGallery();
    await b.revealExport("/x/a.png");
    expect(seen).toEqual([
      ["generate_batch", { request: batch }],
      ["queue_state", {}],
      ["pause_queue", { reason: "Budget" }],
      ["resume_queue", {}],
      ["move_job", { jobId: 4, before: null }],
      ["cost_summary", {}],
      ["export_images", { request: { ids: [1], destDir: "/x", format: "webp", quality: 80 } }],
      ["import_paths", { paths: ["/a.png"] }],
      ["delete_images", { ids: [1, 2] }],
      ["undo_delete", { token: "t" }],
      ["image_settings", { id: 1 }],
      ["vary_image", { id: 1, count: 3 }],
      ["copy_image", { id: 1 }],
      ["reveal_gallery", {}],
      ["reveal_export", { path: "/x/a.png" }],
    ]);
  });

  test("wave 3 commands: names and argument keys (team/WAVE3.md D)", async () => {
    const seen: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      if (cmd === "task_catalog") return { tasks: [], loraTypes: ["art"], controlTypes: ["canny"] };
      if (cmd === "source_info") return { path: "/d/in.png", width: 10, height: 20, bytes: 99, imageId: null };
      if (cmd === "stage_source") return { imageId: null, path: "/d/inputs/ab.png" };
      if (cmd === "edit_settings") return { ...request, taskType: "fill-inpaint" };
      return null;
    });
    const b = createTauriBackend();
    expect((await b.taskCatalog()).loraTypes).toEqual(["art"]);
    expect((await b.sourceInfo({ imageId: null, path: "/d/in.png" })).height).toBe(20);
    expect(await b.stageSource("iVBORw0K")).toEqual({ imageId: null, path: "/d/inputs/ab.png" });
    expect((await b.editSettings(4, "fill-inpaint")).taskType).toBe("fill-inpaint");
    const inpaint: GenerateRequest = {
      ...request,
      count: 1,
      taskType: "fill-inpaint",
      source: { imageId: 4, path: null },
      mask: { path: null, pngBase64: "iVBORw0K" },
      denoise: null,
      loras: [],
      control: null,
      outpaint: null,
      scale: null,
    };
    await b.generate(inpaint);
    expect(seen).toEqual([
      ["task_catalog", {}],
      ["source_info", { source: { imageId: null, path: "/d/in.png" } }],
      ["stage_source", { pngBase64: "iVBORw0K" }],
      ["edit_settings", { id: 4, taskType: "fill-inpaint" }],
      ["generate", { request: inpaint }],
    ]);
  });

  test("UploadFailed is a known code", async () => {
    mockIPC(() => {
      throw { code: "UploadFailed", message: "The upload failed. Retry." };
    });
    await expect(createTauriBackend().generate(request)).rejects.toMatchObject({ code: "UploadFailed", message: "The upload failed. Retry." });
  });

  test("drag-out asks drag_items, then hands items and icon unchanged to the drag plugin", async () => {
    const seen: [string, Record<string, unknown>][] = [];
    mockIPC((cmd, args) => {
      seen.push([cmd, args as Record<string, unknown>]);
      if (cmd === "drag_items") return { items: ["/g/My%20Gallery/a.png"], icon: "/t/My Gallery/a.webp" };
      if (cmd === "plugin:drag|start_drag") {
        const channel = (args as { onEvent: { id: number } }).onEvent;
        const internals = (window as unknown as { __TAURI_INTERNALS__: { runCallback: (id: number, data: unknown) => void } }).__TAURI_INTERNALS__;
        setTimeout(() => internals.runCallback(channel.id, { index: 0, message: { result: "Dropped", cursorPos: { x: 1, y: 2 } } }), 0);
      }
      return null;
    });
    const result = await createTauriBackend().dragOut([7]);
    expect(result).toBe("dropped");
    expect(seen[0]).toEqual(["drag_items", { ids: [7] }]);
    expect(seen[1][0]).toBe("plugin:drag|start_drag");
    expect(seen[1][1]).toMatchObject({ item: ["/g/My%20Gallery/a.png"], image: "/t/My Gallery/a.webp" });
  });

  test("IpcError {code, message} becomes a BackendError", async () => {
    mockIPC(() => {
      throw { code: "Unauthorized", message: "PiAPI rejected the API key. Open Settings and paste a valid key." };
    });
    const err = await createTauriBackend()
      .accountInfo()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(err).toMatchObject({ code: "Unauthorized", message: expect.stringContaining("Open Settings") });
  });

  test("unknown codes and plain strings become Internal", async () => {
    expect(BackendError.from({ code: "Weird", message: "m" }).code).toBe("Internal");
    expect(BackendError.from("command generate not found")).toMatchObject({ code: "Internal", message: "command generate not found" });
    expect(BackendError.from(new Error("boom")).message).toBe("boom");
  });

  test("watch_jobs passes a Channel as onEvent and streams JobEvents", async () => {
    const job: JobView = {
      id: 1,
      prompt: "a fox",
      model: "Qubico/flux1-schnell",
      width: 1024,
      height: 1024,
      state: "queued",
      taskId: null,
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
      costUsd: 0.0015,
      error: null,
      images: [],
      typicalMs: 8000,
    };
    let channelId = -1;
    mockIPC((cmd, args) => {
      if (cmd === "watch_jobs") {
        channelId = (args as { onEvent: { id: number } }).onEvent.id;
        return [job];
      }
    });
    const got: JobEvent[] = [];
    const snapshot = await createTauriBackend().watchJobs((e) => got.push(e));
    expect(snapshot).toEqual([job]);
    const internals = (window as unknown as { __TAURI_INTERNALS__: { runCallback: (id: number, data: unknown) => void } }).__TAURI_INTERNALS__;
    internals.runCallback(channelId, { index: 0, message: { kind: "submitted", jobId: 1, taskId: "t-1" } });
    internals.runCallback(channelId, { index: 1, message: { kind: "cancelled", jobId: 1 } });
    await vi.waitFor(() => expect(got).toHaveLength(2));
    expect(got[0]).toEqual({ kind: "submitted", jobId: 1, taskId: "t-1" });
  });

  test("assetUrl uses the asset protocol", () => {
    mockConvertFileSrc("linux");
    const url = createTauriBackend().assetUrl("/home/me/Pictures/Fluxdesk/a b.png");
    expect(url).toBe("asset://localhost/%2Fhome%2Fme%2FPictures%2FFluxdesk%2Fa%20b.png");
  });

  test("thumbUrl uses the app's thumb scheme", () => {
    mockConvertFileSrc("linux");
    const url = createTauriBackend().thumbUrl("/home/me/.cache/fluxdesk/thumbs/ab/c d.webp");
    expect(url).toBe("thumb://localhost/%2Fhome%2Fme%2F.cache%2Ffluxdesk%2Fthumbs%2Fab%2Fc%20d.webp");
  });
});

describe("adapter vs generated bindings", () => {
  test("the UI's limits are the core's", async () => {
    const { MAX_IMAGES_BY_ID } = await import("../src/lib/backend/bindings");
    const { FETCH_MAX } = await import("../src/lib/state/images.svelte");
    const mock = await import("../src/lib/backend/mock");
    expect(FETCH_MAX).toBe(MAX_IMAGES_BY_ID);
    expect(mock.MAX_IMAGES_BY_ID).toBe(MAX_IMAGES_BY_ID);
  });

  // The Tauri adapter calls invoke() itself; this proves it sends exactly what the tauri-specta
  // bindings generated from the Rust commands would send (command names and argument keys).
  test("every command matches bindings.ts", async () => {
    const { commands } = await import("../src/lib/backend/bindings");
    const b = createTauriBackend();
    const seen: { last: [string, unknown] | null } = { last: null };
    mockIPC((cmd, args) => {
      seen.last = [cmd, args];
      return null;
    });
    const capture = async (fn: () => Promise<unknown>): Promise<[string, unknown] | null> => {
      seen.last = null;
      await fn().catch(() => {});
      return seen.last;
    };
    const query = { text: "fox", model: null, minRating: 2, favouritesOnly: true, sort: "rating" as const, limit: 60, cursor: "60" };
    const settings = {
      baseUrl: "https://api.piapi.ai",
      pollMaxAttempts: 30,
      pollIntervalMs: 3000,
      galleryDir: null,
      theme: "dark" as const,
      defaultModel: "Qubico/flux1-dev" as const,
      defaultWidth: 1024,
      defaultHeight: 1024,
      dailyBudgetUsd: null,
      maxConcurrent: 4,
    };
    const pairs: [string, () => Promise<unknown>, () => Promise<unknown>][] = [
      ["appInfo", () => b.appInfo(), () => commands.appInfo()],
      ["keyStatus", () => b.keyStatus(), () => commands.keyStatus()],
      ["setKey", () => b.setKey("k"), () => commands.setKey("k")],
      ["deleteKey", () => b.deleteKey(), () => commands.deleteKey()],
      ["getSettings", () => b.getSettings(), () => commands.getSettings()],
      ["updateSettings", () => b.updateSettings(settings), () => commands.updateSettings(settings)],
      ["generate", () => b.generate(request), () => commands.generate(request)],
      ["cancelJob", () => b.cancelJob(3), () => commands.cancelJob(3)],
      ["retryJob", () => b.retryJob(3), () => commands.retryJob(3)],
      ["listJobs", () => b.listJobs(), () => commands.listJobs()],
      ["accountInfo", () => b.accountInfo(), () => commands.accountInfo()],
      ["listImages", () => b.listImages(query), () => commands.listImages(query)],
      ["getImage", () => b.getImage(5), () => commands.getImage(5)],
      ["getImages", () => b.getImages([5, 7]), () => commands.getImages([5, 7])],
      ["setRating", () => b.setRating([1, 2], 3), () => commands.setRating([1, 2], 3)],
      ["setFavourite", () => b.setFavourite([1], false), () => commands.setFavourite([1], false)],
      ["deleteImages", () => b.deleteImages([9]), () => commands.deleteImages([9])],
      ["revealImage", () => b.revealImage(9), () => commands.revealImage(9)],
    ];
    // Wave 2 (team/WAVE2.md): checked as soon as the shell's regenerated bindings contain them.
    const c = commands as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const wave2: [string, () => Promise<unknown>, () => Promise<unknown>][] = [
      ["generateBatch", () => b.generateBatch(batch), () => c.generateBatch(batch)],
      ["queueState", () => b.queueState(), () => c.queueState()],
      ["pauseQueue", () => b.pauseQueue("why"), () => c.pauseQueue("why")],
      ["resumeQueue", () => b.resumeQueue(), () => c.resumeQueue()],
      ["moveJob", () => b.moveJob(3, 4), () => c.moveJob(3, 4)],
      ["costSummary", () => b.costSummary(), () => c.costSummary()],
      ["exportImages", () => b.exportImages({ ids: [1], destDir: "/d", format: "png", quality: 90 }), () => c.exportImages({ ids: [1], destDir: "/d", format: "png", quality: 90 })],
      ["importPaths", () => b.importPaths(["/a"]), () => c.importPaths(["/a"])],
      ["undoDelete", () => b.undoDelete("tok"), () => c.undoDelete("tok")],
      ["imageSettings", () => b.imageSettings(2), () => c.imageSettings(2)],
      ["varyImage", () => b.varyImage(2, 3), () => c.varyImage(2, 3)],
      ["copyImage", () => b.copyImage(2), () => c.copyImage(2)],
      ["revealGallery", () => b.revealGallery(), () => c.revealGallery()],
      ["revealExport", () => b.revealExport("/d/a.png"), () => c.revealExport("/d/a.png")],
    ];
    for (const pair of wave2) if (pair[0] in commands) pairs.push(pair);
    // Wave 3 (team/WAVE3.md): likewise, once bindings.ts is regenerated with them.
    const wave3: [string, () => Promise<unknown>, () => Promise<unknown>][] = [
      ["taskCatalog", () => b.taskCatalog(), () => c.taskCatalog()],
      ["sourceInfo", () => b.sourceInfo({ imageId: 3, path: null }), () => c.sourceInfo({ imageId: 3, path: null })],
      ["stageSource", () => b.stageSource("iVBORw0K"), () => c.stageSource("iVBORw0K")],
      ["editSettings", () => b.editSettings(3, "kontext"), () => c.editSettings(3, "kontext")],
    ];
    for (const pair of wave3) if (pair[0] in commands) pairs.push(pair);
    // Wave 4 (team/WAVE4.md): the count, separate from the first page.
    const wave4: [string, () => Promise<unknown>, () => Promise<unknown>][] = [
      ["countImages", () => b.countImages(query), () => c.countImages(query)],
    ];
    for (const pair of wave4) if (pair[0] in commands) pairs.push(pair);
    for (const [name, ours, theirs] of pairs) {
      const a = await capture(ours);
      const g = await capture(theirs);
      expect(a, name).not.toBeNull();
      expect(a, name).toEqual(g);
    }
    // watch_jobs: same command and argument key; the value is a Channel in both.
    const ours = await capture(() => b.watchJobs(() => {}));
    const { Channel } = await import("@tauri-apps/api/core");
    const theirs = await capture(() => commands.watchJobs(new Channel()));
    expect(ours?.[0]).toBe(theirs?.[0]);
    expect(Object.keys(ours?.[1] as object)).toEqual(Object.keys(theirs?.[1] as object));
    // drag_items is the first of the two calls dragOut makes (the second is the drag plugin's).
    if ("dragItems" in commands) {
      const calls: [string, unknown][] = [];
      mockIPC((cmd, args) => {
        calls.push([cmd, args]);
        return cmd === "drag_items" ? { items: ["/a"], icon: "/b" } : null;
      });
      // (dragOut then waits for the end of the native drag: do not await it.)
      void b.dragOut([1, 2]).catch(() => {});
      await vi.waitFor(() => expect(calls.length).toBeGreaterThan(0));
      const ours2 = calls[0];
      calls.length = 0;
      await c.dragItems([1, 2]).catch(() => {});
      expect(ours2).toEqual(calls[0]);
    }
    // Every generated command is covered above.
    const covered = new Set([...pairs.map(([n]) => n), "watchJobs", "dragItems"]);
    expect(Object.keys(commands).filter((n) => !covered.has(n))).toEqual([]);
  });
});
