#include "test/check.h"

namespace sa {
namespace test {

std::vector<Registered>& registry() {
  static std::vector<Registered> r;
  return r;
}

int& currentFailures() {
  static int n = 0;
  return n;
}

int runAll() {
  int failedTests = 0;
  for (const Registered& t : registry()) {
    const int before = currentFailures();
    t.fn();
    const bool ok = currentFailures() == before;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", t.name);
    std::fflush(stdout);  // a crash in a later test (e.g. under qemu) must not swallow these lines
    if (!ok) ++failedTests;
  }
  return failedTests;
}

}  // namespace test
}  // namespace sa
