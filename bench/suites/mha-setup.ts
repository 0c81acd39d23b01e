/**
 * What the multi-head block suites share: the part of the package's module API they use (looked up
 * at run time, so that a build without MultiHeadAttention or KVCache still runs the peers), the
 * block's weights in nn.MultiheadAttention's layout, and our key/value cache set to a starting length.
 */
import * as pkg from '../../lib/index';
import { Tensor } from '../../lib/tensor';
import { randomFloat32 } from '../data';
import type { MhaBlockWeights } from '../peers/onnx-model';

type ForwardOptions = { cache?: unknown };
type ForwardResult = { output: Tensor<Float32Array> };

export interface MhaModule {
  loadStateDict(dict: Record<string, Tensor>): MhaModule;
  forwardSync(q: Tensor, k: Tensor, v: Tensor, options?: ForwardOptions): ForwardResult;
  forward(q: Tensor, k: Tensor, v: Tensor, options?: ForwardOptions): Promise<ForwardResult>;
}
export type MhaCtor = new (o: { embedDim: number; numHeads: number }) => MhaModule;

export interface KvCacheLike {
  readonly length: number;
  reset(): void;
  append(keys: Tensor<Float32Array>, values: Tensor<Float32Array>): void;
}
export type KvCacheCtor = new (o: {
  batch: number;
  numKeyValueHeads: number;
  headDim: number;
  capacity: number;
}) => KvCacheLike;

export function packageModules(): { Mha?: MhaCtor; KVCache?: KvCacheCtor } {
  const p = pkg as unknown as Record<string, unknown>;
  return { Mha: p.MultiHeadAttention as MhaCtor | undefined, KVCache: p.KVCache as KvCacheCtor | undefined };
}

/** Seeded weights of an E-wide block, Xavier-like so activations stay of unit size through it. */
export function blockWeights(E: number, seed = 901): MhaBlockWeights {
  const w = 1 / Math.sqrt(E);
  return {
    inProjWeight: randomFloat32(3 * E * E, seed, -w, w),
    inProjBias: randomFloat32(3 * E, seed + 1, -0.1, 0.1),
    outProjWeight: randomFloat32(E * E, seed + 2, -w, w),
    outProjBias: randomFloat32(E, seed + 3, -0.1, 0.1),
  };
}

export function stateDict(w: MhaBlockWeights, E: number): Record<string, Tensor> {
  return {
    in_proj_weight: new Tensor(w.inProjWeight, [3 * E, E]),
    in_proj_bias: new Tensor(w.inProjBias, [3 * E]),
    'out_proj.weight': new Tensor(w.outProjWeight, [E, E]),
    'out_proj.bias': new Tensor(w.outProjBias, [E]),
  };
}

/** A module of E = H·d with the given (default: seeded) weights. */
export function createModule(Mha: MhaCtor, E: number, H: number, weights = blockWeights(E)): MhaModule {
  return new Mha({ embedDim: E, numHeads: H }).loadStateDict(stateDict(weights, E));
}

/**
 * Cached keys and values of `length` positions ([1, length, H, d] each, BLHD as a KVCache holds
 * them), standing for a prompt already prefilled: decode time does not depend on their values.
 */
export interface CachedPrefix {
  length: number;
  keys: Float32Array;
  values: Float32Array;
}

export function cachedPrefix(length: number, H: number, d: number, seed: number): CachedPrefix {
  return {
    length,
    keys: randomFloat32(length * H * d, seed),
    values: randomFloat32(length * H * d, seed + 1),
  };
}

/**
 * A KVCache with room for `prefix` and `steps` more positions, and the function that puts it back
 * to holding exactly `prefix` (a copy of its positions; untimed, before every timed run).
 */
export function restorableCache(
  KVCache: KvCacheCtor,
  prefix: CachedPrefix,
  H: number,
  d: number,
  steps: number,
): { cache: KvCacheLike; restore: () => void } {
  const cache = new KVCache({ batch: 1, numKeyValueHeads: H, headDim: d, capacity: prefix.length + steps });
  const shape = [1, prefix.length, H, d];
  const keys = prefix.length > 0 ? new Tensor(prefix.keys, shape) : undefined;
  const values = prefix.length > 0 ? new Tensor(prefix.values, shape) : undefined;
  const restore = () => {
    cache.reset();
    if (keys !== undefined && values !== undefined) cache.append(keys, values);
  };
  return { cache, restore };
}

/** `n` single-token inputs [1, 1, E], seeded. */
export function decodeTokens(n: number, E: number, seed: number): Tensor<Float32Array>[] {
  return Array.from({ length: n }, (_, i) => new Tensor(randomFloat32(E, seed + i), [1, 1, E]));
}
