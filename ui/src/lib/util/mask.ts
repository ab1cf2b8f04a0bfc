// The inpaint mask as pixels: a one-byte-per-pixel buffer at the source image's size (255 = repaint,
// 0 = keep), brush/eraser strokes rasterised into it, invert, clear, a memory-bounded undo stack, the
// red-ish overlay and the "burned in" preview (what PiAPI receives: white pixels inside the image), and
// the PNG export (8-bit greyscale, white = repaint) that becomes MaskInput.pngBase64.
// No DOM: the painter component draws what these functions return. Unit-tested in tests/mask.test.ts.

export type Point = { x: number; y: number };
export type Rect = { x: number; y: number; width: number; height: number };

export const PAINT = 255;
export const KEEP = 0;

export class MaskBuffer {
  readonly width: number;
  readonly height: number;
  data: Uint8Array;

  constructor(width: number, height: number, data?: Uint8Array) {
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
      throw new Error(`BUG: mask size ${width}×${height}`);
    }
    this.width = width;
    this.height = height;
    this.data = data ?? new Uint8Array(width * height);
  }

  get(x: number, y: number): number {
    return this.data[y * this.width + x];
  }

  snapshot(): Uint8Array {
    return this.data.slice();
  }

  restore(snapshot: Uint8Array): void {
    if (snapshot.length !== this.data.length) throw new Error("BUG: snapshot of another mask size");
    this.data = snapshot.slice();
  }
}

const clampInt = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.floor(v)));

/** Union of two rects (either may be null). */
export function unionRect(a: Rect | null, b: Rect | null): Rect | null {
  if (!a) return b;
  if (!b) return a;
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, width: Math.max(a.x + a.width, b.x + b.width) - x, height: Math.max(a.y + a.height, b.y + b.height) - y };
}

/**
 * Paints a round-capped segment from a to b (mask pixel coordinates, may lie outside the mask) with
 * `radius`: every pixel whose centre lies within `radius` of the segment gets `value`. Returns the
 * rectangle that changed (clipped to the mask), or null when nothing inside the mask was touched.
 */
export function paintSegment(mask: MaskBuffer, a: Point, b: Point, radius: number, value: number): Rect | null {
  const r = Math.max(0.5, radius);
  const x0 = clampInt(Math.min(a.x, b.x) - r, 0, mask.width);
  const x1 = clampInt(Math.max(a.x, b.x) + r + 1, 0, mask.width);
  const y0 = clampInt(Math.min(a.y, b.y) - r, 0, mask.height);
  const y1 = clampInt(Math.max(a.y, b.y) + r + 1, 0, mask.height);
  if (x1 <= x0 || y1 <= y0) return null;
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len2 = dx * dx + dy * dy;
  const r2 = r * r;
  const d = mask.data;
  for (let y = y0; y < y1; y++) {
    const py = y + 0.5;
    for (let x = x0; x < x1; x++) {
      const px = x + 0.5;
      let t = len2 > 0 ? ((px - a.x) * dx + (py - a.y) * dy) / len2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const ex = px - (a.x + t * dx);
      const ey = py - (a.y + t * dy);
      if (ex * ex + ey * ey <= r2) d[y * mask.width + x] = value;
    }
  }
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** A whole stroke (a polyline; one point = a dot). Returns the changed rectangle. */
export function paintStroke(mask: MaskBuffer, points: Point[], radius: number, value: number): Rect | null {
  if (!points.length) return null;
  if (points.length === 1) return paintSegment(mask, points[0], points[0], radius, value);
  let dirty: Rect | null = null;
  for (let i = 1; i < points.length; i++) dirty = unionRect(dirty, paintSegment(mask, points[i - 1], points[i], radius, value));
  return dirty;
}

export function invertMask(mask: MaskBuffer): void {
  const d = mask.data;
  for (let i = 0; i < d.length; i++) d[i] = d[i] >= 128 ? KEEP : PAINT;
}

export function clearMask(mask: MaskBuffer): void {
  mask.data.fill(KEEP);
}

/** Number of pixels marked for repainting. */
export function paintedPixels(mask: MaskBuffer): number {
  let n = 0;
  const d = mask.data;
  for (let i = 0; i < d.length; i++) if (d[i] >= 128) n++;
  return n;
}

/**
 * Undo snapshots, bounded by memory (a 12-megapixel source makes 12 MB snapshots) and by count.
 * `push` the state before a change; `pop` returns the state to go back to.
 */
export class UndoStack {
  private items: Uint8Array[] = [];
  constructor(
    private readonly maxBytes = 64 * 1024 * 1024,
    private readonly maxItems = 50,
  ) {}

  push(snapshot: Uint8Array): void {
    this.items.push(snapshot);
    let bytes = this.items.reduce((s, i) => s + i.length, 0);
    while (this.items.length > 1 && (this.items.length > this.maxItems || bytes > this.maxBytes)) {
      bytes -= this.items.shift()?.length ?? 0;
    }
  }

  pop(): Uint8Array | undefined {
    return this.items.pop();
  }

  get size(): number {
    return this.items.length;
  }

  clear(): void {
    this.items = [];
  }
}

export type Rgba = [number, number, number, number];

/** The overlay for the painter: `color` where the mask is set, transparent elsewhere, for a sub-rectangle. */
export function overlayRgba(mask: MaskBuffer, color: Rgba, rect: Rect = { x: 0, y: 0, width: mask.width, height: mask.height }): Uint8ClampedArray {
  const out = new Uint8ClampedArray(rect.width * rect.height * 4);
  const [r, g, b, a] = color;
  for (let y = 0; y < rect.height; y++) {
    let m = (rect.y + y) * mask.width + rect.x;
    let o = y * rect.width * 4;
    for (let x = 0; x < rect.width; x++, m++, o += 4) {
      if (mask.data[m] >= 128) {
        out[o] = r;
        out[o + 1] = g;
        out[o + 2] = b;
        out[o + 3] = a;
      }
    }
  }
  return out;
}

/**
 * The source as PiAPI receives it for fill-inpaint: a copy of its RGBA pixels (same size as the mask)
 * with every masked pixel pure opaque white; everything else untouched.
 */
export function burnIn(source: Uint8ClampedArray | Uint8Array, mask: MaskBuffer): Uint8ClampedArray {
  return burnInRect(source, mask, { x: 0, y: 0, width: mask.width, height: mask.height });
}

/** `burnIn` for a sub-rectangle (the painter redraws only what a stroke changed): RGBA of `rect` only. */
export function burnInRect(source: Uint8ClampedArray | Uint8Array, mask: MaskBuffer, rect: Rect): Uint8ClampedArray {
  if (source.length !== mask.width * mask.height * 4) throw new Error("BUG: source pixels and mask differ in size");
  const out = new Uint8ClampedArray(rect.width * rect.height * 4);
  const d = mask.data;
  for (let y = 0; y < rect.height; y++) {
    const m0 = (rect.y + y) * mask.width + rect.x;
    out.set(source.subarray(m0 * 4, (m0 + rect.width) * 4), y * rect.width * 4);
    for (let x = 0, o = y * rect.width * 4; x < rect.width; x++, o += 4) {
      if (d[m0 + x] >= 128) {
        out[o] = 255;
        out[o + 1] = 255;
        out[o + 2] = 255;
        out[o + 3] = 255;
      }
    }
  }
  return out;
}

/** Maps a pointer position in CSS pixels over the displayed mask (rect) to mask pixel coordinates. */
export function toMaskPoint(clientX: number, clientY: number, rect: { left: number; top: number; width: number; height: number }, mask: { width: number; height: number }): Point {
  const sx = rect.width > 0 ? mask.width / rect.width : 1;
  const sy = rect.height > 0 ? mask.height / rect.height : 1;
  return { x: (clientX - rect.left) * sx, y: (clientY - rect.top) * sy };
}

// ---------- PNG export ----------

let crcTable: Uint32Array | null = null;
function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length; ) {
    const end = Math.min(bytes.length, i + 5552);
    for (; i < end; i++) {
      a += bytes[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** zlib stream of `raw` with uncompressed ("stored") deflate blocks: valid everywhere, no dependencies. */
function zlibStored(raw: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(raw.length / 65535));
  const out = new Uint8Array(2 + raw.length + blocks * 5 + 4);
  out[0] = 0x78;
  out[1] = 0x01;
  let o = 2;
  for (let i = 0; i < blocks; i++) {
    const start = i * 65535;
    const len = Math.min(65535, raw.length - start);
    out[o++] = i === blocks - 1 ? 1 : 0;
    out[o++] = len & 0xff;
    out[o++] = len >>> 8;
    out[o++] = ~len & 0xff;
    out[o++] = (~len >>> 8) & 0xff;
    out.set(raw.subarray(start, start + len), o);
    o += len;
  }
  const ad = adler32(raw);
  out[o++] = ad >>> 24;
  out[o++] = (ad >>> 16) & 0xff;
  out[o++] = (ad >>> 8) & 0xff;
  out[o++] = ad & 0xff;
  return out;
}

/** zlib-compresses with the platform's CompressionStream when there is one (masks shrink ~50×), else stored. */
async function zlib(raw: Uint8Array): Promise<Uint8Array> {
  const CS = (globalThis as { CompressionStream?: new (format: string) => TransformStream<Uint8Array, Uint8Array> }).CompressionStream;
  if (CS && typeof Blob !== "undefined" && typeof Response !== "undefined") {
    try {
      const stream = new Blob([raw as BlobPart]).stream().pipeThrough(new CS("deflate"));
      return new Uint8Array(await new Response(stream).arrayBuffer());
    } catch {
      /* fall through to stored blocks */
    }
  }
  return zlibStored(raw);
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

/** The mask as PNG bytes: 8-bit greyscale at the mask's size, 255 (white) = repaint, 0 (black) = keep. */
export async function maskPng(mask: MaskBuffer): Promise<Uint8Array> {
  const { width, height } = mask;
  const raw = new Uint8Array((width + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width + 1)] = 0; // filter: none
    const row = mask.data.subarray(y * width, (y + 1) * width);
    const o = y * (width + 1) + 1;
    for (let x = 0; x < width; x++) raw[o + x] = row[x] >= 128 ? 255 : 0;
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit, greyscale, deflate, adaptive filtering, no interlace
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", await zlib(raw)),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Base64 without a data: prefix (what MaskInput.pngBase64 and stage_source take). */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Width and height from a PNG's IHDR, or null when the bytes are not a PNG. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | null {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || sig.some((b, i) => bytes[i] !== b)) return null;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: v.getUint32(16), height: v.getUint32(20) };
}
