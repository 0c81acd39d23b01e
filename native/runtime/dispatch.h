// The dispatch table: one set of kernels per ISA, the active one chosen once per process
// (the best the CPU and OS allow, or SIMD_ATTENTION_ISA), as in MLAS and simdjson.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/isa.h"

namespace sa {

struct MatmulKernels;           // kernels/matmul_kernels.h
struct MatmulBf16Kernels;       // kernels/matmul_bf16_kernels.h
struct MatmulF16Kernels;        // kernels/matmul_f16_kernels.h
struct AttentionKernels;        // kernels/attention_kernels.h
struct Seq2SeqKernels;          // kernels/seq2seq_kernels.h
struct LinearAttentionKernels;  // kernels/linear_attention_kernels.h
struct RotaryKernels;           // kernels/rotary_kernels.h
struct VectorOps;               // kernels/vector_ops.h

struct KernelTable {
  Isa isa;
  const MatmulKernels* matmul;
  const MatmulBf16Kernels* matmulBf16;  // the bf16 GEMM of float32 precision 'medium'; nullptr without bf16
  // The float16 GEMM of float16 matmul; nullptr where float16 is widened to float32. Not a tier:
  // the active neon or neonbf16 table gains it on a CPU with FEAT_FHM (kernelTableWithF16Gemm).
  const MatmulF16Kernels* matmulF16;
  const AttentionKernels* attention;
  const Seq2SeqKernels* seq2seq;
  const LinearAttentionKernels* linearAttention;
  const RotaryKernels* rotary;
  const VectorOps* vectorOps;  // row loops of the soft alignment, feature-map attention and linear attention
  // Runs `iterations` rounds of independent FMAs on this thread; returns the flops performed.
  double (*fmaPeakLoop)(int64_t iterations);
};

// The table of one ISA, or nullptr when it was not compiled for this architecture. Does not check
// the CPU: use cpuSupports() (runtime/cpu_features.h) before running its kernels.
const KernelTable* kernelTableFor(Isa isa);

// The table of isa plus the float16 GEMM (neon and neonbf16 where it is compiled in), or nullptr.
// Does not check the CPU: cpuFeatures().neonFhm says whether it runs. The dispatcher activates it
// on such a CPU, except when SIMD_ATTENTION_ISA=neon asks for the plain baseline.
const KernelTable* kernelTableWithF16Gemm(Isa isa);

// The ISAs this build has and this CPU (and OS) can run, best first.
std::vector<Isa> availableIsas();

struct DispatchChoice {
  const KernelTable* table = nullptr;  // nullptr when the override could not be honoured
  std::string error;                   // why, when table is nullptr
  bool forced = false;                 // chosen by SIMD_ATTENTION_ISA
};

// Made once per process (the first call decides; thread-safe).
const DispatchChoice& dispatchChoice();

// The active table; throws std::runtime_error with dispatchChoice().error if there is none.
const KernelTable& activeKernels();

}  // namespace sa
