/**
 * Loads the native addon through node-gyp-build (a matching prebuild in prebuilds/, else a local
 * build in build/Release), and types its surface. One crossing per public call; the TypeScript
 * side passes an object of the typed arrays where they lie plus a Float64Array descriptor of sizes,
 * strides and flags written by field name (lib/native-layout.ts).
 */
import type { AbortSignalLike } from './abort';
import * as path from 'path';
import { markAsUntransferable } from 'worker_threads';

import { abortable, CancelFlag } from './abort';
import { rangeError, typeError } from './errors';
import { packageRoot } from './package-root';
import { DescriptorLayout, OP_LAYOUTS } from './native-layout';

export interface NativeBackendInfo {
  isa: string;
  forced: boolean;
  float16Gemm: boolean;
  availableIsas: string[];
  threads: number;
  hardwareThreads: number;
  cpu: string;
  build: { compiler: string; flags: string; napiVersion: number; arch: string };
}

type Maybe<T> = T | null | undefined;
type Mask = Float32Array | Uint8Array;

// The typed arrays of each op, by name (native/binding/*_binding.cc reads them by these names).
export interface MatmulArrays {
  /** Uint16Array with the descriptor's bf16Inputs (bfloat16 bits) or f16Inputs (float16 bits). */
  a: Float32Array | Uint16Array;
  b: Float32Array | Uint16Array;
  /** Uint16Array with the descriptor's halfOutput. */
  out: Float32Array | Uint16Array;
  bias?: Maybe<Float32Array>;
}
export interface AttentionArrays {
  /** Uint16Array (with out) when the descriptor's qDtype is bfloat16. */
  query: Float32Array | Uint16Array;
  /** Uint16Array when the descriptor's kvDtype names a 16-bit type. */
  key: Maybe<Float32Array | Uint16Array>;
  value?: Maybe<Float32Array | Uint16Array>;
  out: Float32Array | Uint16Array;
  attnMask?: Maybe<Mask>;
  keyLengths?: Maybe<Int32Array>;
  keyPaddingMask?: Maybe<Mask>;
  alibiSlopes?: Maybe<Float32Array>;
  keyRows?: Maybe<Int32Array>;
  queryLengths?: Maybe<Int32Array>;
  blockTables?: Maybe<Int32Array>;
}
export interface Seq2SeqArrays {
  keys: Float32Array;
  keysProj?: Maybe<Float32Array>;
  queryProj?: Maybe<Float32Array>;
  v?: Maybe<Float32Array>;
  keyLengths?: Maybe<Int32Array>;
  scores: Float32Array;
  weights: Float32Array;
  context: Float32Array;
}
export interface LinearAttentionArrays {
  query: Float32Array;
  key: Float32Array;
  value: Float32Array;
  out: Float32Array;
  state?: Maybe<Float32Array>;
}
export interface RotaryArrays {
  x: Float32Array;
  out: Float32Array;
  positions?: Maybe<Int32Array>;
}
export interface SoftAlignArrays {
  weightsAB: Float32Array;
  weightsBA: Float32Array;
  maskA?: Maybe<Uint8Array>;
  maskB?: Maybe<Uint8Array>;
}
export interface ChannelPoolArrays {
  x: Float32Array;
  avg: Float32Array;
  max?: Maybe<Float32Array>;
}
export interface ChannelGateArrays {
  x: Float32Array;
  logits: Float32Array;
  logits2?: Maybe<Float32Array>;
  out: Float32Array;
}
export interface SpatialGateArrays {
  x: Float32Array;
  weight: Float32Array;
  out: Float32Array;
}
export interface ActivateArrays {
  data: Float32Array;
}
export interface AttentionBlockStepArrays {
  x: Float32Array | null;
  /** float32, or bfloat16 bits (Uint16Array) when the descriptor's weightDtype is 1. */
  inWeight: Float32Array | Uint16Array | null;
  inBias: Maybe<Float32Array>;
  outWeight: Float32Array | Uint16Array | null;
  outBias: Maybe<Float32Array>;
  /** float32, or 16-bit storage (Uint16Array) when the descriptor's cacheDtype is 1 or 2. */
  keyCache: Float32Array | Uint16Array | null;
  valueCache: Float32Array | Uint16Array | null;
  /** Scratch [B * Lq, E + 2 Ekv] and [B * Lq, E]. */
  qkv: Float32Array | null;
  attn: Float32Array | null;
  out: Float32Array | null;
  /** The weights' prepacked panels (PackedWeight.data), when the descriptor's packedWidth is set. */
  inPacked: Maybe<Float32Array>;
  outPacked: Maybe<Float32Array>;
  /** [B]: the cache row of each batch item (distinct), or absent for rows 0..B-1. */
  keyRows: Maybe<Int32Array>;
  /** [B]: each batch item's row length before the step, or absent for the descriptor's cacheLength. */
  rowLengths: Maybe<Int32Array>;
  /** Paged storage: the block tables [cacheRows, blockTableWidth]. */
  blockTables: Maybe<Int32Array>;
}

/**
 * An op in both modes: `name` on the calling thread, `nameAsync` on the kernel pool (with an
 * optional cancel flag, lib/abort.ts).
 */
type BothModes<Name extends string, Arrays, Result> = {
  [K in Name]: (arrays: Arrays, descriptor: Float64Array) => Result;
} & {
  [K in `${Name}Async`]: (arrays: Arrays, descriptor: Float64Array, cancel?: CancelFlag) => Promise<Result>;
};

/**
 * The addon's one typed interface, as native() returns it. Every op takes (arrays, descriptor): the
 * typed arrays by name and the Float64Array written by field name (lib/native-layout.ts).
 */
export type NativeAddon = {
  backendInfo(): NativeBackendInfo;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  measureFmaPeak(threads: number, seconds: number): number;
  copyStrided(
    arrays: { src: Float32Array | Uint16Array; dst: Float32Array | Uint16Array },
    descriptor: Float64Array,
  ): void;
  /** Tensor.to between float32 and the 16-bit floats (lib/convert.ts); dst is contiguous. */
  convert(arrays: { src: Float32Array | Uint16Array; dst: Float32Array | Uint16Array }, descriptor: Float64Array): void;
  /** Packs a weight into out in the matmul micro-kernel's panels (lib/packed-weight.ts); returns out. */
  packWeight(arrays: { weight: Float32Array; out: Float32Array }, descriptor: Float64Array): Float32Array;
  /** The width of the panels packWeight writes with the active ISA. */
  matmulPanelWidth(): number;
  /** lib/matmul-precision.ts: 'highest', 'high' or 'medium', process-wide. */
  setFloat32MatmulPrecision(precision: string): void;
  getFloat32MatmulPrecision(): string;
  /** A zeroed Float32Array in transparent huge pages, or null where the OS has none. */
  allocateHugePages(length: number): Float32Array | null;
  /** madvise(MADV_HUGEPAGE) from the buffer's first 2 MiB boundary on; that boundary's offset, or -1. */
  adviseHugePages(buffer: ArrayBuffer): number;
  /** Every op's layout as the addon declares it (native/binding/layouts.h). */
  opLayouts: Record<string, { arrays: string[]; fields: Record<string, number>; length: number }>;
} & BothModes<'matmul', MatmulArrays, Float32Array | Uint16Array> &
  BothModes<'attention', AttentionArrays, Float32Array> &
  BothModes<'attentionWeights', AttentionArrays, Float32Array> &
  BothModes<'seq2seq', Seq2SeqArrays, Float32Array> &
  BothModes<'linearAttention', LinearAttentionArrays, Float32Array> &
  BothModes<'rotary', RotaryArrays, Float32Array> &
  BothModes<'softAlign', SoftAlignArrays, Float32Array> &
  BothModes<'channelPool', ChannelPoolArrays, Float32Array> &
  BothModes<'channelGate', ChannelGateArrays, Float32Array> &
  BothModes<'spatialGate', SpatialGateArrays, Float32Array> &
  BothModes<'activate', ActivateArrays, Float32Array> &
  BothModes<'attentionBlockStep', AttentionBlockStepArrays, Float32Array>;

function load(): NativeAddon {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  try {
    return nodeGypBuild(packageRoot) as NativeAddon;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'ERR_UNSUPPORTED_ISA') throw err; // SIMD_ATTENTION_ISA asked for too much: say exactly that
    const platform = `${process.platform}-${process.arch}`;
    throw rangeError(
      'ERR_NATIVE_LOAD',
      `simd-attention: could not load its native addon.\n` +
        `Tried: ${path.join(packageRoot, 'prebuilds', platform)} (prebuilt, Node-API) and ` +
        `${path.join(packageRoot, 'build', 'Release')} (built from source).\n` +
        `Cause: ${e.message}\n` +
        `To fix: on a platform without a prebuild (prebuilds exist for linux x64/arm64 glibc and musl, ` +
        `darwin x64/arm64, win32 x64), build from source: allow the package's install script ` +
        `(\`npm install-scripts approve simd-attention\`, npm 11) and run \`npm rebuild simd-attention\` ` +
        `(needs python3, make and a C++17 compiler).`,
    );
  }
}

/**
 * An async call reads its inputs on another thread after it returns, and the typed arrays it holds
 * do not pin their memory by themselves:
 * - a transfer (postMessage, structuredClone) would move the bytes to a receiver that may free
 *   them mid-call, so every ArrayBuffer an async call touches is marked untransferable
 *   (worker_threads.markAsUntransferable): a later transfer of it COPIES instead of detaching;
 * - shrinking a resizable ArrayBuffer releases the tail pages the kernel may be reading, so async
 *   calls refuse resizable (non-shared) buffers. A SharedArrayBuffer can neither be detached nor
 *   shrink: it is safe as it is.
 * This wraps every `*Async` export: its first argument is the object of the call's typed arrays.
 */
function isResizable(value: unknown): boolean {
  if (!ArrayBuffer.isView(value)) return false;
  const buffer = value.buffer as ArrayBuffer & { resizable?: boolean };
  return buffer instanceof ArrayBuffer && buffer.resizable === true;
}

function pinForAsync(value: unknown): void {
  if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer) markAsUntransferable(value.buffer);
}

type RawOp = (descriptor: Float64Array, ...arrays: unknown[]) => unknown;
type NamedOp = (arrays: Record<string, unknown>, descriptor: Float64Array) => unknown;
type NamedAsyncOp = (arrays: Record<string, unknown>, descriptor: Float64Array, cancel?: CancelFlag) => unknown;

/**
 * The addon takes op(descriptor, ...arrays), the arrays in the order its layout declares: reading a
 * property from C++ costs more than a small call's whole crossing, reading it here costs nothing
 * measurable (an 8x8x8 matmulSync takes the same 2.5 us either way).
 */
function fromNamedArrays(raw: RawOp, layout: DescriptorLayout<string>): NamedOp {
  const names = layout.arrays;
  return (arrays, descriptor) => raw(descriptor, ...names.map((name) => arrays[name]));
}

/** The async form: the cancel flag (or undefined) follows the arrays. */
function fromNamedArraysAsync(raw: RawOp, layout: DescriptorLayout<string>): NamedAsyncOp {
  const names = layout.arrays;
  return (arrays, descriptor, cancel) => raw(descriptor, ...names.map((name) => arrays[name]), cancel);
}

/** The layout of each op the addon exports (attentionWeights reads attention's). */
const LAYOUT_OF: Record<string, DescriptorLayout<string>> = { ...OP_LAYOUTS, attentionWeights: OP_LAYOUTS.attention };

/** Guards the *Async exports (above) and gives every op its named-arrays form. */
function wrap(raw: Record<string, unknown>): NativeAddon {
  const wrapped: Record<string, unknown> = { ...raw };
  for (const [name, fn] of Object.entries(raw)) {
    const async = name.endsWith('Async');
    const op = async ? name.slice(0, -'Async'.length) : name;
    const layout = LAYOUT_OF[op];
    if (layout === undefined || typeof fn !== 'function') continue;
    if (!async) {
      wrapped[name] = fromNamedArrays(fn as RawOp, layout);
      continue;
    }
    const named = fromNamedArraysAsync(fn as RawOp, layout);
    wrapped[name] = (arrays: Record<string, unknown>, descriptor: Float64Array, cancel?: CancelFlag) => {
      const values = typeof arrays === 'object' && arrays !== null ? Object.values(arrays) : [];
      if (values.some(isResizable)) {
        throw typeError(
          'ERR_INVALID_ARGUMENT',
          `${op}: an input lies in a resizable ArrayBuffer, which an asynchronous call cannot hold safely ` +
            '(it could shrink mid-call); use the Sync form or a fixed-length copy',
        );
      }
      values.forEach(pinForAsync);
      return named(arrays, descriptor, cancel);
    };
  }
  return wrapped as unknown as NativeAddon;
}

let addon: NativeAddon | null = null;

/** The addon, loaded on first use. */
export function native(): NativeAddon {
  if (addon === null) addon = wrap(load() as unknown as Record<string, unknown>);
  return addon;
}

/** The ops exported in both modes. */
export type NativeOp =
  | 'matmul'
  | 'attention'
  | 'attentionWeights'
  | 'seq2seq'
  | 'linearAttention'
  | 'rotary'
  | 'softAlign'
  | 'channelPool'
  | 'channelGate'
  | 'spatialGate'
  | 'activate'
  | 'attentionBlockStep';

/**
 * Runs `op` on the calling thread, or as `opAsync` on the kernel pool (the promise settles when it
 * is done, or rejects with an AbortError when `signal` aborts): for the wrappers whose sync and
 * async forms share every other line.
 */
export function runNative<Op extends NativeOp>(
  op: Op,
  arrays: Parameters<NativeAddon[Op]>[0],
  descriptor: Float64Array,
  async: boolean,
  signal?: AbortSignalLike,
): void | Promise<void> {
  const addon = native() as unknown as Record<
    string,
    (arrays: unknown, descriptor: Float64Array, cancel?: CancelFlag) => unknown
  >;
  if (!async) {
    addon[op](arrays, descriptor);
    return;
  }
  const start = (cancel?: CancelFlag) => addon[`${op}Async`](arrays, descriptor, cancel) as Promise<unknown>;
  return abortable(signal, start).then(() => undefined);
}
