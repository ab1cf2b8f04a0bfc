// Output size presets and validation (PiAPI: each side 64–2048 px, width × height ≤ 1,048,576 px).

export const MIN_SIDE = 64;
export const MAX_SIDE = 2048;
export const MAX_PIXELS = 1_048_576;

export type SizePreset = { id: string; label: string; width: number; height: number };

export const SIZE_PRESETS: readonly SizePreset[] = [
  { id: "1:1", label: "1:1", width: 1024, height: 1024 },
  { id: "4:3", label: "4:3", width: 1152, height: 864 },
  { id: "3:2", label: "3:2", width: 1216, height: 832 },
  { id: "16:9", label: "16:9", width: 1344, height: 768 },
  { id: "3:4", label: "3:4", width: 864, height: 1152 },
  { id: "2:3", label: "2:3", width: 832, height: 1216 },
  { id: "9:16", label: "9:16", width: 768, height: 1344 },
];

export function presetFor(width: number, height: number): SizePreset | undefined {
  return SIZE_PRESETS.find((p) => p.width === width && p.height === height);
}

const fmt = (n: number) => n.toLocaleString("en-US");

/** Returns null when the size is valid, else a sentence naming the problem. */
export function validateSize(width: number, height: number): string | null {
  for (const [name, v] of [["Width", width], ["Height", height]] as const) {
    if (!Number.isFinite(v) || !Number.isInteger(v)) return `${name} must be a whole number of pixels.`;
    if (v < MIN_SIDE || v > MAX_SIDE) return `${name} must be between ${MIN_SIDE} and ${fmt(MAX_SIDE)} px (now ${fmt(v)}).`;
  }
  const px = width * height;
  if (px > MAX_PIXELS) {
    return `${fmt(width)} × ${fmt(height)} is ${fmt(px)} px; the limit is ${fmt(MAX_PIXELS)} px (1024 × 1024).`;
  }
  return null;
}

/** Largest size with the same aspect ratio that fits the pixel limit, rounded down to multiples of 16. */
export function fitToLimit(width: number, height: number): { width: number; height: number } {
  const scale = Math.min(1, Math.sqrt(MAX_PIXELS / (width * height)));
  const w = Math.max(MIN_SIDE, Math.floor((width * scale) / 16) * 16);
  const h = Math.max(MIN_SIDE, Math.floor((height * scale) / 16) * 16);
  return { width: Math.min(w, MAX_SIDE), height: Math.min(h, MAX_SIDE) };
}
