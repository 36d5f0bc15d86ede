// The search benchmarks' text (bench/search.ts and the run's search phase): a vocabulary with
// accents, drawn with a skewed distribution so some words are in thousands of items and others in a
// handful, and queries that hit both ends, as real ones do.

export const WORDS = (
  'report meeting call email review plan budget invoice dentist groceries garden passport renew book venue ' +
  'flight hotel train ticket birthday gift present party cake coffee café crème brûlée résumé naïve façade ' +
  'piñata jalapeño über straße müller zoë señor kitchen laundry vacuum window paint fence roof gutter ' +
  'insurance taxes bank loan mortgage salary pension doctor pharmacy prescription vitamins gym yoga running ' +
  'swimming bicycle repair tyre brakes chain oil filter battery charger laptop phone screen backup password ' +
  'server deploy release sprint backlog ticket bug feature design mockup wireframe prototype research survey ' +
  'interview candidate offer contract lawyer notary apartment lease deposit furniture sofa lamp curtain ' +
  'plant water fertilizer seeds tomato basil lettuce cucumber strawberry apple orange banana mango bread ' +
  'cheese butter milk eggs flour sugar salt pepper olive vinegar rice pasta noodles soup salad dinner lunch'
).split(' ');

export function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

/** Words, phrases and queries drawn from one seeded random stream. */
export function makeVocabulary(seed: number) {
  const rand = rng(seed);
  // rand()^1.3: the most frequent word is in about a fifth of the items, the rarest in a handful.
  const word = () => WORDS[Math.floor(WORDS.length * rand() ** 1.3)]!;
  const phrase = (n: number) => Array.from({ length: n }, word).join(' ');
  const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
  /** Mixed queries: whole words common and rare, prefixes, two words, unaccented forms, no match. */
  const queries = (n: number): { q: string; kind: string }[] => {
    const kinds: [string, () => string][] = [
      ['common word', () => WORDS[Math.floor(rand() * 15)]!],
      ['rare word', () => WORDS[WORDS.length - 1 - Math.floor(rand() * 40)]!],
      ['prefix (3 letters)', () => word().slice(0, 3)],
      ['prefix (2 letters)', () => word().slice(0, 2)],
      ['two words', () => `${word()} ${word().slice(0, 4)}`],
      ['without accents', () => ['cafe', 'creme brulee', 'resume', 'naive', 'facade', 'pinata', 'jalapeno', 'uber', 'strasse', 'muller', 'zoe', 'senor'][Math.floor(rand() * 12)]!],
      ['no match', () => `zzq${Math.floor(rand() * 1000)}`],
    ];
    return Array.from({ length: n }, (_, i) => {
      const [kind, make] = kinds[i % kinds.length]!;
      return { q: make(), kind };
    });
  };
  return { rand, word, phrase, cap, queries };
}
