// SA_UNROLL_FULL: fully unroll the short loop that follows (a loop over an array of vector
// registers indexed by the loop counter). If the compiler keeps the loop, the array must be
// addressable and GCC writes every accumulator back to the stack on each iteration.
#pragma once

#if defined(__clang__)
#define SA_UNROLL_FULL _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__)
#define SA_UNROLL_FULL _Pragma("GCC unroll 16")
#else
#define SA_UNROLL_FULL
#endif
