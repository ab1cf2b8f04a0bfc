// The Tauri adapter: THE ONLY module in the UI that imports `@tauri-apps/*` (and the drag plugin's JS).
// Commands are snake_case on the Rust side; arguments are camelCase keys (Tauri converts them).
// Every rejection is normalised to BackendError so callers can branch on `code`.

import { Channel, convertFileSrc, invoke } from "@tauri-apps/api/core";
import { getCurrentWebview } from "@tauri-apps/api/webview";
import { open as openDialog } from "@tauri-apps/plugin-dialog";
import { openUrl } from "@tauri-apps/plugin-opener";
import { startDrag } from "@crabnebula/tauri-plugin-drag";
import type { Backend, FileDropEvent } from "./index";
import { BackendError } from "./errors";
import type {
  AccountView,
  AppInfo,
  BatchRequest,
  CostSummary,
  DeleteReceipt,
  DragPayload,
  ExportReport,
  ExportRequest,
  GalleryQuery,
  GenerateRequest,
  ImagePage,
  ImageView,
  ImportReport,
  JobEvent,
  JobView,
  KeyStatus,
  QueueState,
  Settings,
  SettingsView,
  SourceImage,
  SourceInfo,
  TaskCatalog,
} from "./types";

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (err) {
    throw BackendError.from(err);
  }
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw BackendError.from(err);
  }
}

const IMAGE_EXTENSIONS = ["png", "jpg", "jpeg", "webp"];

export function createTauriBackend(): Backend {
  // Keep a reference so the channel is never garbage-collected while the app runs.
  let jobChannel: Channel<JobEvent> | null = null;

  return {
    kind: "tauri",
    appInfo: () => call<AppInfo>("app_info"),
    keyStatus: () => call<KeyStatus>("key_status"),
    setKey: (key) => call<KeyStatus>("set_key", { key }),
    deleteKey: () => call<KeyStatus>("delete_key"),
    getSettings: () => call<SettingsView>("get_settings"),
    updateSettings: (settings: Settings) => call<SettingsView>("update_settings", { settings }),
    watchJobs(onEvent) {
      jobChannel = new Channel<JobEvent>();
      jobChannel.onmessage = onEvent;
      return call<JobView[]>("watch_jobs", { onEvent: jobChannel });
    },
    generate: (request: GenerateRequest) => call<number[]>("generate", { request }),
    cancelJob: (jobId) => call<void>("cancel_job", { jobId }),
    retryJob: (jobId) => call<number[]>("retry_job", { jobId }),
    listJobs: () => call<JobView[]>("list_jobs"),
    accountInfo: () => call<AccountView>("account_info"),
    listImages: (query: GalleryQuery) => call<ImagePage>("list_images", { query }),
    countImages: (query: GalleryQuery) => call<number>("count_images", { query }),
    getImage: (id) => call<ImageView>("get_image", { id }),
    getImages: (ids) => call<ImageView[]>("get_images", { ids }),
    setRating: (ids, rating) => call<void>("set_rating", { ids, rating }),
    setFavourite: (ids, favourite) => call<void>("set_favourite", { ids, favourite }),
    deleteImages: (ids) => call<DeleteReceipt>("delete_images", { ids }),
    revealImage: (id) => call<void>("reveal_image", { id }),

    generateBatch: (request: BatchRequest) => call<number[]>("generate_batch", { request }),
    queueState: () => call<QueueState>("queue_state"),
    pauseQueue: (reason) => call<QueueState>("pause_queue", { reason }),
    resumeQueue: () => call<QueueState>("resume_queue"),
    moveJob: (jobId, before) => call<void>("move_job", { jobId, before }),
    costSummary: () => call<CostSummary>("cost_summary"),

    exportImages: (request: ExportRequest) => call<ExportReport>("export_images", { request }),
    importPaths: (paths) => call<ImportReport>("import_paths", { paths }),
    undoDelete: (token) => call<number>("undo_delete", { token }),
    imageSettings: (id) => call<GenerateRequest>("image_settings", { id }),
    varyImage: (id, count) => call<number[]>("vary_image", { id, count }),
    copyImage: (id) => call<void>("copy_image", { id }),
    revealGallery: () => call<void>("reveal_gallery"),
    // Reveals only what export_images wrote in this session (the shell checks).
    revealExport: (path) => call<void>("reveal_export", { path }),

    // Wave 3 (team/WAVE3.md C/D). Called by name like every command here, so they work before
    // bindings.ts is regenerated with them.
    taskCatalog: () => call<TaskCatalog>("task_catalog"),
    sourceInfo: (source: SourceImage) => call<SourceInfo>("source_info", { source }),
    stageSource: (pngBase64) => call<SourceImage>("stage_source", { pngBase64 }),
    editSettings: (id, taskType) => call<GenerateRequest>("edit_settings", { id, taskType }),

    assetUrl: (path) => convertFileSrc(path),
    thumbUrl: (path) => convertFileSrc(path, "thumb"),
    pickFolder: (current) =>
      guard(async () => {
        const picked = await openDialog({ directory: true, multiple: false, defaultPath: current ?? undefined });
        return typeof picked === "string" ? picked : null;
      }),
    pickImport: (what) =>
      guard(async () => {
        const picked =
          what === "folder"
            ? await openDialog({ directory: true, multiple: true })
            : await openDialog({ multiple: true, filters: [{ name: "Images", extensions: IMAGE_EXTENSIONS }] });
        if (picked == null) return [];
        return Array.isArray(picked) ? picked : [picked];
      }),
    pickSource: () =>
      guard(async () => {
        const picked = await openDialog({ multiple: false, directory: false, filters: [{ name: "Images", extensions: IMAGE_EXTENSIONS }] });
        return typeof picked === "string" ? picked : null;
      }),
    openExternal: (url) => guard(() => openUrl(url)),
    dragOut: (ids) =>
      guard(async () => {
        const { items, icon } = await call<DragPayload>("drag_items", { ids });
        return new Promise<"dropped" | "cancelled">((resolve, reject) => {
          // The plugin reports the end of the drag on its channel ("Dropped" or "Cancel[led]"); in case a
          // platform never reports it, settle a minute after the command returned.
          let fallback: ReturnType<typeof setTimeout> | undefined;
          const done = (r: "dropped" | "cancelled") => {
            if (fallback) clearTimeout(fallback);
            resolve(r);
          };
          startDrag({ item: items, icon }, (e) => done(e.result === "Dropped" ? "dropped" : "cancelled"))
            .then(() => (fallback = setTimeout(() => done("cancelled"), 60_000)))
            .catch(reject);
        });
      }),
    onFileDrop: (listener) =>
      guard(() =>
        getCurrentWebview().onDragDropEvent((event) => {
          const p = event.payload;
          const e: FileDropEvent =
            p.type === "drop" ? { kind: "drop", paths: p.paths } : p.type === "leave" ? { kind: "leave" } : { kind: "over" };
          listener(e);
        }),
      ),
  };
}
