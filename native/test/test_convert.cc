// The conversions of kernels/convert.h: every ISA bit for bit against the scalar reference on edge
// values (zeros, infinities, NaN payloads, subnormals of both formats, ties either way, overflow) at
// every length up to a few vectors; the reference against known encodings; and the strided driver.
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/convert.h"
#include "runtime/dispatch.h"
#include "test/check.h"

using namespace sa;

namespace {

float floatOf(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// Float32 bit patterns around every boundary of both formats, then random ones.
std::vector<float> edgeFloats() {
  const uint32_t bits[] = {
      0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xff812345,
      0x7fbfffff, 0x7fffffff, 0x00000001, 0x807fffff, 0x00400000, 0x3f800000, 0x3f808000, 0x3f818000,
      0x3f808001, 0x3f817fff, 0x7f7fffff, 0x7f7f8000, 0x7f7f7fff, 0xff7fffff, 0x477fe000, 0x477ff000,
      0x477fefff, 0x477ff001, 0x47800000, 0xc77ff000, 0x38800000, 0x387fffff, 0x387ff000, 0x33800000,
      0x33000000, 0x33000001, 0x32ffffff, 0x33c00000, 0x34400000, 0x34200000, 0x34a00000, 0xb3000001,
      0x3f801000, 0x3f803000, 0x3f802000, 0x3f800fff, 0x3f801001, 0x42f6e979, 0xc2f6e979, 0x3eaaaaab,
  };
  std::vector<float> out;
  for (uint32_t b : bits) out.push_back(floatOf(b));
  std::mt19937 gen(23);
  for (int i = 0; i < 400; ++i) out.push_back(floatOf(static_cast<uint32_t>(gen())));
  return out;
}

std::vector<uint16_t> edgeHalves() {
  std::vector<uint16_t> out;
  for (uint32_t h = 0; h < 0x10000; h += 37) out.push_back(static_cast<uint16_t>(h));
  for (uint16_t h : {0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0x7c00, 0xfc00, 0x7c01, 0x7e00, 0xfdff, 0x7fff})
    out.push_back(h);
  return out;
}

// Bits equal, element for element (NaNs included: every ISA must give the same NaN).
template <typename T>
bool sameBits(const std::vector<T>& a, const std::vector<T>& b, int64_t n, int64_t* at) {
  for (int64_t i = 0; i < n; ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) {
      *at = i;
      return false;
    }
  }
  return true;
}

}  // namespace

SA_NATIVE_TEST(convert_reference_known_encodings) {
  const ConvertKernels& ref = *convertKernelsFor(Isa::Scalar);
  const struct {
    uint32_t in;
    uint16_t bf16, half;
  } cases[] = {
      {0x3f800000, 0x3f80, 0x3c00},  // 1
      {0x3f808000, 0x3f80, 0x3c04},  // 1 + 2^-8: bf16 tie to even (down)
      {0x3f818000, 0x3f82, 0x3c0c},  // 1 + 3 * 2^-8: bf16 tie to even (up)
      {0x3f801000, 0x3f80, 0x3c00},  // 1 + 2^-11: half tie to even (down)
      {0x3f803000, 0x3f80, 0x3c02},  // 1 + 3 * 2^-11: half tie to even (up)
      {0x477fe000, 0x4780, 0x7bff},  // 65504, the largest half
      {0x477ff000, 0x4780, 0x7c00},  // 65520: half overflows to infinity
      {0x7f7fffff, 0x7f80, 0x7c00},  // FLT_MAX: bf16 rounds up to infinity
      {0x33800000, 0x3380, 0x0001},  // 2^-24, the smallest half subnormal
      {0x33000000, 0x3300, 0x0000},  // 2^-25: tie to even, zero
      {0x33000001, 0x3300, 0x0001},  // just above 2^-25
      {0x34400000, 0x3440, 0x0003},  // 3 * 2^-24, a half subnormal
      {0x00000001, 0x0000, 0x0000},  // the smallest float subnormal
      {0x00018000, 0x0002, 0x0000},  // a float subnormal tie (bf16 rounds up to even)
      {0x7f800001, 0x7fc0, 0x7e00},  // signalling NaN: quieted
      {0xff812345, 0xffc1, 0xfe09},  // NaN payload and sign kept
      {0xff800000, 0xff80, 0xfc00},  // -inf
      {0x80000000, 0x8000, 0x8000},  // -0
  };
  for (const auto& c : cases) {
    const float f = floatOf(c.in);
    uint16_t b = 0, h = 0;
    ref.floatToBf16(&f, &b, 1);
    ref.floatToHalf(&f, &h, 1);
    SA_CHECK(b == c.bf16, "bf16 of 0x%08x: 0x%04x, expected 0x%04x", c.in, b, c.bf16);
    SA_CHECK(h == c.half, "half of 0x%08x: 0x%04x, expected 0x%04x", c.in, h, c.half);
  }
  // Widening: subnormal and normal halves exactly, NaN quieted with its payload.
  const uint16_t halves[] = {0x0001, 0x03ff, 0x0400, 0x3c00, 0x7bff, 0x7c00, 0x7c01, 0xfe00};
  const uint32_t wide[] = {0x33800000, 0x387fc000, 0x38800000, 0x3f800000,
                           0x477fe000, 0x7f800000, 0x7fc02000, 0xffc00000};
  for (int i = 0; i < 8; ++i) {
    float f = 0;
    ref.halfToFloat(&halves[i], &f, 1);
    SA_CHECK(bitsOf(f) == wide[i], "half 0x%04x widened to 0x%08x, expected 0x%08x", halves[i], bitsOf(f), wide[i]);
  }
}

SA_NATIVE_TEST(convert_every_isa_matches_scalar) {
  const ConvertKernels& ref = *convertKernelsFor(Isa::Scalar);
  const std::vector<float> floats = edgeFloats();
  const std::vector<uint16_t> halves = edgeHalves();
  for (Isa isa : availableIsas()) {
    const ConvertKernels& k = *convertKernelsFor(isa);
    const char* name = isaName(isa);
    // Every length up to 67, each an exact-size buffer starting at a different element.
    for (int64_t n = 0; n <= 67; ++n) {
      const int64_t start = (n * 7) % 40;
      const std::vector<float> in(floats.begin() + start, floats.begin() + start + n);
      std::vector<uint16_t> want(n), got(n);
      int64_t at = 0;
      ref.floatToBf16(in.data(), want.data(), n), k.floatToBf16(in.data(), got.data(), n);
      SA_CHECK(sameBits(got, want, n, &at), "%s floatToBf16 n=%lld at %lld: 0x%04x vs 0x%04x", name,
               static_cast<long long>(n), static_cast<long long>(at), got[at], want[at]);
      ref.floatToHalf(in.data(), want.data(), n), k.floatToHalf(in.data(), got.data(), n);
      SA_CHECK(sameBits(got, want, n, &at), "%s floatToHalf n=%lld at %lld: 0x%04x vs 0x%04x (from 0x%08x)", name,
               static_cast<long long>(n), static_cast<long long>(at), got[at], want[at], bitsOf(in[at]));
      const std::vector<uint16_t> h(halves.begin() + start, halves.begin() + start + n);
      std::vector<float> wantF(n), gotF(n);
      ref.bf16ToFloat(h.data(), wantF.data(), n), k.bf16ToFloat(h.data(), gotF.data(), n);
      SA_CHECK(sameBits(gotF, wantF, n, &at), "%s bf16ToFloat n=%lld at %lld", name, static_cast<long long>(n),
               static_cast<long long>(at));
      ref.halfToFloat(h.data(), wantF.data(), n), k.halfToFloat(h.data(), gotF.data(), n);
      SA_CHECK(sameBits(gotF, wantF, n, &at), "%s halfToFloat n=%lld at %lld: 0x%08x vs 0x%08x (from 0x%04x)", name,
               static_cast<long long>(n), static_cast<long long>(at), bitsOf(gotF[at]), bitsOf(wantF[at]), h[at]);
    }
    // All of them at once, and every half pattern widened.
    const int64_t n = static_cast<int64_t>(floats.size());
    std::vector<uint16_t> want(n), got(n);
    int64_t at = 0;
    ref.floatToHalf(floats.data(), want.data(), n), k.floatToHalf(floats.data(), got.data(), n);
    SA_CHECK(sameBits(got, want, n, &at), "%s floatToHalf (all) at %lld", name, static_cast<long long>(at));
    ref.floatToBf16(floats.data(), want.data(), n), k.floatToBf16(floats.data(), got.data(), n);
    SA_CHECK(sameBits(got, want, n, &at), "%s floatToBf16 (all) at %lld", name, static_cast<long long>(at));
    std::vector<uint16_t> every(0x10000);
    for (uint32_t i = 0; i < 0x10000; ++i) every[i] = static_cast<uint16_t>(i);
    std::vector<float> wantF(0x10000), gotF(0x10000);
    ref.halfToFloat(every.data(), wantF.data(), 0x10000), k.halfToFloat(every.data(), gotF.data(), 0x10000);
    SA_CHECK(sameBits(gotF, wantF, 0x10000, &at), "%s halfToFloat of 0x%04x: 0x%08x vs 0x%08x", name,
             static_cast<unsigned>(at), bitsOf(gotF[at]), bitsOf(wantF[at]));
  }
}

SA_NATIVE_TEST(convert_strided_source) {
  const ConvertKernels& ref = *convertKernelsFor(Isa::Scalar);
  // A [3, 200, 70] float32 block read from offset 3 through strides [30000, 150, 2] (every other
  // element of each row): more elements than one pool task takes, so tasks start mid-row.
  const int64_t shape[3] = {3, 200, 70}, strides[3] = {30000, 150, 2};
  std::vector<float> data(3 * 30000);
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> dist(-100.0f, 100.0f);
  for (float& x : data) x = dist(gen);
  for (Isa isa : availableIsas()) {
    const ConvertKernels& k = *convertKernelsFor(isa);
    for (ElementType to : {ElementType::BFloat16, ElementType::Float16}) {
      std::vector<uint16_t> got(3 * 200 * 70, 0xdead);
      convertStrided(k, StridedSource{data.data(), ElementType::Float32, 3, 3, shape, strides}, to, got.data());
      int64_t i = 0, bad = 0;
      for (int64_t a = 0; a < 3; ++a)
        for (int64_t b = 0; b < 200; ++b)
          for (int64_t c = 0; c < 70; ++c, ++i) {
            uint16_t want;
            const float x = data[3 + a * 30000 + b * 150 + c * 2];
            (to == ElementType::BFloat16 ? ref.floatToBf16 : ref.floatToHalf)(&x, &want, 1);
            bad += got[i] != want;
          }
      SA_CHECK(bad == 0, "%s strided to type %d: %lld elements differ", isaName(isa), static_cast<int>(to),
               static_cast<long long>(bad));
      // Back to float32 and across to the other 16-bit format, contiguous: one rounding each way.
      std::vector<float> wide(got.size());
      const int64_t flat[1] = {static_cast<int64_t>(got.size())}, unit[1] = {1};
      convertStrided(k, StridedSource{got.data(), to, 0, 1, flat, unit}, ElementType::Float32, wide.data());
      std::vector<uint16_t> across(got.size()), acrossWant(got.size());
      const ElementType other = to == ElementType::BFloat16 ? ElementType::Float16 : ElementType::BFloat16;
      convertStrided(k, StridedSource{got.data(), to, 0, 1, flat, unit}, other, across.data());
      (other == ElementType::BFloat16 ? ref.floatToBf16 : ref.floatToHalf)(wide.data(), acrossWant.data(), flat[0]);
      int64_t at = 0;
      SA_CHECK(sameBits(across, acrossWant, flat[0], &at), "%s across formats at %lld", isaName(isa),
               static_cast<long long>(at));
    }
  }
}
