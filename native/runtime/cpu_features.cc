#include "runtime/cpu_features.h"

#include <cstring>
#include <string>

#if SA_ARCH_X86_64
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

#if SA_ARCH_ARM64
#if defined(__linux__)
#include <sys/auxv.h>
#elif defined(__APPLE__)
#include <sys/sysctl.h>
#endif
#endif

namespace sa {

#if SA_ARCH_X86_64
namespace {

void cpuid(unsigned leaf, unsigned subleaf, unsigned regs[4]) {
#if defined(_MSC_VER)
  int r[4];
  __cpuidex(r, static_cast<int>(leaf), static_cast<int>(subleaf));
  for (int i = 0; i < 4; ++i) regs[i] = static_cast<unsigned>(r[i]);
#else
  __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
#endif
}

unsigned long long xgetbv0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
#endif
}

// Linux hands out the AMX tile data state only to processes that ask for it (arch_prctl
// ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA); elsewhere XCR0 alone decides.
bool amxPermitted() {
#if defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return true;
#endif
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned r[4];
  cpuid(0, 0, r);
  const unsigned maxLeaf = r[0];
  if (maxLeaf < 1) return f;
  cpuid(1, 0, r);
  const bool osxsave = (r[2] >> 27) & 1;
  const bool fma = (r[2] >> 12) & 1;
  const bool avx = (r[2] >> 28) & 1;
  const bool f16c = (r[2] >> 29) & 1;
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = xgetbv0();
  const bool ymmState = (xcr0 & 0x6) == 0x6;    // SSE + AVX state
  const bool zmmState = (xcr0 & 0xE6) == 0xE6;  // + opmask, ZMM_Hi256, Hi16_ZMM
  if (maxLeaf < 7) return f;
  cpuid(7, 0, r);
  const unsigned maxSubleaf7 = r[0];
  const unsigned ebx = r[1];
  const bool avx2 = (ebx >> 5) & 1;
  const bool avx512f = (ebx >> 16) & 1;
  const bool avx512dq = (ebx >> 17) & 1;
  const bool avx512bw = (ebx >> 30) & 1;
  const bool avx512vl = (ebx >> 31) & 1;
  f.avx2Fma = ymmState && avx2 && fma && f16c;
  f.avx512 = f.avx2Fma && zmmState && avx512f && avx512dq && avx512bw && avx512vl;
  const bool amxTile = (r[3] >> 24) & 1;
  const bool amxBf16 = (r[3] >> 22) & 1;
  if (maxSubleaf7 >= 1) cpuid(7, 1, r);
  f.avx512Bf16 = f.avx512 && maxSubleaf7 >= 1 && ((r[0] >> 5) & 1);
  const bool tileState = (xcr0 & 0x60000) == 0x60000;  // XTILECFG (bit 17) + XTILEDATA (bit 18)
  f.amx = f.avx512Bf16 && amxTile && amxBf16 && tileState && amxPermitted();
  return f;
}

std::string brand() {
  unsigned r[4];
  cpuid(0x80000000u, 0, r);
  if (r[0] < 0x80000004u) return "unknown x86-64";
  char text[49] = {0};
  for (unsigned i = 0; i < 3; ++i) {
    cpuid(0x80000002u + i, 0, r);
    std::memcpy(text + 16 * i, r, 16);
  }
  std::string s(text);
  const auto first = s.find_first_not_of(' ');
  const auto last = s.find_last_not_of(' ');
  return first == std::string::npos ? std::string("unknown x86-64") : s.substr(first, last - first + 1);
}

}  // namespace
#endif

#if SA_ARCH_ARM64
namespace {

bool armBf16() {
#if defined(__linux__)
  constexpr unsigned long kHwcap2Bf16 = 1ul << 14;  // HWCAP2_BF16, which older sysroots lack
  return (getauxval(AT_HWCAP2) & kHwcap2Bf16) != 0;
#elif defined(__APPLE__)
  int value = 0;
  size_t size = sizeof value;
  return sysctlbyname("hw.optional.arm.FEAT_BF16", &value, &size, nullptr, 0) == 0 && value != 0;
#else
  return false;
#endif
}

bool armFhm() {
#if defined(__linux__)
  constexpr unsigned long kHwcapAsimdFhm = 1ul << 23;  // HWCAP_ASIMDFHM, which older sysroots lack
  return (getauxval(AT_HWCAP) & kHwcapAsimdFhm) != 0;
#elif defined(__APPLE__)
  int value = 0;
  size_t size = sizeof value;
  return sysctlbyname("hw.optional.arm.FEAT_FHM", &value, &size, nullptr, 0) == 0 && value != 0;
#else
  return false;
#endif
}

}  // namespace
#endif

const CpuFeatures& cpuFeatures() {
#if SA_ARCH_X86_64
  static const CpuFeatures features = detect();
#elif SA_ARCH_ARM64
  static const CpuFeatures features = [] {
    CpuFeatures f;
    f.neon = true;
    f.neonBf16 = armBf16();
    f.neonFhm = armFhm();
    return f;
  }();
#else
  static const CpuFeatures features;
#endif
  return features;
}

bool cpuSupports(Isa isa) {
  const CpuFeatures& f = cpuFeatures();
  switch (isa) {
    case Isa::Scalar:
      return true;
    case Isa::Avx2:
      return f.avx2Fma;
    case Isa::Avx512:
      return f.avx512;
    case Isa::Avx512Bf16:
      return f.avx512Bf16;
    case Isa::Amx:
      return f.amx;
    case Isa::Neon:
      return f.neon;
    case Isa::NeonBf16:
      return f.neonBf16;
  }
  return false;
}

const char* cpuBrandString() {
#if SA_ARCH_X86_64
  static const std::string name = brand();
  return name.c_str();
#elif SA_ARCH_ARM64
  return "arm64";
#else
  return "unknown";
#endif
}

}  // namespace sa
