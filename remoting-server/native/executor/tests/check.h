// A tiny test harness: TEST(name) registers a case; CHECK* record failures; run_all prints
// "N passed, M failed" (a case passes when all its checks hold; a case that made no check at all, and
// was not marked not_run, fails: it asserted nothing).
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace avectest {

struct Case {
  const char* name;
  std::function<void()> fn;
};
inline std::vector<Case>& cases() {
  static std::vector<Case> c;
  return c;
}
inline int& failures_in_case() {
  static int n = 0;
  return n;
}
inline int& checks_in_case() {
  static int n = 0;
  return n;
}
inline const char*& not_run_reason() {
  static const char* r = nullptr;
  return r;
}
// Marks the running case as not applicable here (reported separately, never counted as passed).
inline void not_run(const char* why) { not_run_reason() = why; }
struct Reg {
  Reg(const char* n, std::function<void()> f) { cases().push_back({n, std::move(f)}); }
};

inline int run_all(const char* filter) {
  int pass = 0, fail = 0, skipped = 0;
  for (auto& c : cases()) {
    if (filter && std::string(c.name).find(filter) == std::string::npos) continue;
    failures_in_case() = 0;
    checks_in_case() = 0;
    not_run_reason() = nullptr;
    c.fn();
    if (!checks_in_case() && !not_run_reason()) {
      failures_in_case()++;
      printf("  %s made no checks\n", c.name);
    }
    if (not_run_reason() && !failures_in_case()) {
      skipped++;
      printf("--   %s (not run: %s)\n", c.name, not_run_reason());
    } else if (failures_in_case()) {
      fail++;
      printf("FAIL %s\n", c.name);
    } else {
      pass++;
      printf("ok   %s\n", c.name);
    }
    fflush(stdout);
  }
  if (skipped) printf("%d not run (see above)\n", skipped);
  printf("%d passed, %d failed\n", pass, fail);
  return fail ? 1 : 0;
}

}  // namespace avectest

#define TEST(name)                                                 \
  static void name();                                              \
  static avectest::Reg reg_##name(#name, name);                    \
  static void name()

#define CHECK(c)                                                                      \
  do {                                                                                \
    avectest::checks_in_case()++;                                                     \
    if (!(c)) {                                                                       \
      avectest::failures_in_case()++;                                                 \
      fprintf(stderr, "  check failed %s:%d: %s\n", __FILE__, __LINE__, #c);          \
    }                                                                                 \
  } while (0)

#define CHECK_EQ(a, b)                                                                                \
  do {                                                                                                \
    auto va_ = (a);                                                                                   \
    auto vb_ = (b);                                                                                   \
    avectest::checks_in_case()++;                                                                     \
    if (!(va_ == vb_)) {                                                                              \
      avectest::failures_in_case()++;                                                                 \
      fprintf(stderr, "  check failed %s:%d: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__, #a, #b,   \
              (long long)va_, (long long)vb_);                                                        \
    }                                                                                                 \
  } while (0)
