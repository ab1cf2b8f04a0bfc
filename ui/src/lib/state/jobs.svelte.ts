// Jobs as server state: a snapshot from watchJobs, then kept current by JobEvents (never by polling).
// Also remembers this session's batches (what the Create screen shows) and live progress details
// (last processing elapsedMs, download bytes) that JobView does not carry.

import {
  backend,
  BackendError,
  onJobEvent,
  startJobFeed,
  type GenerateRequest,
  type JobEvent,
  type JobState,
  type JobView,
} from "../backend";
import { images } from "./images.svelte";

export const ACTIVE_STATES: ReadonlySet<JobState> = new Set(["queued", "submitting", "submitted", "running", "downloading"]);
export const FINAL_STATES: ReadonlySet<JobState> = new Set(["saved", "failed", "abandoned", "cancelled"]);

export type Live = {
  /** Backend-reported processing time and the local time it was reported at. */
  elapsedMs?: number;
  at?: number;
  received?: number;
  total?: number | null;
};

export type Batch = { key: number; ids: number[]; request: GenerateRequest; createdAt: number };

export type JobListener = (event: JobEvent, job: JobView | undefined) => void;

class JobStore {
  byId: Record<number, JobView> = $state({});
  live: Record<number, Live> = $state({});
  /** This session's generate() batches, newest first. */
  batches: Batch[] = $state([]);
  loaded = $state(false);
  error: BackendError | null = $state(null);

  /** All jobs, newest first. */
  list: JobView[] = $derived(Object.values(this.byId).sort((a, b) => b.id - a.id));
  running: number = $derived(this.list.filter((j) => ACTIVE_STATES.has(j.state)).length);

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
      this.loaded = true;
      this.error = null;
    } catch (err) {
      this.error = BackendError.from(err);
    }
  }

  /** Listen to applied events (after the store updated). Returns unsubscribe. */
  subscribe(listener: JobListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  apply(e: JobEvent): void {
    if (e.kind === "queued") {
      this.byId[e.jobId] = e.job;
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
    this.listeners.clear();
  }

  private notify(e: JobEvent): void {
    const job = this.byId[e.jobId];
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
