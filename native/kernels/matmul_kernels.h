// The per-ISA half of the float32 matmul: a register-tile micro-kernel and the packing routines that
// feed it (BLIS split: packing is separate from compute). The ISA-neutral half — cache blocking,
// threading, the small-product path — is matmul_driver.cc, which only sees this table.
#pragma once
#include <cstdint>

namespace sa {

// Operand layouts the micro-kernels read. op(A) is m x k, op(B) is k x n (see matmul.h).
//
// A "k-major" A operand holds element (i, p) at a[p * aStride + i]: consecutive rows of one column
// are adjacent. That is a packed A panel (aStride = mr) and also op(A) with transA, read in place
// (aStride = lda).
// A "row-major" A operand holds element (i, p) at a[i * aStride + p]: op(A) without transA, read in
// place (aStride = lda); each row is broadcast element by element, no copy. The driver keeps such
// tiles to 8 rows or fewer (see kInPlaceMaxRows in matmul_driver.cc).
//
// The B operand always holds element (p, j) at b[p * bStride + j]: a packed B panel (bStride = nr),
// or op(B) without transB read in place (bStride = ldb).
//
// The micro-kernel contract (BLIS). A tile call computes
//   C[m x n] = (accumulate ? C : 0) + A[m x k] . B[k x n] (+ bias[j] in column j, when bias != nullptr)
// for 1 <= m <= mr, 1 <= n <= nr, k >= 1: the tile is summed in registers over all of k and C is
// touched once, at the end (accumulate == false: C is written, never read — BLIS beta = 0). bias
// points at the tile's first column; the driver passes it with a product's last depth block only.
// A tile reads only rows i < m of A, columns j < n of B and of the bias, and writes only C[i, j]
// for i < m, j < n, so edge tiles of operands read in place never touch memory past the matrix.
// The ISA files write it once, in kernels/common/matmul_tile-inl.h.
using MatmulTileFn = void (*)(int64_t k, const float* a, int64_t aStride, const float* b, int64_t bStride, float* c,
                              int64_t ldc, int m, int n, bool accumulate, const float* bias);

// Packs a block of op(A) (rows [0, m), columns [0, k)) into ceil(m / mr) k-major panels of mr rows:
// panel r at out + r * k * mr, element (i, p) at [p * mr + i - r * mr]. Rows past m are zero.
// Source element (i, p) is a[i * lda + p] (transA == false) or a[p * lda + i] (transA == true).
// Reads only the m x k block; writes only the ceil(m / mr) * k * mr floats of out.
using MatmulPackAFn = void (*)(const float* a, int64_t lda, bool transA, int64_t m, int64_t k, float* out);

// Packs a block of op(B) (rows [0, k), columns [0, n)) into ceil(n / nr) panels of nr columns:
// panel r at out + r * panelStride, element (p, j) at [p * nr + j - r * nr]; columns past n are
// zero. panelStride (>= k * nr) is the distance between consecutive panels.
// Source element (p, j) is b[p * ldb + j] (transB == false) or b[j * ldb + p] (transB == true).
// Reads only the k x n block; writes only the k * nr floats of each panel.
using MatmulPackBFn = void (*)(const float* b, int64_t ldb, bool transB, int64_t k, int64_t n, float* out,
                               int64_t panelStride);

// The reference path of an ISA without micro-kernels (scalar): the whole product
// C = (accumulate ? C : 0) + op(A) op(B) (+ bias[j] in column j) for one item, any transposes and
// strides, K >= 1, on the calling thread.
using MatmulUnblockedFn = void (*)(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, bool transA,
                                   const float* B, int64_t ldb, bool transB, float* C, int64_t ldc, bool accumulate,
                                   const float* bias);

// Rows [0, m) of A (row-major, read in place: element (i, p) at a[i * lda + p]), 1 <= m <=
// kPanelRowsMaxRows, times `panels` full packed B panels (panel q at b + q * panelStride, element
// (p, j) at [p * nr + j]): C[m x panels * nr] = A.B (+ bias[j] in column j). Several panels at once,
// so that even one row of A keeps enough FMA chains in flight to stream B at the cache's bandwidth;
// each column is still one chain over k in increasing order, as in the tile, so the two agree bit
// for bit. k >= 1.
using MatmulPanelRowsFn = void (*)(int64_t k, const float* a, int64_t lda, int m, const float* b, int64_t panelStride,
                                   int64_t panels, float* c, int64_t ldc, const float* bias);
constexpr int kPanelRowsMaxRows = 4;

struct MatmulKernels {
  const char* name;
  int mr;                      // register tile rows (0 when the ISA has no micro-kernel: use `unblocked`)
  int nr;                      // register tile columns
  MatmulTileFn tileKMajorA;    // A k-major (packed panels, or op(A) with transA in place)
  MatmulTileFn tileRowMajorA;  // A row-major (op(A) without transA in place)
  MatmulPackAFn packA;
  MatmulPackBFn packB;
  MatmulUnblockedFn unblocked;  // set when mr == 0
  MatmulPanelRowsFn panelRows;  // a few rows of A against prepacked panels (decoding)
};

}  // namespace sa
