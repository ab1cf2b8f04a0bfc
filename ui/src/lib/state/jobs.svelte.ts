// Jobs as server state: a snapshot from watchJobs, then kept current by JobEvents (never by polling).
// Also remembers this session's batches (what the Create screen shows) and live progress details
// (last processing elapsedMs, download bytes) that JobView does not carry.

import {
  backend,
  BackendError,
  onJobEvent,
  startJobFeed,
  type BatchRequest,
  type GenerateRequest,
  type ImageView,
  type JobEvent,
  type JobState,
  type JobView,
  type QueueState,
} from "../backend";
import { images } from "./images.svelte";

export const ACTIVE_STATES: ReadonlySet<JobState> = new Set(["queued", "submitting", "submitted", "running", "downloading"]);
/** Started and not finished: what counts against the concurrency limit. */
export const STARTED_STATES: ReadonlySet<JobState> = new Set(["submitting", "submitted", "running", "downloading"]);
export const FINAL_STATES: ReadonlySet<JobState> = new Set(["saved", "failed", "abandoned", "cancelled"]);

export type Live = {
  /** Backend-reported processing time and the local time it was reported at. */
  elapsedMs?: number;
  at?: number;
  received?: number;
  total?: number | null;
};

/** A group of tiles in Create: one generate() call, one prompt of a batch, or the variations of an image. */
export type Batch = { key: number; ids: number[]; request: GenerateRequest; createdAt: number; label?: string };

export type JobListener = (event: JobEvent, job: JobView | undefined) => void;

class JobStore {
  byId: Record<number, JobView> = $state({});
  live: Record<number, Live> = $state({});
  /** This session's generate() batches, newest first. */
  batches: Batch[] = $state([]);
  loaded = $state(false);
  error: BackendError | null = $state(null);

  /** Queue-wide state (pause, reason, limit) from queue_state / QueueChanged. */
  queue: QueueState | null = $state(null);
  /** Queued job ids in start order, as far as the UI knows it (FIFO, plus the moves made here). */
  order: number[] = $state.raw([]);

  /** All jobs, newest first. */
  list: JobView[] = $derived(Object.values(this.byId).sort((a, b) => b.id - a.id));
  /** Jobs that have started and not ended. */
  running: number = $derived(this.list.filter((j) => STARTED_STATES.has(j.state)).length);
  /** Queued jobs in start order. */
  queued: JobView[] = $derived.by(() => {
    const inOrder = this.order.map((id) => this.byId[id]).filter((j): j is JobView => j?.state === "queued");
    const known = new Set(inOrder.map((j) => j.id));
    const rest = Object.values(this.byId)
      .filter((j) => j.state === "queued" && !known.has(j.id))
      .sort((a, b) => a.id - b.id);
    return [...inOrder, ...rest];
  });

  private unsubscribe: (() => void) | null = null;
  private resync: ReturnType<typeof setTimeout> | null = null;
  private listeners = new Set<JobListener>();
  private batchKey = 1;

  async init(): Promise<void> {
    if (this.unsubscribe) return;
    this.unsubscribe = onJobEvent((e) => this.apply(e));
    try {
      const snapshot = await startJobFeed();
      // Events may already have arrived: keep the fresher copy.
      for (const j of snapshot) if (!this.byId[j.id]) this.byId[j.id] = j;
      this.order = [...this.order, ...snapshot.filter((j) => j.state === "queued" && !this.order.includes(j.id)).map((j) => j.id).sort((a, b) => a - b)];
      this.loaded = true;
      this.error = null;
    } catch (err) {
      this.error = BackendError.from(err);
    }
    await this.refreshQueue();
  }

  async refreshQueue(): Promise<void> {
    try {
      this.queue = await backend.queueState();
    } catch {
      /* older shell or transient: the queue header falls back to counting jobs */
    }
  }

  /** Listen to applied events (after the store updated). Returns unsubscribe. */
  subscribe(listener: JobListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  apply(e: JobEvent): void {
    if (e.kind === "queueChanged") {
      this.queue = e.state;
      this.notify(e);
      return;
    }
    if (e.kind === "batchFinished") {
      this.notify(e);
      return;
    }
    if (e.kind === "queued") {
      this.byId[e.jobId] = e.job;
      if (!this.order.includes(e.jobId)) this.order = [...this.order, e.jobId];
      this.notify(e);
      return;
    }
    const job = this.byId[e.jobId];
    if (!job) {
      this.scheduleResync();
      return;
    }
    const now = new Date().toISOString();
    switch (e.kind) {
      case "submitted":
        job.state = "submitted";
        job.taskId = e.taskId;
        job.startedAt ??= now;
        break;
      case "pending":
        if (job.state === "queued" || job.state === "submitting") job.state = "submitted";
        job.startedAt ??= now;
        break;
      case "processing":
        job.state = "running";
        job.typicalMs = e.typicalMs || job.typicalMs;
        job.startedAt ??= now;
        this.live[e.jobId] = { ...this.live[e.jobId], elapsedMs: e.elapsedMs, at: Date.now() };
        break;
      case "downloading":
        job.state = "downloading";
        this.live[e.jobId] = { ...this.live[e.jobId], received: e.received, total: e.total };
        break;
      case "saved":
        job.state = "saved";
        job.finishedAt ??= now;
        if (!job.images.some((i) => i.id === e.image.id)) job.images.push(e.image);
        images.put(e.image);
        delete this.live[e.jobId];
        break;
      case "failed":
        job.state = "failed";
        job.finishedAt ??= now;
        job.error = { code: e.code, message: e.message };
        delete this.live[e.jobId];
        break;
      case "cancelled":
        // A task PiAPI had already accepted may still be charged: the backend says so in the job's error,
        // which the event does not carry, so fetch the job list once more.
        if (job.taskId && !job.error) this.scheduleResync();
        job.state = "cancelled";
        job.finishedAt ??= now;
        delete this.live[e.jobId];
        break;
    }
    this.notify(e);
  }

  async generate(request: GenerateRequest): Promise<number[]> {
    const ids = await backend.generate(request);
    this.batches = [{ key: this.batchKey++, ids, request: { ...request }, createdAt: Date.now() }, ...this.batches];
    return ids;
  }

  /** generate_batch: one Create group per prompt (jobs come back prompt-major). */
  async generateBatch(request: BatchRequest): Promise<number[]> {
    const ids = await backend.generateBatch(request);
    const prompts = request.prompts.map((p) => p.trim()).filter(Boolean);
    const per = Math.max(1, request.countPerPrompt);
    const now = Date.now();
    const groups: Batch[] = prompts.map((prompt, i) => {
      const part = ids.slice(i * per, (i + 1) * per);
      return {
        key: this.batchKey++,
        ids: part,
        request: {
          prompt,
          negativePrompt: request.negativePrompt,
          model: request.model,
          width: request.width,
          height: request.height,
          steps: request.steps,
          guidance: request.guidance,
          // Locked and sweep give every prompt the same seeds; "Reuse" of a group locks to the first.
          seed: request.seeds.kind === "locked" ? request.seeds.seed : request.seeds.kind === "sweep" ? request.seeds.start : null,
          count: part.length,
        },
        createdAt: now,
        label: `Batch · prompt ${i + 1} of ${prompts.length}`,
      };
    });
    // Newest batch first, its prompts in the order they were written.
    this.batches = [...groups.filter((g) => g.ids.length), ...this.batches];
    return ids;
  }

  /** vary_image: new random seeds, same settings; shown as a group in Create. */
  async vary(image: ImageView, count: number): Promise<number[]> {
    const ids = await backend.varyImage(image.id, count);
    const request: GenerateRequest = {
      prompt: image.prompt,
      negativePrompt: image.negativePrompt,
      model: (image.model as GenerateRequest["model"]) ?? "Qubico/flux1-schnell",
      width: image.width,
      height: image.height,
      steps: image.steps,
      guidance: image.guidance,
      seed: null,
      count: ids.length,
    };
    this.batches = [{ key: this.batchKey++, ids, request, createdAt: Date.now(), label: "Variations" }, ...this.batches];
    return ids;
  }

  async pause(reason: string | null = null): Promise<void> {
    this.queue = await backend.pauseQueue(reason);
  }

  async resume(): Promise<void> {
    this.queue = await backend.resumeQueue();
  }

  /** Moves a queued job before `before` (null = to the end); the local order follows on success. */
  async move(jobId: number, before: number | null): Promise<void> {
    await backend.moveJob(jobId, before);
    const ids = this.queued.map((j) => j.id).filter((id) => id !== jobId);
    const at = before == null ? ids.length : Math.max(0, ids.indexOf(before));
    ids.splice(at, 0, jobId);
    const rest = this.order.filter((id) => !ids.includes(id));
    this.order = [...ids, ...rest];
  }

  async cancel(jobId: number): Promise<void> {
    await backend.cancelJob(jobId);
  }

  /** Retries a job; in a session batch the new job takes the old tile's place. */
  async retry(jobId: number): Promise<number[]> {
    const ids = await backend.retryJob(jobId);
    for (const b of this.batches) {
      const i = b.ids.indexOf(jobId);
      if (i >= 0) b.ids.splice(i, 1, ...ids);
    }
    return ids;
  }

  async refresh(): Promise<void> {
    try {
      const list = await backend.listJobs();
      const next: Record<number, JobView> = {};
      for (const j of list) next[j.id] = j;
      this.byId = next;
      this.order = this.order.filter((id) => next[id]?.state === "queued");
      this.error = null;
    } catch (err) {
      this.error = BackendError.from(err);
    }
  }

  reset(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.resync) clearTimeout(this.resync);
    this.resync = null;
    this.byId = {};
    this.live = {};
    this.batches = [];
    this.loaded = false;
    this.error = null;
    this.queue = null;
    this.order = [];
    this.listeners.clear();
  }

  private notify(e: JobEvent): void {
    const job = "jobId" in e ? this.byId[e.jobId] : undefined;
    for (const l of this.listeners) l(e, job);
  }

  private scheduleResync(): void {
    if (this.resync) return;
    this.resync = setTimeout(() => {
      this.resync = null;
      void this.refresh();
    }, 300);
  }
}

export const jobs = new JobStore();

/** Milliseconds the job has been (or was) working. */
export function elapsedOf(job: JobView, live: Live | undefined, now: number): number {
  if (live?.elapsedMs != null && live.at != null && job.state === "running") return live.elapsedMs + Math.max(0, now - live.at);
  const start = Date.parse(job.startedAt ?? job.createdAt);
  const end = job.finishedAt ? Date.parse(job.finishedAt) : now;
  return Number.isFinite(start) ? Math.max(0, end - start) : 0;
}

/**
 * Estimated completion 0..1 from elapsed vs typical time. It never reaches 1 before the job is saved:
 * up to 90 % at the typical time, then it creeps towards 99 %.
 */
export function estimateProgress(job: JobView, live: Live | undefined, now: number): number {
  switch (job.state) {
    case "queued":
    case "submitting":
      return 0;
    case "submitted":
      return 0.03;
    case "running": {
      const x = elapsedOf(job, live, now) / Math.max(1, job.typicalMs);
      return x < 1 ? 0.03 + 0.87 * x : 0.9 + 0.09 * (1 - Math.exp(-(x - 1) * 1.5));
    }
    case "downloading": {
      const frac = live?.total ? Math.min(1, (live.received ?? 0) / live.total) : 0.5;
      return 0.92 + 0.08 * frac;
    }
    case "saved":
      return 1;
    default:
      return 0;
  }
}

export const STATE_LABEL: Record<JobState, string> = {
  queued: "Queued",
  submitting: "Submitting",
  submitted: "Waiting for PiAPI",
  running: "Generating",
  downloading: "Downloading",
  saved: "Saved",
  failed: "Failed",
  abandoned: "Abandoned",
  cancelled: "Cancelled",
};

export function canCancel(state: JobState): boolean {
  return state === "queued" || state === "submitting" || state === "submitted" || state === "running";
}

export function canRetry(state: JobState): boolean {
  return state === "failed" || state === "cancelled" || state === "abandoned";
}
