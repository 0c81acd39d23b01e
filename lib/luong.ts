/**
 * Luong (multiplicative) attention, SPEC section 5, with the decoder state s and encoder states h_j:
 *   dot:      e_j = s^T h_j                 (queryDim == keyDim)
 *   general:  e_j = s^T W h_j               W [queryDim, keyDim]
 *   concat:   e_j = v^T tanh(W [s; h_j])    W [hiddenDim, queryDim + keyDim] (s first), v [hiddenDim]
 * then a = softmax(e) over the valid j and c = sum_j a_j h_j. dot and general score with the SIMD
 * matmul (a batched mat-vec); concat splits W into its s and h columns (strided views, no copy) and
 * shares the additive kernel.
 */
import { describeValue, rangeError, typeError } from './errors';
import { matmul, matmulSync } from './matmul';
import { checkKeys, runSeq2Seq, runSeq2SeqSync, Seq2SeqResult } from './seq2seq';
import { formatShape } from './shape';
import { Tensor } from './tensor';
import { callFormOf, optionKeys } from './option-keys';
import { expectOptions, expectTensor, expectWeight, optionalEnum, signalOf, positiveInteger } from './validate';
import { SEQ2SEQ_FORWARD_OPTION_KEYS, type Seq2SeqForwardOptions } from './additive';

export type LuongScore = 'dot' | 'general' | 'concat';

export interface LuongAttentionOptions {
  score: LuongScore;
  queryDim: number;
  keyDim: number;
  /** concat only. */
  hiddenDim?: number;
}

const LUONG_ATTENTION_OPTION_KEYS = optionKeys<LuongAttentionOptions>({
  score: true,
  queryDim: true,
  keyDim: true,
  hiddenDim: true,
});

export interface LuongWeights {
  /** general: [queryDim, keyDim]; concat: [hiddenDim, queryDim + keyDim]. */
  W?: Tensor;
  /** concat: [hiddenDim]. */
  v?: Tensor;
}

export class LuongAttention {
  readonly score: LuongScore;
  readonly queryDim: number;
  readonly keyDim: number;
  readonly hiddenDim: number;
  private W: Tensor<Float32Array> | null = null;
  private Ws: Tensor<Float32Array> | null = null;
  private Wh: Tensor<Float32Array> | null = null;
  private v: Tensor<Float32Array> | null = null;

  constructor(options: LuongAttentionOptions) {
    const op = 'LuongAttention';
    const o = expectOptions(options, op, LUONG_ATTENTION_OPTION_KEYS);
    this.score = optionalEnum<LuongScore>(o, 'score', ['dot', 'general', 'concat'], op, 'dot');
    if (o.score === undefined)
      throw typeError(
        'ERR_INVALID_OPTION',
        `${op}: Expected one of 'dot', 'general', 'concat' for score but received undefined`,
      );
    this.queryDim = positiveInteger(o.queryDim, 'queryDim', op);
    this.keyDim = positiveInteger(o.keyDim, 'keyDim', op);
    this.hiddenDim = this.score === 'concat' ? positiveInteger(o.hiddenDim, 'hiddenDim', op) : 0;
    if (this.score === 'dot' && this.queryDim !== this.keyDim) {
      throw rangeError(
        'ERR_INVALID_ARGUMENT',
        `${op}: score 'dot' needs queryDim == keyDim (got ${this.queryDim} and ${this.keyDim})`,
      );
    }
  }

  loadWeights(weights: LuongWeights = {}): this {
    const op = 'LuongAttention.loadWeights';
    if (typeof weights !== 'object' || weights === null)
      throw typeError('ERR_INVALID_WEIGHTS', `${op}: Expected { W, v } but received ${describeValue(weights)}`);
    const check = (name: 'W' | 'v', shape: number[]) => {
      const t = expectWeight(weights[name], name, op);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw rangeError(
          'ERR_INVALID_WEIGHTS',
          `${op}: ${name} must be ${formatShape(shape)} for score '${this.score}' ` +
            `but has shape ${formatShape(t.shape)}`,
        );
      }
      return t;
    };
    if (this.score === 'general') this.W = check('W', [this.queryDim, this.keyDim]);
    if (this.score === 'concat') {
      const W = check('W', [this.hiddenDim, this.queryDim + this.keyDim]);
      this.W = W;
      this.Ws = W.narrow(1, 0, this.queryDim);
      this.Wh = W.narrow(1, this.queryDim, this.keyDim);
      this.v = check('v', [this.hiddenDim]).contiguous() as Tensor<Float32Array>;
    }
    return this;
  }

  private prepare(query: unknown, keys: unknown, options: unknown, op: string) {
    if (this.score !== 'dot' && this.W === null)
      throw rangeError('ERR_INVALID_WEIGHTS', `${op}: no weights loaded (call loadWeights)`);
    const o = expectOptions(options, op, SEQ2SEQ_FORWARD_OPTION_KEYS, callFormOf(op));
    const { keys: k, lengths } = checkKeys(keys, this.keyDim, o.keyLengths, op);
    const q = expectTensor(query, 'query', ['float32'], op) as Tensor<Float32Array>;
    if (q.rank !== 2 || q.shape[0] !== k.shape[0] || q.shape[1] !== this.queryDim) {
      throw rangeError(
        'ERR_SHAPE_MISMATCH',
        `${op}: Expected query [${k.shape[0]}, ${this.queryDim}] for keys ${formatShape(k.shape)} ` +
          `but received ${formatShape(q.shape)}`,
      );
    }
    return { q, k, lengths };
  }

  forwardSync(query: Tensor, keys: Tensor, options?: Seq2SeqForwardOptions): Seq2SeqResult {
    const { q, k, lengths } = this.prepare(query, keys, options, 'LuongAttention.forwardSync');
    const [B, T] = k.shape;
    if (this.score === 'concat') {
      const keysProj = matmulSync(k, this.Wh as Tensor, { transposeB: true });
      const queryProj = matmulSync(q, this.Ws as Tensor, { transposeB: true });
      return runSeq2SeqSync({ keys: k, lengths, additive: { keysProj, queryProj, v: this.v as Tensor<Float32Array> } });
    }
    // general: u = s^T W, then e_j = u . h_j ; dot: u = s
    const u = this.score === 'general' ? matmulSync(q, this.W as Tensor) : q.contiguous();
    const scores = matmulSync(k, u.reshape([B, this.keyDim, 1])).reshape([B, T]);
    return runSeq2SeqSync({ keys: k, lengths, scores });
  }

  async forward(query: Tensor, keys: Tensor, options?: Seq2SeqForwardOptions): Promise<Seq2SeqResult> {
    const op = 'LuongAttention.forward';
    const { q, k, lengths } = this.prepare(query, keys, options, op);
    const signal = signalOf(options, op);
    const [B, T] = k.shape;
    if (this.score === 'concat') {
      const [keysProj, queryProj] = await Promise.all([
        matmul(k, this.Wh as Tensor, { transposeB: true, signal }),
        matmul(q, this.Ws as Tensor, { transposeB: true, signal }),
      ]);
      const v = this.v as Tensor<Float32Array>;
      return runSeq2Seq({ keys: k, lengths, additive: { keysProj, queryProj, v } }, signal);
    }
    const u = this.score === 'general' ? await matmul(q, this.W as Tensor, { signal }) : q.contiguous();
    const scores = (await matmul(k, u.reshape([B, this.keyDim, 1]), { signal })).reshape([B, T]);
    return runSeq2Seq({ keys: k, lengths, scores }, signal);
  }
}
