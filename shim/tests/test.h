/* Minimal test harness shared by the shim's C tests: CHECK counts, prints failures, and the suite ends with
 * "N passed, M failed". */
#ifndef AVEC_SHIM_TEST_H
#define AVEC_SHIM_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

static int t_passed, t_failed, t_case_start;
static const char *t_case = "";

/* A case that made no check asserted nothing: it fails (checked when the next case starts and at the
 * summary). */
static inline void t_case_end(void) {
  if (*t_case && t_passed + t_failed == t_case_start) {
    t_failed++;
    fprintf(stderr, "FAIL [%s] made no checks\n", t_case);
  }
}
#define CASE(name) (t_case_end(), t_case = (name), t_case_start = t_passed + t_failed)
#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (cond) t_passed++;                                                                \
    else {                                                                               \
      t_failed++;                                                                        \
      fprintf(stderr, "FAIL [%s] %s:%d: %s\n", t_case, __FILE__, __LINE__, #cond);       \
    }                                                                                    \
  } while (0)
#define CHECK_EQ(a, b)                                                                              \
  do {                                                                                              \
    long long a_ = (long long)(a), b_ = (long long)(b);                                             \
    if (a_ == b_) t_passed++;                                                                       \
    else {                                                                                          \
      t_failed++;                                                                                   \
      fprintf(stderr, "FAIL [%s] %s:%d: %s == %s (%lld vs %lld)\n", t_case, __FILE__, __LINE__, #a, #b, a_, b_); \
    }                                                                                               \
  } while (0)
/* A reproducible byte pattern for data checks (seed picks the variant). */
static inline void fill(uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 2654435761u >> 13 ^ seed);
}

#define TEST_SUMMARY(suite)                                                  \
  (t_case_end(), t_case = "", printf("%s: %d passed, %d failed\n", (suite), t_passed, t_failed), t_failed ? 1 : 0)

#endif
