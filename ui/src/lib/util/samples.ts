// Example prompts: the empty states' suggestions, and the mock backend's seeded gallery.

export const SAMPLE_PROMPTS: readonly string[] = [
  "Brutalist concrete pavilion at dusk, long shadows, warm light",
  "Soft pastel 3D shapes on a seamless studio backdrop",
  "Aerial view of salt flats in pink and teal, minimal landscape",
  "Neon-lit alley in the rain at night, cinematic glow",
  "Ceramic vase still life in a muted Morandi palette",
  "Bauhaus poster of concentric arches, citrus colours",
  "Misty forest valley at dawn, layered mountains",
  "Abstract gradient aura, dreamy blur, grain",
  "Desert canyon at sunset, terracotta cliffs",
  "Geometric fox logo mark exploration",
  "Ocean waves from above, teal water and white foam",
  "Product shot of a matte speaker on a pastel plinth",
];
