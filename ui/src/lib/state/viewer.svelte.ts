// The large image view: which images it steps through and which one is shown.

class ViewerStore {
  /** Image ids the viewer can step through (a snapshot of the grid it was opened from). */
  ids: number[] = $state([]);
  index = $state(0);
  open = $state(false);
  /** Element to return focus to on close. */
  private opener: HTMLElement | null = null;

  show(ids: number[], id: number): void {
    this.ids = ids;
    this.index = Math.max(0, ids.indexOf(id));
    this.opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    this.open = true;
  }

  get current(): number | undefined {
    return this.ids[this.index];
  }

  step(delta: number): void {
    if (!this.ids.length) return;
    this.index = Math.min(this.ids.length - 1, Math.max(0, this.index + delta));
  }

  /** Drops deleted ids and keeps the position sensible. */
  drop(ids: number[]): void {
    const cur = this.index;
    this.ids = this.ids.filter((id) => !ids.includes(id));
    if (!this.ids.length) this.close();
    else this.index = Math.min(cur, this.ids.length - 1);
  }

  close(): void {
    this.open = false;
    const el = this.opener;
    this.opener = null;
    if (el && el.isConnected) queueMicrotask(() => el.focus());
  }

  reset(): void {
    this.ids = [];
    this.index = 0;
    this.open = false;
    this.opener = null;
  }
}

export const viewer = new ViewerStore();
