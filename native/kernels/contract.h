// SA_ASSERT(cond, message): a driver's preconditions. The binding has already refused every call
// that breaks them (TypeScript before it, with the user-facing message), so they are checked only
// in debug and sanitizer builds (CMake's Debug or SA_SANITIZE, which define SA_ASSERTS) and
// compiled out of release builds, where they would repeat the binding's checks on every call.
#pragma once

#if defined(SA_ASSERTS) && SA_ASSERTS
#include <cstdio>
#include <cstdlib>
#define SA_ASSERT(cond, message)                                                                      \
  do {                                                                                                \
    if (!(cond)) {                                                                                    \
      std::fprintf(stderr, "%s:%d: assertion failed: %s (%s)\n", __FILE__, __LINE__, #cond, message); \
      std::abort();                                                                                   \
    }                                                                                                 \
  } while (0)
#else
#define SA_ASSERT(cond, message) static_cast<void>(0)
#endif
