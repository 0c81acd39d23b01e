/**
 * Benchmark data helpers shared by both sides of a comparison: a seeded PRNG, random float32
 * inputs, BHLD <-> BLHD layout changes, and an output comparison.
 */

/** Deterministic PRNG (mulberry32): returns floats uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Float32Array of `n` values uniform in [lo, hi) from a seeded PRNG (same seed, same data). */
export function randomFloat32(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}

/** [B, H, L, d] (heads-major, "BHLD", ORT's BNSH) -> [B, L, H, d] (= [B, L, H*d], "BLHD"). */
export function bhldToBlhd(src: Float32Array, B: number, H: number, L: number, d: number): Float32Array {
  checkLen(src, B * H * L * d);
  const out = new Float32Array(src.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let l = 0; l < L; l++) {
        const from = ((b * H + h) * L + l) * d;
        const to = ((b * L + l) * H + h) * d;
        for (let i = 0; i < d; i++) out[to + i] = src[from + i];
      }
  return out;
}

/** [B, L, H, d] ("BLHD") -> [B, H, L, d] ("BHLD"). */
export function blhdToBhld(src: Float32Array, B: number, L: number, H: number, d: number): Float32Array {
  checkLen(src, B * H * L * d);
  const out = new Float32Array(src.length);
  for (let b = 0; b < B; b++)
    for (let l = 0; l < L; l++)
      for (let h = 0; h < H; h++) {
        const from = ((b * L + l) * H + h) * d;
        const to = ((b * H + h) * L + l) * d;
        for (let i = 0; i < d; i++) out[to + i] = src[from + i];
      }
  return out;
}

function checkLen(a: ArrayLike<number>, n: number): void {
  if (a.length !== n) throw new RangeError(`expected ${n} elements, got ${a.length}`);
}

export interface CloseReport {
  ok: boolean;
  /** max |a - b| */
  maxAbs: number;
  /** max |a - b| / max(|b|, tiny) */
  maxRel: number;
  /** index of the worst element relative to its bound atol + rtol |b|, -1 when empty */
  worstIndex: number;
}

/**
 * Compares `actual` with `expected` element-wise: ok when every |a - e| <= atol + rtol |e| (NaN only
 * matches NaN). Use it to check that two implementations compute the same thing before timing them.
 */
export function compareClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol = 1e-4,
  rtol = 1e-4,
): CloseReport {
  if (actual.length !== expected.length) {
    throw new RangeError(`compareClose: lengths differ (${actual.length} vs ${expected.length})`);
  }
  let ok = true,
    maxAbs = 0,
    maxRel = 0,
    worst = -1,
    worstRatio = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i],
      e = expected[i];
    if (Number.isNaN(a) || Number.isNaN(e)) {
      if (!(Number.isNaN(a) && Number.isNaN(e))) {
        ok = false;
        if (worstRatio < Infinity) {
          worstRatio = Infinity;
          worst = i;
        }
      }
      continue;
    }
    const diff = Math.abs(a - e);
    maxAbs = Math.max(maxAbs, diff);
    maxRel = Math.max(maxRel, diff / Math.max(Math.abs(e), 1e-30));
    const ratio = diff / (atol + rtol * Math.abs(e));
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
    if (!(diff <= atol + rtol * Math.abs(e))) ok = false;
  }
  return { ok, maxAbs, maxRel, worstIndex: worst };
}
