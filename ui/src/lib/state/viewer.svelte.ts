// The large image view: which list it steps through (the gallery's live result list, or a fixed list
// from Create/Activity) and which image is shown. It tracks the current image by id, so images arriving
// at the front of the list never change what is shown.

export type ViewerSource = {
  /** The ids to step through, in order (may grow as pages load). */
  ids: () => number[];
  /** Size of the whole list when only a prefix is loaded. */
  total?: () => number;
  /** Loads more of the list (called when stepping near the end of what is loaded). */
  more?: () => Promise<void>;
  /** Search terms to highlight in the prompt. */
  terms?: () => string[];
  /** Called on close with the image shown last; return true when it moved focus itself. */
  onClose?: (id: number | null) => boolean;
};

class ViewerStore {
  open = $state(false);
  currentId: number | null = $state(null);
  source: ViewerSource = $state.raw({ ids: () => [] });
  /** Last known position of the current image (where to land when it is deleted). */
  private pos = 0;
  /** Element to return focus to on close. */
  private opener: HTMLElement | null = null;

  /** Opens at `id`, stepping through `list` (a fixed array) or a live source. */
  show(list: number[] | ViewerSource, id: number): void {
    this.source = Array.isArray(list) ? fixed(list) : list;
    this.currentId = id;
    this.pos = Math.max(0, this.ids.indexOf(id));
    this.opener = typeof document !== "undefined" && document.activeElement instanceof HTMLElement ? document.activeElement : null;
    this.open = true;
  }

  get ids(): number[] {
    return this.source.ids();
  }

  get index(): number {
    const i = this.currentId == null ? -1 : this.ids.indexOf(this.currentId);
    return i >= 0 ? i : this.pos;
  }

  get total(): number {
    return Math.max(this.source.total?.() ?? 0, this.ids.length);
  }

  get current(): number | undefined {
    return this.currentId ?? undefined;
  }

  get terms(): string[] {
    return this.source.terms?.() ?? [];
  }

  get hasNext(): boolean {
    return this.index < this.total - 1;
  }

  /** Shows another image (e.g. a result's source): in place when the list has it, else put in front of it. */
  jump(id: number): void {
    if (!this.ids.includes(id)) {
      const rest = this.ids;
      this.source = { ...fixed([id, ...rest.filter((x) => x !== id)]), terms: this.source.terms, onClose: this.source.onClose };
    }
    this.currentId = id;
    this.pos = Math.max(0, this.ids.indexOf(id));
  }

  async step(delta: number): Promise<void> {
    const ids = this.ids;
    if (!ids.length) return;
    const target = this.index + delta;
    if (target >= ids.length - 3 && this.source.more) {
      // Near the end of what is loaded: fetch the next page (waiting for it when stepping past the end).
      const p = this.source.more();
      if (target >= ids.length) await p;
    }
    const list = this.ids;
    const i = Math.min(list.length - 1, Math.max(0, target));
    this.currentId = list[i] ?? this.currentId;
    this.pos = i;
  }

  /** Images were deleted: keep the position, show the next one (or close when none is left). */
  drop(ids: number[]): void {
    const gone = new Set(ids);
    // Decide synchronously (the shown image must never be missing, or the panel would re-render and
    // lose focus), from the list as it is now, whether or not its owner has already dropped the ids.
    const list = this.ids;
    const at = this.currentId == null ? -1 : list.indexOf(this.currentId);
    const upTo = at >= 0 ? at : Math.min(this.pos, list.length);
    let before = 0;
    for (let i = 0; i < upTo; i++) if (!gone.has(list[i])) before++;
    const remaining = list.filter((id) => !gone.has(id));
    const src = this.source as ViewerSource & { drop?: (ids: Set<number>) => void };
    src.drop?.(gone);
    if (!remaining.length) {
      if (this.open) this.close();
      return;
    }
    if (this.currentId != null && gone.has(this.currentId)) {
      this.pos = Math.min(before, remaining.length - 1);
      this.currentId = remaining[this.pos];
    }
  }

  close(): void {
    this.open = false;
    const el = this.opener;
    this.opener = null;
    if (this.source.onClose?.(this.currentId)) return;
    if (el && el.isConnected) queueMicrotask(() => el.focus());
  }

  reset(): void {
    this.source = { ids: () => [] };
    this.currentId = null;
    this.pos = 0;
    this.open = false;
    this.opener = null;
  }
}

/** A fixed list that forgets deleted ids. */
function fixed(list: number[]): ViewerSource & { drop: (ids: Set<number>) => void } {
  let ids = $state.raw([...list]);
  return {
    ids: () => ids,
    drop: (gone) => {
      ids = ids.filter((id) => !gone.has(id));
    },
  };
}

export const viewer = new ViewerStore();
