// The build's own SIMD paths are really in use. On arm64, NEON (part of the armv8-a baseline) must be
// listed and preferred, or the NEON kernels would silently go untested (scripts/test-neon-qemu.sh runs
// this program under qemu-aarch64); on x86-64 the list must agree with what CPUID and XGETBV report.
// SA_EXPECT_NEON_BF16=1 / 0 (set by ctest under qemu, whose CPU model is known) also requires the
// neonbf16 tier to be detected / absent, so the BFDOT kernel cannot silently go untested either;
// SA_EXPECT_NEON_FHM likewise for FEAT_FHM and the float16 GEMM, which SIMD_ATTENTION_ISA=neon turns off.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/common/target.h"
#include "runtime/cpu_features.h"
#include "runtime/dispatch.h"
#include "test/check.h"

using namespace sa;

SA_NATIVE_TEST(simd_isas_of_this_architecture_are_available) {
  const std::vector<Isa> isas = availableIsas();
  const auto listed = [&](Isa isa) { return std::find(isas.begin(), isas.end(), isa) != isas.end(); };
#if SA_ARCH_ARM64
  SA_CHECK(kernelTableFor(Isa::Neon) != nullptr, "the NEON kernels are not compiled into an arm64 build");
  SA_CHECK(cpuSupports(Isa::Neon), "an arm64 CPU must report NEON");
  const Isa best = kernelTableFor(Isa::NeonBf16) != nullptr && cpuSupports(Isa::NeonBf16) ? Isa::NeonBf16 : Isa::Neon;
  SA_CHECK(!isas.empty() && isas.front() == best, "%s must be the preferred ISA on this arm64 CPU", isaName(best));
  SA_CHECK(listed(Isa::Neon), "neon must stay available under neonbf16");
#if SA_NEON_BF16
  SA_CHECK(kernelTableFor(Isa::NeonBf16) != nullptr, "the neonbf16 kernels are not compiled into this arm64 build");
#endif
  if (const char* expect = std::getenv("SA_EXPECT_NEON_BF16")) {
    SA_CHECK(cpuSupports(Isa::NeonBf16) == (std::strcmp(expect, "1") == 0), "BF16 detected: %d, expected: %s",
             cpuSupports(Isa::NeonBf16), expect);
  }
  if (const char* expect = std::getenv("SA_EXPECT_NEON_FHM")) {
    SA_CHECK(cpuFeatures().neonFhm == (std::strcmp(expect, "1") == 0), "FHM detected: %d, expected: %s",
             cpuFeatures().neonFhm, expect);
  }
  const char* forced = std::getenv("SIMD_ATTENTION_ISA");
  const bool plainNeonForced = forced != nullptr && std::strcmp(forced, "neon") == 0;
#if SA_NEON_FHM
  SA_CHECK(kernelTableWithF16Gemm(Isa::Neon) != nullptr, "the float16 GEMM is not compiled into this arm64 build");
#endif
  const bool f16Expected = cpuFeatures().neonFhm && kernelTableWithF16Gemm(Isa::Neon) != nullptr && !plainNeonForced;
  SA_CHECK((activeKernels().matmulF16 != nullptr) == f16Expected, "float16 GEMM active: %d, expected: %d",
           activeKernels().matmulF16 != nullptr, f16Expected);
  std::printf("     (FHM: %d, float16 GEMM active: %d)\n", cpuFeatures().neonFhm, activeKernels().matmulF16 != nullptr);
  SA_CHECK(!listed(Isa::Avx2) && !listed(Isa::Avx512) && !listed(Isa::Avx512Bf16) && !listed(Isa::Amx),
           "x86 ISAs listed on arm64");
#elif SA_ARCH_X86_64
  SA_CHECK(!listed(Isa::Neon) && !listed(Isa::NeonBf16), "NEON listed on x86-64");
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Avx512Bf16, Isa::Amx}) {
    SA_CHECK(listed(isa) == cpuSupports(isa), "%s: listed %d, CPU supports %d", isaName(isa), listed(isa),
             cpuSupports(isa));
  }
  // Each tier includes the one below it.
  SA_CHECK(!cpuSupports(Isa::Amx) || cpuSupports(Isa::Avx512Bf16), "amx without avx512bf16");
  SA_CHECK(!cpuSupports(Isa::Avx512Bf16) || cpuSupports(Isa::Avx512), "avx512bf16 without avx512");
  SA_CHECK(kernelTableFor(Isa::Avx512Bf16) != nullptr && kernelTableFor(Isa::Avx512Bf16)->matmulBf16 != nullptr,
           "the avx512bf16 table has no bf16 GEMM");
  SA_CHECK(!cpuFeatures().neonFhm && activeKernels().matmulF16 == nullptr, "a float16 GEMM on x86-64");
#endif
  std::printf("     (available here:");
  for (Isa isa : isas) std::printf(" %s", isaName(isa));
  std::printf(")\n");
}
