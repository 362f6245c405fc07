/* Round-trip accounting ("why is my program slow remotely?"): with AVEC_STATS=1 the shim prints at exit,
 * per driver function, how often it was called, how many calls were answered in this process, how many
 * went out fire-and-forget (batched), how many waited for a reply (blocking round trips), the bytes each
 * way and the time spent waiting; AVEC_LOG=info prints the one-line summary. Entry points are found by
 * instrumentation of the driver API sources (-finstrument-functions): the outermost shim function a
 * thread enters is the driver call being counted. Off, it costs one flag test per function. */
#ifndef AVEC_STATS_H
#define AVEC_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Reads AVEC_STATS / AVEC_LOG; from then on calls are counted if either asks for it. `name_of` names an
 * entry point by its address (NULL when it is not one). */
void avec_stats_start(const char *(*name_of)(void *fn));
/* Transport events, attributed to the driver call the thread is in. */
void avec_stats_posted(size_t bytes_out);
void avec_stats_waited(size_t bytes_out, size_t bytes_in, long wait_ns);
/* The running totals, for a program (or benchmark) that measures a part of itself: out[0..6] = driver calls,
 * answered locally, batched, blocking round trips, bytes out, bytes in, nanoseconds waiting. Exported from
 * the shim's libcuda.so.1 as cuAvecStatsSnapshot, beside the cuAvecShimVersion marker; returns 0, or -1 when counting is off (set
 * AVEC_STATS=1) or has not started (before the first driver call). */
int avec_stats_snapshot(uint64_t out[7]);
/* Prints the table (AVEC_STATS) and/or the summary line (AVEC_LOG=info) to stderr, once. */
void avec_stats_report(const char *endpoint);

#endif
