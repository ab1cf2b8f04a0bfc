// The UI's only door to the backend. Components and stores import `backend` from here and never touch
// `@tauri-apps/*` (only ./tauri.ts does). At startup we pick the Tauri adapter when running inside the
// Tauri webview (window.__TAURI_INTERNALS__ exists) and the in-memory mock otherwise (plain browser,
// `npm run dev`, screenshots, tests).

import type {
  AccountView,
  AppInfo,
  BatchRequest,
  CostSummary,
  DeleteReceipt,
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
  TaskType,
} from "./types";
import { BackendError } from "./errors";
import { createTauriBackend } from "./tauri";
import { createMockBackend, type MockBackend, type MockOptions } from "./mock";

export type * from "./types";
export { BackendError };

/** Files dragged over / dropped on the window (Tauri's webview drag-drop event, normalised). */
export type FileDropEvent = { kind: "over" } | { kind: "drop"; paths: string[] } | { kind: "leave" };

/** What the native file dialog should pick for "Import…". */
export type ImportPick = "files" | "folder";

/**
 * One typed async method per IPC command (team/IPC.md, team/WAVE2.md), plus shell helpers that are not
 * commands: `assetUrl`, `thumbUrl`, `pickFolder`, `pickImport`, `openExternal`, `dragOut`, `onFileDrop`.
 */
export interface Backend {
  /** "tauri" inside the desktop shell, "mock" in a plain browser or tests. */
  readonly kind: "tauri" | "mock";

  appInfo(): Promise<AppInfo>;
  keyStatus(): Promise<KeyStatus>;
  /** Stores the key in the OS keychain. The key never comes back. */
  setKey(key: string): Promise<KeyStatus>;
  deleteKey(): Promise<KeyStatus>;
  getSettings(): Promise<SettingsView>;
  updateSettings(settings: Settings): Promise<SettingsView>;
  /** Call once at startup: returns the current jobs (newest first), then streams events to `onEvent`. */
  watchJobs(onEvent: (event: JobEvent) => void): Promise<JobView[]>;
  /** Returns ledger job ids, one per image. */
  generate(request: GenerateRequest): Promise<number[]>;
  cancelJob(jobId: number): Promise<void>;
  /** Explicit new task(s) for a failed/cancelled job. */
  retryJob(jobId: number): Promise<number[]>;
  listJobs(): Promise<JobView[]>;
  accountInfo(): Promise<AccountView>;
  listImages(query: GalleryQuery): Promise<ImagePage>;
  /** The exact number of images matching a query's filters (its cursor and limit are ignored). */
  countImages(query: GalleryQuery): Promise<number>;
  getImage(id: number): Promise<ImageView>;
  /** The images of `ids` in that order, without those no longer in the gallery (at most 1,000). */
  getImages(ids: number[]): Promise<ImageView[]>;
  setRating(ids: number[], rating: number): Promise<void>;
  setFavourite(ids: number[], favourite: boolean): Promise<void>;
  /** Moves the files to the OS trash; the receipt's token undoes it (undoDelete). */
  deleteImages(ids: number[]): Promise<DeleteReceipt>;
  /** Opens the file manager at the image file. */
  revealImage(id: number): Promise<void>;

  // ---- wave 2: queue, batches, cost ----
  /** One ledger job per image (prompt-major: all images of prompt 1, then prompt 2…). */
  generateBatch(request: BatchRequest): Promise<number[]>;
  queueState(): Promise<QueueState>;
  pauseQueue(reason: string | null): Promise<QueueState>;
  resumeQueue(): Promise<QueueState>;
  /** Moves a queued job before `before` (null = to the end of the queue). */
  moveJob(jobId: number, before: number | null): Promise<void>;
  costSummary(): Promise<CostSummary>;

  // ---- wave 2: gallery operations ----
  exportImages(request: ExportRequest): Promise<ExportReport>;
  /** Files or folders, copied into the gallery. */
  importPaths(paths: string[]): Promise<ImportReport>;
  /** Restores a delete from the trash; resolves with the number of images restored. */
  undoDelete(token: string): Promise<number>;
  /** The request that made an image (count 1, seed locked to the image's). */
  imageSettings(id: number): Promise<GenerateRequest>;
  /** Same settings, new random seeds; returns the new job ids. */
  varyImage(id: number, count: number): Promise<number[]>;
  /** Copies the image (pixels, not the path) to the system clipboard. */
  copyImage(id: number): Promise<void>;
  /** Opens the file manager at the gallery folder. */
  revealGallery(): Promise<void>;
  /** Opens the file manager at an exported file (a path export_images wrote). */
  revealExport(path: string): Promise<void>;

  // ---- wave 3: all Flux task types (team/WAVE3.md D) ----
  /** Every task type with its models, prices and what it takes; the LoRA and ControlNet lists. Static. */
  taskCatalog(): Promise<TaskCatalog>;
  /** Size and path of an input image (reads the header only); errors say what to do. */
  sourceInfo(source: SourceImage): Promise<SourceInfo>;
  /** Pasted or dropped image bytes (base64, no data: prefix) → a file in the data folder, as a source. */
  stageSource(pngBase64: string): Promise<SourceImage>;
  /** "Edit" from the gallery: the request that edits this image with `taskType` (source = the image). */
  editSettings(id: number, taskType: TaskType): Promise<GenerateRequest>;

  // ---- shell helpers (no IPC command, or a command plus a plugin call) ----
  /** A URL an <img> can load for a local file path (Tauri asset protocol; data: URLs in the mock). */
  assetUrl(path: string): string;
  /** Like `assetUrl`, for a thumbnail in the grid: the app's own `thumb:` scheme, answered at once. */
  thumbUrl(path: string): string;
  /** Native folder picker; null when the user cancels. */
  pickFolder(current: string | null): Promise<string | null>;
  /** Opens an https URL in the default browser. */
  openExternal(url: string): Promise<void>;
  /** Native file/folder picker for "Import…" (multiple); [] when the user cancels. */
  pickImport(what: ImportPick): Promise<string[]>;
  /** Native picker for one source image (PNG, JPEG, WebP); null when the user cancels. */
  pickSource(): Promise<string | null>;
  /**
   * Native drag of the images' files out of the window (drag_items + the drag plugin's startDrag).
   * Resolves when the drag ends: "dropped" or "cancelled".
   */
  dragOut(ids: number[]): Promise<"dropped" | "cancelled">;
  /** Files dragged onto the window. Returns the unsubscribe function. */
  onFileDrop(listener: (event: FileDropEvent) => void): Promise<() => void>;
}

declare global {
  interface Window {
    __TAURI_INTERNALS__?: unknown;
    /** Options for the in-memory mock (set by the screenshot script via addInitScript). */
    __FLUXDESK_MOCK__?: MockOptions;
    __FLUXDESK_MOCK_BACKEND__?: MockBackend;
  }
}

function mockOptionsFromPage(): MockOptions {
  const fromWindow = window.__FLUXDESK_MOCK__ ?? {};
  const preset = new URLSearchParams(window.location.search).get("mock");
  const base: MockOptions = preset === "empty" ? { seedGallery: 0, seedJobs: false } : { seedGallery: 24, seedJobs: true };
  return { ...base, ...fromWindow };
}

function choose(): Backend {
  // The desktop build (`tauri build` sets TAURI_ENV_PLATFORM) always runs inside Tauri: Vite replaces the
  // variable with a constant, so the mock below is left out of that bundle (less script to parse at launch).
  if (import.meta.env.TAURI_ENV_PLATFORM) return createTauriBackend();
  if (typeof window === "undefined") return createMockBackend({ seedGallery: 0, seedJobs: false });
  if (window.__TAURI_INTERNALS__) return createTauriBackend();
  const mock = createMockBackend(mockOptionsFromPage());
  // Browser preview only: lets the screenshot script steer the simulation (never set inside Tauri).
  window.__FLUXDESK_MOCK_BACKEND__ = mock;
  return mock;
}

/** The backend every component and store uses. Reassigned only by `setBackend` (tests). */
export let backend: Backend = choose();

// ---- job event fan-out: one watchJobs subscription, many listeners ----

export type JobEventListener = (event: JobEvent) => void;
const listeners = new Set<JobEventListener>();
let watching: Promise<JobView[]> | null = null;

/** Subscribes to job events; returns the unsubscribe function. */
export function onJobEvent(listener: JobEventListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Starts the single `watchJobs` stream (idempotent) and resolves with the snapshot. */
export function startJobFeed(): Promise<JobView[]> {
  if (!watching) {
    watching = backend
      .watchJobs((event) => {
        for (const l of listeners) {
          try {
            l(event);
          } catch (err) {
            console.error("job event listener failed", err);
          }
        }
      })
      .catch((err: unknown) => {
        watching = null;
        throw BackendError.from(err);
      });
  }
  return watching;
}

/** Swaps the backend (tests and the screenshot harness). Drops listeners and the job feed. */
export function setBackend(next: Backend): void {
  backend = next;
  watching = null;
  listeners.clear();
}
