// Importing files and folders into the gallery: from the "Import…" menu (native picker) or dropped on the
// window (the adapter's file-drop events). Reports counts in a toast and refreshes the gallery list.

import { backend, BackendError, type ImportPick } from "../backend";
import { app } from "./app.svelte";
import { gallery } from "./gallery.svelte";
import { toasts } from "./toasts.svelte";
import { plural } from "../util/format";

class Importer {
  busy = $state(false);
  /** Files are being dragged over the window. */
  over = $state(false);
  /**
   * Our own drag-out is in progress: it starts over this window, so the window sees files "arriving";
   * the drop hint is not shown for them.
   */
  draggingOut = false;
  /**
   * Set by Create while its task takes an input image: files dropped on the window become that image
   * instead of being imported.
   */
  sourceDrop: { label: string; take: (paths: string[]) => void } | null = $state.raw(null);

  async pick(what: ImportPick): Promise<void> {
    let paths: string[];
    try {
      paths = await backend.pickImport(what);
    } catch (err) {
      toasts.push({ tone: "error", message: BackendError.from(err).message });
      return;
    }
    if (paths.length) await this.run(paths);
  }

  async run(paths: string[]): Promise<void> {
    if (!paths.length || this.busy) return;
    this.busy = true;
    try {
      const r = await backend.importPaths(paths);
      const parts = [`Imported ${plural(r.imported, "image")}`];
      if (r.skipped) parts.push(`${r.skipped.toLocaleString("en-US")} already in the gallery`);
      if (r.failed.length) parts.push(`${r.failed.length.toLocaleString("en-US")} could not be read`);
      toasts.push({
        tone: r.failed.length && !r.imported ? "error" : "success",
        message: `${parts.join(" · ")}.`,
        action: app.route !== "gallery" && r.imported ? { label: "Show", run: () => app.navigate("gallery") } : undefined,
        timeoutMs: r.failed.length ? 10_000 : 5000,
      });
      if (r.failed.length) console.warn("import failures", r.failed);
      if (r.imported && gallery.loadedOnce) await gallery.reload();
    } catch (err) {
      toasts.push({ tone: "error", message: BackendError.from(err).message });
    } finally {
      this.busy = false;
    }
  }

  reset(): void {
    this.busy = false;
    this.over = false;
    this.draggingOut = false;
    this.sourceDrop = null;
  }
}

export const importer = new Importer();
