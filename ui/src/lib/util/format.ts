// Small formatting helpers (money, durations, dates) shared by screens.

/** "$0.006", "$0.06", "$1.50": up to four decimals for sub-cent prices, never fewer than two. */
export function money(usd: number | null | undefined): string {
  if (usd == null || !Number.isFinite(usd)) return "—";
  let s = usd.toFixed(4).replace(/0+$/, "");
  const [int, dec = ""] = s.split(".");
  s = `${Number(int).toLocaleString("en-US")}.${dec.padEnd(2, "0")}`;
  return `$${s}`;
}

/** Balance-style money: always two decimals. */
export function balance(usd: number | null | undefined): string {
  if (usd == null || !Number.isFinite(usd)) return "—";
  return `$${usd.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** Spend totals: cents under a dollar keep sub-cent precision ("$0.0045"), larger sums two decimals ("$3.21"). */
export function spend(usd: number | null | undefined): string {
  if (usd == null || !Number.isFinite(usd)) return "—";
  return Math.abs(usd) >= 1 ? balance(usd) : money(usd);
}

/** "4s", "1m 05s", "1h 02m". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

export function dimensions(w: number, h: number): string {
  return `${w} × ${h}`;
}

/** "Today 14:05", "Yesterday 09:12", "12 Nov 14:05", "12 Nov 2025". */
export function when(iso: string, now = new Date()): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const time = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  const day = new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  if (day === today) return `Today ${time}`;
  if (today - day === 86_400_000) return `Yesterday ${time}`;
  const sameYear = d.getFullYear() === now.getFullYear();
  return d.toLocaleDateString(undefined, { day: "numeric", month: "short", year: sameYear ? undefined : "numeric" }) + (sameYear ? ` ${time}` : "");
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Alt text of an image: its prompt, or (imported files without one) its file name. */
export function altText(image: { prompt: string; path: string }): string {
  const p = image.prompt.trim();
  if (p) return p;
  const name = image.path.split(/[\\/]/).pop() ?? "";
  return name ? `Imported image ${name}` : "Image without a prompt";
}

/** The start of `altText` a tile's two-line caption can show (at most `max` characters): a long prompt
 * is not laid out, or searched for highlights, beyond what the caption shows. */
export function captionText(image: { prompt: string; path: string }, max = 200): string {
  const text = altText(image);
  return text.length > max ? text.slice(0, max) : text;
}

/** "412 KB", "1.2 MB" (decimal-free under 10 MB is one decimal). */
export function fileSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "—";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  const mb = bytes / (1024 * 1024);
  return `${mb < 10 ? mb.toFixed(1) : Math.round(mb)} MB`;
}

/** The last segment of a path (either separator). */
export function baseName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

/**
 * A file path cut after each separator (`/` or `\`), so a long path shown in running text wraps
 * between folders (a `<wbr>` between the pieces) rather than in the middle of a name.
 */
export function pathPieces(path: string): string[] {
  return path.split(/(?<=[/\\])/).filter((p) => p.length > 0);
}
