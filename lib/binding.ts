/**
 * Loads the native addon through node-gyp-build (a matching prebuild in prebuilds/, else a local
 * build in build/Release), and types its surface. One crossing per public call; the TypeScript
 * side passes typed arrays where they lie plus a Float64Array descriptor of sizes and strides.
 */
import * as path from 'path';

import { rangeError } from './errors';

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

/** The package root: lib/ and dist/ both sit one level below it. */
export const packageRoot = path.resolve(__dirname, '..');

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

let addon: NativeAddon | null = null;

/** The addon, loaded on first use. */
export function native(): NativeAddon {
  if (addon === null) addon = load();
  return addon;
}
