// Host memory of this process, for the per-session stats lines (one session per process).
#pragma once
#include <cstdint>
#include <cstdio>
#include <unistd.h>

namespace avec {

// Resident set size in bytes (/proc/self/statm), 0 when unknown.
inline uint64_t process_rss_bytes() {
  FILE* f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  int n = fscanf(f, "%llu %llu", &size, &resident);
  fclose(f);
  return n == 2 ? resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

}  // namespace avec
