/** Test helpers: a seeded PRNG, random tensors, tolerance checks. Deterministic by construction. */
import { Tensor } from '../lib';

/** mulberry32: a small, fast, seeded PRNG, so every run draws the same numbers. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform in [-1, 1). */
export function randomData(n: number, rand: () => number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; ++i) out[i] = (rand() * 2 - 1) * scale;
  return out;
}

export function randomTensor(shape: number[], rand: () => number, scale = 1): Tensor<Float32Array> {
  return new Tensor(
    randomData(
      shape.reduce((a, b) => a * b, 1),
      rand,
      scale,
    ),
    shape,
  );
}

/** Largest violation of |got - want| <= atol + rtol |want|, as a ratio (<= 1 passes). */
export function worstViolation(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol: number,
  rtol: number,
): { ratio: number; index: number } {
  if (got.length !== want.length) throw new Error(`length ${got.length} != ${want.length}`);
  let ratio = 0,
    index = -1;
  for (let i = 0; i < got.length; ++i) {
    const g = got[i],
      w = want[i];
    if (Number.isNaN(w) ? !Number.isNaN(g) : !(Math.abs(g - w) <= atol + rtol * Math.abs(w))) {
      const r = Number.isNaN(g) || Number.isNaN(w) ? Infinity : Math.abs(g - w) / (atol + rtol * Math.abs(w));
      if (r > ratio) {
        ratio = r;
        index = i;
      }
    }
  }
  return { ratio, index };
}

export function expectClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol: number,
  rtol: number,
  what = '',
): void {
  const { ratio, index } = worstViolation(got, want, atol, rtol);
  if (index >= 0) {
    throw new Error(
      `${what}: element ${index} is ${got[index]}, expected ${want[index]} ` +
        `(atol ${atol}, rtol ${rtol}; ${ratio.toFixed(2)}x over)`,
    );
  }
}

/** The element of a (possibly strided) tensor at a multi-index. */
export function at(t: Tensor, ...idx: number[]): number {
  let o = t.offset;
  for (let i = 0; i < idx.length; ++i) o += idx[i] * t.strides[i];
  return t.data[o];
}
