// Gallery: the query (filters, sort), the loaded prefix of the result list (keyset pages), the result
// count, the selection and keyboard focus. Kept outside the component so switching places and coming back
// restores the same view. Built for 100,000 images: `ids` holds only what was paged in; the grid renders a
// window of it.
//
// A keystroke's query goes out at once, and its first page is small (about two screens of tiles) and never
// waits for an expensive count: the backend includes the count when it is free, else it is asked for
// separately a moment later (`count` is null meanwhile). Answers carry the sequence number of the query
// they belong to; a stale page or count (the text or a filter changed since) is dropped.

import { SvelteSet } from "svelte/reactivity";
import { backend, BackendError, type Aspect, type GalleryQuery, type GallerySort, type ImageView } from "../backend";
import { images } from "./images.svelte";
import { modelInfo } from "../util/models";
import { gridLayout, prepend } from "../util/virtual";

/** Page size of a normal scroll page; bigger jumps ask for up to MAX_PAGE at once. */
export const PAGE_SIZE = 200;
export const MAX_PAGE = 1000;
/**
 * How far ahead of the last rendered tile a scrolled grid asks for the next page: five screens at the
 * default size, so scrolling a screen every 100 ms outruns only a page that takes longer than ~half a second.
 */
export const PAGE_AHEAD = 100;
/** The smallest first page (it is about two viewports of tiles, rounded up to whole rows). */
export const MIN_FIRST_PAGE = 48;
/**
 * How long the text must stay unchanged before its count is asked for (a count of a common 1–2 character
 * term costs a pass over the table, ~20 ms at 100,000 images: not worth it for every keystroke). Longer than
 * the gap between two keys of steady typing, so while the designer types no count competes with the next
 * keystroke's page for the machine.
 */
export const COUNT_DELAY_MS = 300;

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
  /** The exact number of results, or null while it is being counted (never a guess). */
  count: number | null = $state(null);
  /** Counting failed (the list still works; the next query counts again). */
  countFailed = $state(false);
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
  /** The grid's last layout (columns, row pitch, viewport height), so prepends can be placed while it is not
   * on screen and the first page can be sized to the screen. */
  cols = 0;
  rowH = 0;
  viewportH = 0;
  /** Called (by the grid, when mounted) with the pixels to scroll down after a prepend added rows. */
  onShift: ((px: number) => void) | null = null;

  // ---- selection and focus ----
  selected = new SvelteSet<number>();
  /** "All N" selected (the whole filtered set, loaded or not), minus `excluded`. */
  allSelected = $state(false);
  excluded = new SvelteSet<number>();
  focusId: number | null = $state(null);
  anchorId: number | null = $state(null);

  /** Sequence number of the current query; answers to older ones are dropped. */
  private seq = 0;
  private inflight: Promise<void> | null = null;
  /** The first-page query in flight. */
  private firstPage: Promise<void> | null = null;
  private countTimer: ReturnType<typeof setTimeout> | null = null;
  /** The count request in flight (for query `seq`), and whether the list changed while it ran. */
  private counting: { seq: number; promise: Promise<number | null> } | null = null;
  private countStale = false;

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

  /**
   * The exact number of results, or 0 while it is being counted (`count` is null): "Select all N" and "All N
   * selected" never show a guess.
   */
  get total(): number {
    return this.count ?? 0;
  }

  /** How many results the grid lays out and the keyboard reaches: the count when known, else what is loaded. */
  get extent(): number {
    return this.count ?? this.ids.length;
  }

  get selectedCount(): number {
    return this.allSelected ? Math.max(0, this.total - this.excluded.size) : this.selected.size;
  }

  /**
   * The first page: about two viewports of tiles for the grid's columns (or the window's, before the grid
   * is laid out), in whole rows, at least MIN_FIRST_PAGE and at most PAGE_SIZE.
   */
  firstPageSize(): number {
    const win = globalThis as { innerWidth?: number; innerHeight?: number };
    const guess = gridLayout(win.innerWidth || 1024, this.thumb, 0);
    const cols = this.cols || guess.cols;
    const rowH = this.rowH || guess.rowH;
    const rows = Math.ceil((2 * (this.viewportH || win.innerHeight || 768)) / Math.max(1, rowH));
    const tiles = Math.max(MIN_FIRST_PAGE, cols * rows);
    return Math.min(PAGE_SIZE, Math.ceil(tiles / cols) * cols);
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

  /** The query for a page after `cursor`. Pages never ask for an expensive count (see `requestCount`). */
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
      count: false,
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
   * The search text changed: query at once (no debounce, no waiting for a query in flight: that one is stale
   * now and its answer is dropped when it arrives, so results never paint out of order).
   */
  search(): Promise<void> {
    return this.reload();
  }

  /** Resolves when the first page of the latest query is in (at once when it already is). */
  async whenLoaded(): Promise<void> {
    let guard = 0;
    while (this.firstPage && guard++ < 100) await this.firstPage;
  }

  /** A first page is being requested (or about to be): the gallery need not ask again. */
  get requesting(): boolean {
    return this.loading && !this.loadedOnce;
  }

  /** Loads the first page again (filters changed, or after an undo). Keeps nothing of the old list. */
  async reload(): Promise<void> {
    const my = ++this.seq;
    this.cancelCount();
    this.loading = true;
    const query = this.query(null, this.firstPageSize());
    let run: Promise<void> | null = null;
    run = (async () => {
      try {
        // The first page only: User Timing keeps every mark, and each keystroke reloads.
        const first = !this.loadedOnce;
        if (first) mark("fd:list_images:start");
        const page = await backend.listImages(query);
        if (first) mark("fd:list_images:end");
        if (my !== this.seq) return;
        this.ids = page.items.map((im) => images.put(im).id);
        this.nextCursor = page.nextCursor;
        this.count = page.counted || !page.nextCursor ? Math.max(page.total, this.ids.length) : null;
        this.countFailed = false;
        this.appliedText = this.text.trim();
        this.error = null;
        images.fetchError = null; // a new list: its rows ask for what they miss (and say so again if that fails)
        this.fresh = 0;
        this.lead = 0;
        this.loadedOnce = true;
        if (this.focusId != null && !this.ids.includes(this.focusId)) this.focusId = this.ids[0] ?? null;
        // The previous result list's entries are not shown any more: keep the cache bounded.
        images.prune(new Set([...this.ids, ...this.selected]));
        if (this.count == null) this.requestCount(my, COUNT_DELAY_MS);
      } catch (err) {
        if (my === this.seq) this.error = BackendError.from(err);
      } finally {
        if (my === this.seq) {
          this.loading = false;
          this.inflight = null;
        } else if (this.inflight === run) this.inflight = null;
        if (this.firstPage === run) this.firstPage = null;
      }
    })();
    this.inflight = run;
    this.firstPage = run;
    return run;
  }

  /**
   * Asks for the count of query `my` after `delayMs` (if it is still the current query then). Its answer is
   * dropped when the query changed meanwhile, and asked again when the list changed while it was counted
   * (an image saved or deleted may or may not be in it).
   */
  private requestCount(my: number, delayMs: number): void {
    if (this.countTimer) clearTimeout(this.countTimer);
    this.countTimer = setTimeout(() => {
      this.countTimer = null;
      void this.fetchCount(my);
    }, delayMs);
  }

  private cancelCount(): void {
    if (this.countTimer) clearTimeout(this.countTimer);
    this.countTimer = null;
  }

  private fetchCount(my: number): Promise<number | null> {
    if (my !== this.seq) return Promise.resolve(null);
    if (this.count != null) return Promise.resolve(this.count);
    if (this.counting?.seq === my) return this.counting.promise;
    this.cancelCount();
    this.countStale = false;
    this.countFailed = false;
    let promise: Promise<number | null> | null = null;
    promise = (async (): Promise<number | null> => {
      try {
        const n = await backend.countImages(this.query(null, 0));
        if (my !== this.seq) return null;
        if (this.countStale) {
          this.counting = null;
          return this.fetchCount(my);
        }
        if (this.count == null) this.count = Math.max(n, this.ids.length);
        return this.count;
      } catch {
        // The list still works without it; the next query counts again.
        if (my === this.seq) this.countFailed = true;
        return null;
      } finally {
        if (this.counting?.promise === promise) this.counting = null;
      }
    })();
    this.counting = { seq: my, promise };
    return promise;
  }

  /** The exact count of the current results: now if known, else as soon as it is (null if the query changes). */
  async ensureCount(): Promise<number | null> {
    const my = this.seq;
    if (this.firstPage) await this.firstPage;
    if (my !== this.seq) return null;
    if (this.count != null) return this.count;
    return this.fetchCount(my);
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
        // A page may carry the count (taken for free); the last page ends the list.
        if (this.count == null && (page.counted || !page.nextCursor)) {
          this.count = page.counted ? Math.max(page.total, this.ids.length) : this.ids.length;
        } else if (this.count != null) this.count = Math.max(this.count, this.ids.length);
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
    if (this.count != null) this.count += add.length;
    else if (this.counting) this.countStale = true;
    return add.length;
  }

  removed(ids: number[]): void {
    const gone = new Set(ids);
    const before = this.ids.length;
    const focusIndex = this.focusId != null ? this.ids.indexOf(this.focusId) : -1;
    this.ids = this.ids.filter((id) => !gone.has(id));
    if (this.count != null) this.count = Math.max(this.ids.length, this.count - (before - this.ids.length));
    else if (this.counting) this.countStale = true;
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

  /**
   * Selects "all N" of the filtered set. With the count still pending, the current selection stays until it
   * arrives (so "All N" is never shown with a wrong N); nothing happens if the query changes meanwhile.
   */
  selectAll(): Promise<void> {
    const apply = (n: number) => {
      this.selected.clear();
      this.excluded.clear();
      this.allSelected = n > 0;
    };
    if (this.count != null) {
      apply(this.count);
      return Promise.resolve();
    }
    const my = this.seq;
    return this.ensureCount().then((n) => {
      if (n != null && my === this.seq) apply(n);
    });
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
    this.count = null;
    this.countFailed = false;
    this.loading = false;
    this.loadedOnce = false;
    this.error = null;
    this.fresh = 0;
    this.lead = 0;
    this.scrollTop = 0;
    this.cols = 0;
    this.rowH = 0;
    this.viewportH = 0;
    this.onShift = null;
    this.clearSelection();
    this.focusId = null;
    this.anchorId = null;
    this.inflight = null;
    this.firstPage = null;
    this.cancelCount();
    this.counting = null;
    this.countStale = false;
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
