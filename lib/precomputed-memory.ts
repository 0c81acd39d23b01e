/**
 * The projected keys and values of a fixed memory (an encoder's output), made once by
 * MultiHeadAttention.precompute and passed to forward() in place of key and value at every step.
 */
import type { Tensor } from './tensor';

export class PrecomputedMemory {
  /** @internal */
  constructor(
    /** Projected keys [B, Lk, numKeyValueHeads, headDim]. */
    readonly keys: Tensor<Float32Array>,
    /** Projected values [B, Lk, numKeyValueHeads, headDim]. */
    readonly values: Tensor<Float32Array>,
    /** @internal The module that made it, and the weights it was made with. */
    readonly owner: object,
    /** @internal */
    readonly weights: object,
  ) {}

  /** Batch size. */
  get batch(): number {
    return this.keys.shape[0];
  }

  /** Memory positions (Lk). */
  get length(): number {
    return this.keys.shape[1];
  }
}
