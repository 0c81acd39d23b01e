#include "runtime/dispatch.h"

#include <cctype>
#include <cstdlib>
#include <stdexcept>

#include "runtime/cpu_features.h"

namespace sa {

// Each ISA's kernels live in kernels/<isa>/; these return nullptr where the ISA is not compiled in
// (an AVX-512 kernel on arm64, NEON on x86-64).
const MatmulKernels* matmulKernelsScalar();
const MatmulKernels* matmulKernelsAvx2();
const MatmulKernels* matmulKernelsAvx512();
const MatmulKernels* matmulKernelsNeon();
const MatmulBf16Kernels* matmulBf16KernelsAvx512();
const MatmulBf16Kernels* matmulBf16KernelsNeon();
const MatmulF16Kernels* matmulF16KernelsNeon();
const AttentionKernels* attentionKernelsScalar();
const AttentionKernels* attentionKernelsAvx2();
const AttentionKernels* attentionKernelsAvx512();
const AttentionKernels* attentionKernelsAvx512Bf16();
const AttentionKernels* attentionKernelsNeon();
const Seq2SeqKernels* seq2seqKernelsScalar();
const Seq2SeqKernels* seq2seqKernelsAvx2();
const Seq2SeqKernels* seq2seqKernelsAvx512();
const Seq2SeqKernels* seq2seqKernelsNeon();
const LinearAttentionKernels* linearAttentionKernelsScalar();
const LinearAttentionKernels* linearAttentionKernelsAvx2();
const LinearAttentionKernels* linearAttentionKernelsAvx512();
const LinearAttentionKernels* linearAttentionKernelsNeon();
const RotaryKernels* rotaryKernelsScalar();
const RotaryKernels* rotaryKernelsAvx2();
const RotaryKernels* rotaryKernelsAvx512();
const RotaryKernels* rotaryKernelsNeon();
const VectorOps* vectorOpsScalar();
const VectorOps* vectorOpsAvx2();
const VectorOps* vectorOpsAvx512();
const VectorOps* vectorOpsNeon();
double fmaPeakLoopScalar(int64_t iterations);
double fmaPeakLoopAvx2(int64_t iterations);
double fmaPeakLoopAvx512(int64_t iterations);
double fmaPeakLoopNeon(int64_t iterations);

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::Scalar:
      return "scalar";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
    case Isa::Neon:
      return "neon";
    case Isa::Avx512Bf16:
      return "avx512bf16";
    case Isa::Amx:
      return "amx";
    case Isa::NeonBf16:
      return "neonbf16";
  }
  return "unknown";
}

bool parseIsa(const std::string& name, Isa* out) {
  std::string lower;
  for (char c : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (int i = 0; i < kIsaCount; ++i) {
    const Isa isa = static_cast<Isa>(i);
    if (lower == isaName(isa)) {
      *out = isa;
      return true;
    }
  }
  return false;
}

namespace {

KernelTable makeTable(Isa isa, const MatmulKernels* mm, const AttentionKernels* at, const Seq2SeqKernels* s2s,
                      const LinearAttentionKernels* la, const RotaryKernels* rope, const VectorOps* vo,
                      double (*peak)(int64_t)) {
  return KernelTable{isa, mm, nullptr, nullptr, at, s2s, la, rope, vo, peak};
}

// The neon table plus the bf16 GEMM.
KernelTable withBf16Matmul(KernelTable table, Isa isa, const MatmulBf16Kernels* bf16) {
  table.isa = isa;
  table.matmulBf16 = bf16;
  return table;
}

// The avx512 table plus the bf16 GEMM and the bf16 attention tile kernel.
KernelTable withBf16Kernels(KernelTable table, Isa isa, const MatmulBf16Kernels* bf16) {
  table = withBf16Matmul(table, isa, bf16);
  table.attention = attentionKernelsAvx512Bf16();
  return table;
}

const KernelTable* tables() {
  static const KernelTable avx512 =
      makeTable(Isa::Avx512, matmulKernelsAvx512(), attentionKernelsAvx512(), seq2seqKernelsAvx512(),
                linearAttentionKernelsAvx512(), rotaryKernelsAvx512(), vectorOpsAvx512(), fmaPeakLoopAvx512);
  static const KernelTable neon =
      makeTable(Isa::Neon, matmulKernelsNeon(), attentionKernelsNeon(), seq2seqKernelsNeon(),
                linearAttentionKernelsNeon(), rotaryKernelsNeon(), vectorOpsNeon(), fmaPeakLoopNeon);
  static const KernelTable all[kIsaCount] = {
      makeTable(Isa::Scalar, matmulKernelsScalar(), attentionKernelsScalar(), seq2seqKernelsScalar(),
                linearAttentionKernelsScalar(), rotaryKernelsScalar(), vectorOpsScalar(), fmaPeakLoopScalar),
      makeTable(Isa::Avx2, matmulKernelsAvx2(), attentionKernelsAvx2(), seq2seqKernelsAvx2(),
                linearAttentionKernelsAvx2(), rotaryKernelsAvx2(), vectorOpsAvx2(), fmaPeakLoopAvx2),
      avx512,
      neon,
      withBf16Kernels(avx512, Isa::Avx512Bf16, matmulBf16KernelsAvx512()),
      // No AMX tile kernel yet: the amx tier runs the avx512bf16 kernels.
      withBf16Kernels(avx512, Isa::Amx, matmulBf16KernelsAvx512()),
      withBf16Matmul(neon, Isa::NeonBf16, matmulBf16KernelsNeon()),
  };
  return all;
}

bool compiledIn(Isa isa) {
  const KernelTable& t = tables()[static_cast<int>(isa)];
  const bool needsBf16 = isa == Isa::Avx512Bf16 || isa == Isa::Amx || isa == Isa::NeonBf16;
  return t.matmul != nullptr && t.attention != nullptr && t.seq2seq != nullptr && t.linearAttention != nullptr &&
         t.rotary != nullptr && t.vectorOps != nullptr && (!needsBf16 || t.matmulBf16 != nullptr);
}

KernelTable withF16Matmul(KernelTable table) {
  table.matmulF16 = matmulF16KernelsNeon();
  return table;
}

// The table that runs for isa: with the float16 GEMM where the CPU has FHM, unless plain neon was forced.
const KernelTable* tableToRun(Isa isa, bool forced) {
  const KernelTable* f16 =
      cpuFeatures().neonFhm && !(forced && isa == Isa::Neon) ? kernelTableWithF16Gemm(isa) : nullptr;
  return f16 != nullptr ? f16 : &tables()[static_cast<int>(isa)];
}

DispatchChoice choose() {
  DispatchChoice choice;
  const std::vector<Isa> usable = availableIsas();
  const char* forced = std::getenv("SIMD_ATTENTION_ISA");
  if (forced != nullptr && forced[0] != '\0') {
    choice.forced = true;
    Isa wanted;
    std::string names;
    for (Isa isa : usable) names += std::string(names.empty() ? "" : ", ") + isaName(isa);
    if (!parseIsa(forced, &wanted)) {
      choice.error =
          std::string("SIMD_ATTENTION_ISA='") + forced +
          "' is not an instruction set this package knows (scalar, avx2, avx512, avx512bf16, amx, neon, neonbf16); "
          "this CPU can run: " +
          names + ". Unset it to pick the best automatically.";
      return choice;
    }
    for (Isa isa : usable) {
      if (isa == wanted) {
        choice.table = tableToRun(isa, true);
        return choice;
      }
    }
    choice.error = std::string("SIMD_ATTENTION_ISA='") + forced + "' asks for " + isaName(wanted) +
                   ", which this CPU, its OS or this build cannot run; available here: " + names +
                   ". Unset it to pick the best automatically.";
    return choice;
  }
  choice.table = tableToRun(usable.front(), false);
  return choice;
}

}  // namespace

const KernelTable* kernelTableFor(Isa isa) { return compiledIn(isa) ? &tables()[static_cast<int>(isa)] : nullptr; }

const KernelTable* kernelTableWithF16Gemm(Isa isa) {
  if ((isa != Isa::Neon && isa != Isa::NeonBf16) || !compiledIn(isa) || matmulF16KernelsNeon() == nullptr) {
    return nullptr;
  }
  static const KernelTable neon = withF16Matmul(tables()[static_cast<int>(Isa::Neon)]);
  static const KernelTable neonBf16 = withF16Matmul(tables()[static_cast<int>(Isa::NeonBf16)]);
  return isa == Isa::Neon ? &neon : &neonBf16;
}

std::vector<Isa> availableIsas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Amx, Isa::Avx512Bf16, Isa::Avx512, Isa::Avx2, Isa::NeonBf16, Isa::Neon, Isa::Scalar}) {
    if (compiledIn(isa) && cpuSupports(isa)) out.push_back(isa);
  }
  return out;
}

const DispatchChoice& dispatchChoice() {
  static const DispatchChoice choice = choose();
  return choice;
}

const KernelTable& activeKernels() {
  const DispatchChoice& c = dispatchChoice();
  if (c.table == nullptr) throw std::runtime_error(c.error);
  return *c.table;
}

}  // namespace sa
