/**
 * MultiHeadAttention: parity with PyTorch's nn.MultiheadAttention through fixtures made by
 * test/fixtures/make_fixtures.py (Debian's python3-torch), plus weight-loading errors.
 */
import * as fs from 'fs';
import * as path from 'path';

import { backendInfo, MultiHeadAttention, readSafetensors, Tensor } from '../../lib';
import { expectClose } from '../helpers';

const isa = backendInfo().isa;
const fixtures = path.join(__dirname, '..', 'fixtures');

interface FixtureCase {
  name: string;
  module: { embedDim: number; numHeads: number; kdim: number; vdim: number; bias: boolean };
  selfAttention: boolean;
  attnMaskDtype: 'bool' | 'float32' | null;
  keyPaddingMaskDtype: 'bool' | 'float32' | null;
  isCausal: boolean;
  needWeights: boolean;
  averageAttnWeights: boolean;
  nanRows: boolean;
}

const { cases } = JSON.parse(fs.readFileSync(path.join(fixtures, 'cases.json'), 'utf8')) as { cases: FixtureCase[] };

function toBool(t: Tensor): Tensor<Uint8Array> {
  return new Tensor(
    Uint8Array.from(t.data as Float32Array, (x) => (x !== 0 ? 1 : 0)),
    t.shape,
  );
}

describe(`MultiHeadAttention vs PyTorch nn.MultiheadAttention (${isa})`, () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const file = path.join(fixtures, `mha_${c.name}.safetensors`);
    const all = readSafetensors(file) as Record<string, Tensor<Float32Array>>; // the fixtures are F32
    const state: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(all)) if (!k.includes('.') || k.startsWith('out_proj.')) state[k] = v;
    const mha = new MultiHeadAttention(c.module).loadStateDict(state);
    const q = all['input.query'];
    const k = c.selfAttention ? q : all['input.key'];
    const v = c.selfAttention ? q : all['input.value'];
    const options = {
      attnMask:
        c.attnMaskDtype === null ? undefined : c.attnMaskDtype === 'bool' ? toBool(all['mask.attn']) : all['mask.attn'],
      keyPaddingMask:
        c.keyPaddingMaskDtype === null
          ? undefined
          : c.keyPaddingMaskDtype === 'bool'
            ? toBool(all['mask.key_padding'])
            : all['mask.key_padding'],
      isCausal: c.isCausal,
      needWeights: c.needWeights,
      averageAttnWeights: c.averageAttnWeights,
    };
    const want = all['expected.output'].data;
    const sync = mha.forwardSync(q, k, v, options);
    expect(sync.output.shape).toEqual(all['expected.output'].shape);
    // Rows PyTorch turns into NaN (every key masked): here the attention part is zero, so the
    // output row is out_proj.bias.
    const E = c.module.embedDim;
    const expected = Float32Array.from(want);
    if (c.nanRows) {
      const bias = state['out_proj.bias'].data as Float32Array;
      for (let r = 0; r < expected.length / E; ++r) {
        if (Number.isNaN(expected[r * E])) expected.set(bias, r * E);
      }
    }
    expectClose(sync.output.data, expected, 1e-4, 1e-4, `${c.name} output`);
    if (c.needWeights) {
      const w = all['expected.weights'];
      expect(sync.weights?.shape).toEqual(w.shape);
      const ww = Float32Array.from(w.data as Float32Array, (x) => (Number.isNaN(x) ? 0 : x));
      expectClose(sync.weights!.data, ww, 1e-4, 1e-4, `${c.name} weights`);
    }
    const asyncResult = await mha.forward(q, k, v, options);
    expect(Array.from(asyncResult.output.data)).toEqual(Array.from(sync.output.data));
  });
});

describe('MultiHeadAttention weights', () => {
  const mha = () => new MultiHeadAttention({ embedDim: 8, numHeads: 2 });
  const good = () => ({
    in_proj_weight: Tensor.zeros([24, 8]),
    in_proj_bias: Tensor.zeros([24]),
    'out_proj.weight': Tensor.zeros([8, 8]),
    'out_proj.bias': Tensor.zeros([8]),
  });

  test('a missing, unknown or mis-shaped entry lists what was expected and what came', () => {
    const missing: Record<string, Tensor> = good();
    delete missing.in_proj_bias;
    expect(() => mha().loadStateDict(missing)).toThrow(/missing in_proj_bias \[24\].*Expected exactly/);
    expect(() => mha().loadStateDict({ ...good(), extra: Tensor.zeros([1]) })).toThrow(/unexpected extra/);
    expect(() => mha().loadStateDict({ ...good(), in_proj_weight: Tensor.zeros([8, 24]) })).toThrow(
      /in_proj_weight must be \[24, 8\], received \[8, 24\]/,
    );
    try {
      mha().loadStateDict({});
    } catch (e) {
      expect((e as { code: string }).code).toBe('ERR_INVALID_WEIGHTS');
    }
  });

  test('kdim/vdim need separate projection weights', () => {
    const m = new MultiHeadAttention({ embedDim: 8, numHeads: 2, kdim: 5, vdim: 3 });
    expect(m.expectedStateDict()).toEqual({
      q_proj_weight: [8, 8],
      k_proj_weight: [8, 5],
      v_proj_weight: [8, 3],
      in_proj_bias: [24],
      'out_proj.weight': [8, 8],
      'out_proj.bias': [8],
    });
  });

  test('forward before loading weights, and bad module options', () => {
    expect(() => mha().forwardSync(Tensor.zeros([1, 2, 8]), Tensor.zeros([1, 2, 8]), Tensor.zeros([1, 2, 8]))).toThrow(
      /no weights loaded/,
    );
    expect(() => new MultiHeadAttention({ embedDim: 10, numHeads: 3 })).toThrow(/divisible/);
    expect(() => new MultiHeadAttention({ embedDim: -2, numHeads: 1 })).toThrow(
      /Expected a positive integer for embedDim but received -2 of type number/,
    );
  });

  test('input shapes are checked and named', () => {
    const m = mha().loadStateDict(good());
    expect(() => m.forwardSync(Tensor.zeros([1, 2, 7]), Tensor.zeros([1, 2, 8]), Tensor.zeros([1, 2, 8]))).toThrow(
      /query \[1, 2, 7\]/,
    );
    expect(() =>
      m.forwardSync(Tensor.zeros([1, 2, 8]), Tensor.zeros([1, 2, 8]), Tensor.zeros([1, 2, 8]), {
        attnMask: Tensor.zeros([3, 3]),
      }),
    ).toThrow(/attnMask must be \[2, 2\]/);
  });
});
