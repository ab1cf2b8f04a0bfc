// Gallery query, loaded pages and scroll position. Kept outside the component so switching places and
// coming back restores the same view (nothing jumps).

import { backend, BackendError, type GalleryQuery, type GallerySort, type ImageView } from "../backend";
import { images } from "./images.svelte";

export const PAGE_SIZE = 60;

class GalleryStore {
  text = $state("");
  sort: GallerySort = $state("newest");
  favouritesOnly = $state(false);
  minRating: number | null = $state(null);
  model: string | null = $state(null);
  thumb = $state(196);

  ids: number[] = $state([]);
  nextCursor: string | null = $state(null);
  total = $state(0);
  loading = $state(false);
  loadedOnce = $state(false);
  error: BackendError | null = $state(null);
  /** Images saved since the list was loaded that are not shown yet. */
  fresh = $state(0);
  scrollTop = 0;
  private seq = 0;

  get filtered(): boolean {
    return !!this.text.trim() || this.favouritesOnly || this.minRating != null || this.model != null;
  }

  query(cursor: string | null): GalleryQuery {
    return {
      text: this.text.trim() || null,
      model: this.model,
      minRating: this.minRating,
      favouritesOnly: this.favouritesOnly,
      sort: this.sort,
      limit: PAGE_SIZE,
      cursor,
    };
  }

  async reload(): Promise<void> {
    const my = ++this.seq;
    this.loading = true;
    try {
      const page = await backend.listImages(this.query(null));
      if (my !== this.seq) return;
      this.ids = page.items.map((im) => images.put(im).id);
      this.nextCursor = page.nextCursor;
      this.total = page.total;
      this.error = null;
      this.fresh = 0;
      this.loadedOnce = true;
    } catch (err) {
      if (my === this.seq) this.error = BackendError.from(err);
    } finally {
      if (my === this.seq) this.loading = false;
    }
  }

  async loadMore(): Promise<void> {
    if (!this.nextCursor || this.loading) return;
    const my = ++this.seq;
    this.loading = true;
    try {
      const page = await backend.listImages(this.query(this.nextCursor));
      if (my !== this.seq) return;
      const seen = new Set(this.ids);
      this.ids = [...this.ids, ...page.items.map((im) => images.put(im).id).filter((id) => !seen.has(id))];
      this.nextCursor = page.nextCursor;
      this.total = page.total;
      this.error = null;
    } catch (err) {
      if (my === this.seq) this.error = BackendError.from(err);
    } finally {
      if (my === this.seq) this.loading = false;
    }
  }

  /** A new image was saved: show it at once when that cannot move what the user is looking at. */
  added(image: ImageView, atTop: boolean): void {
    if (!this.loadedOnce) return;
    if (this.sort === "newest" && !this.filtered && atTop) {
      images.put(image);
      if (!this.ids.includes(image.id)) {
        this.ids = [image.id, ...this.ids];
        this.total += 1;
      }
    } else this.fresh += 1;
  }

  removed(ids: number[]): void {
    const before = this.ids.length;
    this.ids = this.ids.filter((id) => !ids.includes(id));
    this.total = Math.max(0, this.total - (before - this.ids.length));
  }

  clearFilters(): void {
    this.text = "";
    this.favouritesOnly = false;
    this.minRating = null;
    this.model = null;
  }

  reset(): void {
    this.clearFilters();
    this.sort = "newest";
    this.ids = [];
    this.nextCursor = null;
    this.total = 0;
    this.loading = false;
    this.loadedOnce = false;
    this.error = null;
    this.fresh = 0;
    this.scrollTop = 0;
    this.seq++;
  }
}

export const gallery = new GalleryStore();
