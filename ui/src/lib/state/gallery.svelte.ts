// Gallery: the query (filters, sort), the loaded prefix of the result list (keyset pages), the selection
// and keyboard focus. Kept outside the component so switching places and coming back restores the same
// view. Built for 100,000 images: `ids` holds only what was paged in; the grid renders a window of it.

import { SvelteSet } from "svelte/reactivity";
import { backend, BackendError, type Aspect, type GalleryQuery, type GallerySort, type ImageView } from "../backend";
import { images } from "./images.svelte";
import { modelInfo } from "../util/models";
import { prepend } from "../util/virtual";

/** Page size of a normal scroll page; bigger jumps ask for up to MAX_PAGE at once. */
export const PAGE_SIZE = 200;
export const MAX_PAGE = 1000;

export type DatePreset = "all" | "today" | "7d" | "30d" | "custom";

export const DATE_PRESETS: readonly { id: DatePreset; label: string }[] = [
  { id: "all", label: "Any time" },
  { id: "today", label: "Today" },
  { id: "7d", label: "Last 7 days" },
  { id: "30d", label: "Last 30 days" },
  { id: "custom", label: "From – to…" },
];

const DAY = 86_400_000;

function startOfDay(t: number): Date {
  const d = new Date(t);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate());
}

/** Local calendar day "YYYY-MM-DD" → its midnight (local time), or null. */
function parseDay(s: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Search terms as the backend matches them: whitespace-separated, case-insensitive substrings. */
export function searchTerms(text: string): string[] {
  return text.trim().toLowerCase().split(/\s+/).filter(Boolean);
}

class GalleryStore {
  // ---- query ----
  text = $state("");
  /** The text the current results were loaded with (results arrive after the text changed). */
  appliedText = $state("");
  sort: GallerySort = $state("newest");
  favouritesOnly = $state(false);
  minRating: number | null = $state(null);
  model: string | null = $state(null);
  aspect: Aspect | null = $state(null);
  date: DatePreset = $state("all");
  /** Custom range, local days "YYYY-MM-DD" (inclusive). */
  from = $state("");
  to = $state("");
  /** Thumbnail size (px), the grid's column width target and row height. */
  thumb = $state(196);

  // ---- results ----
  /** Result ids loaded so far, in result order (a prefix of the full list of `total`). */
  ids: number[] = $state.raw([]);
  nextCursor: string | null = $state(null);
  total = $state(0);
  loading = $state(false);
  loadedOnce = $state(false);
  error: BackendError | null = $state(null);
  /** Images saved since the list was loaded that belong in it but are not shown (sorts other than newest). */
  fresh = $state(0);
  /**
   * Empty slots before the first image. New images are prepended by taking slots from here, so what the
   * user is looking at never reflows sideways; a whole new row is added (and scrolled past) when needed.
   */
  lead = $state(0);
  /** Scroll position of the grid (kept while the gallery is not on screen). */
  scrollTop = 0;
  /** The grid's last layout (columns, row pitch), so prepends can be placed while it is not on screen. */
  cols = 0;
  rowH = 0;
  /** Called (by the grid, when mounted) with the pixels to scroll down after a prepend added rows. */
  onShift: ((px: number) => void) | null = null;

  // ---- selection and focus ----
  selected = new SvelteSet<number>();
  /** "All N" selected (the whole filtered set, loaded or not), minus `excluded`. */
  allSelected = $state(false);
  excluded = new SvelteSet<number>();
  focusId: number | null = $state(null);
  anchorId: number | null = $state(null);

  private seq = 0;
  private inflight: Promise<void> | null = null;
  /** The search loop in flight (see `search`), and whether the text changed while it ran. */
  private searching: Promise<void> | null = null;
  private searchAgain = false;

  terms: string[] = $derived(searchTerms(this.appliedText));

  get filtered(): boolean {
    return (
      !!this.text.trim() ||
      this.favouritesOnly ||
      this.minRating != null ||
      this.model != null ||
      this.aspect != null ||
      this.date !== "all"
    );
  }

  /** Number of active filters other than the search text (for the "Clear filters" affordance). */
  get filterCount(): number {
    return [this.favouritesOnly, this.minRating != null, this.model != null, this.aspect != null, this.date !== "all"].filter(Boolean).length;
  }

  get selectedCount(): number {
    return this.allSelected ? Math.max(0, this.total - this.excluded.size) : this.selected.size;
  }

  /** createdAfter (inclusive) / createdBefore (exclusive) for the date filter, as RFC 3339. */
  dateBounds(now = Date.now()): { createdAfter: string | null; createdBefore: string | null } {
    const iso = (d: Date | null) => (d ? d.toISOString() : null);
    switch (this.date) {
      case "today":
        return { createdAfter: iso(startOfDay(now)), createdBefore: null };
      case "7d":
        return { createdAfter: iso(startOfDay(now - 6 * DAY)), createdBefore: null };
      case "30d":
        return { createdAfter: iso(startOfDay(now - 29 * DAY)), createdBefore: null };
      case "custom": {
        const from = parseDay(this.from);
        const to = parseDay(this.to);
        const end = to ? new Date(to.getFullYear(), to.getMonth(), to.getDate() + 1) : null;
        return { createdAfter: iso(from), createdBefore: iso(end) };
      }
      default:
        return { createdAfter: null, createdBefore: null };
    }
  }

  query(cursor: string | null, limit = PAGE_SIZE): GalleryQuery {
    return {
      text: this.text.trim() || null,
      model: this.model,
      minRating: this.minRating,
      favouritesOnly: this.favouritesOnly,
      sort: this.sort,
      limit,
      cursor,
      ...this.dateBounds(),
      aspect: this.aspect,
    };
  }

  /** Does a (new) image belong in the current result list? Mirrors the backend's filters. */
  matches(im: ImageView, now = Date.now()): boolean {
    const terms = searchTerms(this.text);
    const p = im.prompt.toLowerCase();
    if (!terms.every((t) => p.includes(t))) return false;
    if (this.model && im.model !== this.model && modelInfo(im.model)?.short.toLowerCase() !== this.model.toLowerCase()) return false;
    if (this.minRating != null && im.rating < this.minRating) return false;
    if (this.favouritesOnly && !im.favourite) return false;
    if (this.aspect === "square" && im.width !== im.height) return false;
    if (this.aspect === "landscape" && !(im.width > im.height)) return false;
    if (this.aspect === "portrait" && !(im.width < im.height)) return false;
    const { createdAfter, createdBefore } = this.dateBounds(now);
    const t = Date.parse(im.createdAt);
    if (createdAfter && t < Date.parse(createdAfter)) return false;
    if (createdBefore && t >= Date.parse(createdBefore)) return false;
    return true;
  }

  /**
   * The search text changed: query at once (no debounce). While a first-page query is in flight the
   * changes coalesce into one follow-up with the latest text, and the stale response is dropped, so
   * results never paint out of order and a fast typist costs at most one query in flight.
   */
  search(): Promise<void> {
    if (this.searching) {
      this.searchAgain = true;
      this.seq++; // what is in flight is stale now: it must not paint
      return this.searching;
    }
    const run = (async () => {
      try {
        do {
          this.searchAgain = false;
          await this.reload();
        } while (this.searchAgain);
      } finally {
        this.searching = null;
      }
    })();
    this.searching = run;
    return run;
  }

  /** A first page is being requested (or about to be): the gallery need not ask again. */
  get requesting(): boolean {
    return this.loading && !this.loadedOnce;
  }

  /** Loads the first page again (filters changed, or after an undo). Keeps nothing of the old list. */
  async reload(): Promise<void> {
    const my = ++this.seq;
    this.loading = true;
    let run: Promise<void> | null = null;
    run = (async () => {
      try {
        mark("fd:list_images:start");
        const page = await backend.listImages(this.query(null));
        mark("fd:list_images:end");
        if (my !== this.seq) return;
        this.ids = page.items.map((im) => images.put(im).id);
        this.nextCursor = page.nextCursor;
        this.total = page.total;
        this.appliedText = this.text.trim();
        this.error = null;
        this.fresh = 0;
        this.lead = 0;
        this.loadedOnce = true;
        if (this.focusId != null && !this.ids.includes(this.focusId)) this.focusId = this.ids[0] ?? null;
      } catch (err) {
        if (my === this.seq) this.error = BackendError.from(err);
      } finally {
        if (my === this.seq) {
          this.loading = false;
          this.inflight = null;
        } else if (this.inflight === run) this.inflight = null;
      }
    })();
    this.inflight = run;
    return run;
  }

  /** Loads the next page (no-op at the end). Concurrent callers share the request in flight. */
  async loadMore(limit = PAGE_SIZE): Promise<void> {
    if (this.inflight) return this.inflight;
    if (!this.nextCursor) return;
    const my = this.seq;
    const cursor = this.nextCursor;
    this.loading = true;
    const run = (async () => {
      try {
        const page = await backend.listImages(this.query(cursor, Math.min(MAX_PAGE, Math.max(PAGE_SIZE, limit))));
        if (my !== this.seq) return;
        const seen = new Set(this.ids);
        const add = page.items.map((im) => images.put(im).id).filter((id) => !seen.has(id));
        this.ids = add.length ? [...this.ids, ...add] : this.ids;
        this.nextCursor = page.nextCursor;
        this.total = Math.max(page.total, this.ids.length);
        this.error = null;
      } catch (err) {
        if (my === this.seq) this.error = BackendError.from(err);
      } finally {
        if (my === this.seq) {
          this.loading = false;
          this.inflight = null;
        }
      }
    })();
    this.inflight = run;
    return run;
  }

  /** Pages in (sequentially: keyset paging) until result `index` is loaded or the list ends. */
  async ensure(index: number): Promise<void> {
    let guard = 0;
    while (this.ids.length <= index && guard++ < 1000) {
      if (this.inflight) {
        await this.inflight;
        continue;
      }
      if (!this.nextCursor || this.error) return;
      await this.loadMore(index - this.ids.length + PAGE_SIZE);
    }
  }

  /**
   * A job saved an image (on any screen). When it belongs in the list: with sort "newest" it goes to the
   * front without moving what the user looks at (it takes an empty leading slot; when a whole row must
   * be added, the scroll position moves down by that row); at the top it is simply shown first. Other
   * sorts count it in `fresh` ("N new images — show").
   */
  added(image: ImageView): void {
    if (!this.loadedOnce || !this.matches(image)) return;
    if (this.sort !== "newest") {
      this.fresh += 1;
      return;
    }
    const atTop = this.scrollTop < 4;
    if (!this.insertFront([image])) return;
    if (atTop || !this.cols) {
      this.lead = 0;
      return;
    }
    const p = prepend(this.lead, 1, this.cols);
    this.lead = p.lead;
    if (p.rows) {
      const px = p.rows * this.rowH;
      this.scrollTop += px;
      this.onShift?.(px);
    }
  }

  /** Puts new images at the front (sort "newest"). */
  insertFront(list: ImageView[]): number {
    const seen = new Set(this.ids);
    const add = list.filter((im) => !seen.has(im.id)).map((im) => images.put(im).id);
    if (!add.length) return 0;
    this.ids = [...add, ...this.ids];
    this.total += add.length;
    return add.length;
  }

  removed(ids: number[]): void {
    const gone = new Set(ids);
    const before = this.ids.length;
    const focusIndex = this.focusId != null ? this.ids.indexOf(this.focusId) : -1;
    this.ids = this.ids.filter((id) => !gone.has(id));
    this.total = Math.max(0, this.total - (before - this.ids.length));
    for (const id of ids) {
      this.selected.delete(id);
      this.excluded.delete(id);
    }
    if (this.focusId != null && gone.has(this.focusId)) {
      this.focusId = this.ids[Math.min(Math.max(0, focusIndex), this.ids.length - 1)] ?? null;
    }
    if (this.anchorId != null && gone.has(this.anchorId)) this.anchorId = this.focusId;
  }

  // ---- selection ----

  isSelected(id: number): boolean {
    return this.allSelected ? !this.excluded.has(id) : this.selected.has(id);
  }

  /**
   * Click semantics: "focus" (a plain click: focus it, clear the selection), "toggle" (Ctrl/Cmd-click,
   * Space, the tile's check), "range" (Shift: from the anchor), "add", "only" (exactly this one).
   */
  select(id: number, mode: "focus" | "only" | "toggle" | "range" | "add"): void {
    if (mode === "range" && this.anchorId != null) {
      const a = this.ids.indexOf(this.anchorId);
      const b = this.ids.indexOf(id);
      if (a >= 0 && b >= 0) {
        const [lo, hi] = a < b ? [a, b] : [b, a];
        for (let i = lo; i <= hi; i++) {
          const x = this.ids[i];
          if (this.allSelected) this.excluded.delete(x);
          else this.selected.add(x);
        }
        this.focusId = id;
        return;
      }
    }
    if (mode === "toggle") {
      if (this.allSelected) {
        if (this.excluded.has(id)) this.excluded.delete(id);
        else this.excluded.add(id);
      } else if (this.selected.has(id)) this.selected.delete(id);
      else this.selected.add(id);
    } else if (mode === "add") {
      if (this.allSelected) this.excluded.delete(id);
      else this.selected.add(id);
    } else if (mode === "focus") {
      this.clearSelection();
    } else {
      this.allSelected = false;
      this.excluded.clear();
      this.selected.clear();
      this.selected.add(id);
    }
    this.anchorId = id;
    this.focusId = id;
  }

  selectAll(): void {
    this.selected.clear();
    this.excluded.clear();
    this.allSelected = this.total > 0;
  }

  clearSelection(): void {
    this.selected.clear();
    this.excluded.clear();
    this.allSelected = false;
  }

  /** The selected ids. For "all N" this pages through the filtered set (ids only are kept). */
  async selectedIds(): Promise<number[]> {
    if (!this.allSelected) return [...this.selected];
    let ids: number[];
    if (!this.nextCursor) ids = [...this.ids];
    else {
      ids = [];
      let cursor: string | null = null;
      let guard = 0;
      do {
        const page = await backend.listImages(this.query(cursor, MAX_PAGE));
        for (const im of page.items) ids.push(im.id);
        cursor = page.nextCursor;
      } while (cursor && guard++ < 10_000);
    }
    return this.excluded.size ? ids.filter((id) => !this.excluded.has(id)) : ids;
  }

  /** What keyboard actions apply to: the selection when the focused image is part of it, else the focused image. */
  async targets(): Promise<number[]> {
    if (this.focusId != null && !this.isSelected(this.focusId)) return [this.focusId];
    if (this.selectedCount > 0) return this.selectedIds();
    return this.focusId != null ? [this.focusId] : [];
  }

  clearFilters(): void {
    this.text = "";
    this.favouritesOnly = false;
    this.minRating = null;
    this.model = null;
    this.aspect = null;
    this.date = "all";
    this.from = "";
    this.to = "";
  }

  reset(): void {
    this.clearFilters();
    this.appliedText = "";
    this.sort = "newest";
    this.thumb = 196;
    this.ids = [];
    this.nextCursor = null;
    this.total = 0;
    this.loading = false;
    this.loadedOnce = false;
    this.error = null;
    this.fresh = 0;
    this.lead = 0;
    this.scrollTop = 0;
    this.cols = 0;
    this.rowH = 0;
    this.onShift = null;
    this.clearSelection();
    this.focusId = null;
    this.anchorId = null;
    this.inflight = null;
    this.seq++;
  }
}

/**
 * A User Timing mark (no-op where the Performance API is missing). The app benchmark (e2e/bench) reads
 * these when the first page was requested before it could watch the IPC call itself.
 */
function mark(name: string): void {
  try {
    globalThis.performance?.mark?.(name);
  } catch {
    /* no User Timing */
  }
}

export const gallery = new GalleryStore();
