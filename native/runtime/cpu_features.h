// What the CPU and the OS together allow: an ISA counts only when CPUID reports it AND the OS saves
// its registers on context switches (XGETBV), as MLAS and simdjson check. On arm64 the OS reports
// the features it enables (Linux: getauxval hardware capabilities; macOS: sysctl hw.optional).
#pragma once
#include "runtime/isa.h"

namespace sa {

struct CpuFeatures {
  bool avx2Fma = false;     // AVX2 + FMA3 + F16C, with YMM state enabled by the OS
  bool avx512 = false;      // AVX-512 F, BW, DQ, VL, with ZMM/opmask state enabled by the OS
  bool avx512Bf16 = false;  // avx512 + AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16)
  bool amx = false;         // avx512Bf16 + AMX-TILE and AMX-BF16, tile state enabled and granted by the OS
  bool neon = false;        // always true on arm64
  bool neonBf16 = false;    // arm64 with FEAT_BF16 (BFDOT), as the OS reports it (HWCAP2_BF16)
  bool neonFhm = false;     // arm64 with FEAT_FHM (FMLAL, float16 GEMM), as the OS reports it (HWCAP_ASIMDFHM)
};

const CpuFeatures& cpuFeatures();  // detected once
bool cpuSupports(Isa isa);
const char* cpuBrandString();

}  // namespace sa
