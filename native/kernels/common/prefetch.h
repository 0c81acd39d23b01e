// Software prefetch of one cache line, into L1 (prefetchToL1) or L2 (prefetchToL2).
//
// Inline asm with the address as a register operand, on purpose: GCC drops a loop or function made
// only of __builtin_prefetch / _mm_prefetch (its pure-const analysis sees no effect), and an asm
// memory operand ("m"(*p)) lets it assume the asm reads any array that lives in memory, so in a
// loop over an array of vector accumulators it keeps them all there instead of in registers.
// Usable inside and outside a target region (no ISA extension involved).
#pragma once

namespace sa {

inline void prefetchToL1(const void* p) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  asm volatile("prefetcht0 (%0)" : : "r"(p));
#elif defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 0, 3);
#else
  (void)p;
#endif
}

inline void prefetchToL2(const void* p) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  asm volatile("prefetcht1 (%0)" : : "r"(p));
#elif defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 0, 2);
#else
  (void)p;
#endif
}

}  // namespace sa
