/**
 * The positional-attention fixtures made by test/fixtures/make_positional_fixtures.py (Debian's
 * python3-torch, float64 from float32 inputs), for the factorized and the plain-logits tests alike.
 */
import * as fs from 'fs';
import * as path from 'path';

import { readSafetensors, Tensor, type MaskTensor, type PositionalAttentionOptions } from '../../lib';

const fixtures = path.join(__dirname, '..', 'fixtures');

interface CaseJson {
  name: string;
  B: number;
  H: number;
  Lq: number;
  Lk: number;
  r: number;
  dv: number;
  options: Pick<PositionalAttentionOptions, 'scale' | 'isCausal' | 'causalAlignment' | 'maskPolarity'> & {
    keyLengths?: number[];
  };
  attnMaskDtype: 'bool' | 'float32' | null;
  keyPaddingMaskDtype: 'bool' | 'float32' | null;
}

export interface PositionalCase {
  name: string;
  B: number;
  H: number;
  Lq: number;
  Lk: number;
  /** Rank of the factors. */
  r: number;
  dv: number;
  /** U [H, Lq, r]. */
  left: Tensor<Float32Array>;
  /** W [H, Lk, r]. */
  right: Tensor<Float32Array>;
  /** P = U W^T rounded to float32 [H, Lq, Lk]: the plain form's input. */
  logits: Tensor<Float32Array>;
  /** V [B, H, Lk, dv]. */
  value: Tensor<Float32Array>;
  /** Masks (as tensors), keyLengths, scale, causal flags, polarity: pass as they are. */
  options: PositionalAttentionOptions;
  /** softmax(scale U W^T + masks) V [B, H, Lq, dv], from float64. */
  expected: Tensor<Float32Array>;
  /** softmax(scale P + masks) V from the float32 P, from float64. */
  expectedPlain: Tensor<Float32Array>;
}

function toBool(t: Tensor<Float32Array>): Tensor<Uint8Array> {
  return new Tensor(
    Uint8Array.from(t.data, (x) => (x !== 0 ? 1 : 0)),
    t.shape,
  );
}

function mask(t: Tensor<Float32Array>, dtype: 'bool' | 'float32' | null): MaskTensor | undefined {
  if (dtype === null) return undefined;
  return dtype === 'bool' ? toBool(t) : t;
}

/** Every case, each with fresh tensors (a test may write into them). */
export function loadPositionalCases(): PositionalCase[] {
  const { cases } = JSON.parse(fs.readFileSync(path.join(fixtures, 'positional_cases.json'), 'utf8')) as {
    cases: CaseJson[];
  };
  const all = readSafetensors(path.join(fixtures, 'positional.safetensors'));
  return cases.map((c) => {
    const get = (what: string) => all[`${c.name}.${what}`] as Tensor<Float32Array>;
    const options: PositionalAttentionOptions = { ...c.options };
    const attnMask = mask(get('mask.attn'), c.attnMaskDtype);
    const keyPaddingMask = mask(get('mask.key_padding'), c.keyPaddingMaskDtype);
    if (attnMask) options.attnMask = attnMask;
    if (keyPaddingMask) options.keyPaddingMask = keyPaddingMask;
    return {
      name: c.name,
      B: c.B,
      H: c.H,
      Lq: c.Lq,
      Lk: c.Lk,
      r: c.r,
      dv: c.dv,
      left: get('left'),
      right: get('right'),
      logits: get('logits'),
      value: get('value'),
      options,
      expected: get('expected'),
      expectedPlain: get('expected_plain'),
    };
  });
}
