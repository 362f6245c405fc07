/* Per-driver-function round-trip accounting (avec_stats.h). The instrumentation hooks run on every
 * function entry and exit of the driver API sources; only the outermost one of a thread is a driver call.
 * Slots are found by function address in a fixed open-addressing table; counters are relaxed atomics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "avec_log.h"
#include "avec_stats.h"

#define NO_INSTR __attribute__((no_instrument_function))
#define SLOTS 2048 /* > the ~700 driver entry points (and the private-table functions) */

typedef struct slot {
  void *fn;
  const char *name; /* resolved at report time */
  uint64_t calls, local, batched, round_trips, bytes_out, bytes_in, wait_ns;
} slot;

static slot slots[SLOTS];
static int on;                 /* counting */
static int table_wanted;       /* AVEC_STATS: print the table */
static struct timespec started;
static __thread int depth;     /* nesting of instrumented functions on this thread */
static __thread slot *current; /* the driver call this thread is in */
static __thread int io;        /* the current call went to the server */
static const char *(*namer)(void *fn);

static NO_INSTR const char *name_of(void *fn);

static NO_INSTR uint64_t add(uint64_t *p, uint64_t v) { return __atomic_add_fetch(p, v, __ATOMIC_RELAXED); }

static NO_INSTR slot *slot_of(void *fn) {
  size_t h = ((uintptr_t)fn >> 4) * 0x9E3779B97F4A7C15ull >> 53; /* 11 bits */
  for (size_t i = 0; i < SLOTS; i++) {
    slot *s = &slots[(h + i) % SLOTS];
    void *seen = __atomic_load_n(&s->fn, __ATOMIC_ACQUIRE);
    if (seen == fn) return s;
    if (!seen) {
      void *expect = NULL;
      if (__atomic_compare_exchange_n(&s->fn, &expect, fn, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) || expect == fn)
        return s;
    }
  }
  return NULL; /* full: not counted */
}

NO_INSTR void __cyg_profile_func_enter(void *fn, void *call_site) {
  (void)call_site;
  if (!__atomic_load_n(&on, __ATOMIC_RELAXED) || depth++) return;
  current = slot_of(fn);
  io = 0;
  if (current) add(&current->calls, 1);
}

NO_INSTR void __cyg_profile_func_exit(void *fn, void *call_site) {
  (void)fn;
  (void)call_site;
  if (!depth || --depth) return; /* depth is 0 when counting started inside a call */
  if (current && !io) add(&current->local, 1);
  current = NULL;
}

NO_INSTR void avec_stats_start(const char *(*name_of_fn)(void *fn)) {
  namer = name_of_fn;
  const char *s = getenv("AVEC_STATS");
  table_wanted = s && *s && strcmp(s, "0") != 0;
  clock_gettime(CLOCK_MONOTONIC, &started);
  if (table_wanted || avec_log_level() >= AVEC_LOG_INFO) __atomic_store_n(&on, 1, __ATOMIC_RELAXED);
}

NO_INSTR void avec_stats_posted(size_t bytes_out) {
  if (!current) return;
  io = 1;
  add(&current->batched, 1);
  add(&current->bytes_out, bytes_out);
}

NO_INSTR void avec_stats_waited(size_t bytes_out, size_t bytes_in, long wait_ns) {
  if (!current) return;
  io = 1;
  add(&current->round_trips, 1);
  add(&current->bytes_out, bytes_out);
  add(&current->bytes_in, bytes_in);
  add(&current->wait_ns, (uint64_t)(wait_ns > 0 ? wait_ns : 0));
  /* One line per blocking round trip at debug level: stamped as they arrive (e2e/gpu/cold_timeline.sh), they
   * show where a program waits for the server and how long it works in between. (The macro evaluates
   * name_of, a table scan, only at that level.) */
  LOG_DEBUG("round trip: %s waited %.3f ms", name_of(current->fn), (double)wait_ns / 1e6);
}

/* Exported entry points are named by the library's symbol table; anything else (the functions of the
 * private export tables the CUDA runtime calls directly) is grouped under one name. */
static NO_INSTR const char *name_of(void *fn) {
  const char *n = namer ? namer(fn) : NULL;
  return n ? n : "(private export tables)";
}

static NO_INSTR int by_name(const void *a, const void *b) {
  return strcmp((*(slot *const *)a)->name, (*(slot *const *)b)->name);
}

static NO_INSTR int by_cost(const void *a, const void *b) {
  const slot *x = *(slot *const *)a, *y = *(slot *const *)b;
  if (x->wait_ns != y->wait_ns) return x->wait_ns < y->wait_ns ? 1 : -1;
  if (x->round_trips != y->round_trips) return x->round_trips < y->round_trips ? 1 : -1;
  return x->calls < y->calls ? 1 : x->calls > y->calls ? -1 : 0;
}

NO_INSTR int avec_stats_snapshot(uint64_t out[7]) {
  if (!out || !__atomic_load_n(&on, __ATOMIC_RELAXED)) return -1;
  memset(out, 0, 7 * sizeof out[0]);
  for (size_t i = 0; i < SLOTS; i++) {
    const slot *s = &slots[i];
    if (!__atomic_load_n(&s->fn, __ATOMIC_ACQUIRE)) continue;
    out[0] += __atomic_load_n(&s->calls, __ATOMIC_RELAXED);
    out[1] += __atomic_load_n(&s->local, __ATOMIC_RELAXED);
    out[2] += __atomic_load_n(&s->batched, __ATOMIC_RELAXED);
    out[3] += __atomic_load_n(&s->round_trips, __ATOMIC_RELAXED);
    out[4] += __atomic_load_n(&s->bytes_out, __ATOMIC_RELAXED);
    out[5] += __atomic_load_n(&s->bytes_in, __ATOMIC_RELAXED);
    out[6] += __atomic_load_n(&s->wait_ns, __ATOMIC_RELAXED);
  }
  return 0;
}

NO_INSTR void avec_stats_report(const char *endpoint) {
  static int done;
  if (!__atomic_load_n(&on, __ATOMIC_RELAXED) || __atomic_exchange_n(&done, 1, __ATOMIC_RELAXED)) return;
  __atomic_store_n(&on, 0, __ATOMIC_RELAXED);
  slot *used[SLOTS];
  size_t n = 0;
  slot t = {0}; /* the totals */
  for (size_t i = 0; i < SLOTS; i++) {
    slot *s = &slots[i];
    if (!s->fn || !s->calls) continue;
    s->name = name_of(s->fn);
    used[n++] = s;
    t.calls += s->calls; t.local += s->local; t.batched += s->batched; t.round_trips += s->round_trips;
    t.bytes_out += s->bytes_out; t.bytes_in += s->bytes_in; t.wait_ns += s->wait_ns;
  }
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double secs = (double)(now.tv_sec - started.tv_sec) + (now.tv_nsec - started.tv_nsec) / 1e9;
  fprintf(stderr,
          "avec[%d] stats: %s, %.1f s: %llu driver calls, %llu answered locally, %llu batched, %llu round trips "
          "(%.1f ms waiting), %.1f MB out, %.1f MB in\n",
          (int)getpid(), endpoint ? endpoint : "?", secs, (unsigned long long)t.calls, (unsigned long long)t.local,
          (unsigned long long)t.batched, (unsigned long long)t.round_trips, t.wait_ns / 1e6, t.bytes_out / 1e6,
          t.bytes_in / 1e6);
  if (!table_wanted) return;
  /* one row per name: the private-table functions share theirs */
  qsort(used, n, sizeof used[0], by_name);
  size_t rows = 0;
  for (size_t i = 0; i < n; i++) {
    slot *s = used[i], *r = rows ? used[rows - 1] : NULL;
    if (r && !strcmp(r->name, s->name)) {
      r->calls += s->calls; r->local += s->local; r->batched += s->batched; r->round_trips += s->round_trips;
      r->bytes_out += s->bytes_out; r->bytes_in += s->bytes_in; r->wait_ns += s->wait_ns;
    } else {
      used[rows++] = s;
    }
  }
  n = rows;
  qsort(used, n, sizeof used[0], by_cost);
  fprintf(stderr, "avec[%d] stats: %-40s %9s %9s %9s %11s %10s %10s %10s\n", (int)getpid(), "function", "calls",
          "local", "batched", "round-trips", "wait-ms", "MB-out", "MB-in");
  for (size_t i = 0; i < n; i++)
    fprintf(stderr, "avec[%d] stats: %-40s %9llu %9llu %9llu %11llu %10.3f %10.3f %10.3f\n", (int)getpid(), used[i]->name,
            (unsigned long long)used[i]->calls, (unsigned long long)used[i]->local,
            (unsigned long long)used[i]->batched, (unsigned long long)used[i]->round_trips, used[i]->wait_ns / 1e6,
            used[i]->bytes_out / 1e6, used[i]->bytes_in / 1e6);
}
