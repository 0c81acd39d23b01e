/**
 * Rotary position embedding (RoPE, Su et al. 2021, "RoFormer"): the features of a query or key at
 * position p are taken in pairs and each pair i is rotated by the angle p * base^(-2i / rotaryDim),
 * so that q_m . k_n depends on the positions only through m - n. Apply it to Q and K before
 * attention; with a KV cache, `offset` is the number of positions already cached.
 * Pairs: half-split (x_i, x_{i + d/2}) — GPT-NeoX / LLaMA's rotate_half — by default, or interleaved
 * (x_{2i}, x_{2i+1}) — GPT-J — with `interleaved: true`. Native SIMD kernel; cos and sin are
 * computed in double per position and shared by the heads.
 */
import type { AbortSignalLike } from './abort';
import { describeValue, rangeError, typeError } from './errors';
import { headsOf, HeadLayout, resultStrides } from './head-layout';
import { allocFloat32, formatShape } from './shape';
import { isTensor, Tensor } from './tensor';
import {
  checkOut,
  expectOptions,
  expectTensor,
  optionalBoolean,
  optionalEnum,
  optionalFiniteNumber,
  signalOf,
} from './validate';
import { runNative } from './binding';
import { callFormOf, optionKeys } from './option-keys';
import { descriptorFor, ROTARY, writeHeadsView } from './native-layout';
import { plural } from './wording';

export interface RotaryEmbeddingOptions {
  /**
   * The position of every token: L values shared by the batch, or B * L (one row per batch item; an
   * Int32Array, a number[] or an int32 Tensor [L] / [B, L]). Default: offset + l.
   */
  positions?: Int32Array | readonly number[] | Tensor;
  /** Position of the first token when `positions` is not given (a KV cache's length). Default 0. */
  offset?: number;
  /** Default 10000 (LLaMA 3 uses 500000). */
  base?: number;
  /** GPT-J pairs (2i, 2i + 1) instead of the half-split pairs (i, i + rotaryDim / 2). Default false. */
  interleaved?: boolean;
  /** Rotate only the first rotaryDim features (even; GPT-NeoX's rotary_pct); the rest pass unchanged. Default d. */
  rotaryDim?: number;
  /** 'BHLD' ([B, H, L, d], also [L, d] and [N, L, d]; the default) or 'BLHD' ([B, L, H, d], also [L, H, d]). */
  layout?: HeadLayout;
  /**
   * Write here instead of a new tensor: float32, contiguous, x's shape; may be x itself (in place) but
   * may not otherwise share bytes with x or positions (ERR_OVERLAPPING_OUTPUT).
   */
  out?: Tensor;
  /** Promise form only: aborting it rejects the call with an AbortError and stops its kernel. */
  signal?: AbortSignalLike;
}

const ROTARY_EMBEDDING_OPTION_KEYS = optionKeys<RotaryEmbeddingOptions>({
  positions: true,
  offset: true,
  base: true,
  interleaved: true,
  rotaryDim: true,
  layout: true,
  out: true,
});

const MAX_OFFSET = 2 ** 53;

interface Prepared {
  x: Tensor<Float32Array>;
  out: Tensor<Float32Array>;
  outData: Float32Array;
  positions: Int32Array | null;
  descriptor: Float64Array;
}

function readPositions(
  value: unknown,
  B: number,
  L: number,
  op: string,
): { data: Int32Array; strideB: number; offset: number } {
  let data: Int32Array,
    offset = 0;
  let length: number,
    shape: readonly number[] | null = null;
  if (isTensor(value)) {
    const t = expectTensor(value, 'positions', ['int32'], op);
    if (t.rank !== 1 && t.rank !== 2)
      throw rangeError(
        'ERR_INVALID_SHAPE',
        `${op}: positions must be [L] or [B, L] but has shape ${formatShape(t.shape)}`,
      );
    const c = t.isContiguous() ? t : t.contiguous();
    data = c.data as Int32Array;
    offset = c.offset;
    length = c.size;
    shape = t.shape;
  } else if (value instanceof Int32Array) {
    data = value;
    length = value.length;
  } else if (Array.isArray(value)) {
    data = new Int32Array(value.length);
    for (let i = 0; i < value.length; ++i) {
      const n: unknown = value[i];
      if (typeof n !== 'number' || !Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 31) {
        throw rangeError(
          'ERR_INVALID_OPTION',
          `${op}: positions[${i}] must be an int32 integer but is ${describeValue(n)}`,
        );
      }
      data[i] = n;
    }
    length = value.length;
  } else {
    throw typeError(
      'ERR_INVALID_OPTION',
      `${op}: Expected an Int32Array, number[] or int32 Tensor for positions but received ${describeValue(value)}`,
    );
  }
  const perBatch = shape !== null ? shape.length === 2 : length !== L;
  if (
    shape !== null
      ? shape.length === 1
        ? shape[0] !== L
        : shape[0] !== B || shape[1] !== L
      : length !== L && length !== B * L
  ) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: positions must hold L = ${L} values (shared by the batch) ` +
        `or B * L = ${B * L} (one row per batch item) but has ` +
        (shape !== null ? `shape ${formatShape(shape)}` : plural(length, 'value')),
    );
  }
  // A per-batch Int32Array is passed from its offset as [B, L].
  const view = offset === 0 ? data : data.subarray(offset);
  return { data: view, strideB: perBatch ? L : 0, offset: 0 };
}

function prepare(xIn: unknown, optionsIn: unknown, op: string): Prepared {
  const x = expectTensor(xIn, 'x', ['float32'], op) as Tensor<Float32Array>;
  const o = expectOptions(optionsIn, op, ROTARY_EMBEDDING_OPTION_KEYS, callFormOf(op));
  const layout = optionalEnum<HeadLayout>(o, 'layout', ['BHLD', 'BLHD'], op, 'BHLD');
  const interleaved = optionalBoolean(o, 'interleaved', op, false);
  const base = optionalFiniteNumber(o, 'base', op) ?? 10000;
  if (!(base > 0)) throw rangeError('ERR_INVALID_OPTION', `${op}: base must be positive but is ${base}`);
  const h = headsOf(x, 'x', layout, op);
  const rotaryDim = o.rotaryDim === undefined ? h.dim : o.rotaryDim;
  if (
    typeof rotaryDim !== 'number' ||
    !Number.isInteger(rotaryDim) ||
    rotaryDim < 0 ||
    rotaryDim > h.dim ||
    rotaryDim % 2 !== 0
  ) {
    throw rangeError(
      'ERR_INVALID_SHAPE',
      o.rotaryDim === undefined
        ? `${op}: the head dimension must be even (features rotate in pairs) ` +
            `but x has shape ${formatShape(x.shape)} (d = ${h.dim})`
        : `${op}: rotaryDim must be an even integer in [0, ${h.dim}] but is ${describeValue(rotaryDim)}`,
    );
  }
  const offsetIn = o.offset;
  if (
    offsetIn !== undefined &&
    (typeof offsetIn !== 'number' || !Number.isInteger(offsetIn) || offsetIn < 0 || offsetIn > MAX_OFFSET)
  ) {
    throw rangeError(
      'ERR_INVALID_OPTION',
      `${op}: offset must be a non-negative integer but is ${describeValue(offsetIn)}`,
    );
  }
  let positions: Int32Array | null = null,
    strideB = 0;
  if (o.positions !== undefined && o.positions !== null) {
    if (offsetIn !== undefined) throw rangeError('ERR_INVALID_OPTION', `${op}: pass positions or offset, not both`);
    const p = readPositions(o.positions, h.batch, h.rows, op);
    positions = p.data;
    strideB = p.strideB;
  }
  let out: Tensor<Float32Array>, outData: Float32Array;
  if (o.out !== undefined) ({ out, data: outData } = checkOut(o.out, x.shape, op, { x, positions: o.positions }, 'x'));
  else outData = (out = new Tensor(allocFloat32(x.size, 'the output'), x.shape)).data;
  const os = resultStrides(layout, h, h.rows, h.dim);
  const F = ROTARY.fields;
  const d = descriptorFor(ROTARY);
  d[F.batch] = h.batch;
  d[F.heads] = h.heads;
  d[F.L] = h.rows;
  d[F.d] = h.dim;
  d[F.rotaryDim] = rotaryDim;
  d[F.base] = base;
  d[F.interleaved] = interleaved ? 1 : 0;
  d[F.positionOffset] = (offsetIn as number | undefined) ?? 0;
  d[F.positionsStrideB] = strideB;
  writeHeadsView(d, F, 'x', h.offset, h.strides);
  writeHeadsView(d, F, 'out', 0, os);
  return { x, out, outData, positions, descriptor: d };
}

function run(p: Prepared, async: boolean, signal?: AbortSignalLike): void | Promise<void> {
  return runNative('rotary', { x: p.x.data, out: p.outData, positions: p.positions }, p.descriptor, async, signal);
}

/**
 * Rotates x ([B, H, L, d] or, with layout 'BLHD', [B, L, H, d]) by its positions; returns a new
 * tensor of x's shape (or writes `out`).
 */
export function applyRotaryEmbeddingSync(x: Tensor, options?: RotaryEmbeddingOptions): Tensor<Float32Array> {
  const p = prepare(x, options, 'applyRotaryEmbeddingSync');
  run(p, false);
  return p.out;
}

/** As applyRotaryEmbeddingSync, off the event loop. */
export async function applyRotaryEmbedding(x: Tensor, options?: RotaryEmbeddingOptions): Promise<Tensor<Float32Array>> {
  const op = 'applyRotaryEmbedding';
  const p = prepare(x, options, op);
  await run(p, true, signalOf(options, op));
  return p.out;
}
