/**
 * Positional and factorized positional attention (docs/SPEC.md section 7; PARec / FPARec): the
 * weights depend on positions only, through learned per-head logits shared by every batch item.
 *   positional: softmax(scale · P_h + masks) V[b, h]         — the fused kernel reading P_h as its scores.
 *   factorized: softmax(scale · U_h W_h^T + masks) V[b, h]  — the fused kernel with U, W as Q, K.
 */
import type { AbortSignalLike } from './abort';
import { abortable } from './abort';
import { native } from './binding';
import { prepareAttention, type CausalAlignment } from './attention';
import { rangeError } from './errors';
import { formatShape } from './shape';
import { MaskTensor, Tensor } from './tensor';
import { callFormOf, optionKeys } from './option-keys';
import { expectOptions, expectTensor, signalOf } from './validate';

export interface PositionalAttentionOptions {
  /** Multiplies the logits; default 1 / sqrt(dv), the width of a value head. */
  scale?: number;
  /** Causal masking (key j may be read by query i only when j <= i, aligned as causalAlignment says). */
  isCausal?: boolean;
  /** 'top-left' (j <= i, the default) or 'bottom-right' (j <= i + Lk - Lq). */
  causalAlignment?: CausalAlignment;
  /** Per batch item, only the first keyLengths[b] keys count. */
  keyLengths?: Int32Array | readonly number[] | Tensor;
  /** [B, Lk]: bool TRUE AT PADDING, or float32 added to the logits. */
  keyPaddingMask?: MaskTensor;
  /** Broadcastable to [B, H, Lq, Lk]: bool TRUE WHERE ALLOWED (SDPA polarity), or float32 added. */
  attnMask?: MaskTensor;
  /** What `true` means in a bool attnMask: 'true-allows' (the default) or 'true-masks'. */
  maskPolarity?: 'true-allows' | 'true-masks';
  /** Write the [B, H, Lq, dv] result here (float32, contiguous, sharing no bytes with an input). */
  out?: Tensor;
  /** Promise form only: aborting it rejects the call with an AbortError and stops its kernel. */
  signal?: AbortSignalLike;
}

const POSITIONAL_OPTION_KEYS = optionKeys<PositionalAttentionOptions>({
  scale: true,
  isCausal: true,
  causalAlignment: true,
  keyLengths: true,
  keyPaddingMask: true,
  attnMask: true,
  maskPolarity: true,
  out: true,
});

interface ValueHeads {
  value: Tensor<Float32Array>;
  B: number;
  H: number;
  Lk: number;
  dv: number;
}

function valueHeads(valueIn: unknown, op: string): ValueHeads {
  const value = expectTensor(valueIn, 'value', ['float32'], op) as Tensor<Float32Array>;
  if (value.rank !== 4) {
    throw rangeError(
      'ERR_INVALID_SHAPE',
      `${op}: Expected value to be [B, H, Lk, dv] but received shape ${formatShape(value.shape)}`,
    );
  }
  const [B, H, Lk, dv] = value.shape;
  return { value, B, H, Lk, dv };
}

/**
 * A per-head operand [H, L, n] (or [L, n], shared by every head) seen as [B, H, L, n] without a copy:
 * stride 0 over the batch (and over the heads for rank 2).
 */
function broadcastPerHead(
  t: Tensor<Float32Array>,
  name: string,
  H: number,
  B: number,
  what: string,
  op: string,
): Tensor<Float32Array> {
  if (t.rank !== 2 && t.rank !== 3) {
    throw rangeError(
      'ERR_INVALID_SHAPE',
      `${op}: Expected ${name} to be ${what} (or without H, shared by every head) but received shape ` +
        formatShape(t.shape),
    );
  }
  const heads = t.rank === 3 ? t.shape[0] : 1;
  if (heads !== H && heads !== 1) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: ${name} has ${heads} heads but value has ${H} (${name} ${formatShape(t.shape)})`,
    );
  }
  const [L, n] = t.shape.slice(-2);
  if (n > 1 && t.strides[t.rank - 1] !== 1) {
    throw rangeError(
      'ERR_NOT_CONTIGUOUS',
      `${op}: ${name}'s last dimension must be contiguous (stride 1) but its strides are ${formatShape(t.strides)}`,
    );
  }
  const headStride = t.rank === 3 && heads === H ? t.strides[0] : 0;
  return new Tensor(t.data, [B, H, L, n], { strides: [0, headStride, t.strides[t.rank - 2], 1], offset: t.offset });
}

function prepareFactorized(leftIn: unknown, rightIn: unknown, valueIn: unknown, optionsIn: unknown, op: string) {
  const left = expectTensor(leftIn, 'left', ['float32'], op) as Tensor<Float32Array>;
  const right = expectTensor(rightIn, 'right', ['float32'], op) as Tensor<Float32Array>;
  const { value, B, H, Lk } = valueHeads(valueIn, op);
  const options = expectOptions(optionsIn, op, POSITIONAL_OPTION_KEYS, callFormOf(op));
  const shapes = `left ${formatShape(left.shape)}, right ${formatShape(right.shape)}, value ${formatShape(value.shape)}`;
  const u = broadcastPerHead(left, 'left', H, B, '[H, Lq, r]', op);
  const w = broadcastPerHead(right, 'right', H, B, '[H, Lk, r]', op);
  if (u.shape[3] !== w.shape[3]) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: left and right must have the same rank r (last dimension); received ${shapes}`,
    );
  }
  if (w.shape[2] !== Lk) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: right has ${w.shape[2]} positions but value has ${Lk} keys; received ${shapes}`,
    );
  }
  const scale = options.scale ?? 1 / Math.sqrt(value.shape[3]);
  const attentionOptions = { ...options, scale };
  return prepareAttention(u, w, value, attentionOptions, op, false, { query: 'left', key: 'right' });
}

/**
 * Factorized positional attention (FPARec): softmax(scale · U_h W_h^T + masks) V[b, h], on the
 * calling thread, in the fused kernel (the [Lq, Lk] logits never exist).
 * @param left  [H, Lq, r] (or [Lq, r]): per-head query-position factors, shared by the batch.
 * @param right [H, Lk, r] (or [Lk, r]): per-head key-position factors.
 * @param value [B, H, Lk, dv].
 * @returns [B, H, Lq, dv].
 */
export function factorizedPositionalAttentionSync(
  left: Tensor,
  right: Tensor,
  value: Tensor,
  options?: PositionalAttentionOptions,
): Tensor<Float32Array> {
  const p = prepareFactorized(left, right, value, options, 'factorizedPositionalAttentionSync');
  native().attention(p.arrays, p.descriptor);
  return p.out;
}

/** As factorizedPositionalAttentionSync, off the event loop; the inputs are kept alive until it settles. */
export async function factorizedPositionalAttention(
  left: Tensor,
  right: Tensor,
  value: Tensor,
  options?: PositionalAttentionOptions,
): Promise<Tensor<Float32Array>> {
  const op = 'factorizedPositionalAttention';
  const p = prepareFactorized(left, right, value, options, op);
  const signal = signalOf(options, op);
  await abortable(signal, (cancel) => native().attentionAsync(p.arrays, p.descriptor, cancel));
  return p.out;
}

function preparePositional(logitsIn: unknown, valueIn: unknown, optionsIn: unknown, op: string) {
  const logits = expectTensor(logitsIn, 'logits', ['float32'], op) as Tensor<Float32Array>;
  const { value, B, H, Lk, dv } = valueHeads(valueIn, op);
  const options = expectOptions(optionsIn, op, POSITIONAL_OPTION_KEYS, callFormOf(op));
  const shapes = `logits ${formatShape(logits.shape)}, value ${formatShape(value.shape)}`;
  const p = broadcastPerHead(logits, 'logits', H, B, '[H, Lq, Lk]', op);
  if (p.shape[3] !== Lk) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: logits has ${p.shape[3]} keys (last dimension) but value has ${Lk}; received ${shapes}`,
    );
  }
  if (Lk > 1 && logits.strides[logits.rank - 1] !== 1) {
    throw rangeError(
      'ERR_NOT_CONTIGUOUS',
      `${op}: logits' last dimension must be contiguous (stride 1) but its strides are ${formatShape(logits.strides)}`,
    );
  }
  const scale = options.scale ?? 1 / Math.sqrt(dv);
  return prepareAttention(p, null, value, { ...options, scale }, op, false, { query: 'logits', key: 'key' });
}

/**
 * Positional attention (PARec): softmax(scale · P_h + masks) V[b, h], on the calling thread. The
 * logits stream through the fused kernel's online softmax: never copied, no score buffer.
 * @param logits [H, Lq, Lk] (or [Lq, Lk], shared by every head): learned, shared by the batch; any
 *   strides with the last dimension contiguous.
 * @param value  [B, H, Lk, dv].
 * @returns [B, H, Lq, dv].
 */
export function positionalAttentionSync(
  logits: Tensor,
  value: Tensor,
  options?: PositionalAttentionOptions,
): Tensor<Float32Array> {
  const p = preparePositional(logits, value, options, 'positionalAttentionSync');
  native().attention(p.arrays, p.descriptor);
  return p.out;
}

/** As positionalAttentionSync, off the event loop; the inputs are kept alive until it settles. */
export async function positionalAttention(
  logits: Tensor,
  value: Tensor,
  options?: PositionalAttentionOptions,
): Promise<Tensor<Float32Array>> {
  const op = 'positionalAttention';
  const p = preparePositional(logits, value, options, op);
  const signal = signalOf(options, op);
  await abortable(signal, (cancel) => native().attentionAsync(p.arrays, p.descriptor, cancel));
  return p.out;
}
