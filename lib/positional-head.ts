/**
 * MultiHeadAttention's positional head (PARec / FPARec, docs/SPEC.md section 7): per-head attention
 * whose logits are learned per position pair, applied to the module's projected values and added to
 * the dot-product attention's output head by head, before the output projection.
 */
import type { AttentionOptions } from './attention';
import { rangeError } from './errors';
import { Kernel, Step, step } from './kernel-steps';
import { optionKeys } from './option-keys';
import {
  factorizedPositionalAttention,
  factorizedPositionalAttentionSync,
  positionalAttention,
  positionalAttentionSync,
  PositionalAttentionOptions,
} from './positional';
import { MaskTensor, Tensor } from './tensor';
import { expectOptions, positiveInteger } from './validate';

export interface PositionalHeadOptions {
  /** Positions with parameters: queries and keys (cached ones included) may be at most this long. */
  maxLength: number;
  /**
   * Factorized (FPARec) with factors of this rank: positional_left and positional_right, each
   * [numHeads, maxLength, rank]. Without it, full logits (PARec): positional_logits
   * [numHeads, maxLength, maxLength].
   */
  rank?: number;
}

export const POSITIONAL_HEAD_OPTION_KEYS = optionKeys<PositionalHeadOptions>({ maxLength: true, rank: true });

const FACTORIZED: Kernel<[Tensor, Tensor, Tensor, PositionalAttentionOptions?], Tensor<Float32Array>> = {
  sync: factorizedPositionalAttentionSync,
  async: factorizedPositionalAttention,
  abortable: (signal, l, r, v, o) => factorizedPositionalAttention(l, r, v, { ...o, signal }),
};

const FULL: Kernel<[Tensor, Tensor, PositionalAttentionOptions?], Tensor<Float32Array>> = {
  sync: positionalAttentionSync,
  async: positionalAttention,
  abortable: (signal, p, v, o) => positionalAttention(p, v, { ...o, signal }),
};

/** The loaded parameters, contiguous, by state-dict name. */
export type PositionalParameters = Record<string, Tensor<Float32Array>>;

/** What the head needs of one forward call: where its queries start, its sizes and the masks. */
export interface PositionalCall {
  /** Position of the first query: 0, or the cached length with a KVCache. */
  queryStart: number;
  Lq: number;
  /** Keys attended, cached ones included. */
  Lk: number;
  /** The dot-product part's options (BLHD): its masks and causal flags are applied here too. */
  attention: AttentionOptions;
}

export class PositionalHead {
  private constructor(
    readonly heads: number,
    readonly maxLength: number,
    readonly rank: number | undefined,
  ) {}

  /** Reads the `positional` constructor option (op names the constructor in errors). */
  static fromOption(value: unknown, heads: number, op: string): PositionalHead {
    const o = expectOptions(value, `${op} (positional)`, POSITIONAL_HEAD_OPTION_KEYS);
    const maxLength = positiveInteger(o.maxLength, 'positional.maxLength', op);
    const rank = o.rank === undefined ? undefined : positiveInteger(o.rank, 'positional.rank', op);
    return new PositionalHead(heads, maxLength, rank);
  }

  get factorized(): boolean {
    return this.rank !== undefined;
  }

  /** The parameters' names and shapes, as they join MultiHeadAttention's state dict. */
  expectedStateDict(): Record<string, number[]> {
    const H = this.heads,
      L = this.maxLength;
    if (this.rank !== undefined) {
      return { positional_left: [H, L, this.rank], positional_right: [H, L, this.rank] };
    }
    return { positional_logits: [H, L, L] };
  }

  /** The parameters of a checked state dict: used as they are when contiguous, copied when not. */
  load(dict: Record<string, Tensor>): PositionalParameters {
    const params: PositionalParameters = {};
    for (const name of Object.keys(this.expectedStateDict())) {
      const t = dict[name] as Tensor<Float32Array>;
      params[name] = t.isContiguous() ? t : t.contiguous();
    }
    return params;
  }

  /** Refuses (ERR_INVALID_SHAPE) a call reaching past the last position with parameters. */
  checkLengths(call: { queryStart: number; Lq: number; Lk: number }, op: string): void {
    const lastQuery = call.queryStart + call.Lq;
    if (lastQuery <= this.maxLength && call.Lk <= this.maxLength) return;
    const what =
      call.Lk > this.maxLength
        ? `${call.Lk} keys`
        : call.queryStart > 0
          ? `queries at positions ${call.queryStart}..${lastQuery - 1}`
          : `${call.Lq} queries`;
    throw rangeError(
      'ERR_INVALID_SHAPE',
      `${op}: the positional head has parameters for maxLength ${this.maxLength} positions but this call has ${what}`,
    );
  }

  /**
   * The head's kernel calls over the projected values [B, Lk, Hkv, d] (BLHD): one per query head of a
   * key/value group (one in all without grouped-query attention), each giving [B, Hkv, Lq, d].
   */
  steps(
    params: PositionalParameters,
    values: Tensor<Float32Array>,
    call: PositionalCall,
  ): Step<Tensor<Float32Array>>[] {
    const [B, Lk, Hkv, d] = values.shape;
    const s = values.strides;
    const v = new Tensor(values.data, [B, Hkv, Lk, d], { strides: [s[0], s[2], s[1], s[3]], offset: values.offset });
    const group = this.heads / Hkv;
    const steps: Step<Tensor<Float32Array>>[] = [];
    for (let member = 0; member < group; ++member) {
      const options = this.options(call.attention, member, group);
      if (this.rank !== undefined) {
        const left = headsOf(params.positional_left, member, group, call.queryStart, call.Lq);
        const right = headsOf(params.positional_right, member, group, 0, call.Lk);
        steps.push(step(FACTORIZED, left, right, v, options));
      } else {
        const logits = headsOf(params.positional_logits, member, group, call.queryStart, call.Lq).narrow(2, 0, call.Lk);
        steps.push(step(FULL, logits, v, options));
      }
    }
    return steps;
  }

  /** Adds the steps' results [B, Hkv, Lq, d] into the attention output [B, Lq, H, d] (contiguous). */
  addInto(attention: Tensor<Float32Array>, results: readonly Tensor<Float32Array>[]): void {
    const [B, Lq, H, d] = attention.shape;
    const a = attention.data,
      base = attention.offset;
    const group = results.length;
    results.forEach((p, member) => {
      const Hkv = p.shape[1];
      const src = p.data;
      let from = p.offset;
      for (let b = 0; b < B; ++b) {
        for (let j = 0; j < Hkv; ++j) {
          const h = j * group + member;
          for (let l = 0; l < Lq; ++l) {
            const to = base + ((b * Lq + l) * H + h) * d;
            for (let i = 0; i < d; ++i) a[to + i] += src[from + i];
            from += d;
          }
        }
      }
    });
  }

  /** The dot-product part's masks for the query heads `member`, `member + group`, ... */
  private options(attention: AttentionOptions, member: number, group: number): PositionalAttentionOptions {
    const o: PositionalAttentionOptions = {
      isCausal: attention.isCausal,
      causalAlignment: attention.causalAlignment,
      keyPaddingMask: attention.keyPaddingMask,
      maskPolarity: attention.maskPolarity,
    };
    const m = attention.attnMask;
    if (m !== undefined && m !== null) o.attnMask = m.rank === 4 ? maskHeads(m, member, group) : m;
    return o;
  }
}

/** Rows [start, start + length) of the heads member, member + group, ... of a [H, L, n] parameter. */
function headsOf(
  t: Tensor<Float32Array>,
  member: number,
  group: number,
  start: number,
  length: number,
): Tensor<Float32Array> {
  const [H, , n] = t.shape;
  const s = t.strides;
  return new Tensor(t.data, [H / group, length, n], {
    strides: [s[0] * group, s[1], s[2]],
    offset: t.offset + member * s[0] + start * s[1],
  });
}

/** The heads member, member + group, ... of a [B, H, Lq, Lk] mask. */
function maskHeads(m: MaskTensor, member: number, group: number): MaskTensor {
  if (group === 1) return m;
  const [B, H, Lq, Lk] = m.shape;
  const s = m.strides;
  return new Tensor(m.data, [B, H / group, Lq, Lk], {
    strides: [s[0], s[1] * group, s[2], s[3]],
    offset: m.offset + member * s[1],
  }) as MaskTensor;
}
