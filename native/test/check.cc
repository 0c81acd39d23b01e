#include "test/check.h"

#include <cstdlib>
#include <cstring>

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
  const char* filter = std::getenv("SA_NATIVE_TEST_FILTER");  // run only the tests whose name contains it
  for (const Registered& t : registry()) {
    if (filter != nullptr && std::strstr(t.name, filter) == nullptr) continue;
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
