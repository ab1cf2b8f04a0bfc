// Splits text into plain and matching parts for search-term highlighting (case-insensitive substrings,
// overlapping matches merged), so components can render <mark> without {@html}.

export type Part = { text: string; hit: boolean };

export function highlight(text: string, terms: readonly string[]): Part[] {
  const wanted = terms.map((t) => t.toLowerCase()).filter(Boolean);
  if (!wanted.length || !text) return [{ text, hit: false }];
  const lower = text.toLowerCase();
  const marks = new Uint8Array(text.length);
  for (const t of wanted) {
    for (let i = lower.indexOf(t); i >= 0; i = lower.indexOf(t, i + 1)) marks.fill(1, i, i + t.length);
  }
  const parts: Part[] = [];
  let start = 0;
  for (let i = 1; i <= text.length; i++) {
    if (i === text.length || marks[i] !== marks[start]) {
      parts.push({ text: text.slice(start, i), hit: marks[start] === 1 });
      start = i;
    }
  }
  return parts;
}
