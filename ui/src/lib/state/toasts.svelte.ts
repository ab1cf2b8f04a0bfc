// Toast notifications. Announced through an aria-live="polite" region (see Toasts.svelte).
// Toasts with the same `key` coalesce (e.g. eight failed jobs with the same code → one toast "×8").

export type ToastTone = "info" | "success" | "error";
export type ToastAction = { label: string; run: () => void };
export type Toast = { id: number; tone: ToastTone; message: string; title?: string; action?: ToastAction; key?: string; count: number };
export type ToastInput = { tone?: ToastTone; message: string; title?: string; action?: ToastAction; key?: string; timeoutMs?: number };

class ToastStore {
  items: Toast[] = $state([]);
  private nextId = 1;
  private timers = new Map<number, ReturnType<typeof setTimeout>>();

  push(input: ToastInput): number {
    const tone = input.tone ?? "info";
    const timeout = input.timeoutMs ?? (tone === "error" ? 10_000 : 4_000);
    const existing = input.key ? this.items.find((t) => t.key === input.key) : undefined;
    if (existing) {
      existing.count += 1;
      existing.message = input.message;
      this.arm(existing.id, timeout);
      return existing.id;
    }
    const id = this.nextId++;
    this.items = [...this.items.slice(-3), { id, tone, message: input.message, title: input.title, action: input.action, key: input.key, count: 1 }];
    this.arm(id, timeout);
    return id;
  }

  /** Pauses auto-dismiss (while hovered or focused). */
  hold(id: number): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  release(id: number): void {
    this.arm(id, 4_000);
  }

  dismiss(id: number): void {
    this.hold(id);
    this.items = this.items.filter((t) => t.id !== id);
  }

  clear(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.items = [];
  }

  private arm(id: number, ms: number): void {
    this.hold(id);
    if (ms > 0) this.timers.set(id, setTimeout(() => this.dismiss(id), ms));
  }
}

export const toasts = new ToastStore();
