// Per-thread scratch memory for the kernels: one growing, 64-byte-aligned float buffer per thread
// and slot, allocated on first use and kept for the thread's life, so a warm thread (a pool worker
// or the caller) runs a kernel without allocating. 64 bytes: buffers start on a cache line, and
// full zmm loads from them never split one.
#pragma once
#include <cstddef>

namespace sa {

// Who holds a buffer. Separate slots for what is alive at the same time on one thread: the thread
// that packed a matmul's B block also runs tasks that pack A; attention keeps two blocks at once,
// and its driver a packed copy of one head's strided keys and values (AttentionPanels) the
// widened rows of a bfloat16 tile (AttentionBf16Rows) and the bfloat16 panels (AttentionBf16Panels);
// a bf16-weight linear layer its split rows of x or widened rows of W while matmul packs (LinearBf16).
enum class ScratchSlot : int {
  MatmulPackedA = 0,
  MatmulPackedB,
  Attention0,
  Attention1,
  AttentionPanels,
  AttentionBf16Rows,
  AttentionBf16Panels,
  LinearAttention,
  LinearBf16,
  MatmulHalfC,
  Count
};

// At least `floats` floats of this thread's buffer for `slot`; their contents are unspecified.
// Valid until the next call for the same slot on this thread. Throws std::bad_alloc.
float* threadScratch(ScratchSlot slot, size_t floats);

}  // namespace sa
