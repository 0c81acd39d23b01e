// A tiny registry for the native tests: each test file registers functions with SA_NATIVE_TEST.
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace sa {
namespace test {

struct Registered {
  const char* name;
  std::function<void()> fn;
};
std::vector<Registered>& registry();
int& currentFailures();
// Runs every registered test, or with SA_NATIVE_TEST_FILTER set those whose name contains it.
int runAll();

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

}  // namespace test
}  // namespace sa

#define SA_NATIVE_TEST(name)                                  \
  static void name();                                         \
  static ::sa::test::Registrar name##_registrar(#name, name); \
  static void name()

#define SA_CHECK(cond, ...)                                                  \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                     \
      std::fprintf(stderr, "\n");                                            \
      ++::sa::test::currentFailures();                                       \
    }                                                                        \
  } while (0)
