/**
 * The built-in positional heatmap (`heatmap --demo positional`): weights that depend on positions
 * only, as a trained positional-attention head (PARec / FPARec, docs/SPEC.md section 7) might learn
 * them — a band along the most recent positions plus two "anchor" positions that every later query
 * keeps looking at. Computed by the package: the causal softmax of factorized logits U W^T of rank 4,
 * through attentionWeightsSync with U and W as queries and keys.
 *
 * The logit of query i on key j is alpha (j - i) + anchor_j (alpha i + lift_j): a decay with the
 * distance from the diagonal, cancelled on an anchor column, which keeps a fixed logit instead.
 * A small seeded rank-2 term makes the picture less regular, like learned factors.
 */
import { attentionWeightsSync } from '../lib/attention';
import { Tensor } from '../lib/tensor';

const POSITIONS = 12;
/** Decay of the recency band per position of distance. */
const ALPHA = 0.9;
/** Anchor positions and their logit relative to the diagonal's (0). */
const ANCHORS = new Map([
  [0, -0.3],
  [4, -0.8],
]);
const NOISE = 0.25;

/** A fixed pseudo-random sequence in [-1, 1), so the demo is the same on every run. */
function noise(seed: number): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) / (1 << 23) - 1;
  };
}

export interface DemoPositional {
  rows: string[];
  cols: string[];
  weights: number[][];
  title: string;
}

export function demoPositional(): DemoPositional {
  const L = POSITIONS,
    r = 4;
  const next = noise(22);
  const u = new Float32Array(L * r),
    w = new Float32Array(L * r);
  for (let p = 0; p < L; ++p) {
    const anchor = ANCHORS.has(p) ? 1 : 0;
    // lift_j so that the anchor's logit alpha j + lift_j is the value in ANCHORS
    const lift = anchor ? (ANCHORS.get(p) as number) - ALPHA * p : 0;
    u.set([1, ALPHA * p, NOISE * next(), NOISE * next()], p * r);
    w.set([ALPHA * p + anchor * lift, anchor - 1, next(), next()], p * r);
  }
  const weights = attentionWeightsSync(new Tensor(u, [L, r]), new Tensor(w, [L, r]), { scale: 1, isCausal: true });
  const labels = Array.from({ length: L }, (_, p) => String(p));
  return {
    rows: labels,
    cols: labels,
    weights: labels.map((_, i) =>
      Array.from(weights.data.subarray(weights.offset + i * L, weights.offset + (i + 1) * L)),
    ),
    title: 'Positional attention weights: recent positions and two anchors (demo)',
  };
}
