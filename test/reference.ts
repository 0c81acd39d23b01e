/**
 * Float64 references in plain JavaScript, written from the definitions in docs/SPEC.md, that the
 * native kernels are checked against. Slow and obvious on purpose.
 */
import { Tensor } from '../lib';
import { at } from './helpers';

/** op(A) op(B) for 2-D (possibly strided) tensors, in float64. */
export function referenceMatmul2d(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Float64Array {
  const M = transposeA ? a.shape[1] : a.shape[0];
  const K = transposeA ? a.shape[0] : a.shape[1];
  const N = transposeB ? b.shape[0] : b.shape[1];
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; ++m) {
    for (let n = 0; n < N; ++n) {
      let s = 0;
      for (let k = 0; k < K; ++k) {
        s += (transposeA ? at(a, k, m) : at(a, m, k)) * (transposeB ? at(b, n, k) : at(b, k, n));
      }
      out[m * N + n] = s;
    }
  }
  return out;
}

export interface ReferenceAttentionOptions {
  scale?: number;
  causal?: 'top-left' | 'bottom-right';
  /** allowed(b, h, i, j): false forbids the pair (boolean masks, key lengths). */
  allowed?: (b: number, h: number, i: number, j: number) => boolean;
  /** added to the score (float masks). */
  bias?: (b: number, h: number, i: number, j: number) => number;
  /** Soft-capping: the scaled score s becomes softcap * tanh(s / softcap) before the bias. */
  softcap?: number;
}

/**
 * Attention over plain arrays: q [B][H][Lq][dk], k [B][Hkv][Lk][dk], v [B][Hkv][Lk][dv] given as
 * accessor functions; returns weights [B][H][Lq][Lk] and output [B][H][Lq][dv] in float64.
 * A row with no allowed key gives zero weights and a zero output (this package's contract).
 */
export function referenceAttention(
  dims: { B: number; H: number; Hkv: number; Lq: number; Lk: number; dk: number; dv: number },
  q: (b: number, h: number, i: number, d: number) => number,
  k: (b: number, h: number, j: number, d: number) => number,
  v: (b: number, h: number, j: number, d: number) => number,
  options: ReferenceAttentionOptions = {},
): { weights: Float64Array; output: Float64Array } {
  const { B, H, Hkv, Lq, Lk, dk, dv } = dims;
  const scale = options.scale ?? 1 / Math.sqrt(dk);
  const weights = new Float64Array(B * H * Lq * Lk);
  const output = new Float64Array(B * H * Lq * dv);
  const group = H / Hkv;
  const scores = new Float64Array(Lk);
  for (let b = 0; b < B; ++b) {
    for (let h = 0; h < H; ++h) {
      const hk = Math.floor(h / group);
      for (let i = 0; i < Lq; ++i) {
        let max = -Infinity;
        for (let j = 0; j < Lk; ++j) {
          let ok = true;
          if (options.causal === 'top-left') ok = j <= i;
          if (options.causal === 'bottom-right') ok = j <= i + (Lk - Lq);
          if (ok && options.allowed) ok = options.allowed(b, h, i, j);
          let s = -Infinity;
          if (ok) {
            s = 0;
            for (let d = 0; d < dk; ++d) s += q(b, h, i, d) * k(b, hk, j, d);
            s *= scale;
            if (options.softcap) s = options.softcap * Math.tanh(s / options.softcap);
            if (options.bias) s += options.bias(b, h, i, j);
          }
          scores[j] = s;
          if (s > max) max = s;
        }
        const row = (b * H + h) * Lq + i;
        if (max === -Infinity) continue; // fully masked: zeros
        let sum = 0;
        for (let j = 0; j < Lk; ++j) {
          const e = scores[j] === -Infinity ? 0 : Math.exp(scores[j] - max);
          scores[j] = e;
          sum += e;
        }
        for (let j = 0; j < Lk; ++j) {
          const w = scores[j] / sum;
          weights[row * Lk + j] = w;
          if (w === 0) continue;
          for (let d = 0; d < dv; ++d) output[row * dv + d] += w * v(b, hk, j, d);
        }
      }
    }
  }
  return { weights, output };
}
