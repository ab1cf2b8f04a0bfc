//! Synthetic prompts and search queries from fixed word lists.
//!
//! Why: the gallery benchmark needs 100,000 distinct, realistic-looking prompts (so the trigram
//! index has real variety) and queries that hit a realistic share of them. Everything is a pure
//! function of a seed, so every run searches the same library with the same queries.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ADJECTIVES: &[&str] = &[
    "red",
    "golden",
    "misty",
    "ancient",
    "tiny",
    "giant",
    "neon",
    "quiet",
    "stormy",
    "frozen",
    "velvet",
    "rusty",
    "crystal",
    "floating",
    "sleepy",
    "electric",
    "paper",
    "marble",
    "wooden",
    "glowing",
    "forgotten",
    "hidden",
    "luminous",
    "shattered",
    "silver",
    "emerald",
    "crimson",
    "pastel",
    "gothic",
    "baroque",
    "minimalist",
    "cozy",
    "haunted",
    "sunlit",
    "moonlit",
    "weathered",
    "ornate",
    "mechanical",
    "translucent",
    "overgrown",
    "submerged",
    "windswept",
    "whimsical",
    "brutalist",
    "iridescent",
    "smoky",
    "delicate",
    "colossal",
    "playful",
    "solemn",
];

const SUBJECTS: &[&str] = &[
    "fox",
    "lighthouse",
    "cathedral",
    "robot",
    "owl",
    "dragon",
    "teapot",
    "library",
    "samurai",
    "astronaut",
    "whale",
    "bicycle",
    "greenhouse",
    "violinist",
    "tram",
    "mushroom",
    "castle",
    "cat",
    "octopus",
    "windmill",
    "train station",
    "bonsai tree",
    "hot air balloon",
    "jellyfish",
    "knight",
    "lantern",
    "market stall",
    "observatory",
    "pagoda",
    "raven",
    "sailboat",
    "skyscraper",
    "snail",
    "submarine",
    "tiger",
    "tortoise",
    "typewriter",
    "waterfall",
    "wolf",
    "zeppelin",
    "alchemist",
    "beekeeper",
    "clockmaker",
    "gardener",
    "cartographer",
    "musician",
    "dancer",
    "fisherman",
    "monk",
    "child",
    "deer",
    "heron",
    "koi pond",
    "camper van",
    "bookshop",
    "diner",
    "bridge",
    "harbour",
    "orchard",
    "glacier",
];

const PLACES: &[&str] = &[
    "at dawn",
    "at dusk",
    "in the rain",
    "under the stars",
    "in a snowstorm",
    "on a cliff",
    "in a forest",
    "by the sea",
    "in a desert",
    "on the moon",
    "in Tokyo",
    "in Venice",
    "in a cyberpunk city",
    "inside a cave",
    "on a rooftop",
    "in a meadow",
    "underwater",
    "in the clouds",
    "in a snow globe",
    "on Mars",
    "in a jungle",
    "beside a lake",
    "in an old attic",
    "at a night market",
    "in the fog",
    "in autumn",
    "in spring bloom",
    "during a festival",
    "at the end of the world",
    "in a dream",
];

const STYLES: &[&str] = &[
    "oil painting",
    "watercolor",
    "35mm photo",
    "studio photograph",
    "isometric render",
    "pixel art",
    "ukiyo-e woodblock",
    "charcoal sketch",
    "art nouveau poster",
    "cinematic still",
    "claymation",
    "low poly",
    "vaporwave",
    "film noir",
    "children's book illustration",
    "technical drawing",
    "stained glass",
    "tilt-shift photo",
    "macro photograph",
    "matte painting",
    "comic panel",
    "polaroid",
    "gouache",
    "linocut",
    "3d render",
    "impressionist",
    "infrared photo",
    "tapestry",
];

const LIGHT: &[&str] = &[
    "soft light",
    "golden hour",
    "volumetric light",
    "rim lighting",
    "overcast",
    "candlelight",
    "neon glow",
    "harsh noon sun",
    "blue hour",
    "backlit",
    "dramatic shadows",
    "bioluminescence",
];

/// `n` distinct prompts, a pure function of `seed`: "a {adj} {subject} {place}, {style}, {light}"
/// with an occasional second adjective or detail so prompts differ in length.
pub fn distinct_prompts(n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    let pick = |rng: &mut StdRng, list: &[&'static str]| list[rng.random_range(0..list.len())];
    while out.len() < n {
        let adj = pick(&mut rng, ADJECTIVES);
        let subject = pick(&mut rng, SUBJECTS);
        let place = pick(&mut rng, PLACES);
        let style = pick(&mut rng, STYLES);
        let light = pick(&mut rng, LIGHT);
        let mut p = match rng.random_range(0..4) {
            0 => format!("a {adj} {} {subject} {place}, {style}, {light}", pick(&mut rng, ADJECTIVES)),
            1 => format!("{adj} {subject} {place}, {style}"),
            _ => format!("a {adj} {subject} {place}, {style}, {light}"),
        };
        if rng.random_bool(0.3) {
            p.push_str(&format!(", highly detailed, {}mm lens", 18 + rng.random_range(0..12) * 5));
        }
        if seen.insert(p.clone()) {
            out.push(p);
        }
    }
    out
}

/// Search queries of three or more characters (FTS trigram path): whole words, word fragments,
/// two-term queries and a few that match nothing. A pure function of `seed`.
pub fn long_queries(n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5151);
    let lists: [&[&str]; 4] = [ADJECTIVES, SUBJECTS, STYLES, LIGHT];
    (0..n)
        .map(|i| {
            let list = lists[i % lists.len()];
            let word = list[rng.random_range(0..list.len())];
            match i % 10 {
                // A fragment from inside a word ("athed", "ighthou").
                0 | 1 if word.chars().count() >= 6 => {
                    let chars: Vec<char> = word.chars().collect();
                    let start = rng.random_range(0..chars.len() - 4);
                    let len = rng.random_range(3..=(chars.len() - start).min(6));
                    chars[start..start + len].iter().collect()
                }
                // Two terms, both must match.
                2 | 3 => {
                    let other = SUBJECTS[rng.random_range(0..SUBJECTS.len())];
                    format!("{word} {other}")
                }
                // Nothing matches.
                4 if i % 20 == 4 => format!("zq{}x", rng.random_range(100..999)),
                _ => word.to_string(),
            }
        })
        .collect()
}

/// Queries of one or two characters (the `LIKE` fallback path). A pure function of `seed`.
pub fn short_queries(n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xA1A1);
    const LETTERS: &[u8] = b"abcdefghiklmnoprstuvwy";
    (0..n)
        .map(|i| {
            let a = char::from(LETTERS[rng.random_range(0..LETTERS.len())]);
            if i % 2 == 0 {
                a.to_string()
            } else {
                let b = char::from(LETTERS[rng.random_range(0..LETTERS.len())]);
                format!("{a}{b}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_distinct_and_deterministic() {
        let a = distinct_prompts(2000, 7);
        assert_eq!(a, distinct_prompts(2000, 7));
        assert_eq!(a.iter().collect::<HashSet<_>>().len(), 2000);
        assert!(long_queries(50, 1).iter().all(|q| q.chars().count() >= 3));
        assert!(short_queries(50, 1).iter().all(|q| (1..=2).contains(&q.chars().count())));
    }
}
