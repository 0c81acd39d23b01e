// Linear attention, the ISA-neutral part (kernels/linear_attention.h): chunks, the carried state,
// the threads. The feature map is the ISA's (LinearAttentionKernels), the products its matmul
// micro-kernel (matmulInPlace), the normaliser's dot products and sums the ISA's VectorOps.
//
// Causal, per head, chunks of C = kLinearAttentionChunk tokens i0 <= i < i0 + C:
//   Pq = phi(Q_chunk) [C, dk], PkT = phi(K_chunk)^T [dk, C], A = tril(Pq PkT) [C, C] (j <= i;
//   computed in row blocks that stop at the diagonal),
//   num = Pq S + A V_chunk,  den_i = Pq_i . z + sum_j A_ij,  out_i = num_i / (den_i + eps),
//   then S += PkT V_chunk and z += row sums of PkT (the state after the chunk).
// Non-causal: S and z over all keys first, then out_i = (Pq_i S) / (Pq_i . z + eps).
//
// Threads: one task per (batch, head). When that leaves threads idle (B H < threads, e.g. one long
// sequence) each head's tokens are also cut into splits: pass 1 sums every split's keys and values
// into its own state, a prefix sum gives each split the state before it, and pass 2 runs the
// splits' outputs in parallel. Pass 1 repeats the state update (about a third of the work), so a
// split must be long to pay for it.
//
// Memory beyond the inputs and the output: per thread, one chunk's Pq, PkT, A and a state
// (O(C d + C^2 + d^2)); per head, a state when the call is non-causal or split.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/linear_attention.h"
#include "kernels/matmul.h"
#include "kernels/matmul_kernels.h"
#include "kernels/contract.h"
#include "kernels/vector_ops.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"

namespace sa {

namespace {

constexpr int64_t kChunk = kLinearAttentionChunk;

// Rows of the intra-chunk block handled together: a multiple of 16 (a zmm of keys), so the
// triangle's column ranges r1 stay whole vectors; 16 keeps the skipped area large (3/8 of the square).
constexpr int64_t kTriangleRows = 16;

// Split one head's tokens only when each split keeps this many: below it the extra pass and the
// prefix sum cost more than the second thread brings (at d = 64 one split of 4096 tokens is about
// 0.1 ms of work).
constexpr int64_t kMinTokensPerSplit = 4096;

// Rounds up to a multiple of 16 floats, so every scratch array starts on a cache line.
int64_t padded(int64_t floats) { return (floats + 15) / 16 * 16; }

struct Scratch {
  float* pq;      // [kChunk, dk]: phi of the chunk's queries
  float* pkT;     // [dk, kChunk]: phi of the chunk's keys, transposed (column r = key r)
  float* scores;  // [kChunk, kChunk]: the masked intra-chunk block A
  float* den;     // [kChunk]
  float* key;     // [dk]: one key's phi before it is scattered into pkT
  float* state;   // [dk * dv + dk]: S then z (causal calls without a caller's state)
};

struct Context {
  const LinearAttentionProblem& p;
  const LinearAttentionKernels& la;
  const MatmulKernels& mm;
  const VectorOps& vo;
  int64_t stateFloats;

  Scratch scratch() const {
    const int64_t dk = p.dk;
    const int64_t sizes[6] = {padded(kChunk * dk), padded(dk * kChunk), padded(kChunk * kChunk),
                              padded(kChunk),      padded(dk),          padded(stateFloats)};
    int64_t total = 0;
    for (int64_t s : sizes) total += s;
    // A pool worker keeps the largest it needed: ~64 KiB at d = 64, ~0.5 MiB at d = 256.
    float* base = threadScratch(ScratchSlot::LinearAttention, static_cast<size_t>(total));
    Scratch s;
    s.pq = base;
    s.pkT = s.pq + sizes[0];
    s.scores = s.pkT + sizes[1];
    s.den = s.scores + sizes[2];
    s.key = s.den + sizes[3];
    s.state = s.key + sizes[4];
    return s;
  }
};

// The rows of one (batch, head).
struct Head {
  const float* q;
  const float* k;
  const float* v;
  float* out;
};

Head headAt(const LinearAttentionProblem& p, int64_t bh) {
  const int64_t b = bh / p.heads, h = bh % p.heads;
  return {p.q + b * p.qStrideB + h * p.qStrideH, p.k + b * p.kStrideB + h * p.kStrideH,
          p.v + b * p.vStrideB + h * p.vStrideH, p.out + b * p.oStrideB + h * p.oStrideH};
}

void mapQueries(const Context& c, const float* q, int64_t n, float* pq) {
  for (int64_t r = 0; r < n; ++r) c.la.featureMap(q + r * c.p.qStrideL, pq + r * c.p.dk, c.p.dk, c.p.featureMap);
}

void mapKeysTransposed(const Context& c, const float* k, int64_t n, const Scratch& s) {
  const int64_t dk = c.p.dk;
  for (int64_t r = 0; r < n; ++r) {
    c.la.featureMap(k + r * c.p.kStrideL, s.key, dk, c.p.featureMap);
    for (int64_t e = 0; e < dk; ++e) s.pkT[e * kChunk + r] = s.key[e];
  }
}

// S += phi(K)^T V and z += sum of phi(K) over the chunk's n keys (already in s.pkT).
void addChunkToState(const Context& c, const Scratch& s, int64_t n, const float* v, float* state) {
  const int64_t dk = c.p.dk, dv = c.p.dv;
  matmulInPlace(c.mm, dk, dv, n, s.pkT, kChunk, v, c.p.vStrideL, state, dv, true);
  float* z = state + dk * dv;
  for (int64_t e = 0; e < dk; ++e) z[e] += c.vo.sum(s.pkT + e * kChunk, n);
}

// out_i /= (den_i + eps) for the chunk's rows.
void normalise(const Context& c, const Scratch& s, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    float* row = out + i * c.p.oStrideL;
    c.vo.scale(row, 1.0f / (s.den[i] + c.p.eps), row, c.p.dv);
  }
}

// Causal tokens [i0, i1) of one head from `state` (the state before i0), carried to i1.
void causalRange(const Context& c, const Head& h, int64_t i0, int64_t i1, float* state, const Scratch& s) {
  const LinearAttentionProblem& p = c.p;
  const int64_t dk = p.dk, dv = p.dv;
  const float* z = state + dk * dv;
  for (int64_t c0 = i0; c0 < i1; c0 += kChunk) {
    const int64_t n = std::min(kChunk, i1 - c0);
    mapQueries(c, h.q + c0 * p.qStrideL, n, s.pq);
    mapKeysTransposed(c, h.k + c0 * p.kStrideL, n, s);
    const float* v = h.v + c0 * p.vStrideL;
    float* out = h.out + c0 * p.oStrideL;
    // A = Pq PkT with the keys after each query zeroed. Rows go in blocks of kTriangleRows: block
    // [r0, r1) needs keys j < r1 only, so the products skip the blocks above the diagonal (5/8 of
    // the square is computed at n = 64), and only the diagonal block is masked element by element.
    for (int64_t r0 = 0; r0 < n; r0 += kTriangleRows) {
      const int64_t r1 = std::min(n, r0 + kTriangleRows);
      matmulInPlace(c.mm, r1 - r0, r1, dk, s.pq + r0 * dk, dk, s.pkT, kChunk, s.scores + r0 * kChunk, kChunk, false);
      for (int64_t i = r0; i < r1; ++i) {
        float* row = s.scores + i * kChunk;
        std::fill(row + i + 1, row + r1, 0.0f);
        s.den[i] = c.vo.dot(s.pq + i * dk, z, dk) + c.vo.sum(row, i + 1);
      }
    }
    matmulInPlace(c.mm, n, dv, dk, s.pq, dk, state, dv, out, p.oStrideL, false);  // the tokens before the chunk
    for (int64_t r0 = 0; r0 < n; r0 += kTriangleRows) {                           // the chunk's own tokens, j <= i
      const int64_t r1 = std::min(n, r0 + kTriangleRows);
      matmulInPlace(c.mm, r1 - r0, dv, r1, s.scores + r0 * kChunk, kChunk, v, p.vStrideL, out + r0 * p.oStrideL,
                    p.oStrideL, true);
    }
    normalise(c, s, n, out);
    addChunkToState(c, s, n, v, state);
  }
}

// state += the keys and values [j0, j1) of one head (no outputs).
void sumRange(const Context& c, const Head& h, int64_t j0, int64_t j1, float* state, const Scratch& s) {
  for (int64_t c0 = j0; c0 < j1; c0 += kChunk) {
    const int64_t n = std::min(kChunk, j1 - c0);
    mapKeysTransposed(c, h.k + c0 * c.p.kStrideL, n, s);
    addChunkToState(c, s, n, h.v + c0 * c.p.vStrideL, state);
  }
}

// Non-causal outputs of query rows [i0, i1) against a fixed state.
void outputRange(const Context& c, const Head& h, int64_t i0, int64_t i1, const float* state, const Scratch& s) {
  const LinearAttentionProblem& p = c.p;
  const int64_t dk = p.dk, dv = p.dv;
  for (int64_t c0 = i0; c0 < i1; c0 += kChunk) {
    const int64_t n = std::min(kChunk, i1 - c0);
    mapQueries(c, h.q + c0 * p.qStrideL, n, s.pq);
    float* out = h.out + c0 * p.oStrideL;
    matmulInPlace(c.mm, n, dv, dk, s.pq, dk, state, dv, out, p.oStrideL, false);
    for (int64_t i = 0; i < n; ++i) s.den[i] = c.vo.dot(s.pq + i * dk, state + dk * dv, dk);
    normalise(c, s, n, out);
  }
}

// Token range of split r of `splits` over L tokens, in whole chunks.
void splitRange(int64_t L, int64_t splits, int64_t r, int64_t* begin, int64_t* end) {
  const int64_t chunks = (L + kChunk - 1) / kChunk;
  *begin = std::min(L, chunks * r / splits * kChunk);
  *end = std::min(L, chunks * (r + 1) / splits * kChunk);
}

int64_t splitsFor(int64_t heads, int64_t tokens, int threads) {
  if (threads <= 1 || heads >= threads) return 1;
  const int64_t wanted = (threads + heads - 1) / heads;
  return std::max<int64_t>(1, std::min(wanted, tokens / kMinTokensPerSplit));
}

void validate(const LinearAttentionProblem& p) {
  SA_ASSERT(p.batch >= 0 && p.heads >= 0 && p.Lq >= 0 && p.Lk >= 0 && p.dk >= 1 && p.dv >= 1,
            "negative length or a head dimension below 1");
  SA_ASSERT(!p.causal || p.Lq == p.Lk, "causal needs as many queries as keys");
  SA_ASSERT(p.causal || p.state == nullptr, "a carried state needs the causal form");
  SA_ASSERT(p.eps >= 0.0f, "eps must be >= 0");
  static_cast<void>(p);
}

void causal(const Context& c, ThreadPool& pool) {
  const LinearAttentionProblem& p = c.p;
  const int64_t heads = p.batch * p.heads, SF = c.stateFloats;
  const int64_t splits = splitsFor(heads, p.Lq, pool.numThreads());
  if (splits == 1) {
    pool.parallelFor(heads, [&](int64_t t, int) {
      const Scratch s = c.scratch();
      float* state = p.state != nullptr ? p.state + t * SF : s.state;
      if (p.state == nullptr) std::fill(state, state + SF, 0.0f);
      causalRange(c, headAt(p, t), 0, p.Lq, state, s);
    });
    return;
  }
  // states[(t * splits + r) * SF]: the state before split r of head t.
  std::vector<float> states(static_cast<size_t>(heads * splits * SF), 0.0f);
  pool.parallelFor(heads * (splits - 1), [&](int64_t task, int) {  // pass 1: split r's sum, into slot r + 1
    const int64_t t = task / (splits - 1), r = task % (splits - 1);
    int64_t j0, j1;
    splitRange(p.Lq, splits, r, &j0, &j1);
    sumRange(c, headAt(p, t), j0, j1, states.data() + (t * splits + r + 1) * SF, c.scratch());
  });
  for (int64_t t = 0; t < heads; ++t) {  // prefix sums: O(splits d^2) per head
    float* first = states.data() + t * splits * SF;
    if (p.state != nullptr) std::memcpy(first, p.state + t * SF, sizeof(float) * SF);
    for (int64_t r = 1; r < splits; ++r) c.vo.axpy(1.0f, first + (r - 1) * SF, first + r * SF, SF);
  }
  pool.parallelFor(heads * splits, [&](int64_t task, int) {  // pass 2: every split's outputs
    const int64_t t = task / splits, r = task % splits;
    int64_t i0, i1;
    splitRange(p.Lq, splits, r, &i0, &i1);
    causalRange(c, headAt(p, t), i0, i1, states.data() + (t * splits + r) * SF, c.scratch());
  });
  if (p.state != nullptr) {  // the last split carried its state to the end: the state after the call
    for (int64_t t = 0; t < heads; ++t) {
      std::memcpy(p.state + t * SF, states.data() + (t * splits + splits - 1) * SF, sizeof(float) * SF);
    }
  }
}

void nonCausal(const Context& c, ThreadPool& pool) {
  const LinearAttentionProblem& p = c.p;
  const int64_t heads = p.batch * p.heads, SF = c.stateFloats;
  const int64_t splitsK = splitsFor(heads, p.Lk, pool.numThreads());
  const int64_t splitsQ = splitsFor(heads, p.Lq, pool.numThreads());
  std::vector<float> states(static_cast<size_t>(heads * splitsK * SF), 0.0f);
  pool.parallelFor(heads * splitsK, [&](int64_t task, int) {
    const int64_t t = task / splitsK, r = task % splitsK;
    int64_t j0, j1;
    splitRange(p.Lk, splitsK, r, &j0, &j1);
    sumRange(c, headAt(p, t), j0, j1, states.data() + (t * splitsK + r) * SF, c.scratch());
  });
  for (int64_t t = 0; t < heads; ++t) {
    float* total = states.data() + t * splitsK * SF;
    for (int64_t r = 1; r < splitsK; ++r) c.vo.axpy(1.0f, total + r * SF, total, SF);
  }
  pool.parallelFor(heads * splitsQ, [&](int64_t task, int) {
    const int64_t t = task / splitsQ, r = task % splitsQ;
    int64_t i0, i1;
    splitRange(p.Lq, splitsQ, r, &i0, &i1);
    outputRange(c, headAt(p, t), i0, i1, states.data() + t * splitsK * SF, c.scratch());
  });
}

}  // namespace

void linearAttention(const KernelTable& kernels, const LinearAttentionProblem& p) {
  validate(p);
  if (p.batch == 0 || p.heads == 0 || p.Lq == 0) return;
  const Context c{p, *kernels.linearAttention, *kernels.matmul, *kernels.vectorOps, linearStateFloats(p.dk, p.dv)};
  ThreadPool& pool = ThreadPool::instance();
  if (p.causal) {
    causal(c, pool);
  } else {
    nonCausal(c, pool);
  }
}

}  // namespace sa
