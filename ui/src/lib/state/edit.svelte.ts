// "Edit" from the gallery and the large view: a small menu of tasks (Image to image, Inpaint, Outpaint,
// Kontext edit, Variation, Upscale) that opens the image as the source in Create, via edit_settings.
// Also the shared "load a request into Create" step (asks before replacing an unsent prompt).

import { tick } from "svelte";
import { backend, BackendError, type GenerateRequest, type TaskType } from "../backend";
import { app } from "./app.svelte";
import { form } from "./create.svelte";
import { confirm } from "./dialogs.svelte";
import { toasts } from "./toasts.svelte";
import { viewer } from "./viewer.svelte";

export type Anchor = { left: number; top: number; bottom: number; right: number };

class EditMenuStore {
  /** The image the menu edits; null = closed. */
  imageId: number | null = $state(null);
  anchor: Anchor | null = $state(null);
  busy = $state(false);
  /** Element to return focus to on close. */
  private opener: HTMLElement | null = null;

  get open(): boolean {
    return this.imageId != null;
  }

  show(id: number, from?: Element | null): void {
    const r = from?.getBoundingClientRect();
    this.anchor = r && (r.width || r.height) ? { left: r.left, top: r.top, bottom: r.bottom, right: r.right } : null;
    this.opener = typeof document !== "undefined" && document.activeElement instanceof HTMLElement ? document.activeElement : null;
    this.imageId = id;
    void form.loadCatalog();
  }

  close(refocus = true): void {
    this.imageId = null;
    const el = this.opener;
    this.opener = null;
    if (refocus && el?.isConnected) queueMicrotask(() => el.focus());
  }

  /** Runs the chosen task: loads the edit request into Create. */
  async choose(task: TaskType): Promise<void> {
    const id = this.imageId;
    if (id == null || this.busy) return;
    this.close(false);
    this.busy = true;
    try {
      await editImage(id, task);
    } finally {
      this.busy = false;
    }
  }

  reset(): void {
    this.imageId = null;
    this.anchor = null;
    this.busy = false;
    this.opener = null;
  }
}

export const editMenu = new EditMenuStore();

/**
 * Fills Create with `req` and goes there, asking first when Create holds a prompt that was not sent (and
 * would be replaced by a different one). Resolves false when the user kept their prompt.
 */
export async function loadIntoCreate(req: GenerateRequest): Promise<boolean> {
  if (form.hasUnsent && (form.mode === "batch" || form.prompt.trim() !== req.prompt.trim())) {
    const pending = (form.mode === "batch" ? form.batchText : form.prompt).trim();
    const ok = await confirm.ask({
      title: "Replace your current prompt?",
      message: `Create has a prompt you have not generated yet: “${pending.length > 90 ? `${pending.slice(0, 90)}…` : pending}”. Using this image's settings replaces it.`,
      confirm: "Replace",
      cancel: "Cancel",
    });
    if (!ok) return false;
  }
  form.reuse(req);
  form.count = Math.max(1, Math.min(8, req.count));
  if (viewer.open) viewer.close();
  app.navigate("create");
  await tick();
  document.getElementById("prompt")?.focus();
  return true;
}

/** "Edit" an image with a task: the image becomes the source in Create. */
export async function editImage(id: number, task: TaskType): Promise<boolean> {
  try {
    await form.loadCatalog();
    const req = await backend.editSettings(id, task);
    return await loadIntoCreate(req);
  } catch (err) {
    toasts.push({ tone: "error", message: BackendError.from(err).message });
    return false;
  }
}
