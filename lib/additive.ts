/**
 * Bahdanau (additive) attention, SPEC section 4:  e_j = v^T tanh(W1 h_j + W2 s),  a = softmax(e)
 * over the valid j,  c = sum_j a_j h_j.  W1 h_j does not depend on the decoder step: precompute(keys)
 * computes it once per source sequence and forward() accepts the handle at every step.
 */
import type { AbortSignalLike } from './abort';
import { SignalOptions } from './abort';
import { describeValue, rangeError, typeError } from './errors';
import { matmul, matmulSync } from './matmul';
import { checkKeys, runSeq2Seq, runSeq2SeqSync, Seq2SeqResult } from './seq2seq';
import { formatShape } from './shape';
import { Tensor } from './tensor';
import { callFormOf, optionKeys } from './option-keys';
import { expectOptions, expectTensor, expectWeight, optionalSignal, signalOf, positiveInteger } from './validate';

export interface AdditiveAttentionOptions {
  queryDim: number;
  keyDim: number;
  hiddenDim: number;
}

const ADDITIVE_ATTENTION_OPTION_KEYS = optionKeys<AdditiveAttentionOptions>({
  queryDim: true,
  keyDim: true,
  hiddenDim: true,
});

export interface AdditiveWeights {
  /** [hiddenDim, keyDim] */
  W1: Tensor;
  /** [hiddenDim, queryDim] */
  W2: Tensor;
  /** [hiddenDim] */
  v: Tensor;
}

/** keys with W1 h_j already applied: pass it to forward() instead of the keys at every decoder step. */
export class PrecomputedKeys {
  /** @internal */
  constructor(
    readonly keys: Tensor<Float32Array>,
    readonly keysProj: Tensor<Float32Array>,
    readonly owner: object,
  ) {}
}

export interface Seq2SeqForwardOptions {
  /** Per batch item, only the first n encoder positions are valid (source padding). */
  keyLengths?: Int32Array | readonly number[] | Tensor;
  /** Promise form only: aborting it rejects the call with an AbortError and stops its kernels. */
  signal?: AbortSignalLike;
}

export const SEQ2SEQ_FORWARD_OPTION_KEYS = optionKeys<Seq2SeqForwardOptions>({ keyLengths: true });

export class AdditiveAttention {
  readonly queryDim: number;
  readonly keyDim: number;
  readonly hiddenDim: number;
  private w: { W1: Tensor<Float32Array>; W2: Tensor<Float32Array>; v: Tensor<Float32Array> } | null = null;

  constructor(options: AdditiveAttentionOptions) {
    const op = 'AdditiveAttention';
    const o = expectOptions(options, op, ADDITIVE_ATTENTION_OPTION_KEYS) as Partial<AdditiveAttentionOptions>;
    this.queryDim = positiveInteger(o.queryDim, 'queryDim', op);
    this.keyDim = positiveInteger(o.keyDim, 'keyDim', op);
    this.hiddenDim = positiveInteger(o.hiddenDim, 'hiddenDim', op);
  }

  loadWeights(weights: AdditiveWeights): this {
    const op = 'AdditiveAttention.loadWeights';
    if (typeof weights !== 'object' || weights === null)
      throw typeError('ERR_INVALID_WEIGHTS', `${op}: Expected { W1, W2, v } but received ${describeValue(weights)}`);
    const want: Record<string, number[]> = {
      W1: [this.hiddenDim, this.keyDim],
      W2: [this.hiddenDim, this.queryDim],
      v: [this.hiddenDim],
    };
    const got: Record<string, Tensor<Float32Array>> = {};
    for (const [name, shape] of Object.entries(want)) {
      const t = expectWeight((weights as unknown as Record<string, unknown>)[name], name, op);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw rangeError(
          'ERR_INVALID_WEIGHTS',
          `${op}: ${name} must be ${formatShape(shape)} but has shape ${formatShape(t.shape)}`,
        );
      }
      got[name] = name === 'v' ? (t.contiguous() as Tensor<Float32Array>) : t;
    }
    this.w = got as { W1: Tensor<Float32Array>; W2: Tensor<Float32Array>; v: Tensor<Float32Array> };
    return this;
  }

  private weights(op: string) {
    if (this.w === null) throw rangeError('ERR_INVALID_WEIGHTS', `${op}: no weights loaded (call loadWeights)`);
    return this.w;
  }

  /** W1 h_j for every source position, once per source sequence: [B, T, keyDim] -> handle. */
  precomputeSync(keys: Tensor): PrecomputedKeys {
    const op = 'AdditiveAttention.precompute';
    const w = this.weights(op);
    const k = checkKeys(keys, this.keyDim, undefined, op).keys;
    return new PrecomputedKeys(k, matmulSync(k, w.W1, { transposeB: true }), this);
  }

  async precompute(keys: Tensor, options?: SignalOptions): Promise<PrecomputedKeys> {
    const op = 'AdditiveAttention.precompute';
    const w = this.weights(op);
    const k = checkKeys(keys, this.keyDim, undefined, op).keys;
    const signal = optionalSignal(expectOptions(options, op, [], 'promise'), op);
    return new PrecomputedKeys(k, await matmul(k, w.W1, { transposeB: true, signal }), this);
  }

  private prepare(query: unknown, keys: unknown, options: unknown, op: string) {
    this.weights(op);
    const o = expectOptions(options, op, SEQ2SEQ_FORWARD_OPTION_KEYS, callFormOf(op));
    const pre = keys instanceof PrecomputedKeys ? keys : null;
    if (pre !== null && pre.owner !== this)
      throw rangeError('ERR_INVALID_ARGUMENT', `${op}: these precomputed keys belong to another AdditiveAttention`);
    const { keys: k, lengths } = checkKeys(pre ? pre.keys : keys, this.keyDim, o.keyLengths, op);
    const q = expectTensor(query, 'query', ['float32'], op) as Tensor<Float32Array>;
    if (q.rank !== 2 || q.shape[0] !== k.shape[0] || q.shape[1] !== this.queryDim) {
      throw rangeError(
        'ERR_SHAPE_MISMATCH',
        `${op}: Expected query [${k.shape[0]}, ${this.queryDim}] for keys ${formatShape(k.shape)} ` +
          `but received ${formatShape(q.shape)}`,
      );
    }
    return { q, k, lengths, pre };
  }

  /**
   * One decoder step: query [B, queryDim] (the decoder state s) against keys [B, T, keyDim] (the
   * encoder states h_j), or the handle from precompute(keys).
   */
  forwardSync(query: Tensor, keys: Tensor | PrecomputedKeys, options?: Seq2SeqForwardOptions): Seq2SeqResult {
    const op = 'AdditiveAttention.forwardSync';
    const { q, k, lengths, pre } = this.prepare(query, keys, options, op);
    const w = this.weights(op);
    const keysProj = pre ? pre.keysProj : matmulSync(k, w.W1, { transposeB: true });
    const queryProj = matmulSync(q, w.W2, { transposeB: true });
    return runSeq2SeqSync({ keys: k, lengths, additive: { keysProj, queryProj, v: w.v } });
  }

  async forward(
    query: Tensor,
    keys: Tensor | PrecomputedKeys,
    options?: Seq2SeqForwardOptions,
  ): Promise<Seq2SeqResult> {
    const op = 'AdditiveAttention.forward';
    const { q, k, lengths, pre } = this.prepare(query, keys, options, op);
    const w = this.weights(op);
    const signal = signalOf(options, op);
    const keysProj = pre ? pre.keysProj : await matmul(k, w.W1, { transposeB: true, signal });
    const queryProj = await matmul(q, w.W2, { transposeB: true, signal });
    return runSeq2Seq({ keys: k, lengths, additive: { keysProj, queryProj, v: w.v } }, signal);
  }
}
