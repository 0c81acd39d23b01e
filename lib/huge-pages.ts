/**
 * Float32 storage in 2 MiB pages, for large and long-lived tensors (KV caches, a model's cached
 * keys and values). A decode step streams every cached key and value once; with the usual 4 KiB
 * pages the page walks and the prefetchers' stop at every page boundary limit that stream
 * (bench/RESULTS.md). Linux with transparent huge
 * pages ("always" or "madvise", the usual default) only; elsewhere, or for arrays under one huge
 * page, an ordinary Float32Array.
 */
import { native } from './binding';
import { allocFloat32 } from './shape';

/** Below one huge page the rounding would waste more than it saves. */
export const HUGE_PAGE_MIN_ELEMENTS = (2 * 1024 * 1024) / Float32Array.BYTES_PER_ELEMENT;

/**
 * A zero-filled Float32Array of n elements, in 2 MiB pages where the OS offers them. Its memory is
 * released when the array is garbage-collected, like any other.
 */
export function allocFloat32HugePages(n: number, what: string): Float32Array {
  if (n >= HUGE_PAGE_MIN_ELEMENTS) {
    let mapped: Float32Array | null = null;
    try {
      mapped = native().allocateHugePages(n);
    } catch {
      // More than a typed array may hold, or no address space left: allocFloat32 below reports it
      // as the typed ERR_SIZE_OVERFLOW every other allocation gives.
    }
    // Re-viewed with this realm's Float32Array: the addon builds its array in the main realm,
    // which a sandbox (vm contexts, jest) does not accept as a Float32Array of its own.
    if (mapped !== null) return new Float32Array(mapped.buffer, mapped.byteOffset, mapped.length);
  }
  return allocFloat32(n, what);
}
