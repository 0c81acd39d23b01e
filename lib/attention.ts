/**
 * scaledDotProductAttention and attentionWeights (docs/SPEC.md sections 1-2), over the fused
 * native kernel. PyTorch's torch.nn.functional.scaled_dot_product_attention semantics: a boolean
 * attnMask is TRUE WHERE ATTENDING IS ALLOWED; a float attnMask is added to the scores.
 */
import type { AbortSignalLike } from './abort';
import { abortable } from './abort';
import { AttentionArrays, native } from './binding';
import { ATTENTION, descriptorFor } from './native-layout';
import { headsOf, HeadLayout, type Heads } from './head-layout';
import { describeValue, rangeError, typeError } from './errors';
import { allocFloat32Unfilled, broadcastShapes, broadcastStrides, formatShape, numel } from './shape';
import { isTensor, MaskTensor, Tensor } from './tensor';
import { callFormOf, optionKeys } from './option-keys';
import {
  checkOut,
  expectOptions,
  expectTensor,
  optionalBoolean,
  optionalEnum,
  optionalFiniteNumber,
  signalOf,
} from './validate';
import { plural } from './wording';
import { pagedKeysOf } from './paged-keys';
import { FloatDType, TYPE_CODE } from './convert';
import type { FloatTensor } from './kv-copy';

const KV_DTYPES = ['float32', 'bfloat16', 'float16'] as const;

export type AttentionLayout = HeadLayout;
export type CausalAlignment = 'top-left' | 'bottom-right' | 'bottom-right-key-lengths';

export interface AttentionOptions {
  /**
   * bool Tensor: true = MAY attend (PyTorch SDPA polarity); float32 Tensor: added to the scores
   * (-Infinity forbids). Broadcastable to the scores [..., Lq, Lk] (e.g. [Lq, Lk], [B, 1, Lq, Lk]).
   */
  attnMask?: MaskTensor;
  /** Causal masking (the article's masked self-attention). */
  isCausal?: boolean;
  /**
   * 'top-left' (PyTorch is_causal: j <= i, the default), 'bottom-right' (KV cache: j <= i + Lk - Lq) or
   * 'bottom-right-key-lengths' (KV-cache rows of different lengths: j <= i + keyLengths[b] - Lq).
   */
  causalAlignment?: CausalAlignment;
  /** Score scale; default 1 / sqrt(dk). */
  scale?: number;
  /** Per batch item, only the first keyLengths[b] keys count (key padding). */
  keyLengths?: Int32Array | readonly number[] | Tensor;
  /**
   * Batch item b reads key/value batch item keyRows[b] (default b), in any order: rows of a KV cache
   * read where they lie. key and value may then have any batch. One entry per query batch item.
   */
  keyRows?: Int32Array | readonly number[];
  /**
   * Per batch item, only the first queryLengths[b] query rows attend; the other output rows are zeros
   * (a batch of prompts of different lengths). With 'bottom-right-key-lengths', j <= i + keyLengths[b] - queryLengths[b].
   */
  queryLengths?: Int32Array | readonly number[];
  /** Grouped-query attention: query head h reads key/value head floor(h / (H / Hkv)). */
  enableGqa?: boolean;
  /**
   * 'BHLD' ([B, H, L, d], PyTorch's; also [L, d] and [N, L, d]) or 'BLHD' ([B, L, H, d]: a [B, L, E]
   * activation seen as heads, so no copy splits them; also [L, H, d]). The output uses the same layout.
   */
  layout?: AttentionLayout;
  /**
   * What `true` means in a bool attnMask: 'true-allows' (PyTorch SDPA, the default) or 'true-masks'
   * (PyTorch nn.MultiheadAttention's attn_mask).
   */
  maskPolarity?: 'true-allows' | 'true-masks';
  /**
   * Per-key mask [B, Lk] applied on top of attnMask (nn.MultiheadAttention's key_padding_mask): bool,
   * TRUE AT PADDING (masked out), or float32, added to the scores.
   */
  keyPaddingMask?: MaskTensor;
  /**
   * Write the result here instead of a new tensor: the query's dtype, contiguous, the output's shape, sharing no
   * bytes with any input: query, key, value, masks, keyLengths, alibiSlopes (ERR_OVERLAPPING_OUTPUT).
   */
  out?: Tensor;
  /**
   * Sliding window [left, right]: query i attends only to keys j with i' - left <= j <= i' + right,
   * i' its aligned position (i for 'top-left' causalAlignment, i + Lk - Lq for 'bottom-right'; the
   * alignment applies even when isCausal is false). -1 or Infinity = unbounded side. Combines with
   * isCausal and the masks; key blocks outside every query's window are never read.
   */
  windowSize?: readonly [number, number];
  /**
   * ALiBi: per query head h, -alibiSlopes[h] · |i' - j| is added to the scaled score (i' as in
   * windowSize). float32 Tensor [H], Float32Array or number[] with one slope per query head; see
   * alibiSlopes(H) for the standard ones.
   */
  alibiSlopes?: Tensor | Float32Array | readonly number[];
  /** Logit soft-capping (Gemma 2): scores s = scale·q·k become softcap·tanh(s / softcap) before the masks. > 0. */
  softcap?: number;
  /** Promise form only: aborting it rejects the call with an AbortError and stops its kernel. */
  signal?: AbortSignalLike;
  /**
   * Paged keys and values: key and value hold blocks of positions ([blocks, blockSize, Hkv, d] in
   * BLHD, [blocks, Hkv, blockSize, d] in BHLD), and this int32 Tensor [rows, blocksPerRow] lists each
   * row's blocks: batch item b's key j lies in block blockTable[keyRows[b] ?? b][floor(j / blockSize)],
   * position j % blockSize. Lk is blocksPerRow * blockSize; keyLengths bound each row's keys.
   */
  blockTable?: Tensor;
}

const ATTENTION_OPTION_KEYS = optionKeys<AttentionOptions>({
  attnMask: true,
  isCausal: true,
  causalAlignment: true,
  scale: true,
  keyLengths: true,
  keyRows: true,
  queryLengths: true,
  enableGqa: true,
  layout: true,
  maskPolarity: true,
  keyPaddingMask: true,
  out: true,
  windowSize: true,
  alibiSlopes: true,
  softcap: true,
  blockTable: true,
});

/**
 * The standard ALiBi slopes for numHeads heads (Press et al., "Train Short, Test Long"): for a power
 * of two n, 2^(-8(h+1)/n); otherwise the n' = 2^floor(log2 n) slopes of n', followed by every other
 * slope of 2n' (its 1st, 3rd, ...) up to numHeads.
 */
export function alibiSlopes(numHeads: number): number[] {
  if (typeof numHeads !== 'number' || !Number.isInteger(numHeads) || numHeads < 1) {
    throw rangeError(
      'ERR_INVALID_ARGUMENT',
      `alibiSlopes: Expected a positive integer for numHeads but received ${describeValue(numHeads)}`,
    );
  }
  const powerOfTwo = (n: number) => Array.from({ length: n }, (_, h) => 2 ** ((-8 * (h + 1)) / n));
  const lower = 2 ** Math.floor(Math.log2(numHeads));
  if (lower === numHeads) return powerOfTwo(numHeads);
  const extra = powerOfTwo(2 * lower).filter((_, h) => h % 2 === 0);
  return [...powerOfTwo(lower), ...extra.slice(0, numHeads - lower)];
}

/** A window side: a non-negative integer, or -1 / Infinity for unbounded (-1 in the descriptor). */
function windowSide(v: unknown, side: string, op: string): number {
  if (typeof v !== 'number' || Number.isNaN(v)) {
    throw typeError(
      'ERR_INVALID_OPTION',
      `${op}: Expected a number for windowSize's ${side} side but received ${describeValue(v)}`,
    );
  }
  if (v === Infinity || v === -1) return -1;
  if (!Number.isInteger(v) || v < 0) {
    throw rangeError(
      'ERR_INVALID_OPTION',
      `${op}: windowSize's ${side} side must be a non-negative integer, -1 or Infinity but is ${describeValue(v)}`,
    );
  }
  return v;
}

/** @internal windowSize, checked: [-1, -1] when absent. */
export function windowOption(options: Record<string, unknown>, op: string): [number, number] {
  const w = options.windowSize;
  if (w === undefined || w === null) return [-1, -1];
  if (!Array.isArray(w) || w.length !== 2) {
    throw typeError(
      'ERR_INVALID_OPTION',
      `${op}: Expected [left, right] for windowSize but received ${describeValue(w)}`,
    );
  }
  return [windowSide(w[0], 'left', op), windowSide(w[1], 'right', op)];
}

/** @internal alibiSlopes, checked: one finite slope per query head, or null when absent. */
export function alibiOption(options: Record<string, unknown>, heads: number, op: string): Float32Array | null {
  const a = options.alibiSlopes;
  if (a === undefined || a === null) return null;
  let values: ArrayLike<unknown>;
  if (isTensor(a)) {
    const t = expectTensor(a, 'alibiSlopes', ['float32'], op);
    if (t.rank !== 1)
      throw rangeError('ERR_INVALID_SHAPE', `${op}: alibiSlopes must be 1-D [H]; received ${formatShape(t.shape)}`);
    values = t.contiguous().data;
  } else if (a instanceof Float32Array || Array.isArray(a)) {
    values = a as ArrayLike<unknown>;
  } else {
    throw typeError(
      'ERR_INVALID_OPTION',
      `${op}: Expected a float32 Tensor, Float32Array or number[] for alibiSlopes but received ${describeValue(a)}`,
    );
  }
  if (values.length !== heads) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: alibiSlopes has ${plural(values.length, 'entry', 'entries')} ` +
        `but there ${heads === 1 ? 'is' : 'are'} ${plural(heads, 'query head')}`,
    );
  }
  const slopes = new Float32Array(heads);
  for (let h = 0; h < heads; ++h) {
    const x = values[h];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw rangeError(
        'ERR_INVALID_OPTION',
        `${op}: alibiSlopes[${h}] must be a finite number but is ${describeValue(x)}`,
      );
    }
    slopes[h] = x;
  }
  return slopes;
}

/** keyRows or queryLengths: one integer in [0, limit] per query batch item; null when absent. */
function perItemOption(
  options: Record<string, unknown>,
  name: 'keyRows' | 'queryLengths',
  B: number,
  limit: number,
  limitName: string,
  op: string,
): Int32Array | null {
  const given = options[name];
  if (given === undefined || given === null) return null;
  if (!(given instanceof Int32Array) && !Array.isArray(given)) {
    throw typeError(
      'ERR_INVALID_OPTION',
      `${op}: Expected an Int32Array or number[] for ${name} but received ${describeValue(given)}`,
    );
  }
  const values = given as ArrayLike<unknown>;
  if (values.length !== B) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: ${name} has ${plural(values.length, 'entry', 'entries')} but the query batch is ${B}`,
    );
  }
  const out = new Int32Array(B);
  for (let i = 0; i < B; ++i) {
    const r = values[i];
    if (typeof r !== 'number' || !Number.isInteger(r) || r < 0 || r > limit) {
      throw rangeError(
        'ERR_INVALID_OPTION',
        `${op}: ${name}[${i}] must be an integer in [0, ${limit}] (${limitName}) but is ${describeValue(r)}`,
      );
    }
    out[i] = r;
  }
  return out;
}

const MAX_HEAD_DIM = 256;

/** What the messages call the query and key operands (positional attention passes its factors). */
export interface InputNames {
  query: string;
  key: string;
}

const NAMES: InputNames = { query: 'query', key: 'key' };

export interface Prepared {
  out: Tensor<Float32Array>;
  arrays: AttentionArrays;
  descriptor: Float64Array;
}

/** A call whose query (and output) may be 16-bit: finish() gives the result once the kernel ran. */
interface PreparedAnyDtype {
  out: Tensor<Float32Array> | Tensor<Uint16Array>;
  arrays: AttentionArrays;
  descriptor: Float64Array;
  finish(): FloatTensor;
}

/**
 * Checks an attention call and lays it out for the native kernel. kIn null: qIn holds the scores
 * themselves before the scale, [..., Lq, Lk] (positional attention's logits; Lk is value's length).
 */
export function prepareAttention(
  qIn: unknown,
  kIn: unknown,
  vIn: unknown,
  optionsIn: unknown,
  op: string,
  weightsOnly: boolean,
  names: InputNames = NAMES,
): Prepared {
  const p = prepareAnyDtype(qIn, kIn, vIn, optionsIn, op, weightsOnly, names, false);
  return { out: p.out as Tensor<Float32Array>, arrays: p.arrays, descriptor: p.descriptor };
}

/**
 * halfQueries: the query may be bfloat16 (key and value too, the output bfloat16, computed by the
 * kernels in float32) or float16 (key and value too: the query is widened here, the float32 output
 * rounded to float16 by finish()).
 */
function prepareAnyDtype(
  qIn: unknown,
  kIn: unknown,
  vIn: unknown,
  optionsIn: unknown,
  op: string,
  weightsOnly: boolean,
  names: InputNames,
  halfQueries: boolean,
): PreparedAnyDtype {
  const qGiven = expectTensor(qIn, names.query, halfQueries ? KV_DTYPES : ['float32'], op) as FloatTensor;
  const fromLogits = kIn === null;
  // Keys and values may be 16-bit floats (a half-width KV cache): the kernels widen them as they read.
  const k = fromLogits ? null : (expectTensor(kIn, names.key, KV_DTYPES, op) as FloatTensor);
  const v = weightsOnly ? null : (expectTensor(vIn, 'value', KV_DTYPES, op) as FloatTensor);
  const kvDtype = (k ?? v)?.dtype ?? 'float32';
  if (k !== null && v !== null && k.dtype !== v.dtype) {
    throw typeError(
      'ERR_INVALID_DTYPE',
      `${op}: ${names.key} and value must share their dtype but are ${k.dtype} and ${v.dtype}`,
    );
  }
  const qDtype = qGiven.dtype as FloatDType;
  if (qDtype !== 'float32' && kvDtype !== qDtype) {
    throw typeError(
      'ERR_INVALID_DTYPE',
      `${op}: a ${qDtype} ${names.query} needs ${qDtype} ${names.key} and value, but they are ${kvDtype}`,
    );
  }
  // float16 queries: computed as float32 (the kernels widen float16 keys and values themselves).
  const q = (qDtype === 'float16' ? (qGiven as Tensor<Uint16Array>).to('float32') : qGiven) as FloatTensor;
  const options = expectOptions(optionsIn, op, ATTENTION_OPTION_KEYS, callFormOf(op));
  const layout = optionalEnum<AttentionLayout>(options, 'layout', ['BHLD', 'BLHD'], op, 'BHLD');
  const isCausal = optionalBoolean(options, 'isCausal', op, false);
  const alignment = optionalEnum<CausalAlignment>(
    options,
    'causalAlignment',
    ['top-left', 'bottom-right', 'bottom-right-key-lengths'],
    op,
    'top-left',
  );
  const enableGqa = optionalBoolean(options, 'enableGqa', op, false);
  const shapes = () =>
    `${names.query} ${formatShape(q.shape)}${k ? `, ${names.key} ${formatShape(k.shape)}` : ''}` +
    (v ? `, value ${formatShape(v.shape)}` : '');

  if ((k !== null && q.rank !== k.rank) || (v !== null && v.rank !== q.rank)) {
    throw rangeError('ERR_SHAPE_MISMATCH', `${op}: query, key and value must have the same rank; received ${shapes()}`);
  }
  const qv = headsOf(q, names.query, layout, op);
  const vv = v === null ? null : headsOf(v, 'value', layout, op);
  // Scores from logits: no key; the value stands for it in the batch, head and length checks.
  let kv: Heads;
  if (k !== null) kv = headsOf(k, names.key, layout, op);
  else if (vv !== null) kv = { ...vv, dim: qv.dim };
  else throw typeError('ERR_INVALID_ARGUMENT', `${op}: scores from logits need a value`);
  if (fromLogits && qv.dim !== kv.rows) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: ${names.query} has ${qv.dim} keys (last dimension) but value has ${kv.rows}; received ${shapes()}`,
    );
  }
  if (qv.dim !== kv.dim) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: query and key must share their last dimension (dk); received ${shapes()}`,
    );
  }
  if (vv !== null && (vv.rows !== kv.rows || vv.heads !== kv.heads || vv.batch !== kv.batch)) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: key and value must agree on batch, heads and length; received ${shapes()}`,
    );
  }
  const paged = pagedKeysOf(options.blockTable, kv, fromLogits, op);
  const keyRows = paged
    ? perItemOption(options, 'keyRows', qv.batch, paged.rows - 1, "blockTable's last row", op)
    : perItemOption(options, 'keyRows', qv.batch, kv.batch - 1, "the key batch's last item", op);
  if (paged && keyRows === null && paged.rows !== qv.batch) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: blockTable has ${plural(paged.rows, 'row')} but the query batch is ${qv.batch} (pass keyRows)`,
    );
  }
  if (!paged && keyRows === null && kv.batch !== qv.batch && kv.batch !== 1) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: key's batch (${kv.batch}) must equal query's (${qv.batch}) or be 1; received ${shapes()}`,
    );
  }
  if (enableGqa ? qv.heads % kv.heads !== 0 : kv.heads !== qv.heads && kv.heads !== 1) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      enableGqa
        ? `${op}: with enableGqa the query heads (${qv.heads}) must be a multiple of the key/value heads ` +
            `(${kv.heads}); received ${shapes()}`
        : `${op}: query and key/value heads differ (${qv.heads} vs ${kv.heads}); ` +
            `pass enableGqa: true for grouped-query attention; received ${shapes()}`,
    );
  }
  const dk = qv.dim,
    dv = vv === null ? 0 : vv.dim;
  const dkInRange = fromLogits || (dk >= 1 && dk <= MAX_HEAD_DIM);
  if (!dkInRange || (vv !== null && (dv < 1 || dv > MAX_HEAD_DIM))) {
    throw rangeError(
      'ERR_INVALID_SHAPE',
      `${op}: head dimensions must lie in [1, ${MAX_HEAD_DIM}]; received ${shapes()}`,
    );
  }
  const B = qv.batch,
    H = qv.heads,
    Lq = qv.rows,
    Lk = paged ? paged.width * paged.blockSize : kv.rows;
  const scale = optionalFiniteNumber(options, 'scale', op) ?? 1 / Math.sqrt(dk);
  const windowSides = windowOption(options, op);
  const alibi = alibiOption(options, H, op);
  const softcap = optionalFiniteNumber(options, 'softcap', op);
  if (softcap !== undefined && !(softcap > 0)) {
    throw rangeError('ERR_INVALID_OPTION', `${op}: softcap must be a positive number but is ${softcap}`);
  }

  // Scores as the user sees them: the query's leading dims, then [Lq, Lk].
  const lead = layout === 'BHLD' ? q.shape.slice(0, q.rank - 2) : q.rank === 4 ? [B, H] : [H];
  const scoreShape = [...lead, Lq, Lk];

  // Mask: broadcast to the scores, then mapped onto [B, H, Lq, Lk] strides.
  let mask: Float32Array | Uint8Array | null = null;
  let maskKind = 0,
    maskOffset = 0;
  let maskStrides = [0, 0, 0, 0];
  if (options.attnMask !== undefined && options.attnMask !== null) {
    const m = expectTensor(options.attnMask, 'attnMask', ['bool', 'float32'], op);
    const b = broadcastShapes(m.shape, scoreShape);
    if (m.rank > scoreShape.length || b === null || b.some((d, i) => d !== scoreShape[i])) {
      throw rangeError(
        'ERR_SHAPE_MISMATCH',
        `${op}: attnMask of shape ${formatShape(m.shape)} does not broadcast to the scores ` +
          `${formatShape(scoreShape)} (${shapes()})`,
      );
    }
    const st = broadcastStrides(m.shape, m.strides, scoreShape);
    const n = st.length;
    const sQ = st[n - 2],
      sK = st[n - 1];
    if (n === 2) maskStrides = [0, 0, sQ, sK];
    else if (n === 3) maskStrides = layout === 'BHLD' ? [st[0], 0, sQ, sK] : [0, st[0], sQ, sK];
    else maskStrides = [st[0], st[1], sQ, sK];
    mask = m.data as Float32Array | Uint8Array;
    maskKind = m.dtype === 'float32' ? 1 : 2;
    maskOffset = m.offset;
  }

  const polarity = optionalEnum(options, 'maskPolarity', ['true-allows', 'true-masks'] as const, op, 'true-allows');
  let keyPadding: Float32Array | Uint8Array | null = null;
  let kpKind = 0,
    kpOffset = 0,
    kpStrideB = 0,
    kpStrideK = 0;
  if (options.keyPaddingMask !== undefined && options.keyPaddingMask !== null) {
    const m = expectTensor(options.keyPaddingMask, 'keyPaddingMask', ['bool', 'float32'], op);
    if (m.rank !== 2 || (m.shape[0] !== B && m.shape[0] !== 1) || m.shape[1] !== Lk) {
      throw rangeError(
        'ERR_SHAPE_MISMATCH',
        `${op}: keyPaddingMask must be [${B}, ${Lk}] ([B, Lk]) but has shape ${formatShape(m.shape)} (${shapes()})`,
      );
    }
    keyPadding = m.data as Float32Array | Uint8Array;
    kpKind = m.dtype === 'float32' ? 1 : 2;
    kpOffset = m.offset;
    kpStrideB = m.shape[0] === 1 ? 0 : m.strides[0];
    kpStrideK = m.strides[1];
  }

  const queryLengths = perItemOption(options, 'queryLengths', B, Lq, 'Lq', op);
  let keyLengths: Int32Array | null = null;
  const klIn = options.keyLengths;
  if (klIn !== undefined && klIn !== null) {
    let values: ArrayLike<unknown>;
    if (isTensor(klIn)) {
      const t = expectTensor(klIn, 'keyLengths', ['int32'], op);
      if (t.rank !== 1)
        throw rangeError('ERR_INVALID_SHAPE', `${op}: keyLengths must be 1-D [B]; received ${formatShape(t.shape)}`);
      values = t.contiguous().data;
    } else if (klIn instanceof Int32Array || Array.isArray(klIn)) {
      values = klIn as ArrayLike<unknown>;
    } else {
      throw typeError(
        'ERR_INVALID_OPTION',
        `${op}: Expected an Int32Array, number[] or int32 Tensor for keyLengths but received ${describeValue(klIn)}`,
      );
    }
    if (values.length !== B) {
      throw rangeError(
        'ERR_SHAPE_MISMATCH',
        `${op}: keyLengths has ${plural(values.length, 'entry', 'entries')} but the batch is ${B} (${shapes()})`,
      );
    }
    keyLengths = new Int32Array(B);
    for (let i = 0; i < B; ++i) {
      const n = values[i];
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > Lk) {
        throw rangeError(
          'ERR_INVALID_OPTION',
          `${op}: keyLengths[${i}] must be an integer in [0, ${Lk}] but is ${describeValue(n)}`,
        );
      }
      keyLengths[i] = n;
    }
  }

  let outShape: number[];
  let oStrides: [number, number, number];
  if (weightsOnly) {
    outShape = scoreShape;
    oStrides = [0, 0, 0];
  } else if (layout === 'BHLD') {
    outShape = [...q.shape.slice(0, q.rank - 1), dv];
    oStrides = [H * Lq * dv, Lq * dv, dv];
  } else {
    outShape = q.rank === 4 ? [B, Lq, H, dv] : [Lq, H, dv];
    oStrides = [Lq * H * dv, dv, H * dv];
  }
  const inputs = {
    [names.query]: qGiven,
    [names.key]: k,
    value: v,
    attnMask: options.attnMask,
    keyPaddingMask: options.keyPaddingMask,
    keyLengths: options.keyLengths,
    keyRows: options.keyRows,
    queryLengths: options.queryLengths,
    alibiSlopes: options.alibiSlopes,
    blockTable: options.blockTable,
  };
  const given = options.out === undefined ? null : checkOut(options.out, outShape, op, inputs, undefined, qDtype);
  // Not zero-filled: the kernel writes every output row (zeros for a row with no key; the driver
  // zeroes the whole output when Lk = 0).
  let out: FloatTensor, outData: Float32Array | Uint16Array;
  if (given !== null && qDtype !== 'float16') ({ out, data: outData } = given);
  else if (qDtype === 'bfloat16') {
    out = new Tensor(new Uint16Array(numel(outShape, 'the output')), outShape, { dtype: 'bfloat16' });
    outData = out.data;
  } else outData = (out = new Tensor(allocFloat32Unfilled(numel(outShape, 'the output'), 'the output'), outShape)).data;
  const wide = out;
  const finish = (): FloatTensor => {
    if (qDtype !== 'float16') return wide;
    const narrow = (wide as Tensor<Float32Array>).to('float16');
    if (given === null) return narrow;
    given.data.set(narrow.data);
    return given.out;
  };

  const F = ATTENTION.fields;
  const d = descriptorFor(ATTENTION);
  d[F.batch] = B;
  d[F.heads] = H;
  d[F.kvHeads] = kv.heads;
  d[F.Lq] = Lq;
  d[F.Lk] = Lk;
  d[F.dk] = dk;
  d[F.dv] = Math.max(dv, 1);
  // A key/value batch of 1 is shared by every query batch item: stride 0.
  const batchStride = (view: { batch: number; strides: readonly number[] }) =>
    view.batch === 1 && B > 1 && keyRows === null ? 0 : view.strides[0];
  d[F.qOffset] = qv.offset;
  d[F.qStrideB] = qv.strides[0];
  d[F.qStrideH] = qv.strides[1];
  d[F.qStrideL] = qv.strides[2];
  if (k !== null) {
    d[F.kOffset] = kv.offset;
    d[F.kStrideB] = paged ? kv.strides[0] : batchStride(kv);
    d[F.kStrideH] = kv.strides[1];
    d[F.kStrideL] = kv.strides[2];
  }
  if (vv !== null) {
    d[F.vOffset] = vv.offset;
    d[F.vStrideB] = paged ? vv.strides[0] : batchStride(vv);
    d[F.vStrideH] = vv.strides[1];
    d[F.vStrideL] = vv.strides[2];
  }
  d[F.outOffset] = 0;
  d[F.outStrideB] = oStrides[0];
  d[F.outStrideH] = oStrides[1];
  d[F.outStrideL] = oStrides[2];
  d[F.scale] = scale;
  d[F.causal] = isCausal ? 1 : 0;
  d[F.bottomRightAligned] = alignment === 'top-left' ? 0 : 1;
  d[F.alignToKeyLengths] = alignment === 'bottom-right-key-lengths' ? 1 : 0;
  d[F.kvBatch] = paged ? paged.rows : kv.batch;
  d[F.kvBlockSize] = paged ? paged.blockSize : 0;
  d[F.kvBlocks] = paged ? paged.blocks : 0;
  d[F.blockTableWidth] = paged ? paged.width : 0;
  d[F.kvDtype] = TYPE_CODE[kvDtype as FloatDType];
  d[F.qDtype] = qDtype === 'bfloat16' ? 1 : 0;
  d[F.maskKind] = maskKind;
  d[F.maskOffset] = maskOffset;
  d[F.maskStrideB] = maskStrides[0];
  d[F.maskStrideH] = maskStrides[1];
  d[F.maskStrideQ] = maskStrides[2];
  d[F.maskStrideK] = maskStrides[3];
  d[F.maskBooleanForbids] = polarity === 'true-masks' ? 1 : 0;
  d[F.keyPaddingKind] = kpKind;
  d[F.keyPaddingOffset] = kpOffset;
  d[F.keyPaddingStrideB] = kpStrideB;
  d[F.keyPaddingStrideK] = kpStrideK;
  d[F.windowLeft] = windowSides[0];
  d[F.windowRight] = windowSides[1];
  d[F.softcap] = softcap ?? 0;
  d[F.scoresFromLogits] = fromLogits ? 1 : 0;
  const arrays: AttentionArrays = {
    query: q.data,
    key: k === null ? null : k.data,
    value: v === null ? null : v.data,
    out: outData,
    attnMask: mask,
    keyLengths,
    keyPaddingMask: keyPadding,
    alibiSlopes: alibi,
    keyRows,
    queryLengths,
    blockTables: paged ? paged.table : null,
  };
  return { out, arrays, descriptor: d, finish };
}

/**
 * softmax(scale · Q K^T + mask) V, fused (the Lq x Lk scores never exist in memory), on the calling
 * thread. A row whose every key is masked gives zeros (PyTorch gives NaN). A bfloat16 or float16
 * query takes key and value of its dtype and gives an output of that dtype, computed in float32.
 * @returns [..., Lq, dv] in BHLD, [B, Lq, H, dv] in BLHD.
 */
export function scaledDotProductAttentionSync(
  query: Tensor<Uint16Array>,
  key: Tensor,
  value: Tensor,
  options?: AttentionOptions,
): Tensor<Uint16Array>;
// A query typed only as Tensor (lib/multihead.ts passes float32 ones) keeps the float32 result type.
export function scaledDotProductAttentionSync(
  query: Tensor,
  key: Tensor,
  value: Tensor,
  options?: AttentionOptions,
): Tensor<Float32Array>;
export function scaledDotProductAttentionSync(
  query: Tensor,
  key: Tensor,
  value: Tensor,
  options?: AttentionOptions,
): FloatTensor {
  const p = prepareAnyDtype(query, key, value, options, 'scaledDotProductAttentionSync', false, NAMES, true);
  native().attention(p.arrays, p.descriptor);
  return p.finish();
}

/**
 * As scaledDotProductAttentionSync, off the event loop. Inputs are kept alive until the promise
 * settles; writing to them before it settles gives an undefined (but memory-safe) result.
 */
export function scaledDotProductAttention(
  query: Tensor<Uint16Array>,
  key: Tensor,
  value: Tensor,
  options?: AttentionOptions,
): Promise<Tensor<Uint16Array>>;
// A query typed only as Tensor (lib/multihead.ts passes float32 ones) keeps the float32 result type.
export function scaledDotProductAttention(
  query: Tensor,
  key: Tensor,
  value: Tensor,
  options?: AttentionOptions,
): Promise<Tensor<Float32Array>>;
export async function scaledDotProductAttention(
  query: Tensor,
  key: Tensor,
  value: Tensor,
  options?: AttentionOptions,
): Promise<FloatTensor> {
  const op = 'scaledDotProductAttention';
  const p = prepareAnyDtype(query, key, value, options, op, false, NAMES, true);
  const signal = signalOf(options, op);
  await abortable(signal, (cancel) => native().attentionAsync(p.arrays, p.descriptor, cancel));
  return p.finish();
}

/**
 * The soft weights softmax(scale · Q K^T + mask) — the article's alignment matrix — materialised as
 * [..., Lq, Lk] (rows sum to 1; 0 for a fully masked row). For inspection, not for speed.
 */
export function attentionWeightsSync(query: Tensor, key: Tensor, options?: AttentionOptions): Tensor<Float32Array> {
  const p = prepareAttention(query, key, undefined, options, 'attentionWeightsSync', true);
  native().attentionWeights(p.arrays, p.descriptor);
  return p.out;
}

export async function attentionWeights(
  query: Tensor,
  key: Tensor,
  options?: AttentionOptions,
): Promise<Tensor<Float32Array>> {
  const op = 'attentionWeights';
  const p = prepareAttention(query, key, undefined, options, op, true);
  const signal = signalOf(options, op);
  await abortable(signal, (cancel) => native().attentionWeightsAsync(p.arrays, p.descriptor, cancel));
  return p.out;
}
