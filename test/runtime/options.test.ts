/**
 * Strict options: every options argument of every export refuses a key it does not know with an
 * ERR_INVALID_OPTION TypeError naming the op and the key, and the nearest valid key when one is near.
 * The table of calls below is checked against lib/index.ts's declarations (TypeScript's compiler
 * API), so an export or method that takes options but is missing here fails the first test.
 */
import * as path from 'path';
import ts from 'typescript';

import {
  AdditiveAttention,
  applyRotaryEmbedding,
  applyRotaryEmbeddingSync,
  attentionWeights,
  attentionWeightsSync,
  CBAM,
  encodeSafetensors,
  factorizedPositionalAttention,
  factorizedPositionalAttentionSync,
  KVCache,
  linearAttention,
  LinearAttentionState,
  linearAttentionSync,
  LuongAttention,
  matmul,
  matmulSync,
  MultiHeadAttention,
  positionalAttention,
  positionalAttentionSync,
  renderHeatmapSVG,
  scaledDotProductAttention,
  scaledDotProductAttentionSync,
  softAlign,
  softAlignSync,
  SqueezeExcitation,
  Tensor,
} from '../../lib';
import { closestName, editDistance } from '../../lib/suggest';

type Options = Record<string, unknown>;
/** Calls the op with `extra` merged into options it accepts (constructors need their sizes). */
type Call = (extra: Options) => unknown;

const zeros = (shape: number[]) => Tensor.zeros(shape);
const q4 = zeros([1, 2, 3, 4]);
const x3 = zeros([1, 3, 4]);

function mhaStateDict(): Record<string, Tensor> {
  const shapes = new MultiHeadAttention({ embedDim: 4, numHeads: 2 }).expectedStateDict();
  return Object.fromEntries(Object.entries(shapes).map(([name, shape]) => [name, zeros(shape)]));
}
function loadedMha(): MultiHeadAttention {
  return new MultiHeadAttention({ embedDim: 4, numHeads: 2 }).loadStateDict(mhaStateDict());
}
const mha = loadedMha();
const mhaFile = encodeSafetensors(mhaStateDict());
const additive = new AdditiveAttention({ queryDim: 4, keyDim: 4, hiddenDim: 4 }).loadWeights({
  W1: zeros([4, 4]),
  W2: zeros([4, 4]),
  v: zeros([4]),
});
const luong = new LuongAttention({ score: 'dot', queryDim: 4, keyDim: 4 });
const se = new SqueezeExcitation({ channels: 4, reduction: 2 }).loadWeights({
  'fc1.weight': zeros([2, 4]),
  'fc1.bias': zeros([2]),
  'fc2.weight': zeros([4, 2]),
  'fc2.bias': zeros([4]),
});
const cbam = new CBAM({ channels: 4, reduction: 2, kernelSize: 3 }).loadWeights({
  'channel.fc1.weight': zeros([2, 4]),
  'channel.fc1.bias': zeros([2]),
  'channel.fc2.weight': zeros([4, 2]),
  'channel.fc2.bias': zeros([4]),
  'spatial.conv.weight': zeros([1, 2, 3, 3]),
});
const map = zeros([1, 4, 3, 3]);
const state = () => new LinearAttentionState({ batch: 1, heads: 2, keyDim: 4, valueDim: 4 });

/** Every export and public method with an options argument, keyed as lib/index.ts declares it. */
const CALLS: Record<string, Call> = {
  'new Tensor': (o) => new Tensor(new Float32Array(4), [4], o),
  'Tensor.zeros': (o) => Tensor.zeros([4], o),
  matmulSync: (o) => matmulSync(zeros([2, 3]), zeros([3, 2]), o),
  matmul: (o) => matmul(zeros([2, 3]), zeros([3, 2]), o),
  scaledDotProductAttentionSync: (o) => scaledDotProductAttentionSync(q4, q4, q4, o),
  scaledDotProductAttention: (o) => scaledDotProductAttention(q4, q4, q4, o),
  attentionWeightsSync: (o) => attentionWeightsSync(q4, q4, o),
  attentionWeights: (o) => attentionWeights(q4, q4, o),
  'new MultiHeadAttention': (o) => new MultiHeadAttention({ embedDim: 4, numHeads: 2, ...o }),
  'MultiHeadAttention.fromSafetensors': (o) =>
    MultiHeadAttention.fromSafetensors(mhaFile, { embedDim: 4, numHeads: 2, ...o }),
  'MultiHeadAttention.forwardSync': (o) => mha.forwardSync(x3, x3, x3, o),
  'MultiHeadAttention.forward': (o) => mha.forward(x3, x3, x3, o),
  'MultiHeadAttention.loadStateDict': (o) => loadedMha().loadStateDict(mhaStateDict(), o),
  'MultiHeadAttention.loadSafetensors': (o) => loadedMha().loadSafetensors(mhaFile, o),
  'MultiHeadAttention.precompute': (o) => mha.precompute(x3, x3, o),
  'new KVCache': (o) => new KVCache({ batch: 1, numKeyValueHeads: 2, headDim: 2, capacity: 4, ...o }),
  'new AdditiveAttention': (o) => new AdditiveAttention({ queryDim: 4, keyDim: 4, hiddenDim: 4, ...o }),
  'AdditiveAttention.forwardSync': (o) => additive.forwardSync(zeros([1, 4]), x3, o),
  'AdditiveAttention.forward': (o) => additive.forward(zeros([1, 4]), x3, o),
  'AdditiveAttention.precompute': (o) => additive.precompute(x3, o),
  'new LuongAttention': (o) => new LuongAttention({ score: 'dot', queryDim: 4, keyDim: 4, ...o }),
  'LuongAttention.forwardSync': (o) => luong.forwardSync(zeros([1, 4]), x3, o),
  'LuongAttention.forward': (o) => luong.forward(zeros([1, 4]), x3, o),
  renderHeatmapSVG: (o) => renderHeatmapSVG([[1]], o),
  linearAttentionSync: (o) => linearAttentionSync(q4, q4, q4, o),
  linearAttention: (o) => linearAttention(q4, q4, q4, o),
  'new LinearAttentionState': (o) => new LinearAttentionState({ batch: 1, heads: 2, keyDim: 4, valueDim: 4, ...o }),
  'LinearAttentionState.stepSync': (o) => state().stepSync(q4, q4, q4, o),
  'LinearAttentionState.step': (o) => state().step(q4, q4, q4, o),
  applyRotaryEmbeddingSync: (o) => applyRotaryEmbeddingSync(q4, o),
  applyRotaryEmbedding: (o) => applyRotaryEmbedding(q4, o),
  softAlignSync: (o) => softAlignSync(x3, zeros([1, 2, 4]), o),
  softAlign: (o) => softAlign(x3, zeros([1, 2, 4]), o),
  positionalAttentionSync: (o) => positionalAttentionSync(zeros([2, 3, 3]), q4, o),
  positionalAttention: (o) => positionalAttention(zeros([2, 3, 3]), q4, o),
  factorizedPositionalAttentionSync: (o) =>
    factorizedPositionalAttentionSync(zeros([2, 3, 2]), zeros([2, 3, 2]), q4, o),
  factorizedPositionalAttention: (o) => factorizedPositionalAttention(zeros([2, 3, 2]), zeros([2, 3, 2]), q4, o),
  'new SqueezeExcitation': (o) => new SqueezeExcitation({ channels: 4, reduction: 2, ...o }),
  'new CBAM': (o) => new CBAM({ channels: 4, reduction: 2, ...o }),
  'SqueezeExcitation.forward': (o) => se.forward(map, o),
  'CBAM.forward': (o) => cbam.forward(map, o),
};

/** The op name errors use: the class for a constructor (and for fromSafetensors, which constructs). */
function opOf(name: string): string {
  if (name === 'MultiHeadAttention.fromSafetensors') return 'MultiHeadAttention';
  return name.replace(/^new /, '');
}

/** The Sync / Promise pairs: `xSync` and `x` both in the table. */
const PAIRS = Object.keys(CALLS)
  .filter((name) => name.endsWith('Sync') && CALLS[name.replace(/Sync$/, '')] !== undefined)
  .map((sync) => [sync, sync.replace(/Sync$/, '')] as const);

/** Promise forms whose Sync form takes no options (only the Promise form has one: its signal). */
const SIGNAL_ONLY = [
  'AdditiveAttention.precompute',
  'MultiHeadAttention.precompute',
  'SqueezeExcitation.forward',
  'CBAM.forward',
];

function isPromiseForm(name: string): boolean {
  return SIGNAL_ONLY.includes(name) || PAIRS.some(([, promise]) => promise === name);
}

interface Outcome {
  error?: { code?: string; message: string; name: string };
  threwSynchronously: boolean;
}

/** Runs a call to the end: its error (a throw or a rejection), or none. */
async function outcome(call: Call, extra: Options): Promise<Outcome> {
  let result: unknown;
  try {
    result = call(extra);
  } catch (e) {
    return { error: e as Outcome['error'], threwSynchronously: true };
  }
  try {
    await result;
  } catch (e) {
    return { error: e as Outcome['error'], threwSynchronously: false };
  }
  return { threwSynchronously: false };
}

/** Declarations with a parameter named options or typed ...Options, found by the TypeScript checker. */
function declaredCallsWithOptions(): string[] {
  const index = path.join(__dirname, '../../lib/index.ts');
  const program = ts.createProgram([index], {
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    types: ['node'],
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(index) as ts.SourceFile;
  const takesOptions = (signature: ts.Signature) =>
    signature.getParameters().some((p) => {
      const type = checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(p, source));
      return /^options/i.test(p.getName()) || /Options$/.test(checker.typeToString(type));
    });
  const isPublic = (member: ts.Symbol) =>
    (member.declarations ?? []).every(
      (d) => (ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) === 0,
    );
  const found: string[] = [];
  const addMethods = (owner: string, type: ts.Type) => {
    for (const member of checker.getPropertiesOfType(type)) {
      if (member.getName() === 'prototype' || !isPublic(member)) continue;
      const memberType = checker.getTypeOfSymbolAtLocation(member, source);
      if (memberType.getCallSignatures().some(takesOptions)) found.push(`${owner}.${member.getName()}`);
    }
  };
  for (const exported of checker.getExportsOfModule(checker.getSymbolAtLocation(source) as ts.Symbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const name = exported.getName();
    if (symbol.flags & ts.SymbolFlags.Function) {
      if (checker.getTypeOfSymbolAtLocation(symbol, source).getCallSignatures().some(takesOptions)) found.push(name);
    } else if (symbol.flags & ts.SymbolFlags.Class) {
      const classType = checker.getTypeOfSymbolAtLocation(symbol, source);
      if (classType.getConstructSignatures().some(takesOptions)) found.push(`new ${name}`);
      addMethods(name, classType);
      addMethods(name, checker.getDeclaredTypeOfSymbol(symbol));
    }
  }
  return found;
}

describe('strict options', () => {
  test('the table holds exactly the exports and public methods that take options', () => {
    expect(declaredCallsWithOptions().sort()).toEqual(Object.keys(CALLS).sort());
  });

  test.each(Object.keys(CALLS))('%s accepts its own options (the baseline of the table)', async (name) => {
    expect((await outcome(CALLS[name], {})).error).toBeUndefined();
  });

  test.each(Object.keys(CALLS))('%s refuses an unknown key with ERR_INVALID_OPTION', async (name) => {
    const { error, threwSynchronously } = await outcome(CALLS[name], { notAnOption: 1 });
    expect(error).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_OPTION' });
    expect(error?.message).toContain(`${opOf(name)}: unknown option "notAnOption"; valid options are `);
    // A Promise form reports it as a rejection, never a synchronous throw.
    expect(threwSynchronously).toBe(!isPromiseForm(name));
  });

  test.each(Object.keys(CALLS))('%s refuses an unknown key even when its value is undefined', async (name) => {
    const { error } = await outcome(CALLS[name], { notAnOption: undefined });
    expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION', message: expect.stringMatching(/"notAnOption"/) });
  });

  test('isCasual suggests isCausal, attn_mask suggests attnMask, wherever the option exists', async () => {
    const withIsCausal = [
      'scaledDotProductAttentionSync',
      'scaledDotProductAttention',
      'attentionWeightsSync',
      'attentionWeights',
      'MultiHeadAttention.forwardSync',
      'MultiHeadAttention.forward',
      'linearAttentionSync',
      'linearAttention',
    ];
    for (const name of withIsCausal) {
      const { error } = await outcome(CALLS[name], { isCasual: true });
      expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION' });
      expect(error?.message).toBe(`${name}: unknown option "isCasual"; did you mean isCausal?`);
    }
    const mask = new Tensor(new Uint8Array(9).fill(1), [3, 3]);
    for (const name of withIsCausal.slice(0, 6)) {
      const { error } = await outcome(CALLS[name], { attn_mask: mask });
      expect(error?.message).toBe(`${name}: unknown option "attn_mask"; did you mean attnMask?`);
    }
  });

  test('more near misses: case, snake_case, a missing or swapped letter', async () => {
    const cases: [string, Options, string][] = [
      ['matmulSync', { transpose_b: true }, 'transposeB'],
      ['matmulSync', { TransposeA: true }, 'transposeA'],
      ['scaledDotProductAttentionSync', { scal: 0.5 }, 'scale'],
      ['scaledDotProductAttentionSync', { key_padding_mask: null }, 'keyPaddingMask'],
      ['new MultiHeadAttention', { num_key_value_heads: 2 }, 'numKeyValueHeads'],
      ['new KVCache', { hugepages: false }, 'hugePages'],
      ['new Tensor', { stride: [1] }, 'strides'],
      ['applyRotaryEmbeddingSync', { rotary_dim: 2 }, 'rotaryDim'],
      ['linearAttentionSync', { feature_map: 'relu' }, 'featureMap'],
      ['renderHeatmapSVG', { rowLabel: ['a'] }, 'rowLabels'],
      ['new CBAM', { kernel_size: 3 }, 'kernelSize'],
      ['LuongAttention.forwardSync', { keyLength: [3] }, 'keyLengths'],
      ['softAlignSync', { mask_a: null }, 'maskA'],
      ['linearAttention', { signl: undefined }, 'signal'],
    ];
    for (const [name, extra, suggestion] of cases) {
      const { error } = await outcome(CALLS[name], extra);
      expect(error?.message).toContain(`did you mean ${suggestion}?`);
    }
  });

  test('with no near key, the message lists the valid ones', async () => {
    const { error } = await outcome(CALLS.matmulSync, { mask: null });
    expect(error?.message).toBe(
      'matmulSync: unknown option "mask"; valid options are transposeA, transposeB, bias, out',
    );
    const { error: promiseError } = await outcome(CALLS.matmul, { mask: null });
    expect(promiseError?.message).toBe(
      'matmul: unknown option "mask"; valid options are transposeA, transposeB, bias, out, signal',
    );
  });

  test.each(PAIRS)('%s refuses signal (it is for %s); the Promise form takes it', async (sync, promise) => {
    const signal = new AbortController().signal;
    const { error } = await outcome(CALLS[sync], { signal });
    expect(error).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_OPTION' });
    expect(error?.message).toBe(
      `${opOf(sync)}: the signal option is for the Promise form, ${opOf(promise)}; a Sync call cannot be aborted`,
    );
    expect((await outcome(CALLS[promise], { signal })).error).toBeUndefined();
    expect((await outcome(CALLS[promise], { signal: undefined })).error).toBeUndefined();
  });

  test('constructors and other single-form calls do not take signal', async () => {
    const signal = new AbortController().signal;
    for (const name of ['new MultiHeadAttention', 'new KVCache', 'Tensor.zeros', 'renderHeatmapSVG']) {
      const { error } = await outcome(CALLS[name], { signal });
      expect(error).toMatchObject({
        code: 'ERR_INVALID_OPTION',
        message: expect.stringMatching(/unknown option "signal"/),
      });
    }
  });

  test('a known key whose value is undefined counts as absent', async () => {
    const undefinedValues: [string, Options][] = [
      ['scaledDotProductAttentionSync', { scale: undefined, attnMask: undefined, isCausal: undefined }],
      ['matmulSync', { bias: undefined, out: undefined }],
      ['new MultiHeadAttention', { kdim: undefined, numKeyValueHeads: undefined }],
      ['new KVCache', { hugePages: undefined }],
      ['new Tensor', { strides: undefined, offset: undefined }],
      ['renderHeatmapSVG', { title: undefined }],
    ];
    for (const [name, extra] of undefinedValues) expect((await outcome(CALLS[name], extra)).error).toBeUndefined();
    const withScale = scaledDotProductAttentionSync(q4, q4, q4, { scale: undefined });
    expect(Array.from(withScale.data)).toEqual(Array.from(scaledDotProductAttentionSync(q4, q4, q4).data));
  });

  test('an options value that is not an object keeps its "Expected an options object" error', () => {
    const notObjects: unknown[] = [[], 5, 'causal', zeros([2]), new Float32Array(2)];
    for (const bad of notObjects) {
      for (const call of [
        () => matmulSync(zeros([2, 3]), zeros([3, 2]), bad as never),
        () => mha.forwardSync(x3, x3, x3, bad as never),
        () => Tensor.zeros([4], bad as never),
        () => new Tensor(new Float32Array(4), [4], bad as never),
        () => renderHeatmapSVG([[1]], bad as never),
      ]) {
        expect(call).toThrow(
          expect.objectContaining({
            code: 'ERR_INVALID_OPTION',
            message: expect.stringMatching(/Expected an options object/),
          }),
        );
      }
    }
    expect(() => new KVCache(5 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(Tensor.zeros([2], null).shape).toEqual([2]);
    expect(new Tensor(new Float32Array(2), [2], null as never).strides).toEqual([1]);
  });

  test('an unknown key refused leaves a stateful module as it was', async () => {
    const s = state();
    await expect(s.step(q4, q4, q4, { layuot: 'BHLD' } as never)).rejects.toMatchObject({
      message: 'LinearAttentionState.step: unknown option "layuot"; did you mean layout?',
    });
    expect(s.length).toBe(0);
    const cache = new KVCache({ batch: 1, numKeyValueHeads: 2, headDim: 2, capacity: 4 });
    expect(() => mha.forwardSync(x3, x3, x3, { cache, need_weights: true } as never)).toThrow(
      /did you mean needWeights\?/,
    );
    expect(cache.length).toBe(0);
  });
});

describe('suggest', () => {
  test('editDistance counts insertions, deletions, substitutions and adjacent swaps', () => {
    expect(editDistance('iscasual', 'iscausal')).toBe(1);
    expect(editDistance('scal', 'scale')).toBe(1);
    expect(editDistance('scale', 'scal')).toBe(1);
    expect(editDistance('bias', 'bias')).toBe(0);
    expect(editDistance('out', 'eps')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  test('closestName normalises case and separators, and refuses far names', () => {
    const keys = ['attnMask', 'isCausal', 'scale', 'out'];
    expect(closestName('attn_mask', keys)).toBe('attnMask');
    expect(closestName('ATTN-MASK', keys)).toBe('attnMask');
    expect(closestName('isCasual', keys)).toBe('isCausal');
    expect(closestName('mask', keys)).toBeUndefined();
    expect(closestName('x', keys)).toBeUndefined();
    expect(closestName('a'.repeat(1000), keys)).toBeUndefined();
  });
});
