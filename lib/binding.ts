/**
 * Loads the native addon through node-gyp-build (a matching prebuild in prebuilds/, else a local
 * build in build/Release), and types its surface. One crossing per public call; the TypeScript
 * side passes typed arrays where they lie plus a Float64Array descriptor of sizes and strides.
 */
import * as path from 'path';
import { markAsUntransferable } from 'worker_threads';

import { rangeError, typeError } from './errors';
import { packageRoot } from './package-root';

export interface NativeBackendInfo {
  isa: string;
  forced: boolean;
  availableIsas: string[];
  threads: number;
  hardwareThreads: number;
  cpu: string;
  build: { compiler: string; flags: string; napiVersion: number; arch: string };
}

export interface NativeAddon {
  backendInfo(): NativeBackendInfo;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  measureFmaPeak(threads: number, seconds: number): number;
  matmul(a: Float32Array, b: Float32Array, out: Float32Array, descriptor: Float64Array, async: false, bias: Float32Array | null): Float32Array;
  matmul(a: Float32Array, b: Float32Array, out: Float32Array, descriptor: Float64Array, async: true, bias: Float32Array | null): Promise<Float32Array>;
  copyStrided(src: Float32Array, dst: Float32Array, descriptor: Float64Array): void;
  /** A zeroed Float32Array in transparent huge pages, or null where the OS has none. */
  allocateHugePages(length: number): Float32Array | null;
  seq2seq(
    keys: Float32Array, keysProj: Float32Array | null, queryProj: Float32Array | null, v: Float32Array | null,
    lengths: Int32Array | null, scores: Float32Array, weights: Float32Array, context: Float32Array,
    descriptor: Float64Array, async: boolean,
  ): unknown;
  attention(
    q: Float32Array, k: Float32Array, v: Float32Array | null, out: Float32Array,
    mask: Float32Array | Uint8Array | null, keyLengths: Int32Array | null,
    descriptor: Float64Array, async: false, weightsOnly: boolean, keyPadding: Float32Array | Uint8Array | null,
    alibiSlopes?: Float32Array | null,
  ): Float32Array;
  attention(
    q: Float32Array, k: Float32Array, v: Float32Array | null, out: Float32Array,
    mask: Float32Array | Uint8Array | null, keyLengths: Int32Array | null,
    descriptor: Float64Array, async: true, weightsOnly: boolean, keyPadding: Float32Array | Uint8Array | null,
    alibiSlopes?: Float32Array | null,
  ): Promise<Float32Array>;
}

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
 * Where each native function takes its `async` flag. An async call reads its inputs on another
 * thread after it returns, and the typed arrays it holds do not pin their memory by themselves:
 * - a transfer (postMessage, structuredClone) would move the bytes to a receiver that may free
 *   them mid-call, so every ArrayBuffer an async call touches is marked untransferable
 *   (worker_threads.markAsUntransferable): a later transfer of it COPIES instead of detaching;
 * - shrinking a resizable ArrayBuffer releases the tail pages the kernel may be reading, so async
 *   calls refuse resizable (non-shared) buffers. A SharedArrayBuffer can neither be detached nor
 *   shrink: it is safe as it is.
 */
const ASYNC_FLAG_INDEX: Record<string, number> = {
  matmul: 4, attention: 7, seq2seq: 9, linearAttention: 6, rotary: 4, softAlign: 5,
  channelPool: 4, channelGate: 5, spatialGate: 4, activate: 2,
};

function isResizable(value: unknown): boolean {
  if (!ArrayBuffer.isView(value)) return false;
  const buffer = value.buffer as ArrayBuffer & { resizable?: boolean };
  return buffer instanceof ArrayBuffer && buffer.resizable === true;
}

function pinForAsync(value: unknown): void {
  if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer) markAsUntransferable(value.buffer);
}

function guardAsync(raw: NativeAddon): NativeAddon {
  const guarded: Record<string, unknown> = { ...(raw as unknown as Record<string, unknown>) };
  for (const [name, flag] of Object.entries(ASYNC_FLAG_INDEX)) {
    const fn = guarded[name] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof fn !== 'function') continue;
    guarded[name] = (...args: unknown[]) => {
      if (args[flag] === true) {
        if (args.some(isResizable)) {
          throw typeError(
            'ERR_INVALID_ARGUMENT',
            `${name}: an input lies in a resizable ArrayBuffer, which an asynchronous call cannot hold safely (it could shrink mid-call); use the Sync form or a fixed-length copy`,
          );
        }
        args.forEach(pinForAsync);
      }
      return fn(...args);
    };
  }
  return guarded as unknown as NativeAddon;
}

let addon: NativeAddon | null = null;

/** The addon, loaded on first use. */
export function native(): NativeAddon {
  if (addon === null) addon = guardAsync(load());
  return addon;
}
