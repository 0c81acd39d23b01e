/**
 * Types: forward/forwardSync return `weights` as present when the options say needWeights: true, and
 * masks are bool or float32 tensors. The `@ts-expect-error` lines fail the ts-jest compile if the
 * wrong use ever type-checks; the tests check the same calls at run time.
 */
import {
  MaskTensor,
  MultiHeadAttention,
  MultiHeadForwardResult,
  PrecomputedMemory,
  scaledDotProductAttentionSync,
  Tensor,
} from '../../lib';
import { expectClose, randomTensor, rng } from '../helpers';

const E = 8,
  H = 2,
  B = 1,
  L = 3;

function module(): MultiHeadAttention {
  const r = rng(5);
  return new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict({
    in_proj_weight: randomTensor([3 * E, E], r, 0.3),
    in_proj_bias: randomTensor([3 * E], r, 0.3),
    'out_proj.weight': randomTensor([E, E], r, 0.3),
    'out_proj.bias': randomTensor([E], r, 0.3),
  });
}

/** Compiled, never called: the uses the types must refuse. */
export function wrongUses(mha: MultiHeadAttention, x: Tensor<Float32Array>, flag: boolean): void {
  // @ts-expect-error weights may be absent without needWeights: true
  const a: Tensor<Float32Array> = mha.forwardSync(x, x, x).weights;
  // @ts-expect-error needWeights: false does not promise weights
  const b: Tensor<Float32Array> = mha.forwardSync(x, x, x, { needWeights: false }).weights;
  // @ts-expect-error a boolean that is not the literal true does not promise weights
  const c: Tensor<Float32Array> = mha.forwardSync(x, x, x, { needWeights: flag }).weights;
  const int32Mask = new Tensor(new Int32Array(L * L), [L, L]);
  // @ts-expect-error an int32 tensor is not a mask
  mha.forwardSync(x, x, x, { attnMask: int32Mask });
  // @ts-expect-error an int32 tensor is not a key padding mask
  scaledDotProductAttentionSync(x, x, x, { keyPaddingMask: new Tensor(new Int32Array(L), [1, L]) });
  void [a, b, c];
}

/** Compiled, never called: a PrecomputedMemory stands for key and value together. */
export function wrongMemoryUses(mha: MultiHeadAttention, x: Tensor<Float32Array>, memory: PrecomputedMemory): void {
  // @ts-expect-error a memory takes the place of both key and value
  mha.forwardSync(x, memory, x);
  // @ts-expect-error weights may be absent without needWeights: true
  const w: Tensor<Float32Array> = mha.forwardSync(x, memory).weights;
  void w;
}

describe('MultiHeadAttention result types', () => {
  const x = randomTensor([B, L, E], rng(6));

  test('needWeights: true gives weights typed as present, sync and async', async () => {
    const mha = module();
    const sync = mha.forwardSync(x, x, x, { needWeights: true });
    const syncWeights: Tensor<Float32Array> = sync.weights;
    expect(syncWeights.shape).toEqual([B, L, L]);
    const perHead = await mha.forward(x, x, x, { needWeights: true, averageAttnWeights: false });
    const asyncWeights: Tensor<Float32Array> = perHead.weights;
    expect(asyncWeights.shape).toEqual([B, H, L, L]);
  });

  test('without needWeights the result has no weights', async () => {
    const mha = module();
    const result: MultiHeadForwardResult = mha.forwardSync(x, x, x, { needWeights: false });
    expect(result.weights).toBeUndefined();
    expect((await mha.forward(x, x, x)).weights).toBeUndefined();
  });

  test('forward(query, memory) type-checks, with weights typed as present under needWeights: true', async () => {
    const mha = module();
    const memory: PrecomputedMemory = mha.precomputeSync(x, x);
    const sync: Tensor<Float32Array> = mha.forwardSync(x, memory, { needWeights: true }).weights;
    const result: MultiHeadForwardResult = await mha.forward(x, memory);
    expectClose(result.output.data, mha.forwardSync(x, x, x).output.data, 1e-6, 1e-6, 'memory vs key and value');
    expect(sync.shape).toEqual([B, L, L]);
    expect(() => wrongMemoryUses(mha, x, memory)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  test('bool and float32 masks are accepted; an int32 one is refused at run time too', () => {
    const mha = module();
    const causal: MaskTensor = Tensor.from([
      [false, true, true],
      [false, false, true],
      [false, false, false],
    ]);
    const additive: MaskTensor = Tensor.from([
      [0, -Infinity, -Infinity],
      [0, 0, -Infinity],
      [0, 0, 0],
    ]);
    const byBool = mha.forwardSync(x, x, x, { attnMask: causal }).output;
    const byFloat = mha.forwardSync(x, x, x, { attnMask: additive }).output;
    expectClose(byFloat.data, byBool.data, 1e-6, 1e-6, 'bool vs float mask');
    expect(() => wrongUses(mha, x, true)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_DTYPE' }));
  });
});
