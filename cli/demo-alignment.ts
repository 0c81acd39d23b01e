/**
 * The built-in heatmap example: the seed article's English→French pair "the zone of international
 * control <end>" → "la zone de contrôle international <end>", with hand-made embeddings, so that
 * the package's own attentionWeightsSync draws an alignment matrix like the article's — mostly
 * diagonal, with the crossing where French puts the adjective after the noun.
 *
 * Embedding dimensions are named meanings: one per word sense (article, zone, of, international,
 * control, end) plus two soft features (function word, content word). A French query is its own
 * sense plus a little of its neighbours' (French "de" also looks at the article), so the softmax
 * gives soft, not one-hot, rows.
 */
import { attentionWeightsSync } from '../lib/attention';
import { Tensor } from '../lib/tensor';

const DIMS = ['article', 'zone', 'of', 'international', 'control', 'end', 'function', 'content'] as const;
type Dim = (typeof DIMS)[number];

function vec(parts: Partial<Record<Dim, number>>): number[] {
  return DIMS.map((d) => parts[d] ?? 0);
}

/** English source words (keys) and their embeddings. */
const ENGLISH: [string, number[]][] = [
  ['the', vec({ article: 1, function: 0.6 })],
  ['zone', vec({ zone: 1, content: 0.6 })],
  ['of', vec({ of: 1, function: 0.6 })],
  ['international', vec({ international: 1, content: 0.6 })],
  ['control', vec({ control: 1, content: 0.6 })],
  ['<end>', vec({ end: 1 })],
];

/** French target words (queries): their sense, plus a little of what they agree with. */
const FRENCH: [string, number[]][] = [
  ['la', vec({ article: 1, zone: 0.35, function: 0.3 })],
  ['zone', vec({ zone: 1, article: 0.15, content: 0.3 })],
  ['de', vec({ of: 1, article: 0.3, function: 0.3 })],
  ['contrôle', vec({ control: 1, international: 0.25, content: 0.3 })],
  ['international', vec({ international: 1, control: 0.35, content: 0.3 })],
  ['<end>', vec({ end: 1, control: 0.1 })],
];

/** Sharpness of the demo's softmax (it replaces 1/sqrt(d)): higher = closer to hard alignment. */
const DEMO_SCALE = 4;

export interface DemoAlignment {
  rows: string[];
  cols: string[];
  weights: number[][];
  title: string;
}

export function demoAlignment(): DemoAlignment {
  const d = DIMS.length;
  const q = new Tensor(Float32Array.from(FRENCH.flatMap(([, v]) => v)), [FRENCH.length, d]);
  const k = new Tensor(Float32Array.from(ENGLISH.flatMap(([, v]) => v)), [ENGLISH.length, d]);
  const w = attentionWeightsSync(q, k, { scale: DEMO_SCALE });
  const C = ENGLISH.length;
  return {
    rows: FRENCH.map(([s]) => s),
    cols: ENGLISH.map(([s]) => s),
    weights: FRENCH.map((_, i) => Array.from(w.data.subarray(w.offset + i * C, w.offset + (i + 1) * C))),
    title: 'Attention weights: English → French (demo)',
  };
}
