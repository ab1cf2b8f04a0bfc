// Small modal dialogs shared by several screens: a confirmation ("Replace your current prompt?") and
// the export dialog. Each resolves a promise so callers read like `if (await confirm.ask(...))`.

import { backend, BackendError, type ExportFormat } from "../backend";
import { toasts } from "./toasts.svelte";
import { plural } from "../util/format";

export type ConfirmRequest = { title: string; message: string; confirm: string; cancel?: string; danger?: boolean };

class ConfirmStore {
  current: (ConfirmRequest & { resolve: (ok: boolean) => void }) | null = $state(null);

  ask(req: ConfirmRequest): Promise<boolean> {
    this.current?.resolve(false);
    return new Promise((resolve) => {
      this.current = { ...req, resolve };
    });
  }

  answer(ok: boolean): void {
    const c = this.current;
    this.current = null;
    c?.resolve(ok);
  }

  reset(): void {
    this.current = null;
  }
}

export const confirm = new ConfirmStore();

const PREFS_KEY = "fluxdesk.export";

type ExportPrefs = { format: ExportFormat; quality: number; dest: string | null };

function loadPrefs(): ExportPrefs {
  const fallback: ExportPrefs = { format: "png", quality: 90, dest: null };
  try {
    const raw = typeof localStorage !== "undefined" ? localStorage.getItem(PREFS_KEY) : null;
    if (!raw) return fallback;
    const p = JSON.parse(raw) as Partial<ExportPrefs>;
    return {
      format: p.format === "jpeg" || p.format === "webp" || p.format === "png" ? p.format : "png",
      quality: typeof p.quality === "number" && p.quality >= 1 && p.quality <= 100 ? Math.round(p.quality) : 90,
      dest: typeof p.dest === "string" ? p.dest : null,
    };
  } catch {
    return fallback;
  }
}

class ExportStore {
  open = $state(false);
  /** How many images will be exported (shown before the ids are resolved). */
  count = $state(0);
  format: ExportFormat = $state("png");
  quality = $state(90);
  dest: string | null = $state(null);
  busy = $state(false);
  error: string | null = $state(null);
  private resolveIds: () => Promise<number[]> = async () => [];

  /** Opens the dialog for `count` images; `ids` is called on Export (it may page through "all N"). */
  show(count: number, ids: () => Promise<number[]>): void {
    const prefs = loadPrefs();
    this.format = prefs.format;
    this.quality = prefs.quality;
    this.dest = prefs.dest;
    this.count = count;
    this.resolveIds = ids;
    this.error = null;
    this.busy = false;
    this.open = true;
  }

  async chooseDest(): Promise<void> {
    try {
      const picked = await backend.pickFolder(this.dest);
      if (picked) this.dest = picked;
    } catch (err) {
      this.error = BackendError.from(err).message;
    }
  }

  async run(): Promise<boolean> {
    if (!this.dest) {
      await this.chooseDest();
      if (!this.dest) return false;
    }
    const dest = this.dest;
    this.busy = true;
    this.error = null;
    try {
      localStorage.setItem(PREFS_KEY, JSON.stringify({ format: this.format, quality: this.quality, dest }));
    } catch {
      /* storage unavailable */
    }
    try {
      const ids = await this.resolveIds();
      const report = await backend.exportImages({ ids, destDir: dest, format: this.format, quality: Math.round(this.quality) });
      this.open = false;
      const ok = report.written.length;
      const failed = report.failed.length;
      toasts.push({
        tone: failed ? "error" : "success",
        title: failed ? `${plural(failed, "image")} could not be exported` : undefined,
        message: failed
          ? `${plural(ok, "image")} exported to ${dest}. ${report.failed[0]}`
          : `Exported ${plural(ok, "image")} as ${this.format.toUpperCase()} to ${dest}.`,
        action: { label: "Reveal", run: () => void revealExport(report.written[0] ?? dest, dest) },
        timeoutMs: 8000,
      });
      return true;
    } catch (err) {
      this.error = BackendError.from(err).message;
      return false;
    } finally {
      this.busy = false;
    }
  }

  close(): void {
    if (!this.busy) this.open = false;
  }

  reset(): void {
    this.open = false;
    this.busy = false;
    this.error = null;
  }
}

async function revealExport(path: string, folder: string): Promise<void> {
  try {
    await backend.revealExport(path);
  } catch (err) {
    toasts.push({ tone: "error", message: `${BackendError.from(err).message} The files are in ${folder}.` });
  }
}

export const exporter = new ExportStore();
