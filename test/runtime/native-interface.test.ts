/**
 * The native interface: the op layouts TypeScript writes (lib/native-layout.ts) are the ones the
 * addon reads (native/binding/layouts.h, exported as opLayouts), every op is exported once per
 * mode, and the binding refuses on its own, whatever TypeScript checked, every call that would
 * reach outside memory: views past their data, detached buffers, wrong dtypes, descriptors of the
 * wrong length, and the values an index depends on (heads vs kvHeads, key lengths).
 */
import * as path from 'path';

import { native } from '../../lib/binding';
import { ATTENTION, descriptorFor, MATMUL, OP_LAYOUTS } from '../../lib/native-layout';

type RawOp = (descriptor: Float64Array, ...arrays: unknown[]) => unknown;
interface RawAddon {
  opLayouts: Record<string, { arrays: string[]; fields: Record<string, number>; length: number }>;
  [op: string]: unknown;
}

// The addon as node-gyp-build loads it, without lib/binding.ts's wrappers: op(descriptor, ...arrays).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const raw = require('node-gyp-build')(path.resolve(__dirname, '..', '..')) as RawAddon;
const call = (op: string, d: Float64Array, ...arrays: unknown[]) => (raw[op] as RawOp)(d, ...arrays);

/** The code of the error `fn` throws (by name: errors made in native code come from Node's realm). */
function errorOf(fn: () => unknown): { code?: string; message: string; name: string } {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; message: string; name: string };
  }
  throw new Error('expected a throw');
}

describe('op layouts: declared once, the same on both sides', () => {
  test('every op the addon declares, TypeScript declares with the same arrays, fields and length', () => {
    expect(Object.keys(raw.opLayouts).sort()).toEqual(Object.keys(OP_LAYOUTS).sort());
    for (const [op, layout] of Object.entries(OP_LAYOUTS)) {
      const native = raw.opLayouts[op];
      const declared = { op, arrays: [...layout.arrays], fields: { ...layout.fields }, length: layout.length };
      expect(declared).toEqual({ op, ...native });
    }
  });

  test('field indices run 0..length-1 in declaration order', () => {
    for (const layout of Object.values(OP_LAYOUTS)) {
      expect(Object.values(layout.fields)).toEqual(Array.from({ length: layout.length }, (_, i) => i));
    }
  });

  test('each op is exported once per mode, and lib/ writes no descriptor at a literal offset', () => {
    for (const op of Object.keys(OP_LAYOUTS)) {
      expect(typeof raw[op]).toBe('function');
      // copyStrided, convert and packWeight run on the calling thread only.
      if (op !== 'copyStrided' && op !== 'convert' && op !== 'packWeight')
        expect(typeof raw[`${op}Async`]).toBe('function');
    }
    expect(typeof raw.attentionWeights).toBe('function');
    expect(typeof raw.attentionWeightsAsync).toBe('function');
    // The library source: no `d[3] =`, `d.set([...], 7)` or `new Float64Array(41)` left.
    const fs = jest.requireActual('fs') as typeof import('fs');
    const lib = path.resolve(__dirname, '..', '..', 'lib');
    for (const file of fs.readdirSync(lib).filter((f) => f.endsWith('.ts'))) {
      const text = fs.readFileSync(path.join(lib, file), 'utf8');
      const literal = text.match(/\bd\[\d+\]\s*=|\bd\.set\(\[[^\]]*\],\s*\d+\)|new Float64Array\(\d+/g);
      expect({ file, literal }).toEqual({ file, literal: null });
    }
  });
});

// A contiguous [1, 1, 4, 8] attention with its descriptor, to break one thing at a time.
function attentionCall() {
  const F = ATTENTION.fields;
  const d = descriptorFor(ATTENTION);
  d[F.batch] = 1;
  d[F.heads] = 1;
  d[F.kvHeads] = 1;
  d[F.Lq] = 4;
  d[F.Lk] = 4;
  d[F.dk] = 8;
  d[F.dv] = 8;
  for (const v of ['q', 'k', 'v', 'out'] as const) {
    d[F[`${v}StrideB`]] = 32;
    d[F[`${v}StrideH`]] = 32;
    d[F[`${v}StrideL`]] = 8;
  }
  d[F.scale] = 0.25;
  d[F.windowLeft] = -1;
  d[F.windowRight] = -1;
  const arrays = {
    query: new Float32Array(32).fill(0.1),
    key: new Float32Array(32).fill(0.2),
    value: new Float32Array(32).fill(0.3),
    out: new Float32Array(32),
    attnMask: null as unknown,
    keyLengths: null as unknown,
    keyPaddingMask: null,
    alibiSlopes: null,
  };
  const run = (op = 'attention') => call(op, d, ...ATTENTION.arrays.map((n) => (arrays as Record<string, unknown>)[n]));
  return { d, F, arrays, run };
}

test("every layout's fields object keeps fast properties (a dictionary would slow every descriptor write)", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('child_process') as typeof import('child_process');
  const layouts = path.resolve(__dirname, '..', '..', 'dist', 'lib', 'native-layout.js');
  const script = `const { OP_LAYOUTS } = require(${JSON.stringify(layouts)});
    console.log(JSON.stringify(Object.keys(OP_LAYOUTS).filter((op) => !%HasFastProperties(OP_LAYOUTS[op].fields))));`;
  const run = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  expect(JSON.parse(run.stdout)).toEqual([]);
});

test('the named calls work where code generation from strings is disabled', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('child_process') as typeof import('child_process');
  const dist = path.resolve(__dirname, '..', '..', 'dist', 'lib');
  const script = `const sa = require(${JSON.stringify(dist)});
    const a = new sa.Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
    sa.matmul(a, a).then((t) => console.log(JSON.stringify([...sa.matmulSync(a, a).data, ...t.data])));`;
  const args = ['--disallow-code-generation-from-strings', '-e', script];
  const run = spawnSync(process.execPath, args, { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  expect(JSON.parse(run.stdout)).toEqual([7, 10, 15, 22, 7, 10, 15, 22]);
});

describe('the binding refuses what would reach outside memory, on its own', () => {
  test('a well-formed direct call computes (the baseline the refusals break)', () => {
    const c = attentionCall();
    c.run();
    expect(Array.from(c.arrays.out).every((x) => Math.abs(x - 0.3) < 1e-6)).toBe(true);
  });

  test('a view reaching past its data: ERR_OUT_OF_BOUNDS naming the array', () => {
    const c = attentionCall();
    c.d[c.F.kOffset] = 1; // the last key row now ends one float past the array
    const e = errorOf(() => c.run());
    expect(e.code).toBe('ERR_OUT_OF_BOUNDS');
    expect(e.message).toMatch(/key's view \[1, 1, 4, 8\] reaches past its data \(32 elements\)/);
    const m = attentionCall();
    m.arrays.out = new Float32Array(31);
    expect(errorOf(() => m.run()).code).toBe('ERR_OUT_OF_BOUNDS');
    const mask = attentionCall();
    mask.d[mask.F.maskKind] = 2;
    mask.d[mask.F.maskStrideQ] = 4;
    mask.d[mask.F.maskStrideK] = 1;
    mask.arrays.attnMask = new Uint8Array(15);
    expect(errorOf(() => mask.run()).message).toMatch(/attnMask's view reaches past its data/);
  });

  test('scores from logits: no key read, the logits checked as [B, H, Lq, Lk], dk must be Lk', () => {
    const logitsCall = (length: number) => {
      const c = attentionCall();
      c.d[c.F.scoresFromLogits] = 1;
      c.d[c.F.dk] = 4;
      c.d[c.F.qStrideB] = 0;
      c.d[c.F.qStrideH] = 16;
      c.d[c.F.qStrideL] = 4;
      c.arrays.query = new Float32Array(length).fill(1);
      (c.arrays as Record<string, unknown>).key = null;
      return c;
    };
    const ok = logitsCall(16);
    ok.run();
    expect(Array.from(ok.arrays.out).every((x) => Math.abs(x - 0.3) < 1e-6)).toBe(true);
    const short = errorOf(() => logitsCall(15).run());
    expect(short.code).toBe('ERR_OUT_OF_BOUNDS');
    expect(short.message).toMatch(/query's view \[1, 1, 4, 4\] reaches past its data \(15 elements\)/);
    const wide = logitsCall(16);
    wide.d[wide.F.dk] = 8;
    expect(errorOf(() => wide.run()).code).toBe('ERR_SHAPE_MISMATCH');
  });

  test('a detached buffer: ERR_DETACHED_BUFFER', () => {
    const c = attentionCall();
    const buffer = c.arrays.value.buffer;
    structuredClone(buffer, { transfer: [buffer] });
    const e = errorOf(() => c.run());
    expect(e.code).toBe('ERR_DETACHED_BUFFER');
    expect(e.message).toMatch(/value's ArrayBuffer is detached/);
  });

  test('a wrong dtype, whatever the descriptor says: ERR_INVALID_DTYPE', () => {
    const c = attentionCall();
    (c.arrays as Record<string, unknown>).query = new Float64Array(32);
    expect(errorOf(() => c.run()).code).toBe('ERR_INVALID_DTYPE');
    const m = attentionCall();
    m.d[m.F.maskKind] = 1; // additive: a Float32Array, not bytes
    m.arrays.attnMask = new Uint8Array(16);
    expect(errorOf(() => m.run()).code).toBe('ERR_INVALID_DTYPE');
  });

  test('a descriptor of the wrong length or with a fractional field: ERR_INVALID_ARGUMENT', () => {
    const c = attentionCall();
    const short = c.d.subarray(0, ATTENTION.length - 1);
    const arrays = ATTENTION.arrays.map((n) => (c.arrays as Record<string, unknown>)[n]);
    const e = errorOf(() => call('attention', short, ...arrays));
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
    const n = ATTENTION.length;
    expect(e.message).toBe(`native attention: descriptor must hold ${n} numbers, got ${n - 1}`);
    const M = MATMUL.fields;
    const d = descriptorFor(MATMUL); // batchRank 1 but no batch tail
    d[M.M] = 1;
    d[M.N] = 1;
    d[M.K] = 1;
    d[M.lda] = 1;
    d[M.ldb] = 1;
    d[M.batchRank] = 1;
    const a = new Float32Array(1);
    const noTail = errorOf(() => call('matmul', d, a, a, new Float32Array(1), null));
    const fields = MATMUL.length;
    expect(noTail.message).toBe(`native matmul: descriptor must hold ${fields + 3} numbers, got ${fields}`);
    c.d[c.F.Lq] = 2.5;
    const f = errorOf(() => c.run());
    expect(f.code).toBe('ERR_INVALID_ARGUMENT');
    expect(f.message).toMatch(/native attention: Lq must be an integer/);
    const notFloat64 = new Float32Array(ATTENTION.length) as unknown as Float64Array;
    expect(errorOf(() => call('attention', notFloat64)).code).toBe('ERR_INVALID_ARGUMENT');
  });

  test('the values an index depends on: heads vs kvHeads, key lengths, ALiBi slopes', () => {
    const gqa = attentionCall();
    gqa.d[gqa.F.kvHeads] = 3;
    expect(errorOf(() => gqa.run()).message).toBe('native attention: heads must be a multiple of kvHeads');
    const kl = attentionCall();
    kl.arrays.keyLengths = Int32Array.from([5]);
    expect(errorOf(() => kl.run()).message).toBe('native attention: keyLengths must lie in [0, Lk]');
    const slopes = attentionCall();
    slopes.arrays.alibiSlopes = new Float32Array(2) as never;
    expect(errorOf(() => slopes.run()).code).toBe('ERR_SHAPE_MISMATCH');
  });

  test('sizes that would overflow an index: Lk past int32, block tables of rows x width past 2^63', () => {
    const long = attentionCall();
    long.d[long.F.Lk] = 2 ** 31 + 1;
    expect(errorOf(() => long.run()).message).toMatch(/native attention: Lk must be an integer in \[0, 2147483647\]/);
    const paged = attentionCall();
    paged.d[paged.F.kvBlockSize] = 1;
    paged.d[paged.F.blockTableWidth] = 2049;
    paged.d[paged.F.kvBatch] = (2 ** 64 + 512) / 2049;
    Object.assign(paged.arrays, { keyRows: Int32Array.from([0]), blockTables: new Int32Array(512) });
    expect(errorOf(() => paged.run()).message).toMatch(/native attention: kvBatch must be an integer/);
  });

  test('the async export refuses the same before queueing anything', () => {
    const c = attentionCall();
    c.d[c.F.qOffset] = 1;
    expect(errorOf(() => c.run('attentionAsync')).code).toBe('ERR_OUT_OF_BOUNDS');
  });

  test('the named interface (lib/binding.ts) reaches the same refusals', () => {
    const c = attentionCall();
    c.arrays.out = new Float32Array(8);
    const e = errorOf(() => native().attention(c.arrays as never, c.d));
    expect(e.code).toBe('ERR_OUT_OF_BOUNDS');
    expect(e.message).toMatch(/out's view/);
  });
});
