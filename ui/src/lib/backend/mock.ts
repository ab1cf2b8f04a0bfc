// In-memory backend used in a plain browser (`npm run dev`), for screenshots and by tests.
// It behaves like the Rust shell: validates requests, runs jobs through
// queued → submitted → pending → processing → downloading → saved (or failed/cancelled) on timers,
// keeps a gallery, and answers every command in the Backend interface. Images are SVG data: URLs.
// Tests can turn timers off (`auto: false`) and drive jobs with `step`/`finish`/`emit`.

import type { Backend, FileDropEvent, ImportPick } from "./index";
import { BackendError } from "./errors";
import { artDataUrl, hash } from "./mock-art";
import { derivedDataUrl, mockCatalog } from "./mock-tasks";
import type {
  AccountView,
  AppInfo,
  BatchRequest,
  CostSummary,
  DeleteReceipt,
  ErrorCode,
  ExportReport,
  ExportRequest,
  GalleryQuery,
  GenerateRequest,
  ImagePage,
  ImageView,
  ImportReport,
  JobEvent,
  JobView,
  KeySource,
  KeyStatus,
  Model,
  QueueState,
  SeedPlan,
  Settings,
  SettingsOverride,
  SettingsView,
  SourceImage,
  SourceInfo,
  TaskCatalog,
  TaskSettingsView,
  TaskType,
} from "./types";
import { modelInfo, MODELS } from "../util/models";
import { fitToLimit } from "../util/sizes";
import { findTask, outpaintBudget } from "../util/tasks";
import { fromBase64, pngSize } from "../util/mask";
import { validateSize } from "../util/sizes";
import { SAMPLE_PROMPTS } from "../util/samples";

/** `get_images`' limit per call, as the core's (bindings.ts; tests/backend.test.ts checks they agree). */
export const MAX_IMAGES_BY_ID = 1000;

export type MockOptions = {
  /** Where the API key comes from; "none" means demo mode. Default "none". */
  keySource?: KeySource;
  keychainAvailable?: boolean;
  /** Settings fields pinned by environment variables. */
  overrides?: SettingsOverride[];
  /** Number of images already in the gallery. Default 0. */
  seedGallery?: number;
  /** Pre-existing activity history (a few saved, one failed, one cancelled). Default false. */
  seedJobs?: boolean;
  /** Multiplies all simulated durations (1 = typical PiAPI timings). Default 1. */
  speed?: number;
  /** Advance jobs on timers. When false, tests drive them with step()/finish(). Default true. */
  auto?: boolean;
  /** Every new job fails with this code after being submitted. */
  failWith?: ErrorCode | null;
  /** accountInfo rejects with this code (e.g. "Network", "Unauthorized"). */
  accountFailWith?: ErrorCode | null;
  /** Artificial latency of every command, ms. Default 0. */
  latencyMs?: number;
  balanceUsd?: number;
  theme?: Settings["theme"];
  maxConcurrent?: number;
  /** Spent earlier this month, before today (cost summary). Default 3.2146. */
  monthBeforeTodayUsd?: number;
};

export const ERROR_MESSAGES: Record<ErrorCode, string> = {
  InvalidInput: "Check the highlighted values and try again.",
  Unauthorized: "PiAPI rejected the API key. Open Settings and paste a valid key.",
  InsufficientCredits: "Your PiAPI balance is too low for this task. Top up your PiAPI account, then retry.",
  RateLimited: "PiAPI is limiting how many requests this key can make right now.",
  TaskFailed: "PiAPI could not generate this image. Try rewording the prompt or retry.",
  Cancelled: "The task was cancelled.",
  Timeout: "PiAPI did not finish in time. Retry, or raise the poll attempts in Settings → Network.",
  CreateUnknown:
    "The connection dropped while creating the task, so PiAPI may or may not have accepted it. Fluxdesk did not resend it to avoid paying twice.",
  Network: "Fluxdesk could not reach PiAPI. Check your connection and retry.",
  ServerError: "PiAPI had a server error. Retry in a minute.",
  Protocol: "PiAPI sent a response Fluxdesk did not understand. Retry; if it persists, update Fluxdesk.",
  NotFound: "That item no longer exists. Refresh and try again.",
  DownloadFailed: "The image was generated but could not be downloaded. Retry the download.",
  InvalidImage: "PiAPI returned a file that is not a valid image. Retry the task.",
  Config: "A setting is invalid. Open Settings to fix it.",
  NoApiKey: "No PiAPI key is set. Open Settings and add your key.",
  KeychainUnavailable: "No system keychain is available. Set PIAPI_API_KEY in the environment instead.",
  Storage: "Fluxdesk could not write to the gallery folder. Choose another folder in Settings → Storage.",
  DatabaseUnusable: "The library database cannot be opened. Restart Fluxdesk; if it persists, move the data folder aside.",
  DiskFull: "The disk is full. Free some space, then retry.",
  Io: "A file operation failed. Check the gallery folder permissions and retry.",
  Missing: "The image file is missing from the gallery folder.",
  BudgetReached: "Today's spending limit is reached. Raise the daily budget in Settings to continue.",
  Internal: "Something went wrong inside Fluxdesk. Retry; if it persists, restart the app.",
  UploadFailed: "The source image could not be uploaded to PiAPI, so nothing was created or charged. Check your connection and retry.",
};

const DAY = 86_400_000;
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const iso = (t: number) => new Date(t).toISOString();

type Sim = {
  timers: ReturnType<typeof setTimeout>[];
  stage: number;
  startedAt: number;
  durationMs: number;
  request: GenerateRequest;
  seed: number;
  batchId?: string;
};

/** A staged or picked input file the mock knows: its preview URL and size. */
type InputFile = { url: string; width: number; height: number; bytes: number };

/** Files the mock's "Choose file…" dialog returns (pickSource), with the art they show. */
const REFERENCE_FILES: { path: string; prompt: string; width: number; height: number; bytes: number }[] = [
  { path: "/home/you/Pictures/References/hillside at dawn.jpg", prompt: "Misty forest valley at dawn, layered mountains", width: 1600, height: 1067, bytes: 412_331 },
];

/** Largest upload PiAPI's ephemeral endpoint is sent (team/WAVE3.md A: MAX_UPLOAD_BYTES). */
const MAX_INPUT_BYTES = 10 * 1024 * 1024;

type Art = { prompt: string; seed: number; width: number; height: number };

const IMAGE_EXT = /\.(png|jpe?g|webp)$/i;

export class MockBackend implements Backend {
  readonly kind = "mock" as const;
  /** Every command call, for assertions. */
  readonly calls: { method: string; args: unknown[] }[] = [];

  private opts: Required<Omit<MockOptions, "failWith" | "accountFailWith" | "theme">> & {
    failWith: ErrorCode | null;
    accountFailWith: ErrorCode | null;
  };
  private paused = false;
  private pauseReason: string | null = null;
  /** Queued job ids in the order they will start. */
  private queue: number[] = [];
  private batches = new Map<string, number[]>();
  private nextBatch = 1;
  private trash = new Map<string, ImageView[]>();
  private nextToken = 1;
  private art = new Map<string, Art>();
  private dropListeners = new Set<(e: FileDropEvent) => void>();
  private imported = new Set<string>();
  /** Bumped on every gallery change (invalidates the listImages cache). */
  private version = 0;
  private listCache: { key: string; items: ImageView[] } | null = null;
  /** Set by `holdCounts`: `countImages` answers wait for it. */
  private countGate: { promise: Promise<void>; release: () => void } | null = null;
  private keySource: KeySource;
  private settings: Settings;
  private saved: Partial<Settings> = {};
  private jobs = new Map<number, JobView>();
  private sims = new Map<number, Sim>();
  private images = new Map<number, ImageView>();
  private urls = new Map<string, string>();
  private nextJobId = 1;
  private nextImageId = 1;
  private listener: ((e: JobEvent) => void) | null = null;
  private spentToday = 0;
  private balanceUsd: number;
  private catalog: TaskCatalog = mockCatalog();
  private inputs = new Map<string, InputFile>();

  constructor(options: MockOptions = {}) {
    this.opts = {
      keySource: options.keySource ?? "none",
      keychainAvailable: options.keychainAvailable ?? true,
      overrides: options.overrides ?? [],
      seedGallery: options.seedGallery ?? 0,
      seedJobs: options.seedJobs ?? false,
      speed: options.speed ?? 1,
      auto: options.auto ?? true,
      failWith: options.failWith ?? null,
      accountFailWith: options.accountFailWith ?? null,
      latencyMs: options.latencyMs ?? 0,
      balanceUsd: options.balanceUsd ?? 18.42,
      maxConcurrent: options.maxConcurrent ?? 4,
      monthBeforeTodayUsd: options.monthBeforeTodayUsd ?? 3.2146,
    };
    this.keySource = this.opts.keySource;
    this.balanceUsd = this.opts.balanceUsd;
    this.settings = {
      baseUrl: "https://api.piapi.ai",
      pollMaxAttempts: 30,
      pollIntervalMs: 3000,
      galleryDir: null,
      theme: options.theme ?? "dark",
      defaultModel: "Qubico/flux1-schnell",
      defaultWidth: 1024,
      defaultHeight: 1024,
      dailyBudgetUsd: null,
      maxConcurrent: 4,
    };
    this.applyOverrides();
    this.seed();
    for (const f of REFERENCE_FILES) {
      const url = artDataUrl(f.prompt, hash(f.path), f.width, f.height);
      this.inputs.set(f.path, { url, width: f.width, height: f.height, bytes: f.bytes });
      this.urls.set(f.path, url);
    }
  }

  // ---------- test controls ----------

  /** Changes options at run time (e.g. make the next jobs fail). */
  configure(patch: Partial<MockOptions>): void {
    Object.assign(this.opts, patch);
    if (patch.keySource) this.keySource = patch.keySource;
  }

  /** Sends an arbitrary event (also applied to the mock's own job list). */
  emit(event: JobEvent): void {
    this.apply(event);
    this.listener?.(event);
    if (event.kind === "saved" || event.kind === "failed" || event.kind === "cancelled") this.checkBatch(event.jobId);
  }

  /** Advances a job by one stage (manual mode). */
  step(jobId: number): void {
    const sim = this.sims.get(jobId);
    const job = this.jobs.get(jobId);
    if (!sim || !job || isFinal(job.state)) return;
    sim.stage += 1;
    switch (sim.stage) {
      case 1:
        sim.startedAt = Date.now();
        this.emit({ kind: "submitted", jobId, taskId: taskIdFor(jobId) });
        break;
      case 2:
        if (this.opts.failWith) {
          const code = this.opts.failWith;
          this.emit({ kind: "failed", jobId, code, message: ERROR_MESSAGES[code] });
        } else this.emit({ kind: "pending", jobId });
        break;
      case 3:
        this.emit({ kind: "processing", jobId, elapsedMs: Date.now() - sim.startedAt, typicalMs: job.typicalMs });
        break;
      case 4:
        this.emit({ kind: "downloading", jobId, received: 0, total: 1_400_000 });
        break;
      default:
        this.emit({ kind: "saved", jobId, image: this.makeImage(job, sim) });
    }
  }

  /** Runs a job to the end (manual mode). */
  finish(jobId: number): void {
    for (let i = 0; i < 6; i++) this.step(jobId);
  }

  /** Simulates files dragged over the window (without dropping them). */
  simulateFileHover(): void {
    for (const l of this.dropListeners) l({ kind: "over" });
  }

  /** Simulates files dragged over and dropped on the window. */
  simulateFileDrop(paths: string[]): void {
    for (const l of this.dropListeners) l({ kind: "over" });
    for (const l of this.dropListeners) l({ kind: "drop", paths });
  }

  /** Adds an image to the gallery as if a job had just saved it, and emits `saved` (tests, screenshots). */
  addImage(prompt: string, patch: Partial<ImageView> = {}): ImageView {
    const request: GenerateRequest = {
      prompt,
      negativePrompt: null,
      model: "Qubico/flux1-schnell",
      width: patch.width ?? 1024,
      height: patch.height ?? 1024,
      steps: null,
      guidance: null,
      seed: null,
      count: 1,
    };
    const [jobId] = [this.enqueueNoPump(request, 0)];
    const job = this.jobs.get(jobId);
    const sim = this.sims.get(jobId);
    if (!job || !sim) throw new Error("BUG: mock job missing");
    job.state = "running";
    const image = { ...this.makeImage(job, sim), ...patch };
    this.queue = this.queue.filter((id) => id !== jobId);
    this.emit({ kind: "saved", jobId, image });
    return image;
  }

  /** Queued job ids in start order. */
  get queueOrder(): number[] {
    return [...this.queue];
  }

  /** All jobs, newest first. */
  get allJobs(): JobView[] {
    return [...this.jobs.values()].sort((a, b) => b.id - a.id);
  }

  // ---------- Backend ----------

  private async enter(method: string, args: unknown[]): Promise<void> {
    this.calls.push({ method, args: structuredCloneSafe(args) });
    if (this.opts.latencyMs > 0) await delay(this.opts.latencyMs);
  }

  private get demo(): boolean {
    return this.keySource === "none";
  }

  private keyStatusNow(): KeyStatus {
    return {
      source: this.keySource,
      keychainAvailable: this.opts.keychainAvailable,
      // As the core words it (fluxdesk-core Error::KeychainUnavailable): the reason, then what to do.
      keychainError: this.opts.keychainAvailable
        ? null
        : "The system keychain is not available (the Secret Service is not running). On Linux, install and unlock a Secret Service (GNOME Keyring or KWallet), or set PIAPI_API_KEY in the environment.",
    };
  }

  private view(): SettingsView {
    return {
      settings: { ...this.settings },
      overriddenBy: this.opts.overrides.map((o) => ({ ...o })),
      galleryDir: this.settings.galleryDir ?? "/home/you/Pictures/Fluxdesk",
      dataDir: "/home/you/.local/share/fluxdesk",
      demo: this.demo,
    };
  }

  async appInfo(): Promise<AppInfo> {
    await this.enter("appInfo", []);
    return { version: "0.1.0", demo: this.demo, keyStatus: this.keyStatusNow(), galleryDir: this.view().galleryDir };
  }

  async keyStatus(): Promise<KeyStatus> {
    await this.enter("keyStatus", []);
    return this.keyStatusNow();
  }

  async setKey(key: string): Promise<KeyStatus> {
    await this.enter("setKey", ["<redacted>"]);
    if (!this.opts.keychainAvailable) throw new BackendError("KeychainUnavailable", ERROR_MESSAGES.KeychainUnavailable);
    const k = key.trim();
    if (k.length < 16 || /\s/.test(k)) {
      throw new BackendError("InvalidInput", "That does not look like a PiAPI key. Copy it again from piapi.ai → Workspace → API keys.");
    }
    if (this.keySource !== "environment") this.keySource = "keychain";
    return this.keyStatusNow();
  }

  async deleteKey(): Promise<KeyStatus> {
    await this.enter("deleteKey", []);
    if (this.keySource === "keychain") this.keySource = "none";
    return this.keyStatusNow();
  }

  async getSettings(): Promise<SettingsView> {
    await this.enter("getSettings", []);
    return this.view();
  }

  async updateSettings(next: Settings): Promise<SettingsView> {
    await this.enter("updateSettings", [next]);
    const https = /^https:\/\/[^\s/]+/.test(next.baseUrl);
    const loopback = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(next.baseUrl);
    if (!https && !loopback) {
      throw new BackendError("Config", "The base URL must use https:// (plain http:// is allowed only for 127.0.0.1 or localhost).");
    }
    if (!Number.isInteger(next.pollMaxAttempts) || next.pollMaxAttempts < 1 || next.pollMaxAttempts > 1000) {
      throw new BackendError("InvalidInput", "Poll attempts must be a whole number from 1 to 1,000.");
    }
    if (!Number.isInteger(next.pollIntervalMs) || next.pollIntervalMs < 100 || next.pollIntervalMs > 60_000) {
      throw new BackendError("InvalidInput", "The poll interval must be between 100 and 60,000 ms.");
    }
    if (next.maxConcurrent != null && (!Number.isInteger(next.maxConcurrent) || next.maxConcurrent < 1 || next.maxConcurrent > 20)) {
      throw new BackendError("InvalidInput", "Parallel tasks must be a whole number from 1 to 20.");
    }
    const sizeProblem = validateSize(next.defaultWidth, next.defaultHeight);
    if (sizeProblem) throw new BackendError("InvalidInput", sizeProblem);
    if (next.dailyBudgetUsd != null && !(next.dailyBudgetUsd >= 0)) {
      throw new BackendError("InvalidInput", "The daily budget must be zero or more.");
    }
    this.settings = { ...next };
    this.applyOverrides();
    return this.view();
  }

  async watchJobs(onEvent: (event: JobEvent) => void): Promise<JobView[]> {
    await this.enter("watchJobs", []);
    this.listener = onEvent;
    return this.allJobs.map(cloneJob);
  }

  async generate(request: GenerateRequest): Promise<number[]> {
    await this.enter("generate", [request]);
    if (!request.prompt.trim()) throw new BackendError("InvalidInput", "Write a prompt first.");
    const sizeProblem = validateSize(request.width, request.height);
    if (sizeProblem) throw new BackendError("InvalidInput", sizeProblem);
    if (!Number.isInteger(request.count) || request.count < 1 || request.count > 8) {
      throw new BackendError("InvalidInput", "Choose between 1 and 8 images.");
    }
    if (!MODELS.some((m) => m.id === request.model)) throw new BackendError("InvalidInput", `Unknown model ${request.model}.`);
    this.validateTask(request);
    const price = modelInfo(request.model)?.priceUsd ?? 0;
    const budget = this.settings.dailyBudgetUsd;
    if (!this.demo && budget != null && this.spentToday + price * request.count > budget + 1e-9) {
      throw new BackendError("BudgetReached", ERROR_MESSAGES.BudgetReached);
    }
    const ids: number[] = [];
    for (let i = 0; i < request.count; i++) ids.push(this.enqueue(request, i));
    return ids;
  }

  /** Like the core's validate_except_inputs plus the presence of the inputs (team/WAVE3.md A rules). */
  private validateTask(r: GenerateRequest): void {
    const task: TaskType = r.taskType ?? "txt2img";
    const info = findTask(this.catalog, task);
    const bad = (message: string) => new BackendError("InvalidInput", message);
    if (!info) throw bad(`Unknown task type ${task}.`);
    if (!info.models.includes(r.model)) throw bad(`${info.label} is not available on ${modelInfo(r.model)?.name ?? r.model}; choose ${info.models.map((m) => modelInfo(m)?.name ?? m).join(" or ")}.`);
    if (info.needsImage && !r.source) throw bad("Choose a source image for this task.");
    if (!info.needsImage && r.source) throw bad(`${info.label} does not take a source image.`);
    if (r.source && (r.source.imageId == null) === (r.source.path == null)) throw bad("A source is either a gallery image or a file, not both.");
    if (task === "fill-inpaint" && !r.mask?.pngBase64 && !r.mask?.path) throw bad("Paint the area to repaint first.");
    const loras = r.loras ?? [];
    if (loras.length < info.minLoras || loras.length > info.maxLoras) {
      throw bad(info.maxLoras ? `${info.label} takes ${info.minLoras === info.maxLoras ? "exactly" : "at most"} ${info.maxLoras} LoRA.` : `${info.label} does not take a LoRA.`);
    }
    for (const l of loras) {
      if (!/^[a-z0-9-]+$/.test(l.name)) throw bad(`"${l.name}" is not a LoRA name; choose one from the list.`);
      if (l.strength != null && !(l.strength >= 0 && l.strength <= 2)) throw bad("LoRA strength must be between 0 and 2.");
    }
    if (info.needsControl !== !!r.control) throw bad(info.needsControl ? "Choose a control image." : `${info.label} does not take a control image.`);
    if (r.control && r.control.strength != null && !(r.control.strength >= 0 && r.control.strength <= 1)) throw bad("Control strength must be between 0 and 1.");
    if (r.denoise != null && (!info.takesDenoise || !(r.denoise > 0 && r.denoise <= 1))) {
      throw bad(info.takesDenoise ? "Denoise must be above 0 and at most 1." : `${info.label} does not take a denoise value.`);
    }
    if (r.outpaint != null && !info.takesOutpaint) throw bad(`${info.label} does not take outpaint margins.`);
    if (info.takesOutpaint) {
      const src = r.source ? this.inputSize(r.source) : null;
      const problem = src ? outpaintBudget(src, r.outpaint ?? { left: 0, right: 0, top: 0, bottom: 0 }).error : null;
      if (problem) throw bad(problem);
    }
    if (info.takesScale ? r.scale !== 2 && r.scale !== 4 : r.scale != null) throw bad(info.takesScale ? "Choose an upscale of 2× or 4×." : `${info.label} does not take a scale.`);
  }

  private inputSize(src: SourceImage): { width: number; height: number; url: string } | null {
    if (src.imageId != null) {
      const im = this.images.get(src.imageId);
      return im ? { width: im.width, height: im.height, url: this.assetUrl(im.path) } : null;
    }
    const f = src.path ? this.inputs.get(src.path) : undefined;
    return f ? { width: f.width, height: f.height, url: f.url } : null;
  }

  async taskCatalog(): Promise<TaskCatalog> {
    await this.enter("taskCatalog", []);
    return JSON.parse(JSON.stringify(this.catalog)) as TaskCatalog;
  }

  async sourceInfo(source: SourceImage): Promise<SourceInfo> {
    await this.enter("sourceInfo", [source]);
    if (source.imageId != null) {
      const im = this.images.get(source.imageId);
      if (!im) throw new BackendError("NotFound", "That image is no longer in the gallery. Choose another source.");
      return { path: im.path, width: im.width, height: im.height, bytes: 1_200_000 + (hash(im.path) % 900_000), imageId: im.id };
    }
    const path = source.path ?? "";
    if (!/\.(png|jpe?g|webp)$/i.test(path)) {
      throw new BackendError("InvalidImage", "That file is not an image Fluxdesk can read. Choose a PNG, JPEG or WebP file.");
    }
    const f = this.inputs.get(path);
    if (!f) throw new BackendError("Missing", `${path.split("/").pop()} is no longer there. Choose the file again.`);
    return { path, width: f.width, height: f.height, bytes: f.bytes, imageId: null };
  }

  async stageSource(pngBase64: string): Promise<SourceImage> {
    await this.enter("stageSource", [`<${pngBase64.length} base64 chars>`]);
    let bytes: Uint8Array;
    try {
      bytes = fromBase64(pngBase64);
    } catch {
      throw new BackendError("InvalidImage", "The pasted data is not an image. Copy an image and paste again.");
    }
    if (bytes.length > MAX_INPUT_BYTES) {
      throw new BackendError("InvalidInput", `The image is ${(bytes.length / 1048576).toFixed(1)} MB; the limit is 10 MB. Use a smaller or compressed image.`);
    }
    const size = pngSize(bytes) ?? (bytes[0] === 0xff && bytes[1] === 0xd8 ? { width: 1024, height: 768 } : null);
    if (!size) throw new BackendError("InvalidImage", "That is not an image Fluxdesk can read. Use a PNG, JPEG or WebP image.");
    const path = `/home/you/.local/share/fluxdesk/inputs/${hash(pngBase64).toString(16).padStart(8, "0")}.png`;
    const mime = bytes[0] === 0xff ? "image/jpeg" : "image/png";
    const url = `data:${mime};base64,${pngBase64}`;
    this.inputs.set(path, { url, ...size, bytes: bytes.length });
    this.urls.set(path, url);
    return { imageId: null, path };
  }

  async editSettings(id: number, taskType: TaskType): Promise<GenerateRequest> {
    await this.enter("editSettings", [id, taskType]);
    const im = this.images.get(id);
    if (!im) throw new BackendError("NotFound", ERROR_MESSAGES.NotFound);
    const info = findTask(this.catalog, taskType);
    if (!info || !info.needsImage) throw new BackendError("InvalidInput", `${info?.label ?? taskType} does not edit an image.`);
    const own = modelInfo(im.model)?.id;
    const model: Model = own && info.models.includes(own) ? own : "Qubico/flux1-dev-advanced";
    const fit = fitToLimit(im.width, im.height);
    return {
      prompt: im.prompt,
      negativePrompt: im.negativePrompt,
      model,
      width: fit.width,
      height: fit.height,
      steps: null,
      guidance: null,
      seed: null,
      count: 1,
      taskType,
      source: { imageId: id, path: null },
      mask: null,
      denoise: info.takesDenoise ? 0.7 : null,
      loras: [],
      control: null,
      outpaint: null,
      scale: info.takesScale ? 2 : null,
    };
  }

  async pickSource(): Promise<string | null> {
    await this.enter("pickSource", []);
    const ref = REFERENCE_FILES[0];
    return ref.path;
  }

  async generateBatch(req: BatchRequest): Promise<number[]> {
    await this.enter("generateBatch", [req]);
    const prompts = req.prompts.map((p) => p.trim()).filter(Boolean);
    if (!prompts.length) throw new BackendError("InvalidInput", "Write at least one prompt (one per line).");
    if (!Number.isInteger(req.countPerPrompt) || req.countPerPrompt < 1 || req.countPerPrompt > 100) {
      throw new BackendError("InvalidInput", "Choose between 1 and 100 images per prompt.");
    }
    if (prompts.length * req.countPerPrompt > 1000) throw new BackendError("InvalidInput", "A batch can hold at most 1,000 images.");
    const sizeProblem = validateSize(req.width, req.height);
    if (sizeProblem) throw new BackendError("InvalidInput", sizeProblem);
    if (!MODELS.some((m) => m.id === req.model)) throw new BackendError("InvalidInput", `Unknown model ${req.model}.`);
    const batchId = `batch-${this.nextBatch++}`;
    const ids: number[] = [];
    for (const prompt of prompts) {
      for (let k = 0; k < req.countPerPrompt; k++) {
        // Like the core: image k of *each* prompt gets the same seed, so prompts compare side by side.
        const seed = seedFor(req.seeds, k);
        const request: GenerateRequest = {
          prompt,
          negativePrompt: req.negativePrompt,
          model: req.model,
          width: req.width,
          height: req.height,
          steps: req.steps,
          guidance: req.guidance,
          seed,
          count: 1,
        };
        ids.push(this.enqueue(request, 0, batchId));
      }
    }
    this.batches.set(batchId, ids);
    return ids;
  }

  async queueState(): Promise<QueueState> {
    await this.enter("queueState", []);
    return this.queueNow();
  }

  async pauseQueue(reason: string | null): Promise<QueueState> {
    await this.enter("pauseQueue", [reason]);
    this.paused = true;
    this.pauseReason = reason;
    this.emitQueue();
    return this.queueNow();
  }

  async resumeQueue(): Promise<QueueState> {
    await this.enter("resumeQueue", []);
    this.paused = false;
    this.pauseReason = null;
    this.emitQueue();
    if (this.opts.auto) queueMicrotask(() => this.pump());
    return this.queueNow();
  }

  async moveJob(jobId: number, before: number | null): Promise<void> {
    await this.enter("moveJob", [jobId, before]);
    if (!this.queue.includes(jobId)) throw new BackendError("InvalidInput", "Only queued tasks can be moved; this one has already started.");
    if (before != null && !this.queue.includes(before)) throw new BackendError("NotFound", ERROR_MESSAGES.NotFound);
    if (before === jobId) return;
    this.queue = this.queue.filter((id) => id !== jobId);
    const at = before == null ? this.queue.length : this.queue.indexOf(before);
    this.queue.splice(at, 0, jobId);
  }

  async costSummary(): Promise<CostSummary> {
    await this.enter("costSummary", []);
    const round = (n: number) => Math.round(n * 10_000) / 10_000;
    return {
      demo: this.demo,
      todayUsd: this.demo ? 0 : round(this.spentToday),
      monthUsd: this.demo ? 0 : round(this.spentToday + this.opts.monthBeforeTodayUsd),
      balanceUsd: this.demo ? null : Math.round(this.balanceUsd * 100) / 100,
      dailyBudgetUsd: this.settings.dailyBudgetUsd,
    };
  }

  async cancelJob(jobId: number): Promise<void> {
    await this.enter("cancelJob", [jobId]);
    const job = this.jobs.get(jobId);
    if (!job) throw new BackendError("NotFound", ERROR_MESSAGES.NotFound);
    if (isFinal(job.state)) return;
    const started = job.state !== "queued";
    this.clearTimers(jobId);
    this.queue = this.queue.filter((id) => id !== jobId);
    this.emit({ kind: "cancelled", jobId });
    if (started) {
      job.error = {
        code: "Cancelled",
        message: "Cancelled. PiAPI had already started this task and may still charge for it.",
      };
    }
    this.pump();
  }

  async retryJob(jobId: number): Promise<number[]> {
    await this.enter("retryJob", [jobId]);
    const job = this.jobs.get(jobId);
    if (!job) throw new BackendError("NotFound", ERROR_MESSAGES.NotFound);
    const sim = this.sims.get(jobId);
    const request: GenerateRequest = sim?.request ?? {
      prompt: job.prompt,
      negativePrompt: null,
      model: job.model,
      width: job.width,
      height: job.height,
      steps: null,
      guidance: null,
      seed: null,
      count: 1,
    };
    return [this.enqueue({ ...request, count: 1 }, 0)];
  }

  async listJobs(): Promise<JobView[]> {
    await this.enter("listJobs", []);
    return this.allJobs.map(cloneJob);
  }

  async accountInfo(): Promise<AccountView> {
    await this.enter("accountInfo", []);
    const fail = this.opts.accountFailWith;
    if (fail) throw new BackendError(fail, ERROR_MESSAGES[fail]);
    if (this.demo) return { demo: true, balanceUsd: null, plan: null, maxConcurrentTasks: this.opts.maxConcurrent };
    return { demo: false, balanceUsd: Math.round(this.balanceUsd * 100) / 100, plan: "Creator", maxConcurrentTasks: this.opts.maxConcurrent };
  }

  async listImages(q: GalleryQuery): Promise<ImagePage> {
    await this.enter("listImages", [q]);
    const limit = Math.min(1000, q.limit > 0 ? q.limit : 200);
    const all = this.filtered(q);
    const offset = q.cursor ? Number(q.cursor) || 0 : 0;
    const items = all.slice(offset, offset + limit);
    const next = offset + items.length;
    const nextCursor = next < all.length ? String(next) : null;
    // Like the shell: with `count: false` the total is left out when counting would cost more than the page
    // (a 1–2 character term, or text with other filters), unless the whole result is on this first page.
    const counted = q.count !== false || !this.countIsExpensive(q) || (offset === 0 && nextCursor == null);
    return { items: items.map((i) => ({ ...i })), nextCursor, total: counted ? all.length : items.length, counted };
  }

  async countImages(q: GalleryQuery): Promise<number> {
    await this.enter("countImages", [q]);
    while (this.countGate) await this.countGate.promise;
    return this.filtered(q).length;
  }

  /** Tests: holds every `countImages` answer until the returned function is called. */
  holdCounts(): () => void {
    let release = () => {};
    const promise = new Promise<void>((r) => (release = r));
    const gate = { promise, release };
    this.countGate = gate;
    return () => {
      if (this.countGate === gate) this.countGate = null;
      gate.release();
    };
  }

  private countIsExpensive(q: GalleryQuery): boolean {
    const terms = (q.text ?? "").split(/\s+/).filter(Boolean);
    if (!terms.length) return false;
    const filters = q.model != null || q.minRating != null || q.favouritesOnly || q.createdAfter != null || q.createdBefore != null || q.aspect != null || q.width != null || q.height != null;
    return terms.some((t) => [...t].length < 3) || filters;
  }

  /** The whole result list of a query (cached until the gallery changes). */
  private filtered(q: GalleryQuery): ImageView[] {
    const key = JSON.stringify([this.version, q.text, q.model, q.minRating, q.favouritesOnly, q.sort, q.createdAfter, q.createdBefore, q.aspect, q.width, q.height]);
    if (this.listCache?.key === key) return this.listCache.items;
    const terms = (q.text ?? "").toLowerCase().split(/\s+/).filter(Boolean);
    const model = q.model ? (MODELS.find((m) => m.id === q.model || m.short.toLowerCase() === q.model?.toLowerCase())?.id ?? q.model) : null;
    const after = q.createdAfter ? Date.parse(q.createdAfter) : null;
    const before = q.createdBefore ? Date.parse(q.createdBefore) : null;
    const items = [...this.images.values()].filter((im) => {
      if (terms.length) {
        const p = im.prompt.toLowerCase();
        if (!terms.every((t) => p.includes(t))) return false;
      }
      if (model && im.model !== model) return false;
      if (q.minRating != null && im.rating < q.minRating) return false;
      if (q.favouritesOnly && !im.favourite) return false;
      const t = Date.parse(im.createdAt);
      if (after != null && t < after) return false;
      if (before != null && t >= before) return false;
      if (q.aspect === "square" && im.width !== im.height) return false;
      if (q.aspect === "landscape" && !(im.width > im.height)) return false;
      if (q.aspect === "portrait" && !(im.width < im.height)) return false;
      if (q.width != null && im.width !== q.width) return false;
      if (q.height != null && im.height !== q.height) return false;
      return true;
    });
    const newest = (a: ImageView, b: ImageView) => b.createdAt.localeCompare(a.createdAt) || b.id - a.id;
    items.sort((a, b) => {
      if (q.sort === "rating" && b.rating !== a.rating) return b.rating - a.rating;
      return q.sort === "oldest" ? -newest(a, b) : newest(a, b);
    });
    this.listCache = { key, items };
    return items;
  }

  async getImage(id: number): Promise<ImageView> {
    await this.enter("getImage", [id]);
    const im = this.images.get(id);
    if (!im) throw new BackendError("NotFound", ERROR_MESSAGES.NotFound);
    return { ...im };
  }

  async getImages(ids: number[]): Promise<ImageView[]> {
    await this.enter("getImages", [ids]);
    if (ids.length > MAX_IMAGES_BY_ID) throw new BackendError("InvalidInput", `at most ${MAX_IMAGES_BY_ID} images per call (asked for ${ids.length})`);
    return ids.flatMap((id) => {
      const im = this.images.get(id);
      return im ? [{ ...im }] : [];
    });
  }

  async setRating(ids: number[], rating: number): Promise<void> {
    await this.enter("setRating", [ids, rating]);
    if (!Number.isInteger(rating) || rating < 0 || rating > 5) throw new BackendError("InvalidInput", "Ratings go from 0 to 5.");
    for (const id of ids) {
      const im = this.images.get(id);
      if (im) im.rating = rating;
    }
    this.version++;
  }

  async setFavourite(ids: number[], favourite: boolean): Promise<void> {
    await this.enter("setFavourite", [ids, favourite]);
    for (const id of ids) {
      const im = this.images.get(id);
      if (im) im.favourite = favourite;
    }
    this.version++;
  }


  private removeImages(ids: number[]): ImageView[] {
    const gone: ImageView[] = [];
    for (const id of ids) {
      const im = this.images.get(id);
      if (im) gone.push(im);
      this.images.delete(id);
    }
    const set = new Set(ids);
    for (const job of this.jobs.values()) job.images = job.images.filter((i) => !set.has(i.id));
    this.version++;
    return gone;
  }

  async revealImage(id: number): Promise<void> {
    await this.enter("revealImage", [id]);
    if (!this.images.has(id)) throw new BackendError("NotFound", ERROR_MESSAGES.NotFound);
  }

  async exportImages(req: ExportRequest): Promise<ExportReport> {
    await this.enter("exportImages", [req]);
    if (!req.destDir.trim()) throw new BackendError("InvalidInput", "Choose a folder to export to.");
    if (!req.ids.length) throw new BackendError("InvalidInput", "Select at least one image to export.");
    if (req.format !== "png" && (!Number.isInteger(req.quality) || req.quality < 1 || req.quality > 100)) {
      throw new BackendError("InvalidInput", "Quality goes from 1 to 100.");
    }
    const ext = req.format === "jpeg" ? "jpg" : req.format;
    const written: string[] = [];
    const failed: string[] = [];
    for (const id of req.ids) {
      const im = this.images.get(id);
      const name = `fluxdesk-${String(id).padStart(5, "0")}.${ext}`;
      if (im) written.push(`${req.destDir.replace(/\/$/, "")}/${name}`);
      else failed.push(`Image ${id}: ${ERROR_MESSAGES.Missing}`);
    }
    return { written, failed };
  }

  async importPaths(paths: string[]): Promise<ImportReport> {
    await this.enter("importPaths", [paths]);
    const report: ImportReport = { imported: 0, skipped: 0, failed: [], ids: [] };
    const add = (path: string, i: number) => {
      if (this.imported.has(path)) {
        report.skipped++;
        return;
      }
      this.imported.add(path);
      const name = path.split("/").pop() ?? path;
      const prompt = name.replace(IMAGE_EXT, "").replace(/[-_]+/g, " ");
      const sizes: [number, number][] = [[1024, 1024], [1216, 832], [832, 1216]];
      const [w, h] = sizes[(hash(path) + i) % sizes.length];
      const id = this.nextImageId++;
      const dest = `/home/you/Pictures/Fluxdesk/imported/${name}`;
      this.art.set(dest, { prompt, seed: hash(path), width: w, height: h });
      this.images.set(id, {
        id,
        path: dest,
        thumbPath: null,
        prompt,
        negativePrompt: null,
        model: null,
        taskType: "import",
        width: w,
        height: h,
        seed: null,
        steps: null,
        guidance: null,
        taskId: null,
        costUsd: null,
        createdAt: iso(Date.now()),
        favourite: false,
        rating: 0,
        sourceImageId: null,
        task: null,
      });
      report.imported++;
      report.ids.push(id);
    };
    for (const path of paths) {
      if (IMAGE_EXT.test(path)) add(path, 0);
      else if (/\.[a-z0-9]{1,5}$/i.test(path)) report.failed.push(`${path}: not a PNG, JPEG or WebP image.`);
      else for (let i = 0; i < 3; i++) add(`${path}/${SAMPLE_PROMPTS[(hash(path) + i) % SAMPLE_PROMPTS.length].toLowerCase().replace(/[^a-z0-9]+/g, "-")}.png`, i);
    }
    this.version++;
    return report;
  }

  async deleteImages(ids: number[]): Promise<DeleteReceipt> {
    await this.enter("deleteImages", [ids]);
    if (!ids.length) throw new BackendError("InvalidInput", "Select at least one image to delete.");
    const gone = this.removeImages(ids);
    const token = `undo-${this.nextToken++}`;
    this.trash.set(token, gone);
    return { token, count: gone.length };
  }

  async undoDelete(token: string): Promise<number> {
    await this.enter("undoDelete", [token]);
    const gone = this.trash.get(token);
    if (!gone) throw new BackendError("NotFound", "These images can no longer be restored from here. Look in the system Trash.");
    this.trash.delete(token);
    for (const im of gone) this.images.set(im.id, im);
    this.version++;
    return gone.length;
  }

  async imageSettings(id: number): Promise<GenerateRequest> {
    await this.enter("imageSettings", [id]);
    const im = this.images.get(id);
    if (!im) throw new BackendError("NotFound", ERROR_MESSAGES.NotFound);
    return {
      prompt: im.prompt,
      negativePrompt: im.negativePrompt,
      model: modelInfo(im.model)?.id ?? "Qubico/flux1-schnell",
      width: im.width,
      height: im.height,
      steps: im.steps,
      guidance: im.guidance,
      seed: im.seed,
      count: 1,
      taskType: (im.taskType as TaskType | null) && findTask(this.catalog, im.taskType as TaskType) ? (im.taskType as TaskType) : "txt2img",
      source: im.sourceImageId != null && this.images.has(im.sourceImageId) ? { imageId: im.sourceImageId, path: null } : null,
      denoise: im.task?.denoise ?? null,
      loras: im.task?.loras ?? [],
      outpaint: im.task?.outpaint ?? null,
      scale: im.task?.scale ?? null,
      control: null,
      mask: null,
    };
  }

  async varyImage(id: number, count: number): Promise<number[]> {
    await this.enter("varyImage", [id, count]);
    const im = this.images.get(id);
    if (!im) throw new BackendError("NotFound", ERROR_MESSAGES.NotFound);
    if (!Number.isInteger(count) || count < 1 || count > 8) throw new BackendError("InvalidInput", "Choose between 1 and 8 variations.");
    const request: GenerateRequest = {
      prompt: im.prompt,
      negativePrompt: im.negativePrompt,
      model: modelInfo(im.model)?.id ?? "Qubico/flux1-schnell",
      width: im.width,
      height: im.height,
      steps: im.steps,
      guidance: im.guidance,
      seed: null,
      count,
    };
    const ids: number[] = [];
    for (let i = 0; i < count; i++) ids.push(this.enqueue(request, i));
    return ids;
  }

  async copyImage(id: number): Promise<void> {
    await this.enter("copyImage", [id]);
    if (!this.images.has(id)) throw new BackendError("NotFound", ERROR_MESSAGES.NotFound);
  }

  async revealGallery(): Promise<void> {
    await this.enter("revealGallery", []);
  }

  async revealExport(path: string): Promise<void> {
    await this.enter("revealExport", [path]);
  }

  thumbUrl(path: string): string {
    return this.assetUrl(path);
  }

  assetUrl(path: string): string {
    const known = this.urls.get(path);
    if (known) return known;
    const a = this.art.get(path);
    const url = a ? artDataUrl(a.prompt, a.seed, a.width, a.height) : artDataUrl(path, hash(path), 1024, 1024);
    this.urls.set(path, url);
    return url;
  }

  async pickFolder(current: string | null): Promise<string | null> {
    await this.enter("pickFolder", [current]);
    return "/home/you/Pictures/Fluxdesk Exports";
  }

  async openExternal(url: string): Promise<void> {
    await this.enter("openExternal", [url]);
    if (typeof window !== "undefined" && typeof window.open === "function" && !/jsdom/i.test(navigator.userAgent)) {
      window.open(url, "_blank", "noopener");
    }
  }

  async pickImport(what: ImportPick): Promise<string[]> {
    await this.enter("pickImport", [what]);
    return what === "folder" ? ["/home/you/Downloads/moodboard"] : ["/home/you/Downloads/reference-01.png", "/home/you/Downloads/reference-02.jpg"];
  }

  async dragOut(ids: number[]): Promise<"dropped" | "cancelled"> {
    await this.enter("dragOut", [ids]);
    for (const id of ids) if (!this.images.has(id)) throw new BackendError("Missing", ERROR_MESSAGES.Missing);
    return "dropped";
  }

  async onFileDrop(listener: (event: FileDropEvent) => void): Promise<() => void> {
    this.dropListeners.add(listener);
    return () => this.dropListeners.delete(listener);
  }

  // ---------- simulation ----------

  /** Like the shell: `settings` holds the saved values; overridden fields keep theirs (the env wins at run time). */
  private applyOverrides(): void {
    for (const o of this.opts.overrides) {
      const field = o.field as keyof Settings;
      if (field in this.saved) (this.settings as Record<string, unknown>)[field] = this.saved[field];
    }
    this.saved = { ...this.settings };
  }

  private enqueue(request: GenerateRequest, index: number, batchId?: string): number {
    const id = this.enqueueNoPump(request, index, batchId);
    if (this.opts.auto) queueMicrotask(() => this.pump());
    return id;
  }

  private enqueueNoPump(request: GenerateRequest, index: number, batchId?: string): number {
    const id = this.nextJobId++;
    const info = modelInfo(request.model);
    const job: JobView = {
      id,
      prompt: request.prompt,
      model: request.model,
      width: request.width,
      height: request.height,
      state: "queued",
      taskId: null,
      createdAt: iso(Date.now()),
      startedAt: null,
      finishedAt: null,
      costUsd: info?.priceUsd ?? 0,
      error: null,
      images: [],
      typicalMs: info?.typicalMs ?? 20_000,
    };
    const seed = request.seed ?? (hash(`${request.prompt}#${id}`) % 2_147_483_647);
    const r = (hash(`${id}`) % 1000) / 1000;
    this.sims.set(id, {
      timers: [],
      stage: 0,
      startedAt: 0,
      durationMs: job.typicalMs * (0.75 + r * 0.5) * this.opts.speed,
      request: { ...request, count: 1, seed: request.seed == null ? null : request.seed + index },
      seed: request.seed == null ? seed : request.seed + index,
      batchId,
    });
    this.queue.push(id);
    this.emit({ kind: "queued", jobId: id, job: cloneJob(job) });
    // jobs.set happens in apply(queued)
    return id;
  }

  private queueNow(): QueueState {
    let queued = 0;
    for (const id of this.queue) if (this.jobs.get(id)?.state === "queued") queued++;
    return { paused: this.paused, pauseReason: this.pauseReason, queued, running: this.running(), limit: this.opts.maxConcurrent };
  }

  private emitQueue(): void {
    this.listener?.({ kind: "queueChanged", state: this.queueNow() });
  }

  /** Sends batchFinished once every job of the job's batch has ended. */
  private checkBatch(jobId: number): void {
    const batchId = this.sims.get(jobId)?.batchId;
    if (!batchId) return;
    const ids = this.batches.get(batchId);
    if (!ids) return;
    const all = ids.map((id) => this.jobs.get(id));
    if (all.some((j) => !j || !isFinal(j.state))) return;
    this.batches.delete(batchId);
    const count = (s: JobView["state"]) => all.filter((j) => j?.state === s).length;
    this.listener?.({ kind: "batchFinished", batchId, saved: count("saved"), failed: count("failed") + count("abandoned"), cancelled: count("cancelled") });
  }

  private running(): number {
    let n = 0;
    for (const j of this.jobs.values()) if (["submitting", "submitted", "running", "downloading"].includes(j.state)) n++;
    return n;
  }

  /** Starts queued jobs in queue order while there is capacity, the queue runs and the budget allows. */
  private pump(): void {
    if (!this.opts.auto || this.paused) return;
    let free = this.opts.maxConcurrent - this.running();
    while (free > 0 && this.queue.length) {
      const id = this.queue[0];
      const job = this.jobs.get(id);
      if (!job || job.state !== "queued") {
        this.queue.shift();
        continue;
      }
      const budget = this.settings.dailyBudgetUsd;
      if (!this.demo && budget != null && this.spentToday + (job.costUsd ?? 0) > budget + 1e-9) {
        this.paused = true;
        this.pauseReason = `Today's budget of $${budget.toFixed(2)} is reached. Raise the daily budget in Settings, or resume tomorrow.`;
        this.emitQueue();
        return;
      }
      this.queue.shift();
      free--;
      this.run(id);
    }
  }

  private run(jobId: number): void {
    const sim = this.sims.get(jobId);
    if (!sim) return;
    const s = this.opts.speed;
    const at = (ms: number, fn: () => void) => sim.timers.push(setTimeout(fn, ms));
    sim.stage = 0;
    // Mark as started synchronously so pump() does not start it twice.
    const job = this.jobs.get(jobId);
    if (job) job.state = "submitting";
    at(250 * s, () => this.step(jobId)); // submitted
    at(600 * s, () => {
      this.step(jobId); // pending or failed
      const j = this.jobs.get(jobId);
      if (j && isFinal(j.state)) this.pump();
    });
    const procStart = 1100 * s;
    at(procStart, () => this.step(jobId)); // processing
    const tick = Math.max(250, 1000 * s);
    for (let t = procStart + tick; t < procStart + sim.durationMs; t += tick) {
      at(t, () => {
        const j = this.jobs.get(jobId);
        if (j?.state === "running") this.emit({ kind: "processing", jobId, elapsedMs: Date.now() - sim.startedAt, typicalMs: j.typicalMs });
      });
    }
    const dl = procStart + sim.durationMs;
    at(dl, () => this.step(jobId)); // downloading 0
    at(dl + 200 * s, () => this.emit({ kind: "downloading", jobId, received: 700_000, total: 1_400_000 }));
    at(dl + 400 * s, () => {
      this.step(jobId); // saved
      this.pump();
    });
  }

  private clearTimers(jobId: number): void {
    const sim = this.sims.get(jobId);
    if (!sim) return;
    for (const t of sim.timers) clearTimeout(t);
    sim.timers = [];
  }

  private makeImage(job: JobView, sim: Sim): ImageView {
    const id = this.nextImageId++;
    const date = job.createdAt.slice(0, 10);
    const path = `/home/you/Pictures/Fluxdesk/${date}/fluxdesk-${String(id).padStart(5, "0")}.png`;
    const thumbPath = `/home/you/.cache/fluxdesk/thumbs/${String(id).padStart(5, "0")}.webp`;
    const r = sim.request;
    const task: TaskType = r.taskType ?? "txt2img";
    const src = r.source ? this.inputSize(r.source) : null;
    const ctl = r.control ? this.inputSize(r.control.image) : null;
    let { width, height } = job;
    if (src && task !== "controlnet-lora") {
      // Like the simulator: the source's size (downscaled to the pixel limit), plus margins, times the scale.
      const fit = fitToLimit(src.width, src.height);
      const m = r.outpaint ?? { left: 0, right: 0, top: 0, bottom: 0 };
      width = task === "fill-outpaint" ? src.width + m.left + m.right : fit.width;
      height = task === "fill-outpaint" ? src.height + m.top + m.bottom : fit.height;
    }
    if (r.scale && (task === "img2img-sr" || task === "txt2img-sr")) {
      const k = Math.min(r.scale, 2048 / Math.max(width, height));
      width = Math.round(width * k);
      height = Math.round(height * k);
    }
    if (task === "txt2img") {
      const art = { prompt: job.prompt, seed: sim.seed, width, height };
      this.art.set(path, art);
      this.art.set(thumbPath, art);
    } else {
      const url = derivedDataUrl({ request: r, seed: sim.seed, source: src, control: ctl, width, height });
      this.urls.set(path, url);
      this.urls.set(thumbPath, url);
    }
    const taskView: TaskSettingsView | null =
      task === "txt2img"
        ? null
        : {
            denoise: r.denoise ?? null,
            loras: r.loras ?? [],
            control: r.control ? { controlType: r.control.controlType, strength: r.control.strength } : null,
            outpaint: r.outpaint ?? null,
            scale: r.scale ?? null,
          };
    return {
      id,
      path,
      thumbPath,
      prompt: job.prompt,
      negativePrompt: sim.request.negativePrompt,
      model: job.model,
      taskType: task,
      sourceImageId: r.source?.imageId ?? null,
      task: taskView,
      width,
      height,
      seed: sim.seed,
      steps: sim.request.steps,
      guidance: sim.request.guidance,
      taskId: job.taskId,
      costUsd: job.costUsd,
      createdAt: iso(Date.now()),
      favourite: false,
      rating: 0,
    };
  }

  /** Keeps the mock's own job list in step with the events it sends. */
  private apply(e: JobEvent): void {
    if (e.kind === "queueChanged" || e.kind === "batchFinished") return;
    if (e.kind === "queued") {
      this.jobs.set(e.jobId, cloneJob(e.job));
      return;
    }
    const job = this.jobs.get(e.jobId);
    if (!job) return;
    const now = iso(Date.now());
    switch (e.kind) {
      case "submitted":
        job.state = "submitted";
        job.taskId = e.taskId;
        job.startedAt = now;
        break;
      case "pending":
        job.state = "submitted";
        break;
      case "processing":
        job.state = "running";
        break;
      case "downloading":
        job.state = "downloading";
        break;
      case "saved":
        job.state = "saved";
        job.finishedAt = now;
        job.images = [...job.images, e.image];
        this.images.set(e.image.id, { ...e.image });
        this.version++;
        if (!this.demo) {
          this.spentToday += job.costUsd ?? 0;
          this.balanceUsd -= job.costUsd ?? 0;
        }
        break;
      case "failed":
        job.state = "failed";
        job.finishedAt = now;
        job.error = { code: e.code, message: e.message };
        this.clearTimers(e.jobId);
        break;
      case "cancelled":
        job.state = "cancelled";
        job.finishedAt = now;
        this.clearTimers(e.jobId);
        break;
    }
  }

  private seed(): void {
    const now = Date.now();
    const n = this.opts.seedGallery;
    const sizes: [number, number][] = [
      [1024, 1024],
      [1216, 832],
      [832, 1216],
      [1344, 768],
      [1152, 864],
      [864, 1152],
    ];
    for (let i = 0; i < n; i++) {
      const prompt = SAMPLE_PROMPTS[i % SAMPLE_PROMPTS.length];
      const [w, h] = sizes[(i * 7 + Math.floor(i / SAMPLE_PROMPTS.length)) % sizes.length];
      const model: Model = MODELS[i % 5 === 0 ? 1 : i % 7 === 0 ? 2 : 0].id;
      const created = now - (n - i) * Math.min(0.37 * DAY, (730 * DAY) / Math.max(1, n));
      const seed = (hash(prompt) + i * 7919) % 2_147_483_647;
      const id = this.nextImageId++;
      const path = `/home/you/Pictures/Fluxdesk/${iso(created).slice(0, 10)}/fluxdesk-${String(id).padStart(5, "0")}.png`;
      const thumbPath = `/home/you/.cache/fluxdesk/thumbs/${String(id).padStart(5, "0")}.webp`;
      const art = { prompt, seed, width: w, height: h };
      this.art.set(path, art);
      this.art.set(thumbPath, art);
      this.images.set(id, {
        id,
        path,
        thumbPath,
        prompt,
        negativePrompt: i % 3 === 0 ? "text, watermark, blurry" : null,
        model,
        taskType: "txt2img",
        width: w,
        height: h,
        seed,
        steps: model === "Qubico/flux1-schnell" ? 4 : 28,
        guidance: i % 2 ? 3.5 : null,
        taskId: taskIdFor(1000 + id),
        costUsd: modelInfo(model)?.priceUsd ?? null,
        createdAt: iso(created),
        favourite: i % 6 === 1,
        rating: [0, 4, 0, 5, 3, 0, 2, 0][i % 8],
        sourceImageId: null,
        task: null,
      });
    }
    if (this.opts.seedJobs) {
      const recent = [...this.images.values()].slice(-4);
      for (const im of recent) {
        const id = this.nextJobId++;
        const t = Date.parse(im.createdAt);
        this.jobs.set(id, {
          id,
          prompt: im.prompt,
          model: (im.model as Model) ?? "Qubico/flux1-schnell",
          width: im.width,
          height: im.height,
          state: "saved",
          taskId: im.taskId,
          createdAt: iso(t - 9000),
          startedAt: iso(t - 8500),
          finishedAt: iso(t),
          costUsd: im.costUsd ?? 0,
          error: null,
          images: [{ ...im }],
          typicalMs: modelInfo(im.model)?.typicalMs ?? 8000,
        });
      }
      const failedAt = now - 0.2 * DAY;
      const mk = (state: "failed" | "cancelled", prompt: string, error: JobView["error"], model: Model, t: number): void => {
        const id = this.nextJobId++;
        this.jobs.set(id, {
          id,
          prompt,
          model,
          width: 1216,
          height: 832,
          state,
          taskId: state === "failed" ? taskIdFor(id) : null,
          createdAt: iso(t - 40_000),
          startedAt: iso(t - 39_000),
          finishedAt: iso(t),
          costUsd: modelInfo(model)?.priceUsd ?? 0,
          error,
          images: [],
          typicalMs: modelInfo(model)?.typicalMs ?? 25_000,
        });
        this.sims.set(id, {
          timers: [],
          stage: 9,
          startedAt: t,
          durationMs: 0,
          request: { prompt, negativePrompt: null, model, width: 1216, height: 832, steps: null, guidance: null, seed: null, count: 1 },
          seed: 1,
        });
      };
      mk("cancelled", "Isometric reading nook with warm lamp light", null, "Qubico/flux1-dev", failedAt - 3_600_000);
      mk("failed", "Editorial portrait, rim light, black backdrop", { code: "Timeout", message: ERROR_MESSAGES.Timeout }, "Qubico/flux1-dev-advanced", failedAt);
    }
  }
}

/** The seed of image `i` of each prompt of a batch (null = random), as team/WAVE2.md's SeedPlan says. */
export function seedFor(plan: SeedPlan, i: number): number | null {
  switch (plan.kind) {
    case "random":
      return null;
    case "locked":
      return plan.seed + i;
    case "sweep":
      return plan.start + i * plan.step;
  }
}

function isFinal(state: JobView["state"]): boolean {
  return state === "saved" || state === "failed" || state === "cancelled" || state === "abandoned";
}

function taskIdFor(jobId: number): string {
  const h = hash(`task-${jobId}`).toString(16).padStart(8, "0");
  return `${h}-${h.slice(0, 4)}-4${h.slice(1, 4)}-a${h.slice(2, 5)}-${h}${h.slice(0, 4)}`;
}

function cloneJob(j: JobView): JobView {
  return { ...j, error: j.error ? { ...j.error } : null, images: j.images.map((i) => ({ ...i })) };
}

function structuredCloneSafe(args: unknown[]): unknown[] {
  try {
    return JSON.parse(JSON.stringify(args)) as unknown[];
  } catch {
    return args;
  }
}

export function createMockBackend(options: MockOptions = {}): MockBackend {
  return new MockBackend(options);
}
