/**
 * MultiHeadAttention's decoder options, checked: rotary embedding of the projected heads, and the
 * fused kernel's ALiBi, sliding window and logit soft-capping.
 */
import { alibiOption, alibiSlopes, AttentionOptions, windowOption } from './attention';
import { describeValue, rangeError, typeError } from './errors';
import { optionKeys } from './option-keys';
import type { RotaryEmbeddingOptions } from './rotary';
import { expectOptions, optionalBoolean, optionalFiniteNumber } from './validate';

/** The `rotary` option's settings (applyRotaryEmbedding's). */
export interface MultiHeadRotaryOptions {
  /** Default 10000. */
  base?: number;
  /** Rotate only the first rotaryDim features of each head (even); default headDim. */
  rotaryDim?: number;
  /** GPT-J pairs (2i, 2i + 1) instead of the half-split pairs. Default false. */
  interleaved?: boolean;
}

const ROTARY_OPTION_KEYS = optionKeys<MultiHeadRotaryOptions>({ base: true, rotaryDim: true, interleaved: true });

/** The rotation settings, checked; positions are added per call. */
export type RotarySettings = Required<MultiHeadRotaryOptions>;

export function rotaryOption(given: unknown, headDim: number, op: string): RotarySettings | null {
  if (given === undefined || given === false) return null;
  if (given !== true && (typeof given !== 'object' || given === null)) {
    throw typeError(
      'ERR_INVALID_OPTION',
      `${op}: Expected true or an object for rotary but received ${describeValue(given)}`,
    );
  }
  const o = given === true ? {} : expectOptions(given, `${op} (rotary)`, ROTARY_OPTION_KEYS);
  const base = optionalFiniteNumber(o, 'base', op) ?? 10000;
  if (!(base > 0)) throw rangeError('ERR_INVALID_OPTION', `${op}: rotary.base must be positive but is ${base}`);
  const rotaryDim = o.rotaryDim === undefined ? headDim : o.rotaryDim;
  if (
    typeof rotaryDim !== 'number' ||
    !Number.isInteger(rotaryDim) ||
    rotaryDim < 0 ||
    rotaryDim > headDim ||
    rotaryDim % 2 !== 0
  ) {
    throw rangeError(
      'ERR_INVALID_OPTION',
      o.rotaryDim === undefined
        ? `${op}: rotary needs an even head dimension (features rotate in pairs) but headDim is ${headDim}`
        : `${op}: rotary.rotaryDim must be an even integer in [0, ${headDim}] (headDim) but is ${describeValue(rotaryDim)}`,
    );
  }
  return { base, rotaryDim, interleaved: optionalBoolean(o, 'interleaved', op, false) };
}

/**
 * Rotary options for queries and keys [B, L, H, d] whose batch item b starts at position starts[b]
 * (queries at keysStart + Lk - Lq: bottom-right, as the causal mask aligns them).
 */
export function rotaryCalls(
  settings: RotarySettings,
  starts: Int32Array | null,
  Lq: number,
  Lk: number,
): { q: RotaryEmbeddingOptions; k: RotaryEmbeddingOptions } {
  const common = { ...settings, layout: 'BLHD' as const };
  if (starts === null) return { q: common, k: common };
  const shift = Lk - Lq;
  if (starts.every((s) => s === starts[0])) {
    return { q: { ...common, offset: starts[0] + shift }, k: { ...common, offset: starts[0] } };
  }
  const positions = (L: number, from: number) => {
    const p = new Int32Array(starts.length * L);
    starts.forEach((s, b) => {
      for (let l = 0; l < L; ++l) p[b * L + l] = s + from + l;
    });
    return p;
  };
  return { q: { ...common, positions: positions(Lq, shift) }, k: { ...common, positions: positions(Lk, 0) } };
}

/** alibiSlopes (true: alibiSlopes(numHeads)), windowSize and softcap as the fused kernel's options. */
export function scoreOptions(o: Record<string, unknown>, numHeads: number, op: string): AttentionOptions {
  const out: AttentionOptions = {};
  if (o.alibiSlopes === true) out.alibiSlopes = Float32Array.from(alibiSlopes(numHeads));
  else {
    const slopes = alibiOption(o, numHeads, op);
    if (slopes !== null) out.alibiSlopes = slopes;
  }
  if (o.windowSize !== undefined && o.windowSize !== null) out.windowSize = windowOption(o, op);
  const softcap = optionalFiniteNumber(o, 'softcap', op);
  if (softcap !== undefined) {
    if (!(softcap > 0))
      throw rangeError('ERR_INVALID_OPTION', `${op}: softcap must be a positive number but is ${softcap}`);
    out.softcap = softcap;
  }
  return out;
}
