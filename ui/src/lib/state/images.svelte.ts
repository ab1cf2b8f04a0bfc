// A shared cache of ImageView by id, so the gallery, the Create grid and the large view all show the
// same rating/favourite the moment it changes. Writes are optimistic and roll back on error.

import { backend, BackendError, type ImageView } from "../backend";
import { toasts } from "./toasts.svelte";

export type DeleteListener = (ids: number[]) => void;

class ImageStore {
  byId: Record<number, ImageView> = $state({});
  /** Ids deleted in this session (tiles show "Moved to Trash" instead of a broken image). */
  deleted: Record<number, true> = $state({});
  private deleteListeners = new Set<DeleteListener>();

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

  /** Moves files to the OS trash (no confirmation; a toast confirms). Resolves true on success. */
  async remove(ids: number[]): Promise<boolean> {
    try {
      await backend.deleteImages(ids);
    } catch (err) {
      toasts.push({ tone: "error", message: BackendError.from(err).message });
      return false;
    }
    for (const id of ids) {
      this.deleted[id] = true;
      delete this.byId[id];
    }
    for (const l of this.deleteListeners) l(ids);
    toasts.push({ tone: "success", message: ids.length === 1 ? "Image moved to the Trash." : `${ids.length} images moved to the Trash.` });
    return true;
  }

  async reveal(id: number): Promise<void> {
    try {
      await backend.revealImage(id);
    } catch (err) {
      toasts.push({ tone: "error", message: BackendError.from(err).message });
    }
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
  }
}

export const images = new ImageStore();
