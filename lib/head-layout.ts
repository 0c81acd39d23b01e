/**
 * Reading a [B, H, L, d] (BHLD) or [B, L, H, d] (BLHD) tensor as heads with strides, for the ops of
 * the other attention variants (linear attention, rotary embedding). Ranks as in
 * scaledDotProductAttention: BHLD also [L, d] and [N, L, d]; BLHD also [L, H, d].
 */
import { rangeError } from './errors';
import { formatShape } from './shape';
import { Tensor } from './tensor';

export type HeadLayout = 'BHLD' | 'BLHD';

export interface Heads {
  batch: number;
  heads: number;
  rows: number;
  dim: number;
  offset: number;
  /** Element strides of batch, head and row; the last dimension is contiguous. */
  strides: [number, number, number];
}

export function headsOf(t: Tensor, name: string, layout: HeadLayout, op: string): Heads {
  const s = t.shape,
    st = t.strides;
  let v: Heads;
  if (layout === 'BHLD') {
    if (t.rank === 2) v = { batch: 1, heads: 1, rows: s[0], dim: s[1], offset: t.offset, strides: [0, 0, st[0]] };
    else if (t.rank === 3)
      v = { batch: s[0], heads: 1, rows: s[1], dim: s[2], offset: t.offset, strides: [st[0], 0, st[1]] };
    else if (t.rank === 4)
      v = { batch: s[0], heads: s[1], rows: s[2], dim: s[3], offset: t.offset, strides: [st[0], st[1], st[2]] };
    else
      throw rangeError(
        'ERR_INVALID_SHAPE',
        `${op}: Expected ${name} to be [L, d], [N, L, d] or [B, H, L, d] (layout BHLD) ` +
          `but received shape ${formatShape(s)}`,
      );
  } else {
    if (t.rank === 3)
      v = { batch: 1, heads: s[1], rows: s[0], dim: s[2], offset: t.offset, strides: [0, st[1], st[0]] };
    else if (t.rank === 4)
      v = { batch: s[0], heads: s[2], rows: s[1], dim: s[3], offset: t.offset, strides: [st[0], st[2], st[1]] };
    else
      throw rangeError(
        'ERR_INVALID_SHAPE',
        `${op}: Expected ${name} to be [L, H, d] or [B, L, H, d] (layout BLHD) but received shape ${formatShape(s)}`,
      );
  }
  if (v.dim > 1 && st[t.rank - 1] !== 1) {
    throw rangeError(
      'ERR_NOT_CONTIGUOUS',
      `${op}: ${name}'s last dimension must be contiguous (stride 1) but its strides are ${formatShape(st)}`,
    );
  }
  return v;
}

/** The shape of a result with `rows` rows of width `dim` in the input's layout and rank. */
export function resultShape(t: Tensor, layout: HeadLayout, h: Heads, rows: number, dim: number): number[] {
  if (layout === 'BHLD') return [...t.shape.slice(0, t.rank - 2), rows, dim];
  return t.rank === 4 ? [h.batch, rows, h.heads, dim] : [rows, h.heads, dim];
}

/** Strides [batch, head, row] of a contiguous result made by resultShape. */
export function resultStrides(layout: HeadLayout, h: Heads, rows: number, dim: number): [number, number, number] {
  return layout === 'BHLD' ? [h.heads * rows * dim, rows * dim, dim] : [rows * h.heads * dim, dim, h.heads * dim];
}
