// Layout of the virtualized gallery grid: square cells in fixed rows, so any row's position is
// arithmetic (no measuring) and only the visible rows (plus overscan) are in the DOM.
// Slots are cells; slot s holds result index s - lead (lead = empty slots before the first image,
// used to prepend images without reflowing the rows below).

export type GridLayout = {
  cols: number;
  /** Cell side (px). */
  cell: number;
  gap: number;
  /** Distance between the tops of two rows (cell + gap). */
  rowH: number;
  pad: number;
  rows: number;
  /** Total scrollable height (px). */
  height: number;
};

export const GRID_GAP = 10;
export const GRID_PAD = 16;
export const OVERSCAN_ROWS = 2;

/** Columns and cell size for a viewport `width` and a thumbnail size target `thumb`. */
export function gridLayout(width: number, thumb: number, count: number, lead = 0, gap = GRID_GAP, pad = GRID_PAD): GridLayout {
  const inner = Math.max(1, width - pad * 2);
  const cols = Math.max(1, Math.floor((inner + gap) / (thumb + gap)));
  const cell = Math.max(1, (inner - gap * (cols - 1)) / cols);
  const rowH = cell + gap;
  const rows = Math.ceil((count + lead) / cols);
  const height = pad * 2 + Math.max(0, rows * rowH - gap);
  return { cols, cell, gap, rowH, pad, rows, height };
}

/** Rows to render for a scroll position: [first, last] inclusive, clamped, with overscan. */
export function visibleRows(l: GridLayout, scrollTop: number, viewport: number, overscan = OVERSCAN_ROWS): [number, number] {
  if (l.rows === 0) return [0, -1];
  const first = Math.floor((scrollTop - l.pad) / l.rowH) - overscan;
  const last = Math.floor((scrollTop + viewport - l.pad) / l.rowH) + overscan;
  return [Math.max(0, first), Math.min(l.rows - 1, last)];
}

export function rowTop(l: GridLayout, row: number): number {
  return l.pad + row * l.rowH;
}

/** Row of result `index`. */
export function rowOf(l: GridLayout, index: number, lead = 0): number {
  return Math.floor((index + lead) / l.cols);
}

/**
 * Prepending `k` images: the new `lead`, and how many whole rows were added above the old content (the
 * caller scrolls down by `rows * rowH` so nothing the user looks at moves).
 */
export function prepend(lead: number, k: number, cols: number): { lead: number; rows: number } {
  if (k <= lead) return { lead: lead - k, rows: 0 };
  const rows = Math.ceil((k - lead) / cols);
  return { lead: lead - k + rows * cols, rows };
}

/** Scroll position that brings result `index` into view (unchanged when it already is). */
export function scrollToReveal(l: GridLayout, index: number, lead: number, scrollTop: number, viewport: number): number {
  const top = rowTop(l, rowOf(l, index, lead));
  const bottom = top + l.cell;
  if (top - l.pad < scrollTop) return Math.max(0, top - l.pad);
  if (bottom + l.pad > scrollTop + viewport) return Math.max(0, bottom + l.pad - viewport);
  return scrollTop;
}

/**
 * Keys for one grid row's cells, so the DOM keeps what it can when the row's content changes.
 * `before` maps what the row showed (an image id, or a placeholder's negative stand-in) to its
 * cell's key; `shown` is what it shows now, in column order. An image still in the row keeps its
 * cell (its thumbnail stays loaded); a new one takes the cell of one that left (updated in place,
 * not built again); only when none is left is a new key made. Returns the keys in column order and
 * the map to pass as `before` next time.
 */
export function rowCellKeys(before: ReadonlyMap<number, number> | undefined, shown: readonly number[]): { keys: number[]; after: Map<number, number> } {
  const keys: number[] = new Array(shown.length);
  const used = new Set<number>();
  let next = 0;
  if (before) {
    for (const k of before.values()) next = Math.max(next, k + 1);
    shown.forEach((what, i) => {
      const k = before.get(what);
      if (k != null && !used.has(k)) {
        keys[i] = k;
        used.add(k);
      }
    });
  }
  const free = before ? [...before.values()].filter((k) => !used.has(k)) : [];
  const after = new Map<number, number>();
  shown.forEach((what, i) => {
    if (keys[i] == null) {
      keys[i] = free.length ? (free.shift() as number) : next++;
      used.add(keys[i]);
    }
    after.set(what, keys[i]);
  });
  return { keys, after };
}
