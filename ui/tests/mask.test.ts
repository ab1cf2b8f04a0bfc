/// <reference types="node" />
// The inpaint mask's pixel logic (util/mask.ts): stroke rasterisation, eraser, invert, clear, undo,
// the overlay, the mask burned into the source as white pixels (what PiAPI receives), and the PNG export.
import { inflateSync } from "node:zlib";
import { afterEach, describe, expect, test } from "vitest";
import {
  MaskBuffer,
  UndoStack,
  burnIn,
  burnInRect,
  clearMask,
  fromBase64,
  invertMask,
  maskPng,
  overlayRgba,
  paintSegment,
  paintStroke,
  paintedPixels,
  pngSize,
  toBase64,
  toMaskPoint,
} from "../src/lib/util/mask";

/** Decodes our 8-bit greyscale PNG (filter 0 rows) with Node's own zlib. */
function decodeGreyPng(bytes: Uint8Array): { width: number; height: number; pixels: Uint8Array; colorType: number; depth: number } {
  const buf = Buffer.from(bytes);
  expect(buf.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let off = 8;
  let width = 0;
  let height = 0;
  let depth = 0;
  let colorType = -1;
  const idat: Buffer[] = [];
  let ended = false;
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString("latin1", off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      depth = data[8];
      colorType = data[9];
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") ended = true;
    off += 12 + len;
  }
  expect(ended).toBe(true);
  const raw = inflateSync(Buffer.concat(idat));
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (width + 1)]).toBe(0);
    pixels.set(raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1)), y * width);
  }
  return { width, height, pixels, colorType, depth };
}

const painted = (m: MaskBuffer) => [...m.data].map((v, i) => (v ? i : -1)).filter((i) => i >= 0);

describe("strokes", () => {
  test("a dot paints the pixels whose centres lie within the radius", () => {
    const m = new MaskBuffer(10, 10);
    const dirty = paintSegment(m, { x: 5, y: 5 }, { x: 5, y: 5 }, 1.5, 255);
    // Centres (4.5|5.5, 4.5|5.5) are 0.71 away; (3.5, 5.5) is 1.58 away: outside.
    expect(m.get(4, 4)).toBe(255);
    expect(m.get(5, 5)).toBe(255);
    expect(m.get(3, 5)).toBe(0);
    expect(paintedPixels(m)).toBe(4);
    expect(dirty).toEqual({ x: 3, y: 3, width: 4, height: 4 });
    // A slightly larger radius takes in the 8 edge neighbours at 1.58, not the corners at 2.12.
    paintSegment(m, { x: 5, y: 5 }, { x: 5, y: 5 }, 1.6, 255);
    expect(paintedPixels(m)).toBe(12);
    expect(m.get(3, 3)).toBe(0);
  });

  test("a segment paints a capsule and the eraser takes it back", () => {
    const m = new MaskBuffer(20, 10);
    paintStroke(m, [{ x: 2, y: 5 }, { x: 10, y: 5 }, { x: 18, y: 5 }], 2, 255);
    for (let x = 1; x < 19; x++) expect(m.get(x, 5), `x=${x}`).toBe(255);
    expect(m.get(10, 1)).toBe(0);
    expect(m.get(10, 8)).toBe(0);
    const before = paintedPixels(m);
    paintStroke(m, [{ x: 10, y: 5 }], 2, 0);
    expect(m.get(10, 5)).toBe(0);
    expect(paintedPixels(m)).toBeLessThan(before);
  });

  test("strokes outside the mask are clipped, never wrap", () => {
    const m = new MaskBuffer(8, 8);
    expect(paintSegment(m, { x: -20, y: -20 }, { x: -10, y: -10 }, 2, 255)).toBeNull();
    const dirty = paintSegment(m, { x: -1, y: 4 }, { x: 1, y: 4 }, 1, 255);
    expect(dirty?.x).toBe(0);
    expect(m.get(7, 3)).toBe(0); // nothing on the other side (no row wrap-around)
    expect(m.get(0, 4)).toBe(255);
  });

  test("invert and clear", () => {
    const m = new MaskBuffer(4, 4);
    paintSegment(m, { x: 1.5, y: 1.5 }, { x: 1.5, y: 1.5 }, 0.5, 255);
    expect(paintedPixels(m)).toBe(1);
    invertMask(m);
    expect(paintedPixels(m)).toBe(15);
    expect(m.get(0, 0)).toBe(255);
    clearMask(m);
    expect(paintedPixels(m)).toBe(0);
  });

  test("pointer positions map from the displayed size to mask pixels", () => {
    const rect = { left: 100, top: 50, width: 200, height: 100 };
    expect(toMaskPoint(200, 100, rect, { width: 1000, height: 500 })).toEqual({ x: 500, y: 250 });
    expect(toMaskPoint(100, 50, rect, { width: 1000, height: 500 })).toEqual({ x: 0, y: 0 });
  });
});

describe("undo", () => {
  test("snapshots restore earlier states, newest first", () => {
    const m = new MaskBuffer(6, 6);
    const undo = new UndoStack();
    undo.push(m.snapshot());
    paintSegment(m, { x: 1.5, y: 1.5 }, { x: 1.5, y: 1.5 }, 0.5, 255);
    undo.push(m.snapshot());
    invertMask(m);
    expect(paintedPixels(m)).toBe(35);
    m.restore(undo.pop() as Uint8Array);
    expect(painted(m)).toEqual([7]);
    m.restore(undo.pop() as Uint8Array);
    expect(paintedPixels(m)).toBe(0);
    expect(undo.pop()).toBeUndefined();
  });

  test("the stack is bounded by memory and count, dropping the oldest", () => {
    const byBytes = new UndoStack(250, 100);
    for (let i = 0; i < 5; i++) byBytes.push(new Uint8Array(100).fill(i));
    expect(byBytes.size).toBe(2);
    expect(byBytes.pop()?.[0]).toBe(4);
    const byCount = new UndoStack(1e9, 3);
    for (let i = 0; i < 5; i++) byCount.push(new Uint8Array(1).fill(i));
    expect(byCount.size).toBe(3);
    // A single snapshot larger than the budget is still kept (one undo step always works).
    const huge = new UndoStack(10, 3);
    huge.push(new Uint8Array(100));
    expect(huge.size).toBe(1);
  });
});

describe("overlay and burned-in mask", () => {
  test("the overlay is the colour where painted, transparent elsewhere, for a sub-rectangle", () => {
    const m = new MaskBuffer(4, 2);
    m.data[1] = 255;
    m.data[6] = 255;
    const all = overlayRgba(m, [255, 64, 64, 150]);
    expect([...all.subarray(4, 8)]).toEqual([255, 64, 64, 150]);
    expect([...all.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
    const part = overlayRgba(m, [1, 2, 3, 4], { x: 1, y: 1, width: 2, height: 1 });
    expect([...part]).toEqual([0, 0, 0, 0, 1, 2, 3, 4]);
  });

  test("burning the mask in turns exactly the painted source pixels pure white and keeps the rest", () => {
    const w = 16;
    const h = 12;
    const src = new Uint8ClampedArray(w * h * 4);
    for (let i = 0; i < w * h; i++) src.set([(i * 7) % 250, (i * 13) % 250, (i * 29) % 250, 200], i * 4);
    const m = new MaskBuffer(w, h);
    paintStroke(m, [{ x: 3, y: 3 }, { x: 12, y: 8 }], 2, 255);
    const out = burnIn(src, m);
    expect(out).not.toBe(src);
    let white = 0;
    for (let i = 0; i < w * h; i++) {
      const px = [...out.subarray(i * 4, i * 4 + 4)];
      if (m.data[i] === 255) {
        expect(px).toEqual([255, 255, 255, 255]);
        white++;
      } else expect(px).toEqual([...src.subarray(i * 4, i * 4 + 4)]);
    }
    expect(white).toBe(paintedPixels(m));
    expect(white).toBeGreaterThan(20);
    // The source itself is untouched.
    expect(src[3]).toBe(200);
    // The partial redraw is the same pixels as the full one.
    const rect = { x: 2, y: 1, width: 9, height: 7 };
    const part = burnInRect(src, m, rect);
    for (let y = 0; y < rect.height; y++) {
      const row = out.subarray(((rect.y + y) * w + rect.x) * 4, ((rect.y + y) * w + rect.x + rect.width) * 4);
      expect([...part.subarray(y * rect.width * 4, (y + 1) * rect.width * 4)]).toEqual([...row]);
    }
    expect(() => burnIn(new Uint8ClampedArray(4), m)).toThrow(/BUG/);
  });
});

describe("PNG export", () => {
  const realCS = (globalThis as { CompressionStream?: unknown }).CompressionStream;
  afterEach(() => {
    (globalThis as { CompressionStream?: unknown }).CompressionStream = realCS;
  });

  async function roundTrip() {
    const m = new MaskBuffer(37, 23); // odd sizes: no row padding assumptions
    paintStroke(m, [{ x: 5, y: 5 }, { x: 30, y: 18 }], 3, 255);
    const png = await maskPng(m);
    expect(pngSize(png)).toEqual({ width: 37, height: 23 });
    const d = decodeGreyPng(png);
    expect([d.width, d.height, d.depth, d.colorType]).toEqual([37, 23, 8, 0]);
    expect([...d.pixels]).toEqual([...m.data]);
    expect(new Set(d.pixels)).toEqual(new Set([0, 255]));
    // Base64 without a data: prefix round-trips.
    const b64 = toBase64(png);
    expect(b64.startsWith("iVBORw0KGgo")).toBe(true);
    expect(fromBase64(b64)).toEqual(png);
    return png;
  }

  test("8-bit greyscale at the mask's size: white = repaint, black = keep (compressed)", async () => {
    expect(realCS).toBeDefined();
    await roundTrip();
  });

  test("stored deflate blocks when the platform has no CompressionStream", async () => {
    (globalThis as { CompressionStream?: unknown }).CompressionStream = undefined;
    const png = await roundTrip();
    expect(png.length).toBeGreaterThan(37 * 23);
    // More than one 64 KiB stored block.
    const big = new MaskBuffer(400, 300);
    invertMask(big);
    const d = decodeGreyPng(await maskPng(big));
    expect(d.pixels.every((v) => v === 255)).toBe(true);
  });

  test("pngSize rejects what is not a PNG", () => {
    expect(pngSize(new Uint8Array([0xff, 0xd8, 0xff]))).toBeNull();
  });
});
