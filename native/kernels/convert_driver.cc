// The ISA-neutral part of the conversions (kernels/convert.h): walks a strided source in runs of its
// last dimension, gathers non-contiguous runs into a small local buffer, goes through float32
// between the two 16-bit formats, and splits the elements over the thread pool in fixed blocks.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/convert.h"
#include "runtime/thread_pool.h"

namespace sa {

const ConvertKernels* convertKernelsScalar();
const ConvertKernels* convertKernelsAvx2();
const ConvertKernels* convertKernelsAvx512();
const ConvertKernels* convertKernelsNeon();

const ConvertKernels* convertKernelsFor(Isa isa) {
  switch (isa) {
    case Isa::Scalar:
      return convertKernelsScalar();
    case Isa::Avx2:
      return convertKernelsAvx2();
    case Isa::Avx512:
    case Isa::Avx512Bf16:  // conversion is memory-bound: the bf16 tiers use the AVX-512 kernels
    case Isa::Amx:
      return convertKernelsAvx512();
    case Isa::Neon:
    case Isa::NeonBf16:
      return convertKernelsNeon();
  }
  return nullptr;
}

namespace {

// Elements per pool task, and per step through the local buffers.
constexpr int64_t kBlock = 32768;
constexpr int64_t kChunk = 512;

size_t bytesOf(ElementType t) { return t == ElementType::Float32 ? 4 : 2; }

// n contiguous elements of type `from` at src into dst of type `to`.
void convertContiguous(const ConvertKernels& k, ElementType from, ElementType to, const void* src, void* dst,
                       int64_t n) {
  if (from == to) {
    std::memcpy(dst, src, static_cast<size_t>(n) * bytesOf(from));
    return;
  }
  if (from == ElementType::Float32) {
    const float* s = static_cast<const float*>(src);
    uint16_t* d = static_cast<uint16_t*>(dst);
    (to == ElementType::BFloat16 ? k.floatToBf16 : k.floatToHalf)(s, d, n);
    return;
  }
  const uint16_t* s = static_cast<const uint16_t*>(src);
  auto widen = from == ElementType::BFloat16 ? k.bf16ToFloat : k.halfToFloat;
  if (to == ElementType::Float32) {
    widen(s, static_cast<float*>(dst), n);
    return;
  }
  // bfloat16 <-> float16: widening is exact, so narrowing the float32 rounds once.
  auto narrow = to == ElementType::BFloat16 ? k.floatToBf16 : k.floatToHalf;
  uint16_t* d = static_cast<uint16_t*>(dst);
  float wide[kChunk];
  for (int64_t i = 0; i < n; i += kChunk) {
    const int64_t len = std::min(kChunk, n - i);
    widen(s + i, wide, len);
    narrow(wide, d + i, len);
  }
}

// n elements `stride` apart from src (a stride other than 1), gathered kChunk at a time.
void convertGathered(const ConvertKernels& k, ElementType from, ElementType to, const char* src, int64_t stride,
                     char* dst, int64_t n) {
  const size_t inBytes = bytesOf(from), outBytes = bytesOf(to);
  alignas(16) char gathered[kChunk * 4];
  for (int64_t i = 0; i < n; i += kChunk) {
    const int64_t len = std::min(kChunk, n - i);
    for (int64_t j = 0; j < len; ++j)
      std::memcpy(gathered + j * inBytes, src + (i + j) * stride * static_cast<int64_t>(inBytes), inBytes);
    convertContiguous(k, from, to, gathered, dst + i * outBytes, len);
  }
}

}  // namespace

void convertStrided(const ConvertKernels& k, const StridedSource& src, ElementType to, void* dst) {
  const int rank = src.rank;
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) total *= src.shape[d];
  if (total == 0) return;
  const int64_t inner = src.shape[rank - 1], innerStride = src.strides[rank - 1];
  const size_t inBytes = bytesOf(src.type), outBytes = bytesOf(to);
  const char* base = static_cast<const char*>(src.data);
  char* out = static_cast<char*>(dst);
  ThreadPool::instance().parallelFor((total + kBlock - 1) / kBlock, [&](int64_t task, int) {
    int64_t i = task * kBlock;
    const int64_t end = std::min(total, i + kBlock);
    // The multi-index of element i, and its position in the source.
    std::vector<int64_t> idx(static_cast<size_t>(rank));
    int64_t rest = i, pos = src.offset;
    for (int d = rank - 1; d >= 0; --d) {
      idx[d] = rest % src.shape[d];
      rest /= src.shape[d];
      pos += idx[d] * src.strides[d];
    }
    while (i < end) {
      const int64_t len = std::min(inner - idx[rank - 1], end - i);
      const char* s = base + pos * static_cast<int64_t>(inBytes);
      if (innerStride == 1 || len == 1) {
        convertContiguous(k, src.type, to, s, out + i * outBytes, len);
      } else {
        convertGathered(k, src.type, to, s, innerStride, out + i * outBytes, len);
      }
      i += len;
      idx[rank - 1] += len;
      pos += len * innerStride;
      // Carry into the outer dimensions at the end of a run.
      for (int d = rank - 1; d > 0 && idx[d] == src.shape[d]; --d) {
        pos -= idx[d] * src.strides[d];
        idx[d] = 0;
        ++idx[d - 1];
        pos += src.strides[d - 1];
      }
    }
  });
}

}  // namespace sa
