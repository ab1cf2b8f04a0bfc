// One input-image slot of the Create form (the source, or ControlNet's control image): what was chosen
// (a gallery image or a file), what source_info says about it, and a plain-words error when it cannot be
// used. Every way in — gallery, file dialog, drag-in, paste — ends in `set()`.

import { backend, BackendError, type SourceImage, type SourceInfo } from "../backend";
import { toBase64 } from "../util/mask";

/** Pasted or dropped bytes larger than this are refused before they cross IPC. */
export const MAX_STAGE_BYTES = 40 * 1024 * 1024;
const IMAGE_TYPES = /^image\/(png|jpeg|webp)$/;

export class SourceSlot {
  source: SourceImage | null = $state(null);
  info: SourceInfo | null = $state(null);
  error: string | null = $state(null);
  busy = $state(false);
  /** Bumped by every change: an answer for an older choice is dropped. */
  private seq = 0;

  /** Uses `src` once source_info accepts it; resolves true when it did. */
  async set(src: SourceImage | null): Promise<boolean> {
    const seq = ++this.seq;
    this.error = null;
    if (!src) {
      this.source = null;
      this.info = null;
      this.busy = false;
      return true;
    }
    this.busy = true;
    try {
      const info = await backend.sourceInfo(src);
      if (seq !== this.seq) return false;
      this.source = src;
      this.info = info;
      return true;
    } catch (err) {
      if (seq !== this.seq) return false;
      this.error = BackendError.from(err).message;
      return false;
    } finally {
      if (seq === this.seq) this.busy = false;
    }
  }

  fromImage(id: number): Promise<boolean> {
    return this.set({ imageId: id, path: null });
  }

  fromPath(path: string): Promise<boolean> {
    return this.set({ imageId: null, path });
  }

  /** Bytes of an image (paste, a browser drop): staged into the data folder, then used. */
  async fromBytes(bytes: Uint8Array): Promise<boolean> {
    const seq = ++this.seq;
    this.error = null;
    if (bytes.length > MAX_STAGE_BYTES) {
      this.error = `That image is ${(bytes.length / 1048576).toFixed(1)} MB; Fluxdesk takes images up to ${MAX_STAGE_BYTES / 1048576} MB. Save a smaller copy and try again.`;
      return false;
    }
    this.busy = true;
    try {
      const staged = await backend.stageSource(toBase64(bytes));
      if (seq !== this.seq) return false;
      return await this.set(staged);
    } catch (err) {
      if (seq === this.seq) {
        this.error = BackendError.from(err).message;
        this.busy = false;
      }
      return false;
    }
  }

  /** A File from the clipboard or a drop. */
  async fromFile(file: File): Promise<boolean> {
    if (!IMAGE_TYPES.test(file.type)) {
      this.error = `${file.name || "That file"} is not a PNG, JPEG or WebP image. Choose an image file.`;
      return false;
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(file));
    } catch {
      this.error = `Could not read ${file.name || "the image"}. Try again, or save it as a file and choose it.`;
      return false;
    }
    return this.fromBytes(bytes);
  }

  /** Native file dialog. */
  async pick(): Promise<boolean> {
    try {
      const path = await backend.pickSource();
      return path ? await this.fromPath(path) : false;
    } catch (err) {
      this.error = BackendError.from(err).message;
      return false;
    }
  }

  get url(): string | null {
    return this.info ? backend.assetUrl(this.info.path) : null;
  }

  reset(): void {
    this.seq++;
    this.source = null;
    this.info = null;
    this.error = null;
    this.busy = false;
  }
}

function readFile(file: File): Promise<ArrayBuffer> {
  if (typeof file.arrayBuffer === "function") return file.arrayBuffer();
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result as ArrayBuffer);
    r.onerror = () => reject(r.error);
    r.readAsArrayBuffer(file);
  });
}

/** The first image File in a clipboard or drop (DataTransfer), if any. */
export function imageFileOf(data: DataTransfer | null): File | null {
  if (!data) return null;
  for (const f of Array.from(data.files ?? [])) if (IMAGE_TYPES.test(f.type)) return f;
  for (const item of Array.from(data.items ?? [])) {
    if (item.kind === "file" && IMAGE_TYPES.test(item.type)) {
      const f = item.getAsFile();
      if (f) return f;
    }
  }
  return null;
}
