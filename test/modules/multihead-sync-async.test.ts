/**
 * MultiHeadAttention.forward runs only async kernels (nothing blocks the event loop, the head
 * averaging of needWeights included) and forwardSync only sync ones; both give the same bits.
 * The kernels are the real ones, wrapped in jest.fn to count the calls.
 */
import * as attention from '../../lib/attention';
import * as matmulModule from '../../lib/matmul';
import { MultiHeadAttention, MultiHeadForwardOptions, Tensor } from '../../lib';
import { randomTensor, rng } from '../helpers';

jest.mock('../../lib/matmul', () => {
  const actual = jest.requireActual('../../lib/matmul');
  return {
    ...actual,
    matmul: jest.fn(actual.matmul),
    matmulSync: jest.fn(actual.matmulSync),
    linear: jest.fn(actual.linear),
    linearSync: jest.fn(actual.linearSync),
  };
});
jest.mock('../../lib/attention', () => {
  const actual = jest.requireActual('../../lib/attention');
  return {
    ...actual,
    scaledDotProductAttention: jest.fn(actual.scaledDotProductAttention),
    scaledDotProductAttentionSync: jest.fn(actual.scaledDotProductAttentionSync),
    attentionWeights: jest.fn(actual.attentionWeights),
    attentionWeightsSync: jest.fn(actual.attentionWeightsSync),
  };
});

const asyncKernels = {
  matmul: matmulModule.matmul as jest.Mock,
  linear: matmulModule.linear as jest.Mock,
  scaledDotProductAttention: attention.scaledDotProductAttention as jest.Mock,
  attentionWeights: attention.attentionWeights as jest.Mock,
};
const syncKernels = {
  matmulSync: matmulModule.matmulSync as jest.Mock,
  linearSync: matmulModule.linearSync as jest.Mock,
  scaledDotProductAttentionSync: attention.scaledDotProductAttentionSync as jest.Mock,
  attentionWeightsSync: attention.attentionWeightsSync as jest.Mock,
};

/**
 * How often each kernel of one mode ran: [matmul, linear (the projections, packed weights),
 * attention, attention weights].
 */
function callCounts(kernels: Record<string, jest.Mock>): number[] {
  return Object.values(kernels).map((fn) => fn.mock.calls.length);
}

function randomModule(E: number, H: number, dims: { kdim?: number; vdim?: number }, seed: number) {
  const r = rng(seed);
  const m = new MultiHeadAttention({ embedDim: E, numHeads: H, ...dims });
  const state: Record<string, Tensor> = {};
  for (const [name, shape] of Object.entries(m.expectedStateDict())) state[name] = randomTensor(shape, r, 0.3);
  return m.loadStateDict(state);
}

beforeEach(() => jest.clearAllMocks());

const selfAttention = { kdim: undefined, vdim: undefined };
describe.each([
  [
    'self-attention, averaged weights',
    selfAttention,
    { needWeights: true, isCausal: true },
    { matmul: 1, linear: 2, weights: 1 },
  ],
  [
    'self-attention, per-head weights',
    selfAttention,
    { needWeights: true, averageAttnWeights: false },
    { matmul: 0, linear: 2, weights: 1 },
  ],
  [
    'cross-attention, averaged weights',
    { kdim: 5, vdim: 3 },
    { needWeights: true },
    { matmul: 1, linear: 4, weights: 1 },
  ],
  ['self-attention, no weights', selfAttention, {}, { matmul: 0, linear: 2, weights: 0 }],
] as const)('%s', (_name, dims, options, calls) => {
  const E = 16,
    H = 4,
    B = 2,
    Lq = 5,
    Lk = 7;
  const mha = randomModule(E, H, dims, 1);
  const r = rng(2);
  const q = randomTensor([B, Lq, E], r);
  const k = dims.kdim === undefined ? q : randomTensor([B, Lk, dims.kdim], r);
  const v = dims.vdim === undefined ? q : randomTensor([B, Lk, dims.vdim], r);
  const opts = options as MultiHeadForwardOptions;
  const used = [calls.matmul, calls.linear, 1, calls.weights];

  test('forward calls only the async kernels, forwardSync only the sync ones, with equal results', async () => {
    const sync = mha.forwardSync(q, k, v, opts);
    expect(callCounts(asyncKernels)).toEqual([0, 0, 0, 0]);
    expect(callCounts(syncKernels)).toEqual(used);

    jest.clearAllMocks();
    const result = await mha.forward(q, k, v, opts);
    expect(callCounts(syncKernels)).toEqual([0, 0, 0, 0]);
    expect(callCounts(asyncKernels)).toEqual(used);

    expect(Array.from(result.output.data)).toEqual(Array.from(sync.output.data));
    expect(result.weights?.shape).toEqual(sync.weights?.shape);
    if (sync.weights) expect(Array.from(result.weights!.data)).toEqual(Array.from(sync.weights.data));
  });
});

test('the three projections of cross-attention are started together in forward', async () => {
  const mha = randomModule(16, 4, { kdim: 5, vdim: 3 }, 3);
  const r = rng(4);
  const pending: number[] = [];
  let running = 0;
  asyncKernels.linear.mockImplementation(async (...args: Parameters<typeof matmulModule.linear>) => {
    pending.push(++running);
    try {
      return await jest.requireActual('../../lib/matmul').linear(...args);
    } finally {
      --running;
    }
  });
  try {
    await mha.forward(randomTensor([1, 2, 16], r), randomTensor([1, 3, 5], r), randomTensor([1, 3, 3], r));
  } finally {
    asyncKernels.linear.mockImplementation(jest.requireActual('../../lib/matmul').linear);
  }
  // q, k and v in flight at once, then the output projection alone
  expect(pending).toEqual([1, 2, 3, 1]);
});

test('a failing kernel reaches the caller in both modes and its scratch buffer goes back to the pool', async () => {
  const mha = randomModule(8, 2, {}, 5);
  const x = randomTensor([1, 3, 8], rng(6));
  // the attention kernels write into the module's scratch buffer, passed as options.out
  const scratchOf = (kernel: jest.Mock) => (kernel.mock.calls.at(-1)![3] as { out: Tensor }).out.data;
  const fresh = mha.forwardSync(x, x, x).output;
  const scratch = scratchOf(syncKernels.scaledDotProductAttentionSync);
  const failure = new RangeError('kernel failed');
  syncKernels.scaledDotProductAttentionSync.mockImplementationOnce(() => {
    throw failure;
  });
  expect(() => mha.forwardSync(x, x, x)).toThrow(failure);
  asyncKernels.scaledDotProductAttention.mockImplementationOnce(async () => {
    throw failure;
  });
  await expect(mha.forward(x, x, x)).rejects.toThrow(failure);
  expect(scratchOf(asyncKernels.scaledDotProductAttention)).toBe(scratch);
  const after = mha.forwardSync(x, x, x).output;
  expect(scratchOf(syncKernels.scaledDotProductAttentionSync)).toBe(scratch);
  expect(Array.from(after.data)).toEqual(Array.from(fresh.data));
});
