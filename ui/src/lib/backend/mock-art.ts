// Placeholder "generated images" for the mock backend: deterministic SVG compositions (landscapes,
// soft blobs, studio shapes, poster arches) whose palette follows words in the prompt. Returned as
// data: URLs so they work in jsdom, a plain browser and screenshots with no files on disk.

type Palette = { sky: [string, string, string]; accents: string[]; ground: string; haze: string };

const PALETTES: Record<string, Palette> = {
  dusk: { sky: ["#1d1b3a", "#b4547a", "#f4a261"], accents: ["#ffd29d", "#e76f51", "#8e4f8f"], ground: "#2a1e3d", haze: "#d98b8b" },
  pastel: { sky: ["#f3e8ee", "#dfe7fd", "#fde2e4"], accents: ["#bde0fe", "#ffc8dd", "#cdb4db", "#a2d2ff"], ground: "#e9e1f2", haze: "#f6eef8" },
  neon: { sky: ["#07060f", "#1a1044", "#3a0f5a"], accents: ["#ff2e88", "#00e5ff", "#7c4dff", "#ffb000"], ground: "#0b0a1a", haze: "#43207a" },
  forest: { sky: ["#e3efe0", "#a9c8a0", "#56795a"], accents: ["#f1e3b1", "#2f5d3a", "#87a96b"], ground: "#1f3a2a", haze: "#c9dccb" },
  ocean: { sky: ["#0c2a3b", "#1f6f8b", "#99d5c9"], accents: ["#f7c6c7", "#5fd3c6", "#f9e7c9"], ground: "#0a2230", haze: "#a7dcd6" },
  terracotta: { sky: ["#f6e6d6", "#e9b48a", "#c26a4a"], accents: ["#7a3b2e", "#f2c98b", "#d9825b"], ground: "#5a2c22", haze: "#f1cfb1" },
  mono: { sky: ["#0e0e10", "#3a3a40", "#9a9aa2"], accents: ["#e9e9ec", "#6e6e76", "#c7c7cc"], ground: "#141416", haze: "#55555c" },
  morandi: { sky: ["#d9d3c7", "#bfb6a6", "#9e978c"], accents: ["#c9a89a", "#8fa3a0", "#e5dccd", "#a69281"], ground: "#7d766b", haze: "#e2dbcf" },
  citrus: { sky: ["#fff4d6", "#ffd166", "#f78c6b"], accents: ["#06d6a0", "#118ab2", "#ef476f"], ground: "#073b4c", haze: "#ffe8b0" },
};

const KEYWORDS: [RegExp, string][] = [
  [/sunset|dusk|golden|dawn|warm|fire|autumn/i, "dusk"],
  [/pastel|soft|dream|cloud|3d|clay|toy/i, "pastel"],
  [/neon|cyber|night|rain|synth|club|glow/i, "neon"],
  [/forest|fern|moss|leaf|jungle|garden|botanical/i, "forest"],
  [/ocean|sea|salt|teal|water|wave|lake|ice/i, "ocean"],
  [/desert|terracotta|ceramic|clay|canyon|sand|pottery/i, "terracotta"],
  [/portrait|mono|black|noir|concrete|brutal|ink/i, "mono"],
  [/morandi|still life|muted|linen|vase|interior/i, "morandi"],
  [/poster|bauhaus|citrus|fruit|summer|pop|logo/i, "citrus"],
];

export function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pickPalette(prompt: string, r: () => number): Palette {
  for (const [re, name] of KEYWORDS) if (re.test(prompt)) return PALETTES[name];
  const names = Object.keys(PALETTES);
  return PALETTES[names[Math.floor(r() * names.length)]];
}

const f = (n: number) => n.toFixed(1);

function mix(a: string, b: string, t: number): string {
  const pa = [1, 3, 5].map((i) => parseInt(a.slice(i, i + 2), 16));
  const pb = [1, 3, 5].map((i) => parseInt(b.slice(i, i + 2), 16));
  const k = Math.min(1, Math.max(0, t));
  return `#${pa.map((v, i) => Math.round(v + (pb[i] - v) * k).toString(16).padStart(2, "0")).join("")}`;
}

function ridge(w: number, h: number, base: number, amp: number, r: () => number): string {
  const n = 7 + Math.floor(r() * 5);
  let d = `M0 ${f(h)} L0 ${f(base)}`;
  for (let i = 1; i <= n; i++) {
    const x = (w * i) / n;
    const y = base - amp * (0.3 + r() * 0.7) * (i % 2 ? 1 : 0.45);
    const cx = x - w / n / 2;
    d += ` Q${f(cx)} ${f(y - amp * 0.2)} ${f(x)} ${f(y)}`;
  }
  return `${d} L${f(w)} ${f(h)} Z`;
}

function landscape(w: number, h: number, p: Palette, r: () => number): string {
  const horizon = h * (0.5 + r() * 0.15);
  const sunX = w * (0.25 + r() * 0.5);
  const sunY = horizon - h * (0.08 + r() * 0.2);
  const sunR = Math.min(w, h) * (0.07 + r() * 0.06);
  const layers = [0, 1, 2, 3]
    .map((i) => {
      const base = horizon + i * h * 0.09;
      const amp = h * (0.18 - i * 0.03);
      return `<path d="${ridge(w, h, base, amp, r)}" fill="url(#m${i})"/>`;
    })
    .join("");
  // Atmospheric perspective: far ridges take on the haze colour, near ones the ground colour (all opaque).
  const mtn = [0, 1, 2, 3]
    .map((i) => {
      const top = mix(p.haze, p.ground, 0.35 + i * 0.2);
      const bottom = mix(p.haze, p.ground, 0.6 + i * 0.13);
      return `<linearGradient id="m${i}" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${top}"/><stop offset="1" stop-color="${bottom}"/></linearGradient>`;
    })
    .join("");
  return `<defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${p.sky[0]}"/><stop offset=".55" stop-color="${p.sky[1]}"/><stop offset="1" stop-color="${p.sky[2]}"/></linearGradient>
<radialGradient id="sun"><stop offset="0" stop-color="${p.accents[0]}"/><stop offset=".35" stop-color="${p.accents[0]}" stop-opacity=".9"/><stop offset="1" stop-color="${p.accents[0]}" stop-opacity="0"/></radialGradient>${mtn}</defs>
<rect width="${w}" height="${h}" fill="url(#sky)"/><circle cx="${f(sunX)}" cy="${f(sunY)}" r="${f(sunR * 3.2)}" fill="url(#sun)" opacity=".55"/><circle cx="${f(sunX)}" cy="${f(sunY)}" r="${f(sunR)}" fill="${p.accents[0]}"/>${layers}`;
}

function blobs(w: number, h: number, p: Palette, r: () => number): string {
  const n = 5 + Math.floor(r() * 3);
  const colors = [...p.accents, p.sky[1], p.sky[2]];
  let circles = "";
  for (let i = 0; i < n; i++) {
    const c = colors[Math.floor(r() * colors.length)];
    circles += `<circle cx="${f(r() * w)}" cy="${f(r() * h)}" r="${f(Math.min(w, h) * (0.18 + r() * 0.3))}" fill="${c}" opacity="${(0.6 + r() * 0.4).toFixed(2)}"/>`;
  }
  const blur = Math.min(w, h) * 0.09;
  return `<defs><linearGradient id="bg" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${p.sky[0]}"/><stop offset="1" stop-color="${p.ground}"/></linearGradient>
<filter id="b" x="-50%" y="-50%" width="200%" height="200%"><feGaussianBlur stdDeviation="${f(blur)}"/></filter>
<radialGradient id="v" cx=".5" cy=".5" r=".75"><stop offset=".6" stop-color="#000" stop-opacity="0"/><stop offset="1" stop-color="#000" stop-opacity=".35"/></radialGradient></defs>
<rect width="${w}" height="${h}" fill="url(#bg)"/><g filter="url(#b)">${circles}</g><rect width="${w}" height="${h}" fill="url(#v)"/>`;
}

function studio(w: number, h: number, p: Palette, r: () => number): string {
  const floor = h * (0.64 + r() * 0.08);
  const m = Math.min(w, h);
  const items: string[] = [];
  const shadows: string[] = [];
  const count = 2 + Math.floor(r() * 2);
  for (let i = 0; i < count; i++) {
    const cx = w * (0.22 + (0.56 * (i + r() * 0.6)) / count);
    const size = m * (0.1 + r() * 0.12);
    const c = p.accents[i % p.accents.length];
    shadows.push(`<ellipse cx="${f(cx + size * 0.25)}" cy="${f(floor + size * 0.05)}" rx="${f(size * 1.2)}" ry="${f(size * 0.22)}" fill="#000" opacity=".18"/>`);
    const kind = Math.floor(r() * 3);
    if (kind === 0) {
      items.push(`<circle cx="${f(cx)}" cy="${f(floor - size)}" r="${f(size)}" fill="url(#g${i})"/>`);
    } else if (kind === 1) {
      items.push(`<rect x="${f(cx - size)}" y="${f(floor - size * 2.2)}" width="${f(size * 2)}" height="${f(size * 2.2)}" rx="${f(size * 0.25)}" fill="url(#g${i})"/>`);
    } else {
      items.push(`<path d="M${f(cx - size)} ${f(floor)} L${f(cx - size)} ${f(floor - size * 1.4)} A${f(size)} ${f(size)} 0 0 1 ${f(cx + size)} ${f(floor - size * 1.4)} L${f(cx + size)} ${f(floor)} Z" fill="url(#g${i})"/>`);
    }
    items.push(
      `<defs><radialGradient id="g${i}" cx=".35" cy=".3" r=".9"><stop offset="0" stop-color="#fff" stop-opacity=".9"/><stop offset=".25" stop-color="${c}"/><stop offset="1" stop-color="${c}" stop-opacity=".75"/></radialGradient></defs>`,
    );
  }
  return `<defs><linearGradient id="wall" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${p.sky[0]}"/><stop offset="1" stop-color="${p.sky[2]}"/></linearGradient>
<linearGradient id="floor" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${p.haze}"/><stop offset="1" stop-color="${p.sky[1]}"/></linearGradient>
<filter id="sb"><feGaussianBlur stdDeviation="${f(m * 0.02)}"/></filter></defs>
<rect width="${w}" height="${h}" fill="url(#wall)"/><rect y="${f(floor)}" width="${w}" height="${f(h - floor)}" fill="url(#floor)"/><g filter="url(#sb)">${shadows.join("")}</g>${items.join("")}`;
}

function poster(w: number, h: number, p: Palette, r: () => number): string {
  const cx = w * (0.3 + r() * 0.4);
  const base = h * (0.7 + r() * 0.15);
  const m = Math.min(w, h);
  const colors = [...p.accents, p.sky[2], p.ground];
  let arcs = "";
  const rings = 5 + Math.floor(r() * 3);
  for (let i = rings; i > 0; i--) {
    const rad = (m * 0.55 * i) / rings;
    arcs += `<path d="M${f(cx - rad)} ${f(base)} A${f(rad)} ${f(rad)} 0 0 1 ${f(cx + rad)} ${f(base)} Z" fill="${colors[i % colors.length]}"/>`;
  }
  const dot = `<circle cx="${f(w * (0.15 + r() * 0.7))}" cy="${f(h * (0.12 + r() * 0.2))}" r="${f(m * 0.06)}" fill="${p.accents[0]}"/>`;
  return `<rect width="${w}" height="${h}" fill="${p.sky[0]}"/>${dot}${arcs}<rect y="${f(base)}" width="${w}" height="${f(h - base)}" fill="${p.ground}"/>`;
}

const COMPOSERS = [landscape, blobs, studio, poster];

/** Deterministic SVG image for a prompt + seed at the given aspect (rendered at a small size). */
export function artSvg(prompt: string, seed: number, width: number, height: number): string {
  const r = rng(hash(prompt) ^ seed);
  const palette = pickPalette(prompt, r);
  const scale = 512 / Math.max(width, height);
  const w = Math.round(width * scale);
  const h = Math.round(height * scale);
  let kind = hash(prompt) % COMPOSERS.length;
  if (/landscape|mountain|sunset|valley|aerial|horizon|flats/i.test(prompt)) kind = 0;
  else if (/abstract|gradient|aura|blur|dream/i.test(prompt)) kind = 1;
  else if (/3d|product|shapes|studio|still life|vase|object/i.test(prompt)) kind = 2;
  else if (/poster|bauhaus|logo|mark|geometric/i.test(prompt)) kind = 3;
  const body = COMPOSERS[kind](w, h, palette, r);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${body}</svg>`;
}

export function artDataUrl(prompt: string, seed: number, width: number, height: number): string {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(artSvg(prompt, seed, width, height))}`;
}
