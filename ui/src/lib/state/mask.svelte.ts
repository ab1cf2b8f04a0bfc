// The inpaint mask being painted: the pixel buffer (util/mask.ts) sized to the source, its undo stack,
// and reactive counters the painter and the Generate button read. Lives outside the component so the
// mask survives switching places.

import { MaskBuffer, UndoStack, clearMask, invertMask, maskPng, paintStroke, paintedPixels, toBase64, type Point, type Rect } from "../util/mask";

class MaskState {
  buffer: MaskBuffer | null = $state.raw(null);
  /** Pixels marked for repainting. */
  painted = $state(0);
  /** Bumped on every change that needs a full redraw (undo, invert, clear, new buffer). */
  rev = $state(0);
  undoDepth = $state(0);
  private undo = new UndoStack();
  private stroking = false;

  /** A fresh mask for a source of this size (kept when the size is the same and `key` too). */
  ensure(width: number, height: number, key: string): void {
    if (this.buffer && this.buffer.width === width && this.buffer.height === height && this.key === key) return;
    this.key = key;
    this.buffer = new MaskBuffer(width, height);
    this.undo.clear();
    this.undoDepth = 0;
    this.painted = 0;
    this.rev++;
  }

  private key = "";

  private checkpoint(): void {
    if (!this.buffer) return;
    this.undo.push(this.buffer.snapshot());
    this.undoDepth = this.undo.size;
  }

  /** Starts a stroke (one undo step). */
  begin(): void {
    if (!this.buffer || this.stroking) return;
    this.stroking = true;
    this.checkpoint();
  }

  /** Paints (or erases) the segment(s); returns what changed for a partial redraw. */
  paint(points: Point[], radius: number, erase: boolean): Rect | null {
    if (!this.buffer) return null;
    return paintStroke(this.buffer, points, radius, erase ? 0 : 255);
  }

  end(): void {
    if (!this.stroking || !this.buffer) return;
    this.stroking = false;
    this.painted = paintedPixels(this.buffer);
  }

  invert(): void {
    if (!this.buffer) return;
    this.checkpoint();
    invertMask(this.buffer);
    this.changed();
  }

  clear(): void {
    if (!this.buffer || this.painted === 0) return;
    this.checkpoint();
    clearMask(this.buffer);
    this.changed();
  }

  undoLast(): boolean {
    const snap = this.undo.pop();
    this.undoDepth = this.undo.size;
    if (!snap || !this.buffer) return false;
    this.buffer.restore(snap);
    this.changed();
    return true;
  }

  private changed(): void {
    if (!this.buffer) return;
    this.painted = paintedPixels(this.buffer);
    this.rev++;
  }

  /** The PNG that goes into MaskInput.pngBase64, or null when nothing is painted. */
  async pngBase64(): Promise<string | null> {
    if (!this.buffer || this.painted === 0) return null;
    return toBase64(await maskPng(this.buffer));
  }

  get fraction(): number {
    return this.buffer ? this.painted / (this.buffer.width * this.buffer.height) : 0;
  }

  reset(): void {
    this.buffer = null;
    this.key = "";
    this.undo.clear();
    this.undoDepth = 0;
    this.painted = 0;
    this.rev++;
    this.stroking = false;
  }
}

export const mask = new MaskState();
