// A shared cache of ImageView by id, so the gallery, the Create grid and the large view all show the
// same rating/favourite the moment it changes. Writes are optimistic and roll back on error.
// Deletes go to the OS trash with an Undo toast (about 8 s; also Ctrl/Cmd+Z while it shows).

import { backend, BackendError, type ImageView } from "../backend";
import { toasts } from "./toasts.svelte";
import { plural } from "../util/format";

export type DeleteListener = (ids: number[]) => void;
export type RestoreListener = (ids: number[]) => void;

export const UNDO_MS = 8000;

class ImageStore {
  byId: Record<number, ImageView> = $state({});
  /** Ids deleted in this session (tiles show "Moved to Trash" instead of a broken image). */
  deleted: Record<number, true> = $state({});
  private deleteListeners = new Set<DeleteListener>();
  private restoreListeners = new Set<RestoreListener>();
  /** The most recent undoable delete, while its toast may still be acted on. */
  private lastUndo: { token: string; ids: number[]; toast: number; until: number } | null = null;

  put(image: ImageView): ImageView {
    const existing = this.byId[image.id];
    if (existing) {
      Object.assign(existing, image);
      return existing;
    }
    this.byId[image.id] = image;
    return this.byId[image.id];
  }

  get(id: number): ImageView | undefined {
    return this.byId[id];
  }

  async setRating(ids: number[], rating: number): Promise<void> {
    const before = ids.map((id) => [id, this.byId[id]?.rating ?? 0] as const);
    for (const id of ids) if (this.byId[id]) this.byId[id].rating = rating;
    try {
      await backend.setRating(ids, rating);
    } catch (err) {
      for (const [id, r] of before) if (this.byId[id]) this.byId[id].rating = r;
      toasts.push({ tone: "error", message: BackendError.from(err).message });
    }
  }

  async setFavourite(ids: number[], favourite: boolean): Promise<void> {
    const before = ids.map((id) => [id, this.byId[id]?.favourite ?? false] as const);
    for (const id of ids) if (this.byId[id]) this.byId[id].favourite = favourite;
    try {
      await backend.setFavourite(ids, favourite);
    } catch (err) {
      for (const [id, f] of before) if (this.byId[id]) this.byId[id].favourite = f;
      toasts.push({ tone: "error", message: BackendError.from(err).message });
    }
  }

  /**
   * Moves files to the OS trash (no confirmation: the toast offers Undo for ~8 s). Resolves true on
   * success. Listeners (gallery, large view) drop the ids at once.
   */
  async remove(ids: number[]): Promise<boolean> {
    if (!ids.length) return false;
    let token: string;
    let count: number;
    try {
      ({ token, count } = await backend.deleteImages(ids));
    } catch (err) {
      toasts.push({ tone: "error", message: BackendError.from(err).message });
      return false;
    }
    for (const id of ids) {
      this.deleted[id] = true;
      delete this.byId[id];
    }
    for (const l of this.deleteListeners) l(ids);
    if (this.lastUndo) toasts.dismiss(this.lastUndo.toast);
    const toast = toasts.push({
      tone: "success",
      message: count === 1 ? "Image moved to the Trash." : `${count.toLocaleString("en-US")} images moved to the Trash.`,
      action: { label: "Undo", run: () => void this.undo(token, ids) },
      timeoutMs: UNDO_MS,
    });
    this.lastUndo = { token, ids, toast, until: Date.now() + UNDO_MS };
    return true;
  }

  /** Ctrl/Cmd+Z: undoes the last delete while its toast is up. Returns false when there is nothing to undo. */
  undoLast(): boolean {
    const last = this.lastUndo;
    if (!last || Date.now() > last.until) return false;
    toasts.dismiss(last.toast);
    void this.undo(last.token, last.ids);
    return true;
  }

  async undo(token: string, ids: number[]): Promise<void> {
    if (this.lastUndo?.token === token) this.lastUndo = null;
    try {
      const n = await backend.undoDelete(token);
      for (const id of ids) delete this.deleted[id];
      for (const l of this.restoreListeners) l(ids);
      toasts.push({ tone: "success", message: `Restored ${plural(n, "image")}.`, timeoutMs: 3000 });
    } catch (err) {
      toasts.push({ tone: "error", message: BackendError.from(err).message });
    }
  }

  async reveal(id: number): Promise<void> {
    try {
      await backend.revealImage(id);
    } catch (err) {
      toasts.push({ tone: "error", message: BackendError.from(err).message });
    }
  }

  /** Copies the image itself (pixels) to the clipboard. */
  async copy(id: number): Promise<void> {
    try {
      await backend.copyImage(id);
      toasts.push({ tone: "success", message: "Image copied to the clipboard.", timeoutMs: 2000 });
    } catch (err) {
      toasts.push({ tone: "error", message: BackendError.from(err).message });
    }
  }

  onRestore(listener: RestoreListener): () => void {
    this.restoreListeners.add(listener);
    return () => this.restoreListeners.delete(listener);
  }

  onDelete(listener: DeleteListener): () => void {
    this.deleteListeners.add(listener);
    return () => this.deleteListeners.delete(listener);
  }

  /** URL for the thumbnail (falls back to the full image). */
  thumbUrl(image: ImageView): string {
    return backend.assetUrl(image.thumbPath ?? image.path);
  }

  fullUrl(image: ImageView): string {
    return backend.assetUrl(image.path);
  }

  reset(): void {
    this.byId = {};
    this.deleted = {};
    this.deleteListeners.clear();
    this.restoreListeners.clear();
    this.lastUndo = null;
  }
}

export const images = new ImageStore();
