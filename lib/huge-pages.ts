/**
 * Float32 storage in 2 MiB pages, for large tensors read again and again: long-lived ones (KV caches,
 * a model's cached keys and values) in mapped blocks, storage replaced now and then (packed weights,
 * a module's reused intermediates) in engine-owned buffers (allocFloat32HugeAdvised). A decode step streams every cached key and value once; with the usual 4 KiB
 * pages the page walks and the prefetchers' stop at every page boundary limit that stream
 * (bench/RESULTS.md). Linux with transparent huge
 * pages ("always" or "madvise", the usual default) only; elsewhere, or for arrays under one huge
 * page, an ordinary Float32Array.
 */
import { native } from './binding';
import { allocFloat32 } from './shape';

/** One huge page (x86-64 and arm64 Linux with 4 KiB base pages). */
const HUGE_PAGE_BYTES = 2 * 1024 * 1024;

/** Below one huge page the rounding would waste more than it saves. */
export const HUGE_PAGE_MIN_ELEMENTS = HUGE_PAGE_BYTES / Float32Array.BYTES_PER_ELEMENT;

/**
 * A zero-filled Float32Array of n elements, in 2 MiB pages where the OS offers them. Its memory is
 * released after the array is garbage-collected, at the next event-loop turn (Node runs the
 * finalizer of an external buffer there): for long-lived storage, not for storage replaced in a loop.
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

/**
 * A zero-filled Float32Array of n elements in an ordinary engine-owned buffer, over-allocated by
 * 2 MiB so that it can start on a 2 MiB boundary, from which the OS is asked for huge pages
 * (Linux THP; its untouched pages become huge pages on first touch). For storage that is replaced
 * now and then (packed weights, a module's reused intermediates): the garbage collector frees it at
 * once, where the memory of allocFloat32HugePages goes back only at the next event-loop turn, so a
 * synchronous loop that replaces such storage would hold every old copy until it ends. Below one
 * huge page, or where the OS has none: an ordinary Float32Array.
 */
export function allocFloat32HugeAdvised(n: number, what: string): Float32Array {
  if (n >= HUGE_PAGE_MIN_ELEMENTS) {
    let buffer: ArrayBuffer | null = null;
    try {
      buffer = new ArrayBuffer(n * Float32Array.BYTES_PER_ELEMENT + HUGE_PAGE_BYTES);
    } catch {
      // No room for the padding: allocFloat32 below reports a true shortage as ERR_SIZE_OVERFLOW.
    }
    const offset = buffer === null ? -1 : native().adviseHugePages(buffer);
    if (buffer !== null && offset >= 0) return new Float32Array(buffer, offset, n);
  }
  return allocFloat32(n, what);
}
