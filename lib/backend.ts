/** The kernel pool and the instruction set in use. */
import { native, NativeBackendInfo } from './binding';
import { describeValue, rangeError } from './errors';

/**
 * avx512bf16: avx512 plus bfloat16 dot products; amx: that plus AMX tiles (it runs the avx512bf16 kernels for now);
 * neonbf16: neon plus bfloat16 dot products (arm64 FEAT_BF16, BFDOT).
 */
export type Isa = 'scalar' | 'avx2' | 'avx512' | 'avx512bf16' | 'amx' | 'neon' | 'neonbf16';

export interface BackendInfo {
  /** The ISA whose kernels run (chosen once at load; SIMD_ATTENTION_ISA forces a lower one). */
  isa: Isa;
  /** True when SIMD_ATTENTION_ISA chose it. */
  forced: boolean;
  /**
   * True when matmul multiplies float16 tensors natively, accumulating in float32 (arm64 with
   * FEAT_FHM, FMLAL; off under SIMD_ATTENTION_ISA=neon); elsewhere float16 is widened to float32.
   */
  float16Gemm: boolean;
  /** ISAs this build and CPU can run, best first. */
  availableIsas: Isa[];
  /** Threads of the kernel pool (setNumThreads). */
  threads: number;
  hardwareThreads: number;
  cpu: string;
  build: { compiler: string; flags: string; napiVersion: number; arch: string };
}

export function backendInfo(): BackendInfo {
  const info: NativeBackendInfo = native().backendInfo();
  return { ...info, isa: info.isa as Isa, availableIsas: info.availableIsas as Isa[] };
}

/**
 * Sets the size of the one process-wide kernel pool (default: the machine's cores). Concurrent calls
 * share it — they queue, they do not add threads. Waits for a running kernel to finish.
 */
export function setNumThreads(n: number): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 256) {
    throw rangeError(
      'ERR_INVALID_ARGUMENT',
      `setNumThreads: Expected an integer in [1, 256] for n but received ${describeValue(n)}`,
    );
  }
  native().setNumThreads(n);
}

export function getNumThreads(): number {
  return native().getNumThreads();
}

/**
 * Measures this machine's FP32 FMA peak (GFLOPS) with the active ISA on `threads` threads, in about
 * `seconds`: the yardstick every benchmark figure is read against.
 */
export function measureFmaPeak(threads = 1, seconds = 0.2): number {
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw rangeError(
      'ERR_INVALID_ARGUMENT',
      `measureFmaPeak: Expected an integer in [1, 256] for threads but received ${describeValue(threads)}`,
    );
  }
  if (typeof seconds !== 'number' || !(seconds > 0 && seconds <= 10)) {
    throw rangeError(
      'ERR_INVALID_ARGUMENT',
      `measureFmaPeak: Expected seconds in (0, 10] but received ${describeValue(seconds)}`,
    );
  }
  return native().measureFmaPeak(threads, seconds);
}
