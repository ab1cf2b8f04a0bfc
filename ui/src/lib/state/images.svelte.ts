// A shared cache of ImageView by id, so the gallery, the Create grid and the large view all show the
// same rating/favourite the moment it changes. Writes are optimistic and roll back on error.
// Built for 100,000 images: entries are plain (frozen-by-convention) objects in a SvelteMap, reactive
// per id, never deep proxies; a change replaces the entry, so only the tiles showing that id re-render.
// Deletes go to the OS trash with an Undo toast (about 8 s; also Ctrl/Cmd+Z while it shows).

import { untrack } from "svelte";
import { SvelteMap } from "svelte/reactivity";
import { backend, BackendError, type ImageView } from "../backend";
import { toasts } from "./toasts.svelte";
import { plural } from "../util/format";

export type DeleteListener = (ids: number[]) => void;
export type RestoreListener = (ids: number[]) => void;

export const UNDO_MS = 8000;

/** Entries kept without pruning (~1.5 KB each in the web process). */
export const PRUNE_ABOVE = 3000;

/**
 * The most entries `fetch` asks for per call: the core's `MAX_IMAGES_BY_ID`, which bindings.ts carries
 * (a value import of it would pull in the Tauri adapter; tests/backend.test.ts checks they agree).
 */
export const FETCH_MAX = 1000;

class ImageStore {
  private byId = new SvelteMap<number, ImageView>();
  /** Ids deleted in this session (tiles show "Moved to Trash" instead of a broken image). */
  deleted: Record<number, true> = $state({});
  private deleteListeners = new Set<DeleteListener>();
  private restoreListeners = new Set<RestoreListener>();
  /** The most recent undoable delete, while its toast may still be acted on. */
  private lastUndo: { token: string; ids: number[]; toast: number; until: number } | null = null;

  /** Stores `image` (or keeps the stored entry when nothing changed) and returns what is stored. */
  put(image: ImageView): ImageView {
    const existing = this.byId.get(image.id);
    if (existing && same(existing, image)) return existing;
    const copy = { ...image }; // ours: whoever handed it over may change theirs
    this.byId.set(image.id, copy);
    return copy;
  }

  get(id: number): ImageView | undefined {
    return this.byId.get(id);
  }

  /** Number of stored entries. */
  get size(): number {
    return this.byId.size;
  }

  /** Ids asked for by `fetch` and not answered yet. */
  private fetching = new Set<number>();
  /** Why the last `fetch` failed (the gallery says so, with Try again); null once one succeeds. */
  fetchError: BackendError | null = $state(null);
  /** Bumped by `retryFetch`: whoever calls `fetch` from an effect reads it, so it asks again. */
  fetchAttempt = $state(0);

  /**
   * Asks the backend again for the entries of `ids` that are not stored (`prune` drops those far from
   * what the gallery shows, so the page stays small at any library size), each id once at a time. Ids no
   * longer in the gallery (removed outside this window) leave the lists that show them, as after a
   * delete. On an error the tiles stay placeholders, `fetchError` says why, and they ask again when
   * they render next or on `retryFetch`.
   */
  async fetch(ids: readonly number[]): Promise<void> {
    const want = untrack(() => ids.filter((id) => !this.byId.has(id) && !this.fetching.has(id) && !this.deleted[id]));
    if (!want.length) return;
    for (const id of want) this.fetching.add(id);
    try {
      for (let i = 0; i < want.length; i += FETCH_MAX) {
        const asked = want.slice(i, i + FETCH_MAX);
        const got = await backend.getImages(asked);
        for (const im of got) if (!this.deleted[im.id] && !this.byId.has(im.id)) this.put(im);
        const back = new Set(got.map((im) => im.id));
        const gone = asked.filter((id) => !back.has(id));
        if (gone.length) for (const l of this.deleteListeners) l(gone);
      }
      if (this.fetchError) this.fetchError = null;
    } catch (err) {
      this.fetchError = BackendError.from(err); // placeholders until asked again
    } finally {
      for (const id of want) this.fetching.delete(id);
    }
  }

  /** Try again after a failed `fetch`: clears the error and has the tiles ask again. */
  retryFetch(): void {
    this.fetchError = null;
    this.fetchAttempt++;
  }

  /**
   * Bounds the cache: past `max` entries, drops the oldest stored ones not in `keep` until `max / 2`
   * remain or only kept ones are left. A new search keeps its list and the selection (every search used
   * to add a page of entries that nothing showed any more); a scroll keeps the images near the viewport
   * (GalleryGrid). Whoever needs a dropped one asks the backend again (the grid's rows and the large
   * view) or holds its own copy (jobs).
   */
  prune(keep: ReadonlySet<number>, max = PRUNE_ABOVE): number {
    if (this.byId.size <= max) return 0;
    const target = Math.floor(max / 2);
    const drop: number[] = [];
    let left = this.byId.size;
    for (const id of this.byId.keys()) {
      if (left <= target) break;
      if (keep.has(id)) continue;
      drop.push(id);
      left--;
    }
    for (const id of drop) this.byId.delete(id);
    return drop.length;
  }

  /** Replaces the stored entry of `id` (if any) with `change` applied. */
  private patch(id: number, change: Partial<ImageView>): void {
    const im = this.byId.get(id);
    if (im) this.byId.set(id, { ...im, ...change });
  }

  async setRating(ids: number[], rating: number): Promise<void> {
    const before = ids.map((id) => [id, this.byId.get(id)?.rating ?? 0] as const);
    for (const id of ids) this.patch(id, { rating });
    try {
      await backend.setRating(ids, rating);
    } catch (err) {
      for (const [id, r] of before) this.patch(id, { rating: r });
      toasts.push({ tone: "error", message: BackendError.from(err).message });
    }
  }

  async setFavourite(ids: number[], favourite: boolean): Promise<void> {
    const before = ids.map((id) => [id, this.byId.get(id)?.favourite ?? false] as const);
    for (const id of ids) this.patch(id, { favourite });
    try {
      await backend.setFavourite(ids, favourite);
    } catch (err) {
      for (const [id, f] of before) this.patch(id, { favourite: f });
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
      this.byId.delete(id);
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
    return backend.thumbUrl(image.thumbPath ?? image.path);
  }

  fullUrl(image: ImageView): string {
    return backend.assetUrl(image.path);
  }

  reset(): void {
    this.byId.clear();
    this.deleted = {};
    this.deleteListeners.clear();
    this.restoreListeners.clear();
    this.lastUndo = null;
  }
}

/** Same field values (ImageView's fields are all primitives). */
function same(a: ImageView, b: ImageView): boolean {
  for (const k of Object.keys(b) as (keyof ImageView)[]) if (a[k] !== b[k]) return false;
  return Object.keys(a).length === Object.keys(b).length;
}

export const images = new ImageStore();
