// The IPC contract (team/IPC.md), TypeScript view, as the UI reads and writes it. Hand-written; kept in
// step with the tauri-specta output in ./bindings.ts by tests/contract.types.ts (checked by `npm run check`):
// what Rust sends must fit these types, and what the UI sends must fit what Rust accepts.
// Keep this file free of logic.

export type ErrorCode =
  | "InvalidInput"
  | "Unauthorized"
  | "InsufficientCredits"
  | "RateLimited"
  | "TaskFailed"
  | "Cancelled"
  | "Timeout"
  | "CreateUnknown"
  | "Network"
  | "ServerError"
  | "Protocol"
  | "NotFound"
  | "DownloadFailed"
  | "InvalidImage"
  | "Config"
  | "NoApiKey"
  | "KeychainUnavailable"
  | "Storage"
  | "DatabaseUnusable"
  | "DiskFull"
  | "Io"
  | "Missing"
  | "BudgetReached"
  | "Internal"
  /** Wave 3: uploading a local input image to PiAPI failed (nothing was created; retry is allowed). */
  | "UploadFailed";

export type IpcError = { code: ErrorCode; message: string };

export type Model = "Qubico/flux1-schnell" | "Qubico/flux1-dev" | "Qubico/flux1-dev-advanced";

export type KeySource = "environment" | "keychain" | "none";
export type KeyStatus = { source: KeySource; keychainAvailable: boolean; keychainError: string | null };

export type Theme = "system" | "light" | "dark";

export type Settings = {
  baseUrl: string;
  pollMaxAttempts: number;
  pollIntervalMs: number;
  galleryDir: string | null;
  theme: Theme;
  defaultModel: Model;
  defaultWidth: number;
  defaultHeight: number;
  dailyBudgetUsd: number | null;
  /** Parallel tasks when the account does not report its own limit (1–20). Not in IPC.md; sent by the shell. */
  maxConcurrent?: number;
};

export type SettingsOverride = { field: string; env: string };

export type SettingsView = {
  settings: Settings;
  overriddenBy: SettingsOverride[];
  galleryDir: string;
  dataDir: string;
  demo: boolean;
};

export type AppInfo = { version: string; demo: boolean; keyStatus: KeyStatus; galleryDir: string };

export type GenerateRequest = {
  prompt: string;
  negativePrompt: string | null;
  model: Model;
  width: number;
  height: number;
  steps: number | null;
  guidance: number | null;
  /** null = random */
  seed: number | null;
  /** 1..8 */
  count: number;
  // ---- Wave 3 (team/WAVE3.md C): all `#[serde(default)]` in Rust, so optional here: an older shell's
  // image_settings answer (without them) still reads as a text-to-image request.
  /** Default "txt2img". */
  taskType?: TaskType;
  source?: SourceImage | null;
  mask?: MaskInput | null;
  denoise?: number | null;
  loras?: LoraChoice[];
  control?: ControlChoice | null;
  outpaint?: Margins | null;
  scale?: number | null;
};

export type JobState =
  | "queued"
  | "submitting"
  | "submitted"
  | "running"
  | "downloading"
  | "saved"
  | "failed"
  | "abandoned"
  | "cancelled";

export type ImageView = {
  id: number;
  path: string;
  thumbPath: string | null;
  prompt: string;
  negativePrompt: string | null;
  model: string | null;
  taskType: string | null;
  width: number;
  height: number;
  seed: number | null;
  steps: number | null;
  guidance: number | null;
  taskId: string | null;
  costUsd: number | null;
  /** RFC 3339 */
  createdAt: string;
  favourite: boolean;
  /** 0-5 */
  rating: number;
  /** The gallery image this one was made from (img2img, inpaint, …), when it is known. */
  sourceImageId: number | null;
  /** The task's own settings (denoise, LoRAs, ControlNet, margins, scale); null for txt2img. */
  task: TaskSettingsView | null;
};

export type JobView = {
  id: number;
  prompt: string;
  model: Model;
  width: number;
  height: number;
  state: JobState;
  taskId: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  costUsd: number | null;
  error: IpcError | null;
  images: ImageView[];
  typicalMs: number;
};

export type JobEvent =
  | { kind: "queued"; jobId: number; job: JobView }
  | { kind: "submitted"; jobId: number; taskId: string }
  | { kind: "pending"; jobId: number }
  | { kind: "processing"; jobId: number; elapsedMs: number; typicalMs: number }
  | { kind: "downloading"; jobId: number; received: number; total: number | null }
  | { kind: "saved"; jobId: number; image: ImageView }
  | { kind: "failed"; jobId: number; code: ErrorCode; message: string }
  | { kind: "cancelled"; jobId: number }
  /** Pause/resume/limit/budget changes (no jobId). */
  | { kind: "queueChanged"; state: QueueState }
  /** Every job of a generate_batch call has ended. */
  | { kind: "batchFinished"; batchId: string; saved: number; failed: number; cancelled: number };

/** Events that concern one job (everything but the queue-wide ones). */
export type JobEventForJob = Extract<JobEvent, { jobId: number }>;

export type AccountView = {
  demo: boolean;
  balanceUsd: number | null;
  plan: string | null;
  maxConcurrentTasks: number | null;
};

export type GallerySort = "newest" | "oldest" | "rating";

export type Aspect = "square" | "landscape" | "portrait";

export type GalleryQuery = {
  text: string | null;
  model: string | null;
  minRating: number | null;
  favouritesOnly: boolean;
  sort: GallerySort;
  limit: number;
  cursor: string | null;
  // Extra filters the shell accepts (not used by the basic gallery yet).
  createdAfter?: string | null;
  createdBefore?: string | null;
  aspect?: Aspect | null;
  width?: number | null;
  height?: number | null;
  /**
   * true (the default when left out): `total` is always the exact count. false: the page never waits for
   * an expensive count — `counted` says whether `total` is exact; `countImages` counts separately.
   */
  count?: boolean;
};

/**
 * One page of `listImages`. `total` is the exact number of matches when `counted`; otherwise (a query with
 * `count: false` whose count was not free) it is only a lower bound (this page's images): ask `countImages`.
 */
export type ImagePage = { items: ImageView[]; nextCursor: string | null; total: number; counted: boolean };

// ---------- Wave 2: queue, batches, cost (team/WAVE2.md) ----------

/** How seeds are chosen across a batch. */
export type SeedPlan = { kind: "random" } | { kind: "locked"; seed: number } | { kind: "sweep"; start: number; step: number };

export type BatchRequest = {
  prompts: string[];
  negativePrompt: string | null;
  model: Model;
  width: number;
  height: number;
  steps: number | null;
  guidance: number | null;
  seeds: SeedPlan;
  countPerPrompt: number;
};

export type QueueState = { paused: boolean; pauseReason: string | null; queued: number; running: number; limit: number };

export type CostSummary = {
  demo: boolean;
  /** null when the ledger could not say (shown as "—"). */
  todayUsd: number | null;
  monthUsd: number | null;
  balanceUsd: number | null;
  dailyBudgetUsd: number | null;
};

// ---------- Wave 2: gallery operations ----------

export type ExportFormat = "png" | "jpeg" | "webp";

export type ExportRequest = { ids: number[]; destDir: string; format: ExportFormat; quality: number };

export type ExportReport = { written: string[]; failed: string[] };

export type ImportReport = { imported: number; skipped: number; failed: string[]; ids: number[] };

/** Undo token for a delete to the OS trash. */
export type DeleteReceipt = { token: string; count: number };

/** What the drag-out plugin needs: pass `items` as `item` and `icon` unchanged. */
export type DragPayload = { items: string[]; icon: string };

// ---------- Wave 3: all Flux task types (team/WAVE3.md C, D) ----------

/** PiAPI's task_type wire strings. */
export type TaskType =
  | "txt2img"
  | "img2img"
  | "txt2img-lora"
  | "img2img-lora"
  | "controlnet-lora"
  | "fill-inpaint"
  | "fill-outpaint"
  | "redux-variation"
  | "kontext"
  | "txt2img-sr"
  | "img2img-sr";

export type ControlType = "depth" | "soft_edge" | "canny" | "openpose";

/** An input image: a gallery image or a file (exactly one set). */
export type SourceImage = { imageId?: number | null; path?: string | null };

/** The inpaint mask: white (luma ≥ 128, or alpha ≥ 128 when the PNG has alpha) = repaint. One of the two set. */
export type MaskInput = { path?: string | null; pngBase64?: string | null };

/** Strength null = PiAPI's default (1). */
export type LoraChoice = { name: string; strength: number | null };

export type ControlChoice = { controlType: ControlType; image: SourceImage; strength: number | null };

/** Outpaint margins in pixels, per side. */
export type Margins = { left: number; right: number; top: number; bottom: number };

export type ControlSummary = { controlType: ControlType; strength: number | null };

export type TaskSettingsView = {
  denoise?: number | null;
  loras?: LoraChoice[];
  control?: ControlSummary | null;
  outpaint?: Margins | null;
  scale?: number | null;
};

/** What source_info read from an input image's header. `path` is absolute (for the asset protocol). */
export type SourceInfo = { path: string; width: number; height: number; bytes: number; imageId: number | null };

export type ModelPrice = { model: Model; usd: number | null };

export type TaskInfo = {
  taskType: TaskType;
  label: string;
  models: Model[];
  needsImage: boolean;
  minLoras: number;
  maxLoras: number;
  needsControl: boolean;
  takesSize: boolean;
  takesDenoise: boolean;
  takesOutpaint: boolean;
  takesScale: boolean;
  batchModels: Model[];
  prices: ModelPrice[];
};

export type TaskCatalog = { tasks: TaskInfo[]; loraTypes: string[]; controlTypes: ControlType[] };
