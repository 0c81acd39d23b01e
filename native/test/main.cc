// The native test program: every kernel on every ISA this CPU runs, against the scalar reference.
// Built by CMake (plain and with -fsanitize=address,undefined) and run by ctest.
#include <cstdio>

#include "test/check.h"

int main() {
  int failures = sa::test::runAll();
  std::printf("%d test(s) failed\n", failures);
  return failures == 0 ? 0 : 1;
}
